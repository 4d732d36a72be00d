//! The records every store keeps, as plain serde data.

use std::collections::BTreeMap;

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::data::{Json, json_list};
use crate::graph::{GraphSignature, ItemCounts};
use crate::node::MapItem;
use crate::run_id::RunId;

pub use super::summary::RunSummary;

/// The wall clock, in milliseconds since the Unix epoch, as stores record it.
pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// [`now_ms`] as a signed number, as schedules and ranks compute with it (differences to times
/// before it).
pub(crate) fn now_ms_signed() -> i64 {
    i64::try_from(now_ms()).unwrap_or(i64::MAX)
}

/// `by` after `at_ms` (milliseconds since the Unix epoch), saturating: when a timer, a timeout
/// or a retry's backoff that began at `at_ms` is due.
pub(crate) fn ms_after(at_ms: u64, by: std::time::Duration) -> u64 {
    at_ms.saturating_add(u64::try_from(by.as_millis()).unwrap_or(u64::MAX))
}

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
    /// The run's place in a distributed trace, when traces were exported as it started (see
    /// [`crate::trace`]); absent from headers written without.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<crate::trace::RunTrace>,
}

/// One completed node in a checkpoint.
///
/// Written with its output last, after an `item` field that is always there (`null` for an
/// ordinary node): a reader that needs only the other fields (the run viewer, `show`) reads a
/// record's first bytes and skips the rest on disk. Records written before put `item` after the
/// output; they read the same, only more slowly.
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
    /// For a node mapped over a list (`each`), which item this record holds: each completed item
    /// has a record of its own. `None` for an ordinary node, and for a map over an empty list
    /// (whose one record holds `[]`).
    #[serde(default)]
    pub item: Option<MapItem>,
    /// For an item's record, the canonical digest of the item it was computed from: a resume
    /// reuses the record only for an item with the same digest, wherever that item now is in the
    /// list. `None` for an ordinary node (and in records written before digests were kept, which
    /// are never reused for an item).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item_digest: Option<String>,
    /// The node's output, as JSON: for an item of a mapped node, that item's output. `null` in
    /// a checkpoint read without its outputs ([`Checkpointer::load_records`](super::Checkpointer::load_records)).
    pub output: Json,
}

/// What a checkpoint holds of one node: its output, or the items a mapped node completed.
#[derive(Clone, Debug)]
pub enum StoredNode<'a> {
    /// The node's whole output (an ordinary node, or a map over an empty list).
    Whole(&'a NodeRecord),
    /// A mapped node's item records, by item index (`None` where an item has no record yet).
    Items {
        /// One slot per item of the list, in item order.
        records: Vec<Option<&'a NodeRecord>>,
        /// How many items have a record.
        done: usize,
    },
}

