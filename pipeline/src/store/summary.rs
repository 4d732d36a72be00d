//! [`RunSummary`]: where a run stands, in brief, as the engine writes it when a run starts,
//! resumes and ends.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::result::{NodeStatus, RunStatus};
use crate::run_id::RunId;

/// Where a run stands, for people and tools listing runs: written by the engine when a run starts
/// or resumes (`status: None`) and when it ends. A run whose process died keeps `None`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunSummary {
    /// The run.
    pub run_id: RunId,
    /// The pipeline's name.
    pub pipeline: String,
    /// How the run ended; `None` while it runs, or if its process died.
    pub status: Option<RunStatus>,
    /// When the run first started, in milliseconds since the Unix epoch.
    pub started_at_ms: u64,
    /// When this summary was written, in milliseconds since the Unix epoch.
    pub updated_at_ms: u64,
    /// Every node's status as of this summary.
    pub nodes: BTreeMap<String, NodeStatus>,
    /// The nodes the latest start of the run restored from its checkpoint instead of running
    /// them (empty unless it was resumed): the run viewer tells them from those it ran.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub restored: Vec<String>,
    /// When the latest start began, if it resumed the run (milliseconds since the Unix epoch):
    /// how long a resumed run took is counted from here, not from its first start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resumed_at_ms: Option<u64>,
}

impl RunSummary {
    /// The summary of a run that has not ended: the `completed` nodes completed, every other node
    /// of `nodes` not run yet, no final status. The engine writes it when a run starts; a reader
    /// derives it from a checkpoint when a run has no summary.
    pub fn in_progress<'a>(
        run_id: RunId,
        pipeline: impl Into<String>,
        started_at_ms: u64,
        updated_at_ms: u64,
        nodes: impl IntoIterator<Item = &'a str>,
        completed: impl IntoIterator<Item = &'a str>,
    ) -> RunSummary {
        let mut statuses: BTreeMap<String, NodeStatus> = nodes
            .into_iter()
            .map(|id| (id.to_owned(), NodeStatus::NotRun))
            .collect();
        for id in completed {
            statuses.insert(id.to_owned(), NodeStatus::Completed);
        }
        RunSummary {
            run_id,
            pipeline: pipeline.into(),
            status: None,
            started_at_ms,
            updated_at_ms,
            nodes: statuses,
            restored: Vec::new(),
            resumed_at_ms: None,
        }
    }

    /// When the latest start of the run began: when it was resumed, or when it first started.
    pub fn latest_start_ms(&self) -> u64 {
        self.resumed_at_ms.unwrap_or(self.started_at_ms)
    }

    /// How many nodes have `status`.
    pub fn count(&self, status: NodeStatus) -> usize {
        self.nodes.values().filter(|s| **s == status).count()
    }
}
