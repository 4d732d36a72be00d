//! What a run returns.

use std::collections::BTreeMap;
use std::fmt;

use crate::run_id::RunId;

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// No node failed; every node completed or was skipped.
    Completed,
    /// At least one node failed after its retries.
    Failed,
    /// The run was cancelled (cancel handle, or its future was dropped) before it finished.
    Cancelled,
    /// Another engine took the run over (it resumed the run after this one lost it), so a store
    /// refused this engine's writes and it stopped scheduling. The new owner's run is the run.
    TakenOver,
}

/// How one node ended in a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeStatus {
    /// The node produced its output, in this run or (on resume) in an earlier one.
    Completed,
    /// The node failed: an error, a panic or a timeout on its last attempt.
    Failed,
    /// The node did not run: its condition gate was false, or a node it depends on was skipped or
    /// failed under [`OnError::SkipDownstream`](crate::OnError::SkipDownstream).
    Skipped,
    /// The node was never reached: the run stopped (fail-fast) or was cancelled first.
    NotRun,
}

impl fmt::Display for NodeStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NodeStatus::Completed => "completed",
            NodeStatus::Failed => "failed",
            NodeStatus::Skipped => "skipped",
            NodeStatus::NotRun => "not run",
        })
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RunStatus::Completed => "completed",
            RunStatus::Failed => "failed",
            RunStatus::Cancelled => "cancelled",
            RunStatus::TakenOver => "taken over",
        })
    }
}

/// Which of a run's two stores a persistence warning is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StoreKind {
    /// The checkpointer.
    Checkpoint,
    /// The audit log.
    Audit,
}

/// A checkpoint or audit write that failed. The run went on; what was not written cannot be
/// resumed from or read back later.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PersistenceWarning {
    /// The store that failed.
    pub store: StoreKind,
    /// The node whose record was lost, or `None` for the run's header.
    pub node: Option<String>,
    /// What went wrong.
    pub message: String,
}

impl fmt::Display for PersistenceWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let store = match self.store {
            StoreKind::Checkpoint => "checkpoint",
            StoreKind::Audit => "audit",
        };
        match &self.node {
            Some(node) => write!(
                f,
                "{store} write for node `{node}` failed: {}",
                self.message
            ),
            None => write!(
                f,
                "{store} write for the run header failed: {}",
                self.message
            ),
        }
    }
}

/// Why a node failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeFailure {
    /// The error text of the last attempt.
    pub error: String,
    /// How many attempts were made.
    pub attempts: u32,
}

/// The outcome of [`PipelineEngine::run`](crate::PipelineEngine::run) or
/// [`resume`](crate::PipelineEngine::resume).
#[derive(Clone, Debug)]
pub struct PipelineResult<O> {
    /// The run's id, generated or given.
    pub run_id: RunId,
    /// How the run ended.
    pub status: RunStatus,
    /// The pipeline's output, when the nodes it comes from completed.
    pub output: Option<O>,
    /// Every node's status, by node id.
    pub nodes: BTreeMap<String, NodeStatus>,
    /// Why each failed node failed, by node id.
    pub failures: BTreeMap<String, NodeFailure>,
    /// The nodes whose outputs were restored from the checkpoint instead of run (on resume).
    pub restored: Vec<String>,
    /// The nodes that ran in this call (each at least one attempt), in the order they finished.
    pub executed: Vec<String>,
    /// Checkpoint and audit writes that failed.
    pub warnings: Vec<PersistenceWarning>,
}

impl<O> PipelineResult<O> {
    /// The same result with its output converted by `f`.
    pub fn map_output<T>(self, f: impl FnOnce(O) -> T) -> PipelineResult<T> {
        PipelineResult {
            run_id: self.run_id,
            status: self.status,
            output: self.output.map(f),
            nodes: self.nodes,
            failures: self.failures,
            restored: self.restored,
            executed: self.executed,
            warnings: self.warnings,
        }
    }

    /// The status of node `id`, if the pipeline has such a node.
    pub fn node(&self, id: &str) -> Option<NodeStatus> {
        self.nodes.get(id).copied()
    }

    /// The ids of the nodes that ended with `status`.
    pub fn nodes_with(&self, status: NodeStatus) -> impl Iterator<Item = &str> {
        self.nodes
            .iter()
            .filter(move |(_, s)| **s == status)
            .map(|(id, _)| id.as_str())
    }
}
