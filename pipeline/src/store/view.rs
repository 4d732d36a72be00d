//! What a reader can tell about a run from its stores alone ([`RunView`]): how it ended, or, for
//! a run that has not, whether a process holds it (running) or none does (interrupted), and each
//! node's state from the checkpoint, the audit trail and the run's waits.

use std::collections::{BTreeMap, HashSet};
use std::fmt;

use super::error::StoreResult;
use super::records::{AuditEntry, AuditStatus, Checkpoint, RunSummary};
use super::spec::Stores;
use crate::result::{NodeStatus, RunStatus};
use crate::run_id::RunId;

/// Where a run is, as its stores tell it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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

/// A run as a reader sees it: its checkpoint, its audit trail, its summary, where it is, and
/// where each node is. See [`Stores::view`].
#[derive(Clone, Debug)]
pub struct RunView {
    /// The run's checkpoint.
    pub checkpoint: Checkpoint,
    /// Its audit trail; `None` when it was run without an audit log.
    pub trail: Option<Vec<AuditEntry>>,
    /// Its summary as stored, or as its checkpoint implies (then with no final status).
    pub summary: RunSummary,
    /// Where the run is.
    pub state: RunState,
    /// Where each node is, by node id.
    pub nodes: BTreeMap<String, NodeState>,
}

impl RunView {
    /// How many nodes are in `state`.
    pub fn count(&self, state: NodeState) -> usize {
        self.nodes.values().filter(|s| **s == state).count()
    }

    /// Each node's state as the nearest [`NodeStatus`] (for pictures that colour by status).
    pub fn statuses(&self) -> BTreeMap<String, NodeStatus> {
        self.nodes
            .iter()
            .map(|(id, state)| (id.clone(), state.status()))
            .collect()
    }
}

impl Stores {
    /// Deletes run `run_id` from both stores (refused with
    /// [`StoreError::Locked`](super::StoreError::Locked) while a process holds it); whether
    /// either had it.
    pub async fn delete_run(&self, run_id: &RunId) -> StoreResult<bool> {
        let checkpoint = self.checkpointer.delete_run(run_id).await?;
        let audit = self.audit.delete_run(run_id).await?;
        Ok(checkpoint || audit)
    }

    /// What the stores tell of run `run_id` (see [`RunView`]); `Ok(None)` for an unknown run.
    /// A run that has not ended is `Running` while a process holds it (its lock tells) and
    /// `Interrupted` otherwise; its nodes' states come from the checkpoint (completed), the
    /// audit trail (a last attempt that failed), its waits, and its graph (a node whose inputs
    /// were all complete had an attempt in flight, or about to be).
    pub async fn view(&self, run_id: &RunId) -> StoreResult<Option<RunView>> {
        let Some(checkpoint) = self.checkpointer.load(run_id).await? else {
            return Ok(None);
        };
        let trail = self.audit.entries(run_id).await?;
        let summary = match self.audit.summary(run_id).await? {
            Some(summary) => summary,
            None => checkpoint.summary(),
        };
        if let Some(status) = summary.status {
            let nodes = summary
                .nodes
                .iter()
                .map(|(id, s)| (id.clone(), (*s).into()));
            return Ok(Some(RunView {
                state: RunState::Ended(status),
                nodes: nodes.collect(),
                checkpoint,
                trail,
                summary,
            }));
        }
        let graph = &checkpoint.header.graph;
        let completed: HashSet<&str> = checkpoint.completed().collect();
        let state = if graph
            .nodes
            .iter()
            .all(|n| completed.contains(n.id.as_str()))
        {
            RunState::Ended(RunStatus::Completed)
        } else {
            match (self.checkpointer.is_held(run_id).await?, &trail) {
                (Some(true), _) => RunState::Running,
                (Some(false), Some(_)) => RunState::Interrupted,
                (Some(false), None) => RunState::Stopped,
                (None, _) => RunState::Unknown,
            }
        };
        let waits = self.checkpointer.waits(run_id).await?;
        let waiting: HashSet<&str> = waits.waiting.iter().map(|w| w.wait.as_str()).collect();
        let ids: HashSet<&str> = graph.nodes.iter().map(|n| n.id.as_str()).collect();
        let entries = trail.as_deref().unwrap_or_default();
        let last_failed = |id: &str| {
            entries
                .iter()
                .rev()
                .find(|e| e.node == id)
                .is_some_and(|e| e.status == AuditStatus::Failed)
        };
        let in_flight = match state {
            RunState::Running => NodeState::Running,
            _ => NodeState::NoOutcome,
        };
        let mut nodes = BTreeMap::new();
        for node in &graph.nodes {
            let id = node.id.as_str();
            let ready = || {
                let mut upstream = node.inputs.iter().chain(&node.condition_inputs);
                upstream.all(|u| !ids.contains(u.as_str()) || completed.contains(u.as_str()))
            };
            let node_state = if completed.contains(id) {
                NodeState::Completed
            } else if waiting.contains(id) {
                NodeState::Waiting
            } else if last_failed(id) {
                NodeState::Failed
            } else if ready() {
                in_flight
            } else {
                NodeState::NotRun
            };
            nodes.insert(node.id.clone(), node_state);
        }
        Ok(Some(RunView {
            checkpoint,
            trail,
            summary,
            state,
            nodes,
        }))
    }
}
