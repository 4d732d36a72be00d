//! Resolving claimed nodes: a batch of them in one transaction, each fenced by its claim, with
//! its checkpoint record, its audit entry, its dependents' readiness and, for a run's last node,
//! the run's end. Cancelling a run is in `cancel`.
//!
//! Rows are locked in one order everywhere (node rows by `(run_id, node)`, then run rows by
//! `run_id`), so batches of different workers never deadlock on each other; a deadlock the
//! server still reports (with a fail-fast stop or a cancel) rolls the batch back and the worker
//! commits it again.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::Transaction;
use tokio::sync::{mpsc, oneshot};

use super::apply::{self, ClaimEnd, RunRows};
use super::queue::{Claimed, DONE, Param, retried, write_summary};
use super::read::node_states;
use crate::call::guard::GuardedEvents;
use crate::event::EventHandler;
use crate::graph::ServedGraph;
use crate::machine::{self, Event, NodeState, Outcome, Phase};
use crate::run_id::RunId;
use crate::store::{AuditEntry, NodeRecord, PostgresStore, RunSummary, StoreError, StoreResult};

/// How a claimed node ends this claim.
pub(crate) enum Resolution {
    Completed {
        record: NodeRecord,
        entry: AuditEntry,
    },
    /// A failed attempt with attempts left: the node is ready again after `delay`.
    Retry {
        entry: AuditEntry,
        delay: Duration,
    },
    Failed {
        entry: AuditEntry,
    },
    Skipped,
    /// A wait whose gate let it through begins: it is due after `after` (a timer's duration, a
    /// signal's timeout; never when `None`), or at once when a signal for it is stored.
    Begin {
        after: Option<Duration>,
    },
}

impl Resolution {
    fn entry(&self) -> Option<&AuditEntry> {
        match self {
            Resolution::Completed { entry, .. }
            | Resolution::Retry { entry, .. }
            | Resolution::Failed { entry } => Some(entry),
            Resolution::Skipped | Resolution::Begin { .. } => None,
        }
    }

    /// Whether the node stays unresolved: it is ready again later.
    fn again(&self) -> bool {
        matches!(self, Resolution::Retry { .. } | Resolution::Begin { .. })
    }

    /// The run's event this resolution is, for node `node` whose row says `signalled`.
    fn event(&self, node: u32, fail_fast: bool, signalled: bool) -> Event {
        let ended = |outcome| Event::Ended { node, outcome };
        match self {
            Resolution::Completed { .. } => ended(Outcome::Completed),
            Resolution::Failed { .. } => ended(Outcome::Failed { stops: fail_fast }),
            Resolution::Skipped => ended(Outcome::Skipped),
            Resolution::Retry { delay, .. } => Event::Retry {
                node,
                after: *delay,
            },
            Resolution::Begin { .. } => Event::Began { node, signalled },
        }
    }

    /// How the claim's own row ends, beside its new state.
    fn claim_end(&self) -> ClaimEnd {
        ClaimEnd {
            error: self.entry().and_then(|e| e.error.clone()),
            retry: matches!(self, Resolution::Retry { .. }),
            began: match self {
                Resolution::Begin { after } => Some(*after),
                _ => None,
            },
        }
    }
}

/// What resolving a node did.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Resolved {
    /// The claim was no longer current (its lease lapsed and another worker claimed the node, or
    /// the run was cancelled): nothing was written.
    Fenced,
    /// Written; `ended` when it was the run's last node.
    Done { ended: bool },
}

/// One claimed node to resolve, with what its run's summary needs should it be the last.
pub(crate) struct Item {
    pub claimed: Claimed,
    pub resolution: Resolution,
    /// The graph of the node's pipeline.
    pub graph: Arc<dyn ServedGraph>,
    pub pipeline: String,
    pub started_at_ms: u64,
}

