//! A run as the viewer's run page and JSON API give it: the graph with each node's status and
//! attempts, and one node's values.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use serde_json::value::RawValue;

use super::codes::{node_code, run_code};
use crate::data::Json;
use crate::store::RunView;
use crate::store::{AuditEntry, AuditStatus, Checkpoint, NodeState};
use crate::trace::LogLine;

/// A run: its line, its graph with each node's status and attempts, and its waits.
#[derive(Clone, Debug, Serialize)]
pub struct RunDetail {
    /// The run's id.
    pub run_id: String,
    /// Its pipeline.
    pub pipeline: String,
    /// Its status code (see [`RunLine::status`](super::RunLine::status)).
    pub status: &'static str,
    /// When it first started (ms since the Unix epoch).
    pub started_at_ms: u64,
    /// When its latest start resumed it, if it was resumed (ms since the Unix epoch): how long
    /// it took counts from here.
    pub resumed_at_ms: Option<u64>,
    /// When it was last written (ms since the Unix epoch).
    pub updated_at_ms: u64,
    /// Whether it has an audit trail (without one, attempts are not known).
    pub audited: bool,
    /// Its nodes, in the graph's (topological) order.
    pub nodes: Vec<NodeDetail>,
    /// The waits it is suspended on (a signal can be sent to these).
    pub waiting: Vec<String>,
}

/// A node of a run.
#[derive(Clone, Debug, Serialize)]
pub struct NodeDetail {
    /// The node's id (its binding in `pipeline!`).
    pub id: String,
    /// What it calls: the `#[node]` fn, or the kind of wait.
    pub kind: String,
    /// Its status code: `completed`, `restored` (completed by an earlier start of the run, restored
    /// by the latest), `failed`, `skipped`, `not_run`, `waiting`, `running`, `no_outcome` or `cached` (its output
    /// came from the cache, computed by the run its attempt's `cached_from` names).
    pub status: &'static str,
    /// The nodes (or pipeline inputs) whose outputs it takes.
    pub inputs: Vec<String>,
    /// The nodes its gate reads.
    pub condition_inputs: Vec<String>,
    /// Whether it is mapped over a list (`each`); then its attempts are per item.
    pub mapped: bool,
    /// For a mapped node whose list is known: the items completed, of how many.
    pub items: Option<[usize; 2]>,
    /// Its attempts, in the order they ended.
    pub attempts: Vec<Attempt>,
}

/// One attempt of a node (or of one item of a mapped node).
#[derive(Clone, Debug, Serialize)]
pub struct Attempt {
    /// 1 for the first.
    pub attempt: u32,
    /// The item, for a mapped node.
    pub item: Option<u32>,
    /// `completed`, `failed` or `cached` (no attempt ran: the output came from the cache).
    pub status: &'static str,
    /// When it started (ms since the Unix epoch).
    pub started_at_ms: u64,
    /// When its outcome was recorded (ms since the Unix epoch).
    pub finished_at_ms: u64,
    /// How long the node's fn ran (µs); the rest up to `finished_at_ms` is persistence.
    pub duration_us: u64,
    /// Its error, when it failed.
    pub error: Option<String>,
    /// For a `cached` output, the run that computed it.
    pub cached_from: Option<String>,
    /// For a failed attempt that was retried: when the retry was due (the backoff ends).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_at_ms: Option<u64>,
    /// What the attempt logged (the events its body emitted); given by a node's own answer
    /// (`/api/runs/ID/nodes/NODE`), not by the run's, which would carry every node's.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub logs: Vec<LogLine>,
    /// How many more events it emitted than the limits let it keep.
    #[serde(skip_serializing_if = "is_zero")]
    pub logs_dropped: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// What the viewer's tests build pages from.
#[cfg(test)]
impl NodeDetail {
    /// A completed node of kind `f` reading `inputs`.
    pub(super) fn for_test(id: &str, inputs: &[&str], attempts: Vec<Attempt>) -> NodeDetail {
        NodeDetail {
            id: id.to_owned(),
            kind: "f".to_owned(),
            status: "completed",
            inputs: inputs.iter().map(|s| s.to_string()).collect(),
            condition_inputs: Vec::new(),
            mapped: false,
            items: None,
            attempts,
        }
    }
}

#[cfg(test)]
impl Attempt {
    /// Attempt 1, failed with `error`, from `started_at_ms` to `finished_at_ms`, its fn 5 ms.
    pub(super) fn failed_for_test(started_at_ms: u64, finished_at_ms: u64, error: &str) -> Attempt {
        Attempt {
            attempt: 1,
            item: None,
            status: "failed",
            started_at_ms,
            finished_at_ms,
            duration_us: 5_000,
            error: Some(error.to_owned()),
            cached_from: None,
            retry_at_ms: None,
            logs: Vec::new(),
            logs_dropped: 0,
        }
    }
}

#[cfg(test)]
impl RunDetail {
    /// A failed run `r` of pipeline `p` with `nodes`.
    pub(super) fn failed_for_test(nodes: Vec<NodeDetail>) -> RunDetail {
        RunDetail {
            run_id: "r".to_owned(),
            pipeline: "p".to_owned(),
            status: "failed",
            started_at_ms: 0,
            resumed_at_ms: None,
            updated_at_ms: 0,
            audited: true,
            nodes,
            waiting: Vec::new(),
        }
    }
}

impl NodeDetail {
    /// Its attempts with what they logged, from the run's trail.
    pub fn with_logs(mut self, view: &RunView) -> NodeDetail {
        let entries = view.trail.as_deref().unwrap_or_default();
        let of_node = entries.iter().filter(|e| e.node == self.id);
        for (attempt, entry) in self.attempts.iter_mut().zip(of_node) {
            attempt.logs = entry.logs.clone();
            attempt.logs_dropped = entry.logs_dropped;
        }
        self
    }
}

/// A node's status code, telling a node the latest start restored from the checkpoint
/// (`restored`) from one it ran (`completed`).
fn status_code(view: &RunView, id: &str, state: NodeState) -> &'static str {
    match state == NodeState::Completed && view.summary.restored.iter().any(|r| r == id) {
        true => "restored",
        false => node_code(state),
    }
}

