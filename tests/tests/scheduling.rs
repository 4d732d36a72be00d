//! How the engine places nodes: a node that is the only one able to run runs on the run's own
//! task; nodes that can run together go to tokio tasks (one each, or shared out among four tasks
//! per core when more are ready at once). These tests hold the promises that placement must
//! keep: CPU-bound nodes use every core, waiting nodes overlap however many there are,
//! `max_concurrency` holds, and cancelling stops the nodes on other tasks before `run` returns.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use pipeline::{CancelHandle, GraphBuilder, Handle, NodeStatus, PipelineEngine, RunStatus};
use tokio::sync::{Barrier, Notify};

fn ok<T>(value: T) -> Result<T, Infallible> {
    Ok(value)
}

/// Two nodes that compute without ever awaiting, each until it sees the other one computing too:
/// they finish only if they run on two threads at once. A node that gives up after 20 s (it ran
/// alone) returns `false`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cpu_bound_nodes_run_on_every_core() {
    let running = Arc::new(AtomicUsize::new(0));
    let mut g = GraphBuilder::<u64>::new("cpu");
    let x = g.input("x", |x: &u64| *x);
    let spinners: Vec<Handle<bool>> = (0..2)
        .map(|i| {
            let running = Arc::clone(&running);
            g.node(format!("spin{i}")).run(x, move |_, _| {
                let running = Arc::clone(&running);
                async move {
                    running.fetch_add(1, Ordering::SeqCst);
                    let deadline = Instant::now() + Duration::from_secs(20);
                    while running.load(Ordering::SeqCst) < 2 {
                        if Instant::now() > deadline {
                            return ok(false);
                        }
                        std::hint::spin_loop();
                    }
                    ok(true)
                }
            })
        })
        .collect();
    let engine = PipelineEngine::new(g.build(spinners).unwrap());
    let result = engine.run(0).await.unwrap();
    assert_eq!(
        result.output,
        Some(vec![true, true]),
        "a CPU-bound node waited for the other to finish"
    );
}

/// Nodes that all wait at one barrier: the run completes only if every one of them is waiting at
/// once, also when there are far more of them than the tasks they are shared out among.
#[tokio::test]
async fn hundreds_of_waiting_nodes_all_wait_at_once() {
    let n = 300;
    let barrier = Arc::new(Barrier::new(n));
    let mut g = GraphBuilder::<u64>::new("waiters");
    let x = g.input("x", |x: &u64| *x);
    let waiters: Vec<Handle<u64>> = (0..n)
        .map(|i| {
            let barrier = Arc::clone(&barrier);
            g.node(format!("w{i}")).run(x, move |x, _| {
                let barrier = Arc::clone(&barrier);
                async move {
                    barrier.wait().await;
                    ok(x + 1)
                }
            })
        })
        .collect();
    let sum = g.node("sum").run(waiters, |xs: Vec<u64>, _| async move {
        ok(xs.iter().sum::<u64>())
    });
    let engine = PipelineEngine::new(g.build(sum).unwrap());
    let result = tokio::time::timeout(Duration::from_secs(60), engine.run(1))
        .await
        .expect("the waiting nodes did not all wait at once")
        .unwrap();
    assert_eq!(result.output, Some(2 * n as u64));
}

/// With hundreds of nodes ready and a cap of 100: exactly 100 run at once (the barrier lets
/// each group of 100 through only when all of them are waiting), never more.
#[tokio::test]
async fn max_concurrency_holds_for_hundreds_of_ready_nodes() {
    let (n, cap) = (300, 100);
    let barrier = Arc::new(Barrier::new(cap));
    let (now, peak) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let mut g = GraphBuilder::<u64>::new("capped");
    let x = g.input("x", |x: &u64| *x);
    let nodes: Vec<Handle<u64>> = (0..n)
        .map(|i| {
            let (barrier, now, peak) = (barrier.clone(), now.clone(), peak.clone());
            g.node(format!("n{i}")).run(x, move |x, _| {
                let (barrier, now, peak) = (barrier.clone(), now.clone(), peak.clone());
                async move {
                    let running = now.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(running, Ordering::SeqCst);
                    barrier.wait().await;
                    now.fetch_sub(1, Ordering::SeqCst);
                    ok(x)
                }
            })
        })
        .collect();
    let engine = PipelineEngine::new(g.build(nodes).unwrap())
        .settings(pipeline::EngineSettings::new().max_concurrency(cap));
    let result = tokio::time::timeout(Duration::from_secs(60), engine.run(1))
        .await
        .expect("fewer than `cap` nodes ran at once")
        .unwrap();
    assert_eq!(result.status, RunStatus::Completed);
    assert_eq!(peak.load(Ordering::SeqCst), cap);
}

/// Sets its flag when dropped: tells that a node's future was stopped.
struct Dropped(Arc<AtomicBool>);

impl Drop for Dropped {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// Two nodes that wait forever, each on a task of its own: when `run` returns cancelled, both
/// have been stopped (their futures dropped), so none can still write to a store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_stops_the_nodes_on_other_tasks_before_run_returns() {
    let started = Arc::new(Notify::new());
    let count = Arc::new(AtomicUsize::new(0));
    let flags: Vec<Arc<AtomicBool>> = (0..2).map(|_| Arc::new(AtomicBool::new(false))).collect();
    let mut g = GraphBuilder::<u64>::new("stuck");
    let x = g.input("x", |x: &u64| *x);
    let stuck: Vec<Handle<u64>> = flags
        .iter()
        .enumerate()
        .map(|(i, flag)| {
            let (flag, started, count) = (flag.clone(), started.clone(), count.clone());
            g.node(format!("stuck{i}")).run(x, move |x, _| {
                let (guard, started, count) =
                    (Dropped(flag.clone()), started.clone(), count.clone());
                async move {
                    let _guard = guard;
                    if count.fetch_add(1, Ordering::SeqCst) == 1 {
                        started.notify_one();
                    }
                    std::future::pending::<()>().await;
                    ok(x)
                }
            })
        })
        .collect();
    let engine = PipelineEngine::new(g.build(stuck).unwrap());
    let cancel = CancelHandle::new();
    let (result, ()) = tokio::join!(engine.run(1).cancel(&cancel), async {
        started.notified().await;
        cancel.cancel();
    });
    let result = result.unwrap();
    assert_eq!(result.status, RunStatus::Cancelled);
    assert_eq!(result.node("stuck0"), Some(NodeStatus::NotRun));
    for (i, flag) in flags.iter().enumerate() {
        assert!(
            flag.load(Ordering::SeqCst),
            "node stuck{i} still runs after the run returned"
        );
    }
}