/// Resolves `items` in one transaction; one answer per item, in order. The claims still held
/// are fenced (locked in key order, as the heartbeat locks them); each item is an event the
/// run's state machine decides, reading the rows it needs; the rows it changed are written back,
/// with the records and audit entries of the items, and the runs whose last node resolved end.
/// Once committed, `events` hears of the nodes skipped because a node of the batch failed or
/// was skipped.
pub(crate) async fn resolve(
    store: &PostgresStore,
    worker: &str,
    items: &[Item],
    events: &dyn EventHandler,
) -> StoreResult<Vec<Resolved>> {
    let mut client = store.client().await?;
    let err = |op| store.error(op);
    let tx = client.transaction().await.map_err(err("write to"))?;
    let ids: Vec<&str> = items.iter().map(|i| i.claimed.run_id.as_str()).collect();
    let nodes: Vec<i32> = items.iter().map(|i| i.claimed.node as i32).collect();
    let tokens: Vec<i64> = items.iter().map(|i| i.claimed.claim).collect();
    // The claimed rows are this worker's alone (no other batch writes them). A wait that begins
    // is due at once when a signal for it was stored meanwhile: the signal's transaction sets
    // `signalled` under the row's lock.
    let fenced = tx
        .query(
            "SELECT n.run_id, n.node, n.signalled, n.waiting, n.blocked \
             FROM pipeline_fleet_nodes n \
             JOIN unnest($1::text[], $2::int[], $3::bigint[]) AS c (run_id, node, claim) \
               ON n.run_id = c.run_id AND n.node = c.node AND n.claim = c.claim \
             WHERE n.state = 'running' \
             ORDER BY n.run_id, n.node FOR UPDATE OF n",
            &[&ids, &nodes, &tokens],
        )
        .await
        .map_err(err("write to"))?;
    let mut runs: BTreeMap<String, RunRows> = BTreeMap::new();
    let mut signalled: HashSet<(String, u32)> = HashSet::new();
    for row in &fenced {
        let (run_id, node): (String, i32) = (row.get(0), row.get(1));
        let state = NodeState {
            phase: Phase::Running,
            unresolved: u32::try_from(row.get::<_, i32>(3)).unwrap_or(0),
            blocked: row.get(4),
        };
        if row.get(2) {
            signalled.insert((run_id.clone(), node as u32));
        }
        runs.entry(run_id).or_default().claimed(node as u32, state);
    }
    let kept: HashSet<(&str, u32)> = fenced
        .iter()
        .map(|r| (r.get::<_, &str>(0), r.get::<_, i32>(1) as u32))
        .collect();
    let is_kept = |i: &Item| kept.contains(&(i.claimed.run_id.as_str(), i.claimed.node));
    let written: Vec<&Item> = items.iter().filter(|i| is_kept(i)).collect();
    // The rows the resolved nodes' dependents are in, read in one statement: most decisions
    // need no others (a skip or a stop reads more as it goes).
    let mut dependents: Vec<(&str, u32)> = Vec::new();
    for item in written.iter().filter(|i| !i.resolution.again()) {
        let node = item.claimed.node;
        if (node as usize) < item.graph.node_count() {
            let run_id = item.claimed.run_id.as_str();
            dependents.extend(item.graph.downstream_of(node).iter().map(|&d| (run_id, d)));
        }
    }
    dependents.sort_unstable();
    dependents.dedup();
    for (run_id, node, state) in apply::read(store, &tx, &dependents).await? {
        if let Some(rows) = runs.get_mut(&run_id) {
            rows.states.entry(node).or_insert(state);
        }
    }
    let mut cascaded: Vec<(&RunId, &str)> = Vec::new();
    for item in &written {
        let (run_id, node) = (item.claimed.run_id.as_str(), item.claimed.node);
        let Some(rows) = runs.get_mut(run_id) else {
            continue;
        };
        let signalled = signalled.contains(&(run_id.to_owned(), node));
        let event = item
            .resolution
            .event(node, item.claimed.fail_fast, signalled);
        let decision = rows.decide(store, &tx, run_id, &*item.graph, event).await?;
        let nodes = item.graph.nodes();
        for &node in &decision.skipped {
            if let Some(skipped) = nodes.get(node as usize) {
                cascaded.push((&item.claimed.run_id, &*skipped.id));
            }
        }
        rows.end_claim(node, item.resolution.claim_end());
    }
    apply::write(store, &tx, worker, &runs).await?;
    insert_records(store, &tx, &written).await?;
    insert_entries(store, &tx, worker, &written).await?;
    let per_run: BTreeMap<&str, i32> = runs
        .iter()
        .filter(|(_, rows)| rows.resolved > 0)
        .map(|(id, rows)| (id.as_str(), rows.resolved))
        .collect();
    let ended = count_down(store, &tx, &per_run).await?;
    for run in &ended {
        let Some(item) = written.iter().find(|i| i.claimed.run_id.as_str() == run) else {
            continue;
        };
        finish(store, &tx, item).await?;
    }
    tx.commit().await.map_err(err("write to"))?;
    for (run_id, node) in cascaded {
        events.on_node_skip(run_id, node);
    }
    Ok(items
        .iter()
        .map(|i| match is_kept(i) {
            false => Resolved::Fenced,
            true => Resolved::Done {
                ended: !i.resolution.again() && ended.contains(i.claimed.run_id.as_str()),
            },
        })
        .collect())
}

