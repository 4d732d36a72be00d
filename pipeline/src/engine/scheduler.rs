//! The scheduler of one run: releases a node when its last upstream node resolves, so the work is
//! O(nodes + edges) in all, and runs each node on its own tokio task.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use tokio::task::JoinSet;
use tracing::Instrument;

use super::cancel::CancelHandle;
use super::guard::{caught, caught_sync};
use super::lifecycle::{Restored, RunShared};
use super::node_task::{self, AuditedInputs, NodeJob, Outcome, Report};
use crate::data::{Json, Value};
use crate::event::EventHandler;
use crate::graph::{Graph, GraphInner, Slot};
use crate::node::OnError;
use crate::result::NodeFailure;
use crate::result::{NodeStatus, PersistenceWarning, PipelineResult, RunStatus};
use crate::run_id::RunId;
use crate::store::AuditDetail;

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Waiting,
    Running,
    Done(NodeStatus),
}

pub(crate) struct Run<I, O> {
    graph: Arc<GraphInner<I, O>>,
    shared: Arc<RunShared>,
    on_error: OnError,
    cap: usize,
    state: Vec<State>,
    /// Upstream nodes not yet resolved, per node.
    waiting: Vec<u32>,
    /// Downstream nodes not yet resolved, per node: its output is dropped when none is left.
    readers: Vec<u32>,
    /// Nodes whose outputs the pipeline's output reads, kept to the end.
    pinned: Vec<bool>,
    values: Vec<Option<Value>>,
    /// A node's output as JSON, kept only while an audit entry may copy it.
    json: Vec<Option<Json>>,
    /// Whether the run's checkpoint holds a node's output.
    checkpointed: Vec<bool>,
    input_values: Vec<Value>,
    input_json: Vec<Option<Json>>,
    ready: VecDeque<u32>,
    running: JoinSet<(u32, Report)>,
    stopped: bool,
    /// A store refused a write because another engine took the run over.
    taken_over: bool,
    failures: BTreeMap<String, NodeFailure>,
    restored: Vec<String>,
    /// The nodes that ran, in the order they finished.
    executed: Vec<u32>,
    warnings: Vec<PersistenceWarning>,
}

impl<I: Send + Sync + 'static, O: Send + 'static> Run<I, O> {
    pub fn new(
        graph: &Graph<I, O>,
        shared: RunShared,
        on_error: OnError,
        cap: Option<usize>,
        warnings: Vec<PersistenceWarning>,
    ) -> Self {
        let n = graph.inner.nodes.len();
        Run {
            graph: Arc::clone(&graph.inner),
            shared: Arc::new(shared),
            on_error,
            cap: cap.unwrap_or(usize::MAX),
            state: vec![State::Waiting; n],
            waiting: vec![0; n], // counted in `restore`, once completed nodes are known
            readers: graph
                .inner
                .downstream
                .iter()
                .map(|d| d.len() as u32)
                .collect(),
            pinned: {
                let mut pinned = vec![false; n];
                for i in graph.output_nodes() {
                    pinned[i as usize] = true;
                }
                pinned
            },
            values: vec![None; n],
            json: vec![None; n],
            checkpointed: vec![false; n],
            input_values: Vec::new(),
            input_json: Vec::new(),
            ready: VecDeque::new(),
            running: JoinSet::new(),
            stopped: false,
            taken_over: false,
            failures: BTreeMap::new(),
            restored: Vec::new(),
            executed: Vec::new(),
            warnings,
        }
    }

    pub fn run_id(&self) -> &RunId {
        &self.shared.run_id
    }

    pub async fn execute(
        mut self,
        inputs: &I,
        restored: Vec<Restored>,
        cancel: Option<CancelHandle>,
        resumed: bool,
    ) -> PipelineResult<O> {
        let events = Arc::clone(&self.shared.events);
        let name = Arc::clone(&self.graph.name);
        events.on_pipeline_start(&name, &self.shared.run_id, resumed);
        self.load_inputs(inputs);
        self.restore(restored);
        let cancelled = self.drive(cancel).await;
        let result = self.finish(cancelled);
        events.on_pipeline_end(&name, &result.run_id, result.status);
        tracing::info!(status = %result.status, "run finished");
        result
    }

    fn load_inputs(&mut self, inputs: &I) {
        // Pipeline inputs are copied into audit entries only in full detail (otherwise the run's
        // header holds them once).
        let audited = self.shared.audit.is_some() && self.shared.audit_detail == AuditDetail::Full;
        for input in &self.graph.inputs {
            let value = (input.extract)(inputs);
            // A panicking `Serialize` leaves the audit without this input's JSON, nothing more.
            let json = audited.then(|| caught_sync(|| (input.codec.encode)(&value)).ok());
            self.input_json.push(json.flatten().and_then(Result::ok));
            self.input_values.push(value);
        }
    }

