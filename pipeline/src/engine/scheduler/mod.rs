//! The scheduler of one run: releases a node when its last upstream node resolves, so the work is
//! O(nodes + edges) in all. A node that is the only one able to run runs on the scheduler's own
//! task (no spawn, no copy of its arguments); nodes that can run together go to tokio tasks
//! (`tasks`), so independent nodes use every core and overlap their waits.

mod decide;
mod finish;
mod items;
mod job;
mod map;
mod remote;
mod wait;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use items::{Given, MapRun};

use super::cancel::CancelHandle;
use super::lifecycle::RunShared;
use super::node_task::report;
use super::restore::{PartialMap, StoredRun};
use super::tasks::{self, Batch, Tasks};
use crate::call::guard::caught_sync;
use crate::data::{Json, Value};
use crate::event::EventHandler;
use crate::graph::{Graph, GraphInner};
use crate::machine::{self, NodeState, Phase};
use crate::node::OnError;
use crate::result::WaitingOn;
use crate::result::{NodeFailure, PersistenceWarning, PipelineResult};
use crate::run_id::RunId;
use crate::store::AuditDetail;
use crate::store::RunWaits;

pub(crate) struct Run<I, O> {
    graph: Arc<GraphInner<I, O>>,
    shared: Arc<RunShared>,
    on_error: OnError,
    cap: usize,
    /// Each node's state, as the run's state machine (`machine`) decides it.
    nodes: Vec<NodeState>,
    /// The machine's last decision and its buffers, reused for every decision.
    decision: machine::Decision,
    scratch: machine::Scratch,
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
    /// Mapped nodes that became ready, to open before anything starts.
    to_open: Vec<u32>,
    /// The open maps, by node.
    maps: HashMap<u32, MapRun>,
    /// Open maps with items to start, in the order they will start them.
    open: VecDeque<u32>,
    /// Items of mapped nodes restored from the checkpoint, until their maps open.
    partial: Vec<PartialMap>,
    /// Waits that became ready, to begin before anything starts.
    to_begin: Vec<u32>,
    /// The waits that began and have no signal yet.
    suspended: Vec<WaitingOn>,
    /// Waits whose signal (or deadline) came, to complete.
    completing: VecDeque<(u32, Given)>,
    /// The run's signals and earlier waits, as its store had them.
    stored_waits: RunWaits,
    /// A wait due within this long is awaited in the process; a later one suspends the run.
    in_process: std::time::Duration,
    tasks: Tasks,
    stopped: bool,
    /// A store refused a write because another engine took the run over.
    taken_over: bool,
    failures: BTreeMap<String, NodeFailure>,
    restored: Vec<u32>,
    /// The nodes that ran, in the order they finished.
    executed: Vec<u32>,
    /// Nodes whose outputs came from the cache, with the runs that computed them.
    cached: Vec<(u32, RunId)>,
    warnings: Vec<PersistenceWarning>,
}