async fn insert_records(
    store: &PostgresStore,
    tx: &Transaction<'_>,
    items: &[&Item],
) -> StoreResult<()> {
    let records: Vec<(&str, &NodeRecord)> = items
        .iter()
        .filter_map(|i| match &i.resolution {
            Resolution::Completed { record, .. } => Some((i.claimed.run_id.as_str(), record)),
            _ => None,
        })
        .collect();
    if records.is_empty() {
        return Ok(());
    }
    let ids: Vec<&str> = records.iter().map(|r| r.0).collect();
    let nodes: Vec<&str> = records.iter().map(|r| r.1.node.as_str()).collect();
    let attempts: Vec<i32> = records.iter().map(|r| r.1.attempt as i32).collect();
    let started: Vec<i64> = records.iter().map(|r| r.1.started_at_ms as i64).collect();
    let finished: Vec<i64> = records.iter().map(|r| r.1.finished_at_ms as i64).collect();
    let durations: Vec<i64> = records.iter().map(|r| r.1.duration_us as i64).collect();
    let outputs: Vec<&[u8]> = records
        .iter()
        .map(|r| r.1.output.get().as_bytes())
        .collect();
    let params: [Param<'_>; 7] = [
        &ids, &nodes, &attempts, &started, &finished, &durations, &outputs,
    ];
    tx.execute(
        "INSERT INTO pipeline_node_records \
         (run_id, node, attempt, started_at_ms, finished_at_ms, duration_us, output) \
         SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::bigint[], $5::bigint[], \
                              $6::bigint[], $7::bytea[]) \
         ON CONFLICT (run_id, node, item) DO NOTHING",
        &params,
    )
    .await
    .map_err(store.error("write to"))?;
    Ok(())
}

async fn insert_entries(
    store: &PostgresStore,
    tx: &Transaction<'_>,
    worker: &str,
    items: &[&Item],
) -> StoreResult<()> {
    let entries: Vec<&AuditEntry> = items.iter().filter_map(|i| i.resolution.entry()).collect();
    if entries.is_empty() {
        return Ok(());
    }
    let mut bytes = Vec::with_capacity(entries.len());
    for entry in &entries {
        bytes.push(serde_json::to_vec(entry).map_err(StoreError::Encode)?);
    }
    let ids: Vec<&str> = entries.iter().map(|e| e.run_id.as_str()).collect();
    let nodes: Vec<&str> = entries.iter().map(|e| e.node.as_str()).collect();
    let attempts: Vec<i32> = entries.iter().map(|e| e.attempt as i32).collect();
    tx.execute(
        "INSERT INTO pipeline_audit_entries (run_id, entry, node, attempt, worker) \
         SELECT r, e, n, a, $5 FROM unnest($1::text[], $2::bytea[], $3::text[], $4::int[]) \
         AS t (r, e, n, a)",
        &[&ids, &bytes, &nodes, &attempts, &worker],
    )
    .await
    .map_err(store.error("write to"))?;
    Ok(())
}

