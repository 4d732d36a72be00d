//! The fleet's tables as the PostgreSQL store and the fleet both read them (the tables are the
//! store's: its migrations create them): the channels workers and waiters listen on, and a node
//! row's `state` as the run's state machine sees it.

use crate::machine::Phase;
use crate::result::NodeStatus;

/// The channel a worker listens on for ready nodes.
pub(crate) const READY: &str = "pipeline_fleet_ready";
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
