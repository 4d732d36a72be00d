//! The fleet's tables as the PostgreSQL store and the fleet both read them (the tables are the
//! store's: its migrations create them): the channels workers and waiters listen on, and a node
//! row's `state` as the run's state machine sees it.

use std::collections::HashMap;

use deadpool_postgres::Transaction;

use super::PostgresStore;
use crate::machine::{self, Event, NodeState, Phase, Unconnected};
use crate::result::NodeStatus;
use crate::run_id::RunId;
use crate::store::StoreResult;

/// The name of [`READY`], for statements built at compile time.
macro_rules! ready_channel {
    () => {
        "pipeline_fleet_ready"
    };
}

/// The channel a worker listens on for ready nodes.
pub(crate) const READY: &str = ready_channel!();
/// The statement that wakes the workers listening on [`READY`].
pub(crate) const NOTIFY_READY: &str = concat!("NOTIFY ", ready_channel!());
/// The channel a waiter listens on for ended runs (the payload is the run id).
pub(crate) const DONE: &str = "pipeline_fleet_done";

/// A node's state as the fleet tables hold it, with a wait that began and is not resolved as
/// `suspended` (its row is `ready`, claimable when due or signalled).
pub(crate) const STATE: &str =
    "CASE WHEN began AND state = 'ready' THEN 'suspended' ELSE state END";

/// [`STATE`] for a query that names the node rows `n`.
pub(crate) const NODE_STATE: &str =
    "CASE WHEN n.began AND n.state = 'ready' THEN 'suspended' ELSE n.state END";

/// A node state of the fleet tables as a [`NodeStatus`] (a node not resolved is not run).
pub(crate) fn node_status(state: &str) -> NodeStatus {
    match state {
        "suspended" => Phase::Suspended.status(),
        other => phase(other, false).map_or(NodeStatus::NotRun, Phase::status),
    }
}

/// A node row's `state` as a phase: a wait that began and is not resolved is a `ready` row (it
/// is claimed when its signal or its time comes) with `began` set.
pub(crate) fn phase(state: &str, began: bool) -> Option<Phase> {
    Some(match state {
        "waiting" => Phase::Waiting,
        "ready" if began => Phase::Suspended,
        "ready" => Phase::Ready,
        "running" => Phase::Running,
        "completed" => Phase::Completed,
        "failed" => Phase::Failed,
        "skipped" => Phase::Skipped,
        "not_run" => Phase::NotRun,
        _ => return None,
    })
}

/// The `state` a row of a node in `phase` holds.
pub(crate) fn row_state(phase: Phase) -> &'static str {
    match phase {
        Phase::Waiting => "waiting",
        Phase::Ready | Phase::Suspended => "ready",
        Phase::Running => "running",
        Phase::Completed => "completed",
        Phase::Failed => "failed",
        Phase::Skipped => "skipped",
        Phase::NotRun => "not_run",
    }
}

/// A signal for wait `wait` of a fleet run was stored (a run of one process has no row): its row
/// is marked, so the wait is due as soon as it begins, and the run's state machine decides
/// whether the wait is due now (it began and is suspended: `Event::Signalled`). The row's lock
/// orders this with the worker's commit that begins the wait.
pub(crate) async fn signalled(
    store: &PostgresStore,
    tx: &Transaction<'_>,
    run_id: &RunId,
    wait: &str,
) -> StoreResult<()> {
    let id = run_id.as_str();
    let rows = tx
        .query(
            &store
                .prepared(
                    tx,
                    "SELECT node, state, began FROM pipeline_fleet_nodes \
             WHERE run_id = $1 AND node_id = $2 FOR UPDATE",
                )
                .await?,
            &[&id, &wait],
        )
        .await
        .map_err(store.error("write to"))?;
    for row in rows {
        let (index, state, began): (i32, &str, bool) = (row.get(0), row.get(1), row.get(2));
        let (Ok(node), Some(phase)) = (u32::try_from(index), phase(state, began)) else {
            continue;
        };
        let states = HashMap::from([(node, NodeState::new(phase))]);
        let shape = Unconnected(node as usize + 1);
        let decided = machine::decide(&shape, &states, Event::Signalled { node });
        let due = decided.is_ok_and(|d| !d.ready.is_empty());
        tx.execute(
            &store
                .prepared(
                    tx,
                    "UPDATE pipeline_fleet_nodes SET signalled = true, \
             not_before = CASE WHEN $3 THEN least(not_before, now()) ELSE not_before END \
             WHERE run_id = $1 AND node = $2",
                )
                .await?,
            &[&id, &index, &due],
        )
        .await
        .map_err(store.error("write to"))?;
        if due {
            tx.execute(&store.prepared(tx, NOTIFY_READY).await?, &[])
                .await
                .map_err(store.error("write to"))?;
        }
    }
    Ok(())
}
