//! What a run returns.

mod nodes;

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::run_id::RunId;
pub(crate) use nodes::NodeNames;
pub use nodes::{NodeIdIter, NodeList, NodeStatusIter, NodeStatuses};

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
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
    /// Nothing can progress but waits for signals ([`PipelineResult::waiting`] lists them): the
    /// run holds nothing, and a signal continues it.
    Waiting,
}

/// How one node ended in a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
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
    /// A wait that began and has not received its signal yet.
    Waiting,
    /// The node did not run: its output was restored from the cache (`#[node(cache)]`), computed
    /// by an earlier run with the same code and inputs ([`PipelineResult::cached`] names it).
    Cached,
}

impl NodeStatus {
    /// The status as one word, as JSON and the viewer spell it: `completed`, `failed`,
    /// `skipped`, `not_run`, `waiting` or `cached`.
    pub const fn code(self) -> &'static str {
        match self {
            NodeStatus::Cached => "cached",
            NodeStatus::Completed => "completed",
            NodeStatus::Failed => "failed",
            NodeStatus::Skipped => "skipped",
            NodeStatus::NotRun => "not_run",
            NodeStatus::Waiting => "waiting",
        }
    }

    /// The status as a sentence says it (its `Display`): `not run` for [`NodeStatus::NotRun`],
    /// the code otherwise.
    pub const fn label(self) -> &'static str {
        match self {
            NodeStatus::NotRun => "not run",
            other => other.code(),
        }
    }
}

impl fmt::Display for NodeStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

impl RunStatus {
    /// The status as one word, as JSON, the viewer and the CLI's filters spell it: `completed`,
    /// `failed`, `cancelled`, `taken_over` or `waiting`.
    pub const fn code(self) -> &'static str {
        match self {
            RunStatus::Completed => "completed",
            RunStatus::Failed => "failed",
            RunStatus::Cancelled => "cancelled",
            RunStatus::TakenOver => "taken_over",
            RunStatus::Waiting => "waiting",
        }
    }

    /// The status as a sentence says it (its `Display`): `taken over` for
    /// [`RunStatus::TakenOver`], the code otherwise.
    pub const fn label(self) -> &'static str {
        match self {
            RunStatus::TakenOver => "taken over",
            other => other.code(),
        }
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// What a warning is about: one of a run's two stores, its event handler, or its output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WarningSource {
    /// The checkpointer.
    Checkpoint,
    /// The audit log.
    Audit,
    /// The engine's [`EventHandler`](crate::EventHandler), which panicked; the run went on as if
    /// the call had returned.
    EventHandler,
    /// The run's output, which could not be written as JSON for a caller that takes it so (the
    /// command line, [`DynPipeline`](crate::registry::DynPipeline)): its `Serialize` failed.
    Output,
    /// The result cache (`#[node(cache)]`): an entry could not be read, decoded or stored. The
    /// node ran (or its output was not cached); the run's result is unchanged.
    Cache,
}

/// Something that went wrong beside the business logic: a checkpoint or audit write that failed
/// (what was not written cannot be resumed from or read back later), or an event handler that
/// panicked. The run went on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PersistenceWarning {
    /// What failed.
    pub source: WarningSource,
    /// The node whose record was lost (or whose event it was), or `None` for the run itself.
    pub node: Option<String>,
    /// What went wrong.
    pub message: String,
    /// Whether a write was lost: the store failed it, so a later read (a resume, `audit`) will
    /// not find it. `false` for an output the engine chose not to checkpoint (it does not read
    /// back as the same value), a repaired torn tail, or an event handler's panic.
    pub lost: bool,
}

impl fmt::Display for PersistenceWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let store = match self.source {
            WarningSource::Checkpoint => "checkpoint",
            WarningSource::Audit => "audit",
            WarningSource::Cache => "cache",
            WarningSource::Output => return f.write_str(&self.message),
            WarningSource::EventHandler => {
                return match &self.node {
                    Some(node) => write!(f, "event handler for node `{node}`: {}", self.message),
                    None => write!(f, "event handler: {}", self.message),
                };
            }
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

/// A wait a suspended run waits on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaitingOn {
    /// The wait binding.
    pub wait: String,
    /// When the wait began, in milliseconds since the Unix epoch.
    pub began_at_ms: u64,
    /// When the wait times out, if it has a timeout; for a timer, when it is due.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline_ms: Option<u64>,
    /// Whether the wait is a durable timer (it completes by itself at `deadline_ms`) rather than
    /// a wait for a signal.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub timer: bool,
}