    fn restore(&mut self, restored: Vec<Restored>) {
        let restored_nodes: Vec<u32> = restored.iter().map(|&(index, _)| index).collect();
        for (index, kept) in restored {
            self.restored
                .push(self.graph.nodes[index as usize].id.to_string());
            if let Some((value, json)) = kept {
                self.values[index as usize] = Some(value);
                self.json[index as usize] = self.keep_json(true).then_some(json);
            }
            self.checkpointed[index as usize] = true;
            self.state[index as usize] = State::Done(NodeStatus::Completed);
        }
        let graph = Arc::clone(&self.graph);
        for index in restored_nodes {
            self.release_upstream(&graph, index);
        }
        for (index, node) in self.graph.nodes.iter().enumerate() {
            let unresolved = node
                .upstream
                .iter()
                .filter(|&&up| self.state[up as usize] == State::Waiting)
                .count();
            self.waiting[index] = unresolved as u32;
            if self.state[index] == State::Waiting && unresolved == 0 {
                self.ready.push_back(index as u32);
            }
        }
    }

    /// Runs until nothing is ready or running; returns whether the run was cancelled.
    async fn drive(&mut self, cancel: Option<CancelHandle>) -> bool {
        loop {
            while !self.stopped && self.running.len() < self.cap {
                let Some(index) = self.ready.pop_front() else {
                    break;
                };
                self.dispatch(index);
            }
            if self.running.is_empty() {
                return false;
            }
            let cancelled = async {
                match &cancel {
                    Some(handle) => handle.cancelled().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                () = cancelled => {
                    self.running.abort_all();
                    while self.running.join_next().await.is_some() {}
                    return true;
                }
                joined = self.running.join_next() => {
                    // Node tasks catch every panic, so a task ends in error only when aborted.
                    if let Some(Ok((index, report))) = joined {
                        self.on_report(index, report);
                    }
                }
            }
        }
    }

    /// Starts node `index`, or skips it when an upstream node was skipped or failed.
    fn dispatch(&mut self, index: u32) {
        let graph = Arc::clone(&self.graph);
        let node = &graph.nodes[index as usize];
        let blocked = node.upstream.iter().any(|&up| {
            matches!(
                self.state[up as usize],
                State::Done(NodeStatus::Skipped | NodeStatus::Failed)
            )
        });
        if blocked {
            self.skip(index);
            return;
        }
        let job = NodeJob {
            index,
            args: node.args.iter().map(|&s| self.value(s)).collect(),
            gate_args: node
                .gate
                .iter()
                .flat_map(|g| &g.args)
                .map(|&s| self.value(s))
                .collect(),
            inputs: self
                .shared
                .audit
                .is_some()
                .then(|| self.audited_inputs(&node.args)),
        };
        self.state[index as usize] = State::Running;
        let shared = Arc::clone(&self.shared);
        let span = tracing::info_span!("pipeline.node", run_id = %shared.run_id, node = &*node.id);
        // Boxed: a node's future is about 1 KB, and an unboxed one is copied on every spawn.
        let task = Box::pin(async move {
            let node = &graph.nodes[job.index as usize];
            let report = caught(|| node_task::run_node(shared, node, job))
                .await
                .unwrap_or_else(|error| Report {
                    outcome: Outcome::Failed { error, attempts: 1 },
                    warnings: Vec::new(),
                    ran: true,
                    taken_over: false,
                });
            (index, report)
        });
        // Entering a disabled span on every poll costs a little; skip it when nobody listens.
        if span.is_disabled() {
            self.running.spawn(task);
        } else {
            self.running.spawn(task.instrument(span));
        }
    }

    fn value(&self, slot: Slot) -> Value {
        match slot {
            Slot::Input(i) => Arc::clone(&self.input_values[i as usize]),
            // A node is dispatched only once every upstream node completed, so the value is there.
            Slot::Node(i) => self.values[i as usize]
                .clone()
                .unwrap_or_else(|| Arc::new(())),
        }
    }

    /// What an attempt's audit entries record of its arguments: with references, a pipeline
    /// input (in the run's header) and a checkpointed output are named, anything else is copied.
    fn audited_inputs(&self, args: &[Slot]) -> AuditedInputs {
        let detail = self.shared.audit_detail;
        let mut inputs = AuditedInputs::default();
        if detail == AuditDetail::None {
            return inputs;
        }
        for &slot in args {
            let (name, json, stored) = match slot {
                Slot::Input(i) => (
                    &self.graph.inputs[i as usize].name,
                    &self.input_json[i as usize],
                    true,
                ),
                Slot::Node(i) => (
                    &self.graph.nodes[i as usize].id,
                    &self.json[i as usize],
                    self.checkpointed[i as usize],
                ),
            };
            if detail == AuditDetail::References && stored {
                inputs.refs.push(name.to_string());
            } else {
                let json = json.clone().unwrap_or_else(null_json);
                inputs.copies.insert(name.to_string(), json);
            }
        }
        inputs
    }

    /// Whether a node's JSON must be kept for the audit entries of its readers.
    fn keep_json(&self, checkpointed: bool) -> bool {
        self.shared.audit.is_some()
            && match self.shared.audit_detail {
                AuditDetail::Full => true,
                AuditDetail::References => !checkpointed,
                AuditDetail::None => false,
            }
    }

    fn on_report(&mut self, index: u32, report: Report) {
        self.warnings.extend(report.warnings);
        if report.taken_over {
            // Another engine owns the run now: whatever this one computes can no longer be kept.
            self.taken_over = true;
            self.stopped = true;
        }
        if report.ran {
            self.executed.push(index);
        }
        match report.outcome {
            Outcome::Completed {
                value,
                json,
                checkpointed,
            } => {
                self.values[index as usize] = Some(value);
                self.json[index as usize] = json.filter(|_| self.keep_json(checkpointed));
                self.checkpointed[index as usize] = checkpointed;
                self.resolve(index, NodeStatus::Completed);
            }
            Outcome::Skipped => self.skip(index),
            Outcome::Failed { error, attempts } => {
                let id = self.graph.nodes[index as usize].id.to_string();
                self.failures.insert(id, NodeFailure { error, attempts });
                let policy = self.graph.nodes[index as usize]
                    .options
                    .on_error
                    .unwrap_or(self.on_error);
                if policy == OnError::FailFast {
                    self.stopped = true;
                }
                self.resolve(index, NodeStatus::Failed);
            }
        }
    }

    fn skip(&mut self, index: u32) {
        self.shared
            .events
            .on_node_skip(&self.shared.run_id, &self.graph.nodes[index as usize].id);
        self.resolve(index, NodeStatus::Skipped);
    }

    fn resolve(&mut self, index: u32, status: NodeStatus) {
        self.state[index as usize] = State::Done(status);
        let graph = Arc::clone(&self.graph);
        self.release_upstream(&graph, index);
        self.release_downstream(&graph, index);
    }

    /// Node `index` will read its upstream outputs no more: drops each one no other node needs,
    /// so a run holds only its live frontier.
    fn release_upstream(&mut self, graph: &GraphInner<I, O>, index: u32) {
        for &up in &graph.nodes[index as usize].upstream {
            let readers = &mut self.readers[up as usize];
            *readers = readers.saturating_sub(1);
            if *readers == 0 && !self.pinned[up as usize] {
                self.values[up as usize] = None;
                self.json[up as usize] = None;
            }
        }
    }

    fn release_downstream(&mut self, graph: &GraphInner<I, O>, index: u32) {
        for &down in &graph.downstream[index as usize] {
            let waiting = &mut self.waiting[down as usize];
            debug_assert!(
                *waiting > 0,
                "node {down} released more often than it has upstream nodes"
            );
            *waiting = waiting.saturating_sub(1);
            if *waiting == 0 && self.state[down as usize] == State::Waiting {
                self.ready.push_back(down);
            }
        }
    }

    fn finish(self, cancelled: bool) -> PipelineResult<O> {
        let nodes: BTreeMap<String, NodeStatus> = self
            .graph
            .nodes
            .iter()
            .zip(&self.state)
            .map(|(node, state)| {
                let status = match state {
                    State::Done(status) => *status,
                    State::Waiting | State::Running => NodeStatus::NotRun,
                };
                (node.id.to_string(), status)
            })
            .collect();
        let status = if self.taken_over {
            RunStatus::TakenOver
        } else if cancelled {
            RunStatus::Cancelled
        } else if !self.failures.is_empty() {
            RunStatus::Failed
        } else {
            RunStatus::Completed
        };
        let output = self.output();
        PipelineResult {
            run_id: self.shared.run_id.clone(),
            status,
            output,
            nodes,
            failures: self.failures,
            restored: self.restored,
            executed: self
                .executed
                .iter()
                .map(|&i| self.graph.nodes[i as usize].id.to_string())
                .collect(),
            warnings: self.warnings,
        }
    }

    fn output(&self) -> Option<O> {
        let values: Option<Vec<&Value>> = self
            .graph
            .output_slots
            .iter()
            .map(|&slot| match slot {
                Slot::Input(i) => self.input_values.get(i as usize),
                Slot::Node(i) => self.values[i as usize].as_ref(),
            })
            .collect();
        (self.graph.output)(&values?)
    }
}

fn null_json() -> Json {
    Arc::from(serde_json::value::RawValue::NULL.to_owned())
}