impl RunDetail {
    /// The detail of `view`.
    pub fn of(view: &RunView) -> RunDetail {
        let graph = &view.checkpoint.header.graph;
        let mut attempts: HashMap<&str, Vec<Attempt>> = HashMap::new();
        for entry in view.trail.as_deref().unwrap_or_default() {
            attempts
                .entry(entry.node.as_str())
                .or_default()
                .push(Attempt::of(entry));
        }
        let mut items: HashMap<&str, [usize; 2]> = HashMap::new();
        for (id, stored) in view.checkpoint.stored() {
            if let Some((done, of)) = stored.items() {
                items.insert(id, [done, of]);
            }
        }
        let nodes = graph
            .nodes
            .iter()
            .map(|node| NodeDetail {
                id: node.id.clone(),
                kind: node.kind.clone(),
                status: view
                    .nodes
                    .get(&node.id)
                    .map_or("not_run", |s| status_code(view, &node.id, *s)),
                inputs: node.inputs.clone(),
                condition_inputs: node.condition_inputs.clone(),
                mapped: node.each.is_some(),
                items: items.get(node.id.as_str()).copied(),
                attempts: attempts.remove(node.id.as_str()).unwrap_or_default(),
            })
            .collect();
        RunDetail {
            run_id: view.summary.run_id.to_string(),
            pipeline: view.summary.pipeline.clone(),
            status: run_code(view.state),
            started_at_ms: view.summary.started_at_ms,
            resumed_at_ms: view.summary.resumed_at_ms,
            updated_at_ms: view.summary.updated_at_ms,
            audited: view.trail.is_some(),
            nodes,
            waiting: view
                .nodes
                .iter()
                .filter(|(_, s)| **s == NodeState::Waiting)
                .map(|(id, _)| id.clone())
                .collect(),
        }
    }
}

impl Attempt {
    fn of(entry: &AuditEntry) -> Attempt {
        Attempt {
            attempt: entry.attempt,
            item: entry.item.map(|i| i.index),
            status: match entry.status {
                AuditStatus::Completed => "completed",
                AuditStatus::Failed => "failed",
                AuditStatus::Cached => "cached",
            },
            started_at_ms: entry.started_at_ms,
            finished_at_ms: entry.finished_at_ms,
            duration_us: entry.duration_us,
            error: entry.error.clone(),
            cached_from: entry.cached_from.as_ref().map(ToString::to_string),
            retry_at_ms: entry.retry_at_ms,
            logs: Vec::new(),
            logs_dropped: 0,
        }
    }
}

