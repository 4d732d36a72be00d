//! Where a run and its nodes are, as a reader of the stores tells it ([`RunState`],
//! [`NodeState`]): the statuses of an ended run, plus running, interrupted and "started, no
//! outcome" for one that has not ended.

use std::fmt;

use crate::result::{NodeStatus, RunStatus};

/// Where a run is, as its stores tell it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RunState {
    /// It ended (its final summary says how), or every node of it completed.
    Ended(RunStatus),
    /// It has not ended and a process holds it: it is running now.
    Running,
    /// It has not ended and no process holds it: its process died or was stopped; `resume`
    /// continues it.
    Interrupted,
    /// It has not ended, no process holds it, and it has no audit trail, so whether it failed or
    /// was interrupted cannot be told (it ran without an audit log); `resume` continues it.
    Stopped,
    /// It has not ended, and the store cannot tell whether a process holds it.
    Unknown,
}

impl fmt::Display for RunState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunState::Ended(status) => status.fmt(f),
            RunState::Running => f.write_str("running"),
            RunState::Interrupted => f.write_str("interrupted"),
            RunState::Stopped => f.write_str("stopped (no audit trail: failed or interrupted)"),
            RunState::Unknown => f.write_str("running or interrupted"),
        }
    }
}

/// Where a node of a run is, as the run's stores tell it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NodeState {
    /// Its output is in the checkpoint.
    Completed,
    /// Its last attempt failed (for a run that ended: after its retries).
    Failed,
    /// Its gate was false, or a node it depends on failed or was skipped.
    Skipped,
    /// It was not reached.
    NotRun,
    /// A wait that began and has not received its signal or come due.
    Waiting,
    /// Its inputs are complete and the run is running: it is running or about to.
    Running,
    /// Its inputs were complete when the run was interrupted, and no outcome of it is stored:
    /// the attempt in flight when the process died (`resume` runs it again).
    NoOutcome,
}

impl From<NodeStatus> for NodeState {
    fn from(status: NodeStatus) -> NodeState {
        match status {
            NodeStatus::Completed => NodeState::Completed,
            NodeStatus::Failed => NodeState::Failed,
            NodeStatus::Skipped => NodeState::Skipped,
            NodeStatus::NotRun => NodeState::NotRun,
            NodeStatus::Waiting => NodeState::Waiting,
        }
    }
}

impl NodeState {
    /// The [`NodeStatus`] closest to this state (running and "no outcome" are not run yet).
    pub fn status(self) -> NodeStatus {
        match self {
            NodeState::Completed => NodeStatus::Completed,
            NodeState::Failed => NodeStatus::Failed,
            NodeState::Skipped => NodeStatus::Skipped,
            NodeState::Waiting => NodeStatus::Waiting,
            NodeState::NotRun | NodeState::Running | NodeState::NoOutcome => NodeStatus::NotRun,
        }
    }
}

impl fmt::Display for NodeState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NodeState::Completed => "completed",
            NodeState::Failed => "failed",
            NodeState::Skipped => "skipped",
            NodeState::NotRun => "not run",
            NodeState::Waiting => "waiting",
            NodeState::Running => "running",
            NodeState::NoOutcome => "started, no outcome",
        })
    }
}