/// Why a node failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeFailure {
    /// The error text of the last attempt; for a mapped node (`each`), how many items failed and
    /// the first few items' errors.
    pub error: String,
    /// How many attempts were made, in all the run's starts: the last attempt's number (for a
    /// mapped node, the most any failed item made).
    pub attempts: u32,
    /// For a mapped node, every item that failed after its retries, in item order.
    pub items: Vec<ItemFailure>,
}

/// An item of a mapped node (`each`) that failed after its retries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ItemFailure {
    /// The item's index in the list.
    pub index: u32,
    /// The error text of its last attempt.
    pub error: String,
    /// How many attempts it made, in all the run's starts.
    pub attempts: u32,
}

impl NodeFailure {
    /// The failure of a mapped node of `of` items whose `items` failed (in item order).
    pub(crate) fn of_items(of: u32, items: Vec<ItemFailure>) -> NodeFailure {
        const SHOWN: usize = 3;
        let mut error = format!("{} of {of} items failed: ", items.len());
        for (i, item) in items.iter().take(SHOWN).enumerate() {
            if i > 0 {
                error.push_str("; ");
            }
            error.push_str(&format!("item {}: {}", item.index, item.error));
        }
        if items.len() > SHOWN {
            error.push_str(&format!("; and {} more", items.len() - SHOWN));
        }
        NodeFailure {
            error,
            attempts: items.iter().map(|i| i.attempts).max().unwrap_or(1),
            items,
        }
    }
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
    pub nodes: NodeStatuses,
    /// Why each failed node failed, by node id.
    pub failures: BTreeMap<String, NodeFailure>,
    /// The nodes whose outputs were restored from the checkpoint instead of run (on resume).
    pub restored: NodeList,
    /// The nodes whose outputs were restored from the cache (`#[node(cache)]`) instead of run,
    /// each with the run that computed the output.
    pub cached: BTreeMap<String, RunId>,
    /// The nodes that ran in this call (each at least one attempt), in the order they finished.
    pub executed: NodeList,
    /// Checkpoint and audit writes that failed.
    pub warnings: Vec<PersistenceWarning>,
    /// The waits the run waits on, when it ended [`RunStatus::Waiting`].
    pub waiting: Vec<WaitingOn>,
    /// Whether the run is in a checkpoint store: `false` when the engine has none, or the run
    /// could not be written there from its start (its header: see `warnings`), so that it
    /// cannot be resumed, signalled or shown. Records lost one by one later are warnings whose
    /// [`lost`](PersistenceWarning::lost) is set.
    pub stored: bool,
}

impl<O> PipelineResult<O> {
    /// The same result with its output converted by `f`.
    pub fn map_output<T>(self, f: impl FnOnce(O) -> T) -> PipelineResult<T> {
        self.filter_map_output(|output| Some(f(output)))
    }

    /// [`map_output`](PipelineResult::map_output) where `f` may leave the output out.
    pub(crate) fn filter_map_output<T>(self, f: impl FnOnce(O) -> Option<T>) -> PipelineResult<T> {
        PipelineResult {
            run_id: self.run_id,
            status: self.status,
            output: self.output.and_then(f),
            nodes: self.nodes,
            failures: self.failures,
            restored: self.restored,
            cached: self.cached,
            executed: self.executed,
            warnings: self.warnings,
            waiting: self.waiting,
            stored: self.stored,
        }
    }

    /// The status of node `id`, if the pipeline has such a node.
    pub fn node(&self, id: &str) -> Option<NodeStatus> {
        self.nodes.get(id)
    }

    /// The ids of the nodes that ended with `status`.
    pub fn nodes_with(&self, status: NodeStatus) -> impl Iterator<Item = &str> {
        self.nodes
            .iter()
            .filter(move |&(_, s)| s == status)
            .map(|(id, _)| id)
    }
}