/// How many turns of the scheduler's loop pass between two looks at whether the run was
/// cancelled, besides the cancel racing every node that waits.
const LOOK_EVERY: u32 = 64;

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
            nodes: vec![NodeState::new(Phase::Waiting); n], // set in `restore`
            decision: machine::Decision::default(),
            scratch: machine::Scratch::default(),
            readers: (0..n as u32)
                .map(|i| graph.inner.downstream.of(i).len() as u32)
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
            to_open: Vec::new(),
            maps: HashMap::new(),
            open: VecDeque::new(),
            partial: Vec::new(),
            to_begin: Vec::new(),
            suspended: Vec::new(),
            completing: VecDeque::new(),
            stored_waits: RunWaits::default(),
            in_process: std::time::Duration::ZERO,
            tasks: Tasks::new(),
            stopped: false,
            taken_over: false,
            failures: BTreeMap::new(),
            restored: Vec::new(),
            executed: Vec::new(),
            cached: Vec::new(),
            warnings,
        }
    }

    /// Awaits in the process the waits due within `threshold`, instead of suspending the run.
    pub fn wait_in_process(mut self, threshold: std::time::Duration) -> Self {
        self.in_process = threshold;
        self
    }

    pub fn run_id(&self) -> &RunId {
        &self.shared.run_id
    }

    pub async fn execute(
        mut self,
        inputs: &I,
        restored: StoredRun,
        cancel: Option<CancelHandle>,
        resumed: bool,
    ) -> PipelineResult<O> {
        let events = Arc::clone(&self.shared.events);
        let name = Arc::clone(&self.graph.name);
        events.on_pipeline_start(&name, &self.shared.run_id, resumed);
        crate::metrics::run_started(&name);
        self.load_inputs(inputs);
        let waits = self.graph.has_waits();
        if waits {
            self.load_waits().await;
        }
        self.restore(restored);
        // A run cancelled while it waited runs nothing more.
        let cancelled = self.stored_waits.cancelled || self.drive(cancel).await;
        if cancelled {
            self.apply(machine::Event::Cancel);
        }
        if waits && !self.taken_over {
            self.save_waits().await;
        }
        let result = self.finish(cancelled);
        events.on_pipeline_end(&name, &result.run_id, result.status);
        crate::metrics::run_ended(&name, result.status.code());
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

    fn restore(&mut self, restored: StoredRun) {
        self.partial = restored.partial;
        let mut done = vec![false; self.graph.nodes.len()];
        for (index, kept) in restored.complete {
            self.restored.push(index);
            done[index as usize] = true;
            if let Some((value, json)) = kept {
                self.values[index as usize] = Some(value);
                self.json[index as usize] = self.keep_json(true).then_some(json);
            }
            self.checkpointed[index as usize] = true;
        }
        self.nodes = machine::initial(&*self.graph, |node| done[node as usize]);
        for at in 0..self.restored.len() {
            self.release_upstream(self.restored[at]);
        }
        for index in 0..self.nodes.len() as u32 {
            if self.nodes[index as usize].phase == Phase::Ready {
                self.make_ready(index);
            }
        }
    }

    /// Runs until nothing is ready or running; returns whether the run was cancelled.
    async fn drive(&mut self, cancel: Option<CancelHandle>) -> bool {
        // Cancelled here (the handle, a dropped caller) or from another process (the watch of a
        // stored run); a run with neither cannot be cancelled, and pays nothing for it.
        let token = match (&cancel, &self.shared.checkpointer) {
            (Some(handle), _) => Some(handle.child_token()),
            (None, Some(_)) => Some(tokio_util::sync::CancellationToken::new()),
            (None, None) => None,
        };
        let _watch = token.as_ref().map(|token| {
            let checkpointer = self.shared.checkpointer.clone();
            remote::watch(checkpointer, self.run_id().clone(), token.clone())
        });
        // One future for the whole run, registered once: polled after the work it races, so a
        // node that completes at once costs nothing, and looked at directly every
        // `LOOK_EVERY` turns, so a run whose work never waits still sees a cancel.
        let cancelled = async {
            match &token {
                Some(token) => token.cancelled().await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(cancelled);
        let mut turns = 0u32;
        loop {
            turns = turns.wrapping_add(1);
            if turns.is_multiple_of(LOOK_EVERY) && token.as_ref().is_some_and(|t| t.is_cancelled())
            {
                self.tasks.abort().await;
                return true;
            }
            self.open_maps();
            self.begin_waits().await;
            if !self.completing.is_empty() && !self.stopped {
                self.complete_waits().await;
                continue;
            }
            let room = self.cap.saturating_sub(self.tasks.running());
            let startable = self.startable();
            if !self.stopped && room > 0 && startable > 0 {
                if self.tasks.running() == 0 && (startable == 1 || room == 1) {
                    // The only node that can run now: run it here, without a task.
                    let Some((index, item)) = self.pop_work() else {
                        continue;
                    };
                    if item.is_none() {
                        self.start(index);
                    }
                    let report = {
                        let node = &self.graph.nodes[index as usize];
                        let job = self.job(index, item);
                        let node = crate::trace::traced(
                            self.span(index, item),
                            report(&self.shared, node, job),
                        );
                        tokio::select! {
                            biased;
                            report = node => report,
                            () = &mut cancelled => return true,
                        }
                    };
                    self.on_report(index, report);
                } else {
                    self.start_tasks(room);
                }
                continue;
            }
            if self.tasks.running() == 0 {
                // Nothing else can run: a signal may have arrived for a suspended wait, or one is
                // due soon enough to wait for here.
                if self.stopped {
                    return false;
                }
                if self.refresh_waits().await {
                    continue;
                }
                if self.stored_waits.cancelled {
                    return true;
                }
                let Some(left) = self.due_soon() else {
                    return false;
                };
                // Polled, so a signal another process sends meanwhile is seen within a second.
                let nap = left.min(std::time::Duration::from_secs(1));
                let clock = std::sync::Arc::clone(&self.shared.clock);
                tokio::select! {
                    biased;
                    () = &mut cancelled => return true,
                    () = clock.sleep(left) => {}
                    () = tokio::time::sleep(nap) => {}
                }
                self.wake_suspended();
                continue;
            }
            tokio::select! {
                biased;
                reported = self.tasks.next() => {
                    if let Some((index, report)) = reported {
                        self.on_report(index, report);
                    }
                }
                () = &mut cancelled => {
                    self.tasks.abort().await;
                    return true;
                }
            }
        }
    }

    /// Starts up to `room` ready nodes on tasks: one task per node, or batches of nodes when
    /// more are ready than [`Tasks::shares`] allows tasks; each batch has its own copy of its
    /// nodes' arguments.
    fn start_tasks(&mut self, room: usize) {
        let count = room.min(self.startable());
        let per_task = count.div_ceil(Tasks::shares(count));
        // `count` may overestimate: a map counts the restored items ahead of its cursor.
        let (mut taken, mut exhausted) = (0, false);
        while taken < count && !exhausted {
            let mut batch = Batch::default();
            while batch.len() < per_task && taken < count {
                let Some((index, item)) = self.pop_work() else {
                    exhausted = true;
                    break;
                };
                taken += 1;
                if item.is_none() {
                    self.start(index);
                }
                self.add_to(&mut batch, index, item);
            }
            if batch.len() > 0 {
                let (graph, shared) = (Arc::clone(&self.graph), Arc::clone(&self.shared));
                let nodes = batch.len();
                let task = tasks::run_batch(graph, shared, batch, self.tasks.sender());
                self.tasks.spawn(nodes, task);
            }
        }
    }
}