/// Counts the resolved nodes off each run (run rows locked in key order: the commits of one run
/// serialize here, and exactly one of them sees its count reach zero); returns the runs that
/// ended.
async fn count_down(
    store: &PostgresStore,
    tx: &Transaction<'_>,
    per_run: &BTreeMap<&str, i32>,
) -> StoreResult<std::collections::HashSet<String>> {
    if per_run.is_empty() {
        return Ok(Default::default());
    }
    let ids: Vec<&str> = per_run.keys().copied().collect();
    let counts: Vec<i32> = per_run.values().copied().collect();
    let rows = tx
        .query(
            "WITH locked AS (SELECT run_id FROM pipeline_fleet_runs WHERE run_id = ANY($1) \
                             ORDER BY run_id FOR UPDATE) \
             UPDATE pipeline_fleet_runs r SET remaining = r.remaining - c.count \
             FROM unnest($1::text[], $2::int[]) AS c (run_id, count), locked \
             WHERE r.run_id = c.run_id AND locked.run_id = r.run_id \
             RETURNING r.run_id, r.remaining",
            &[&ids, &counts],
        )
        .await
        .map_err(store.error("write to"))?;
    Ok(rows
        .iter()
        .filter(|r| r.get::<_, i32>(1) <= 0)
        .map(|r| r.get(0))
        .collect())
}

/// Ends a run whose last node just resolved: its state, its summary, and a notification for
/// its waiters.
async fn finish(store: &PostgresStore, tx: &Transaction<'_>, item: &Item) -> StoreResult<()> {
    let run_id = &item.claimed.run_id;
    let phases = node_states(store, tx, run_id).await?;
    // Every node is resolved: no wait is suspended, so the run failed or completed.
    let status = machine::run_status(phases.values().copied());
    let nodes = phases.into_iter().map(|(id, p)| (id, p.status())).collect();
    tx.execute(
        "UPDATE pipeline_fleet_runs SET state = $2, ended_at = now() WHERE run_id = $1",
        &[&run_id.as_str(), &status.to_string()],
    )
    .await
    .map_err(store.error("write to"))?;
    let summary = RunSummary {
        run_id: run_id.clone(),
        pipeline: item.pipeline.clone(),
        status: Some(status),
        started_at_ms: item.started_at_ms,
        updated_at_ms: crate::store::now_ms(),
        nodes,
        restored: Vec::new(),
    };
    write_summary(store, tx, &summary).await?;
    tx.execute("SELECT pg_notify($1, $2)", &[&DONE, &run_id.as_str()])
        .await
        .map_err(store.error("write to"))?;
    Ok(())
}

/// The most resolutions one commit writes.
const BATCH: usize = 64;

/// Commits what the node tasks hand over, in batches: whatever is waiting when a commit starts
/// goes into it (at most [`BATCH`]), so a busy worker writes many nodes per transaction.
pub(crate) async fn committer(
    store: PostgresStore,
    worker: String,
    events: Arc<GuardedEvents>,
    mut queue: mpsc::UnboundedReceiver<(Item, oneshot::Sender<Resolved>)>,
) {
    while let Some(first) = queue.recv().await {
        let mut batch = vec![first];
        while batch.len() < BATCH {
            match queue.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let (items, answers): (Vec<Item>, Vec<_>) = batch.into_iter().unzip();
        let commit = || resolve(&store, &worker, &items, &*events);
        let resolved = retried("commit nodes", commit).await;
        for (answer, resolved) in answers.into_iter().zip(resolved) {
            let _ = answer.send(resolved);
        }
    }
}
