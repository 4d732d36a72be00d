//! Limits in one process: an execution of a limited node
//! ([`NodeOptions::limit`](crate::NodeOptions::limit)) holds a permit of one semaphore per
//! pipeline and node, and a run of a pipeline with a per-key run limit
//! ([`GraphBuilder::limit_runs`](crate::GraphBuilder::limit_runs)) one of a semaphore per
//! pipeline and key, shared by every engine of the process, so that the limits hold across all
//! their runs. Places are handed out by rank: the run's priority and fairness credit
//! ([`super::rank`]), then the order they were asked for. A fleet applies the same limits across
//! its workers (`fleet::limits`), and orders its claims by the same ranks.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};

use super::ranked::{Place, Ranked};

type Key = (Arc<str>, Arc<str>);

static LIMITS: LazyLock<Mutex<HashMap<Key, Arc<Ranked>>>> = LazyLock::new(Mutex::default);

/// A place to run node `node` of pipeline `pipeline`, of which at most `limit` run at once, for
/// an execution of rank `rank`; waits for one when all are taken. The first limit asked for a
/// node is the one kept.
pub(crate) async fn permit(pipeline: &Arc<str>, node: &Arc<str>, limit: u32, rank: i64) -> Place {
    let semaphore = {
        let mut limits = LIMITS.lock().unwrap_or_else(PoisonError::into_inner);
        let key = (Arc::clone(pipeline), Arc::clone(node));
        Arc::clone(
            limits
                .entry(key)
                .or_insert_with(|| Ranked::new(limit.max(1) as usize)),
        )
    };
    semaphore.acquire(rank).await
}

/// The place of an execution of node `node` of `shared`'s run, of which at most `limit` run at
/// once, by the run's rank.
pub(crate) async fn node_place(
    shared: &super::lifecycle::RunShared,
    node: &Arc<str>,
    limit: u32,
) -> Place {
    permit(&shared.pipeline, node, limit, shared.rank()).await
}

type RunKey = (Arc<str>, String);

static RUN_LIMITS: LazyLock<Mutex<HashMap<RunKey, Arc<Ranked>>>> = LazyLock::new(Mutex::default);

/// A run's place among the runs of its key: released (and the key forgotten once nobody holds
/// or waits for it) when dropped.
pub(crate) struct RunPermit {
    key: RunKey,
    permit: Option<Place>,
    semaphore: Option<Arc<Ranked>>,
}

impl Drop for RunPermit {
    fn drop(&mut self) {
        drop(self.permit.take());
        drop(self.semaphore.take());
        let mut limits = RUN_LIMITS.lock().unwrap_or_else(PoisonError::into_inner);
        // Only the map holds it: no run holds or waits for a permit of this key.
        if limits
            .get(&self.key)
            .is_some_and(|s| Arc::strong_count(s) == 1)
        {
            limits.remove(&self.key);
        }
    }
}

/// A place for a run of `pipeline` whose key is `key`, of which at most `runs` run at once, for
/// a run of rank `rank`; waits, by rank, while all are taken.
pub(crate) async fn run_permit(
    pipeline: &Arc<str>,
    key: String,
    runs: u32,
    rank: i64,
) -> RunPermit {
    let key = (Arc::clone(pipeline), key);
    let semaphore = {
        let mut limits = RUN_LIMITS.lock().unwrap_or_else(PoisonError::into_inner);
        let semaphore = limits
            .entry(key.clone())
            .or_insert_with(|| Ranked::new(runs.max(1) as usize));
        Arc::clone(semaphore)
    };
    let permit = Some(semaphore.acquire(rank).await);
    RunPermit {
        key,
        permit,
        semaphore: Some(semaphore),
    }
}

static RATES: LazyLock<Mutex<HashMap<Key, tokio::time::Instant>>> = LazyLock::new(Mutex::default);

/// Waits for the turn of the next start of node `node` of pipeline `pipeline`, whose starts are
/// spaced by `interval` ([`NodeOptions::rate`](crate::NodeOptions::rate)): each start takes the
/// next free slot at once (so turns go in the order they were asked for), then sleeps until it.
pub(crate) async fn rate_turn(pipeline: &Arc<str>, node: &Arc<str>, interval: std::time::Duration) {
    let now = tokio::time::Instant::now();
    let slot = {
        let mut rates = RATES.lock().unwrap_or_else(PoisonError::into_inner);
        let next = rates
            .entry((Arc::clone(pipeline), Arc::clone(node)))
            .or_insert(now);
        let slot = (*next).max(now);
        *next = slot + interval;
        slot
    };
    if slot > now {
        tokio::time::sleep_until(slot).await;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::LIMITS;
    use crate::{GraphBuilder, InMemoryCheckpointer, PipelineEngine, RunOptions};

    /// How many executions wait for a place of `node` of `pipeline`.
    fn waiting(pipeline: &str, node: &str) -> usize {
        let limits = LIMITS.lock().unwrap();
        let key = (Arc::from(pipeline), Arc::from(node));
        limits.get(&key).map_or(0, |places| places.waiting())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn runs_waiting_for_a_limited_node_get_it_by_priority_then_in_order() {
        let order = Arc::new(Mutex::new(Vec::new()));
        let gate = Arc::new(tokio::sync::Semaphore::new(0));
        let mut g = GraphBuilder::<(String, bool)>::new("by-priority");
        let x = g.input("x", |x: &(String, bool)| x.clone());
        let (seen, held) = (Arc::clone(&order), Arc::clone(&gate));
        let one = g.node("one").limit(1).run(x, move |(label, hold), _| {
            seen.lock().unwrap().push(label.clone());
            let held = Arc::clone(&held);
            async move {
                if hold {
                    let _ = held.acquire().await;
                }
                Ok::<_, std::io::Error>(label)
            }
        });
        let graph = g.build(one).unwrap();
        let engine = Arc::new(PipelineEngine::new(graph).checkpointer(InMemoryCheckpointer::new()));
        // The first run takes the only place and holds it until the gate opens.
        let first = tokio::spawn({
            let engine = Arc::clone(&engine);
            async move { engine.run(("holder".into(), true)).await }
        });
        while order.lock().unwrap().is_empty() {
            tokio::task::yield_now().await;
        }
        let mut runs = Vec::new();
        for (label, priority) in [("a0", 0), ("b5", 5), ("c0", 0), ("d10", 10), ("e-3", -3)] {
            let engine = Arc::clone(&engine);
            let options = RunOptions::new().priority(priority);
            runs.push(tokio::spawn(async move {
                engine.run((label.into(), false)).options(options).await
            }));
            // Each waits before the next starts: among equal priorities, the order they came.
            while waiting("by-priority", "one") < runs.len() {
                tokio::task::yield_now().await;
            }
        }
        gate.add_permits(1);
        first.await.unwrap().unwrap();
        for run in runs {
            run.await.unwrap().unwrap();
        }
        let order = order.lock().unwrap().clone();
        assert_eq!(order, ["holder", "d10", "b5", "a0", "c0", "e-3"]);
    }
}