/// A run's status and each node's, for a page that follows a run live.
#[derive(Clone, Debug, Serialize)]
pub struct RunStatusView {
    /// The run's status code.
    pub status: &'static str,
    /// When it was last written (ms since the Unix epoch).
    pub updated_at_ms: u64,
    /// Each node's status code, by id.
    pub nodes: BTreeMap<String, &'static str>,
}

impl RunStatusView {
    /// The status of `view`.
    pub fn of(view: &RunView) -> RunStatusView {
        RunStatusView {
            status: run_code(view.state),
            updated_at_ms: view.summary.updated_at_ms,
            nodes: view
                .nodes
                .iter()
                .map(|(id, s)| (id.clone(), status_code(view, id, *s)))
                .collect(),
        }
    }
}

/// The most bytes of a value [`NodeValues`] shows; a larger one is cut (see
/// [`NodeValues::clipped`]) and can be downloaded whole.
pub const VALUE_CAP: usize = 64 * 1024;

/// One node with its values: what it read and what it returned, as JSON. A value larger than
/// [`VALUE_CAP`] is shown as a JSON string holding its first bytes, and named in `clipped`.
#[derive(Clone, Debug, Serialize)]
pub struct NodeValues {
    /// The node, as in its run's [`RunDetail`].
    pub node: NodeDetail,
    /// Each input by the name of the node (or pipeline input) it comes from, as its exact JSON;
    /// `null` when that value is not stored (its node has not completed).
    pub inputs: BTreeMap<String, Json>,
    /// Its output as its exact JSON, when it completed.
    pub output: Option<Json>,
    /// The values cut to [`VALUE_CAP`]: by input name, and `output` for the output, with their
    /// whole size and where to download them whole.
    pub clipped: BTreeMap<String, Clipped>,
}

/// A value [`NodeValues`] shows cut.
#[derive(Clone, Debug, Serialize)]
pub struct Clipped {
    /// Its whole size, in bytes of JSON.
    pub bytes: usize,
    /// Where to get it whole (a node's output; `None` for a pipeline input).
    pub download: Option<String>,
}

impl NodeValues {
    /// `node` with its values: its output and its inputs' outputs, each read alone from `stores`
    /// (no other output is read), and the pipeline inputs from `checkpoint`'s header.
    pub async fn load(
        stores: &crate::store::Stores,
        checkpoint: &Checkpoint,
        node: NodeDetail,
    ) -> Result<NodeValues, crate::store::StoreError> {
        let run_id = &checkpoint.header.run_id;
        let graph = &checkpoint.header.graph;
        let is_node = |name: &str| graph.nodes.iter().any(|n| n.id == name);
        let mut pipeline_inputs: HashMap<String, Box<RawValue>> =
            serde_json::from_str(checkpoint.header.inputs.get()).unwrap_or_default();
        let download = |name: &str| {
            Some(format!(
                "/api/runs/{}/nodes/{}/output",
                super::html::url_part(run_id.as_str()),
                super::html::url_part(name)
            ))
        };
        let mut clipped = BTreeMap::new();
        let mut inputs = BTreeMap::new();
        for name in &node.inputs {
            let (value, link) = match is_node(name) {
                true => (
                    stores.checkpointer.load_output(run_id, name).await?,
                    download(name),
                ),
                false => (pipeline_inputs.remove(name).map(Json::from), None),
            };
            let value = value.unwrap_or_else(|| Json::from(RawValue::NULL.to_owned()));
            inputs.insert(name.clone(), clip(name, value, link, &mut clipped));
        }
        let output = stores.checkpointer.load_output(run_id, &node.id).await?;
        let link = download(&node.id);
        let output = output.map(|value| clip("output", value, link, &mut clipped));
        Ok(NodeValues {
            node,
            inputs,
            output,
            clipped,
        })
    }
}

/// `value`, or its first [`VALUE_CAP`] bytes as a JSON string when it is larger (then named in
/// `clipped` as `name`).
fn clip(
    name: &str,
    value: Json,
    download: Option<String>,
    clipped: &mut BTreeMap<String, Clipped>,
) -> Json {
    let text = value.get();
    if text.len() <= VALUE_CAP {
        return value;
    }
    let mut end = VALUE_CAP;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    clipped.insert(
        name.to_owned(),
        Clipped {
            bytes: text.len(),
            download,
        },
    );
    let cut = format!("{}…", &text[..end]);
    serde_json::value::to_raw_value(&cut)
        .map(Json::from)
        .unwrap_or_else(|_| Json::from(RawValue::NULL.to_owned()))
}
