//! The records every store keeps, as plain serde data.

use std::collections::BTreeMap;

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::data::Json;
use crate::graph::GraphSignature;
use crate::result::{NodeStatus, RunStatus};
use crate::run_id::RunId;

/// The version of the record format this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// The first record of a run: what ran, on which inputs.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunHeader {
    /// The record format version ([`FORMAT_VERSION`] when written by this build).
    pub format_version: u32,
    /// The run.
    pub run_id: RunId,
    /// The pipeline's name.
    pub pipeline: String,
    /// The fingerprint of the pipeline's graph when the run started.
    pub fingerprint: String,
    /// The shape of the graph when the run started, to say what changed on a mismatch. Shared:
    /// a run's stores and the graph hold one copy.
    pub graph: Arc<GraphSignature>,
    /// The pipeline inputs, as JSON.
    pub inputs: Json,
    /// When the run started, in milliseconds since the Unix epoch.
    pub started_at_ms: u64,
}

/// One completed node in a checkpoint.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NodeRecord {
    /// The node id.
    pub node: String,
    /// Which attempt succeeded (1 for the first).
    pub attempt: u32,
    /// When the successful attempt started, in milliseconds since the Unix epoch.
    pub started_at_ms: u64,
    /// When it finished, in milliseconds since the Unix epoch.
    pub finished_at_ms: u64,
    /// How long it took, in microseconds.
    pub duration_us: u64,
    /// The node's output, as JSON.
    pub output: Json,
}

/// A run's checkpoint: its header and the completed nodes, in completion order.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The run's header.
    pub header: RunHeader,
    /// One record per completed node.
    pub nodes: Vec<NodeRecord>,
}

impl Checkpoint {
    /// The record of node `id`, if it completed. When a node was recorded twice (it ran again after
    /// a torn write), the first record wins, as on resume.
    pub fn node(&self, id: &str) -> Option<&NodeRecord> {
        self.nodes.iter().find(|n| n.node == id)
    }

    /// The ids of the completed nodes, in completion order.
    pub fn completed(&self) -> impl Iterator<Item = &str> {
        self.nodes.iter().map(|n| n.node.as_str())
    }

    /// What the checkpoint alone says of its run: the completed nodes, the rest not run, no final
    /// status (for a run whose audit log keeps no summary).
    pub fn summary(&self) -> RunSummary {
        let header = &self.header;
        let updated_at_ms = self.nodes.iter().map(|n| n.finished_at_ms).max();
        RunSummary::in_progress(
            header.run_id.clone(),
            &header.pipeline,
            header.started_at_ms,
            updated_at_ms.unwrap_or(header.started_at_ms),
            header.graph.nodes.iter().map(|n| n.id.as_str()),
            self.completed(),
        )
    }
}

/// How an attempt ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditStatus {
    /// The attempt returned an output.
    Completed,
    /// The attempt returned an error, panicked, or timed out.
    Failed,
}

/// How much of the values an attempt read and wrote its audit entry holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AuditDetail {
    /// Refer to what a checkpoint already holds (pipeline inputs are in the run's header, node
    /// outputs in their checkpoint records) and copy only the rest, so the trail stays about the
    /// size of the checkpoint, not a multiple of it.
    #[default]
    References,
    /// Copy every input value and the output into each entry.
    Full,
    /// Keep no values: status, attempt, timing and error only.
    None,
}

/// One node attempt in the audit trail.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AuditEntry {
    /// The run.
    pub run_id: RunId,
    /// The node id.
    pub node: String,
    /// How the attempt ended.
    pub status: AuditStatus,
    /// The attempt number (1 for the first).
    pub attempt: u32,
    /// When the attempt started, in milliseconds since the Unix epoch.
    pub started_at_ms: u64,
    /// When it ended, in milliseconds since the Unix epoch.
    pub finished_at_ms: u64,
    /// How long it took, in microseconds.
    pub duration_us: u64,
    /// Copies of the values the node received, by the name of the input or node they came from:
    /// all of them with [`AuditDetail::Full`], and with [`AuditDetail::References`] those no
    /// checkpoint holds. A value that could not be serialized is `null` (and was reported as a
    /// persistence warning).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub inputs: BTreeMap<String, Json>,
    /// The inputs and nodes whose values the node received and this entry refers to instead of
    /// copying them ([`AuditDetail::References`]): a pipeline input's value is in the run's
    /// header, a node's in the run's checkpoint record of that node.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub input_refs: Vec<String>,
    /// The output, when the attempt completed and it is copied here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<Json>,
    /// Whether the output is not copied here because the run's checkpoint holds it
    /// ([`AuditDetail::References`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub output_in_checkpoint: bool,
    /// The error text, when the attempt failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The fleet worker that ran the attempt (`pipeline::fleet::Worker`, feature `postgres`); `None` for
    /// an attempt run by an engine in its own process.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker: Option<String>,
}

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
        }
    }

    /// How many nodes have `status`.
    pub fn count(&self, status: NodeStatus) -> usize {
        self.nodes.values().filter(|s| **s == status).count()
    }
}