impl StoredNode<'_> {
    /// Whether the node completed: a whole record, or a record for every item.
    pub fn is_complete(&self) -> bool {
        match self {
            StoredNode::Whole(_) => true,
            StoredNode::Items { records, done } => *done == records.len(),
        }
    }

    /// For a mapped node, how many of its items have a record, of how many: `(n, m)`, "n of m
    /// items". `None` for a whole output.
    pub fn items(&self) -> Option<(usize, usize)> {
        match self {
            StoredNode::Whole(_) => None,
            StoredNode::Items { records, done } => Some((*done, records.len())),
        }
    }

    /// The node's output as JSON when it completed: a mapped node's is the list of its items'
    /// outputs, in item order.
    pub fn output(&self) -> Option<Json> {
        match self {
            StoredNode::Whole(record) => Some(Arc::clone(&record.output)),
            StoredNode::Items { records, .. } => {
                let items: Option<Vec<&NodeRecord>> = records.iter().copied().collect();
                json_list(items?.iter().map(|record| &*record.output))
            }
        }
    }
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
    /// The same checkpoint with every output `null` (what
    /// [`Checkpointer::load_records`](super::Checkpointer::load_records) gives).
    pub fn without_outputs(mut self) -> Checkpoint {
        let null: Json = Arc::from(serde_json::value::RawValue::NULL.to_owned());
        for record in &mut self.nodes {
            record.output = Arc::clone(&null);
        }
        self
    }

    /// What node `id` stored: its output, or a mapped node's list of item outputs once every
    /// item has a record; `None` otherwise.
    pub fn output_of(&self, id: &str) -> Option<Json> {
        self.stored()
            .into_iter()
            .find(|(node, _)| *node == id)
            .and_then(|(_, stored)| stored.output())
    }

    /// The whole-output record of node `id`, if it has one (a mapped node has one record per
    /// item instead: see [`stored`](Checkpoint::stored)). When a node was recorded twice (it ran
    /// again after a torn write), the first record wins, as on resume.
    pub fn node(&self, id: &str) -> Option<&NodeRecord> {
        self.nodes.iter().find(|n| n.node == id && n.item.is_none())
    }

    /// What the checkpoint holds of each node that has a record, in the order of each node's
    /// first record: a whole output, or a mapped node's items (complete or not). The first
    /// record of a node (or of an item) wins, as on resume.
    pub fn stored(&self) -> Vec<(&str, StoredNode<'_>)> {
        let mut order: Vec<(&str, StoredNode<'_>)> = Vec::new();
        let mut at: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
        for record in &self.nodes {
            let slot = *at.entry(&record.node).or_insert_with(|| {
                let stored = match record.item {
                    None => StoredNode::Whole(record),
                    Some(item) => StoredNode::Items {
                        records: vec![None; item.of as usize],
                        done: 0,
                    },
                };
                order.push((&record.node, stored));
                order.len() - 1
            });
            if let (StoredNode::Items { records, done }, Some(item)) =
                (&mut order[slot].1, record.item)
                && item.of as usize == records.len()
                && let Some(entry @ None) = records.get_mut(item.index as usize)
            {
                *entry = Some(record);
                *done += 1;
            }
        }
        order
    }

    /// The ids of the completed nodes (a mapped node once all its items are recorded), in the
    /// order of their first record.
    pub fn completed(&self) -> impl Iterator<Item = &str> {
        self.stored()
            .into_iter()
            .filter(|(_, stored)| stored.is_complete())
            .map(|(id, _)| id)
    }

    /// How far each mapped node (`each`) of the run got, from its item records and the audit
    /// `trail`: how many items, how many recorded, how many whose last attempt failed. Mapped
    /// nodes that never started are left out.
    pub fn item_counts(&self, trail: &[AuditEntry]) -> BTreeMap<String, ItemCounts> {
        let mut counts = BTreeMap::new();
        let stored = self.stored();
        for node in self.header.graph.nodes.iter().filter(|n| n.each.is_some()) {
            // Each item's last attempt: its list's length, how it ended, and whether another was
            // to follow (in backoff, not failed).
            let mut last: BTreeMap<u32, (u32, AuditStatus, bool)> = BTreeMap::new();
            for entry in trail.iter().filter(|e| e.node == node.id) {
                if let Some(item) = entry.item {
                    let retrying = entry.retry_at_ms.is_some();
                    last.insert(item.index, (item.of, entry.status, retrying));
                }
            }
            let recorded = stored.iter().find(|(id, _)| *id == node.id).map(|(_, s)| s);
            let (of, completed, items) = match recorded {
                Some(StoredNode::Whole(_)) => (0, 0, &[][..]),
                Some(StoredNode::Items { records, done }) => {
                    (records.len() as u32, *done as u32, &records[..])
                }
                None => match last.values().next() {
                    Some(&(of, ..)) => (of, 0, &[][..]),
                    None => continue,
                },
            };
            let has_record = |i: u32| items.get(i as usize).is_some_and(Option::is_some);
            let unrecorded_failures = last
                .iter()
                .filter(|&(&i, &(_, status, _))| status == AuditStatus::Failed && !has_record(i));
            let cached = last
                .iter()
                .filter(|&(&i, &(_, status, _))| status == AuditStatus::Cached && has_record(i))
                .count() as u32;
            let (mut failed, mut retrying) = (0, 0);
            for (_, &(_, _, again)) in unrecorded_failures {
                match again {
                    true => retrying += 1,
                    false => failed += 1,
                }
            }
            counts.insert(
                node.id.clone(),
                ItemCounts {
                    of,
                    completed,
                    failed,
                    retrying,
                    cached,
                },
            );
        }
        counts
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

/// Which nodes a run's records complete, fed record by record (without their outputs): a node
/// with a whole record, or a mapped node with a record for each of its items.
#[derive(Default)]
pub(crate) struct Completion {
    nodes: std::collections::HashMap<String, Progress>,
}

enum Progress {
    Whole,
    /// The item indices recorded so far, of how many.
    Items(std::collections::HashSet<u32>, u32),
}

impl Completion {
    /// Counts a record of `node` (of one item, if `item`). The first record of a node says
    /// whether it is mapped, as on resume.
    pub fn add(&mut self, node: String, item: Option<MapItem>) {
        let progress = self.nodes.entry(node).or_insert_with(|| match item {
            None => Progress::Whole,
            Some(item) => Progress::Items(Default::default(), item.of),
        });
        if let (Progress::Items(seen, of), Some(item)) = (progress, item)
            && item.of == *of
            && item.index < *of
        {
            seen.insert(item.index);
        }
    }

    /// The completed nodes.
    pub fn complete(self) -> std::collections::HashSet<String> {
        self.nodes
            .into_iter()
            .filter(|(_, progress)| match progress {
                Progress::Whole => true,
                Progress::Items(seen, of) => seen.len() == *of as usize,
            })
            .map(|(node, _)| node)
            .collect()
    }
}

/// The whole nodes of a trail whose output came from the cache, each with the run that computed
/// it (the last entry of each node counts).
pub(crate) fn cached_from<'a>(
    trail: impl IntoIterator<Item = &'a AuditEntry>,
) -> BTreeMap<String, RunId> {
    let mut cached = BTreeMap::new();
    for entry in trail.into_iter().filter(|e| e.item.is_none()) {
        match (&entry.status, &entry.cached_from) {
            (AuditStatus::Cached, Some(from)) => cached.insert(entry.node.clone(), from.clone()),
            _ => cached.remove(&entry.node),
        };
    }
    cached
}

/// How an attempt ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AuditStatus {
    /// The attempt returned an output.
    Completed,
    /// The attempt returned an error, panicked, or timed out.
    Failed,
    /// No attempt ran: the output was restored from the cache (`#[node(cache)]`), stored by the
    /// run [`AuditEntry::cached_from`] names. Its `attempt` is 0.
    Cached,
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
    /// For a mapped node (`each`), the item the attempt ran on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<MapItem>,
    /// How the attempt ended.
    pub status: AuditStatus,
    /// The attempt number (1 for the first; numbers go on across the run's starts, see
    /// [`LastAttempts`](super::LastAttempts)).
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
    /// When a failed attempt is followed by another (its retries are not spent): when the retry
    /// was due, in milliseconds since the Unix epoch. `None` for a completed attempt and for the
    /// last one of a node that failed. A reader of a run that was interrupted then knows the node
    /// (or item) had not failed: it was waiting to try again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_at_ms: Option<u64>,
    /// For an output restored from the cache ([`AuditStatus::Cached`]): the run that computed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_from: Option<RunId>,
    /// The `tracing` events the attempt emitted, within the engine's
    /// [`LogLimits`](crate::trace::LogLimits) (see [`NodeLogs`](crate::trace::NodeLogs)).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub logs: Vec<crate::trace::LogLine>,
    /// How many more events it emitted than the limits let it keep.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub logs_dropped: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}
