//! The engine's side of a fleet: `PipelineEngine::fleet`, submitting a run for workers, waiting
//! for it wherever it ran, and cancelling it from any process.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use super::reopen::Reopened;
use super::{NewNode, sql};
use crate::definition::Pipeline;
use crate::engine::{PipelineEngine, Remote, lifecycle, output_from_store};
use crate::error::PipelineError;
use crate::graph::{Slot, WaitDef};
use crate::machine;
use crate::result::{
    NodeFailure, NodeList, NodeNames, NodeStatus, NodeStatuses, PipelineResult, RunStatus,
    WaitingOn,
};
use crate::run_id::RunId;
use crate::store::now_ms;
use crate::store::postgres::Listener;
use crate::store::postgres::fleet::{DONE, node_status};
use crate::store::{NodeRecord, PostgresStore, RunHeader, RunSummary};

/// The fleet as where an engine's fleet runs are resumed.
struct OnFleet(PostgresStore);

#[async_trait::async_trait]
impl<P: Pipeline> Remote<P> for OnFleet {
    async fn resume(
        &self,
        engine: &PipelineEngine<P>,
        run_id: &RunId,
    ) -> Option<Result<PipelineResult<P::Output>, PipelineError>> {
        engine.resume_on_fleet(&self.0, run_id).await
    }

    async fn rerun(
        &self,
        engine: &PipelineEngine<P>,
        run_id: &RunId,
        header: RunHeader,
        kept: Vec<NodeRecord>,
    ) -> Option<Result<PipelineResult<P::Output>, PipelineError>> {
        engine.rerun_on_fleet(&self.0, run_id, header, kept).await
    }
}

impl<P: Pipeline> PipelineEngine<P> {
    /// Runs this engine's pipeline on a fleet of [`Worker`](crate::fleet::Worker)s sharing
    /// `store`: [`submit`](PipelineEngine::submit) records runs for them,
    /// [`wait`](PipelineEngine::wait) returns a run's result, [`cancel`](PipelineEngine::cancel)
    /// stops one. The store is also the engine's checkpointer and audit log.
    ///
    /// [`resume`](PipelineEngine::resume) of a failed fleet run sends it back to the fleet: the
    /// workers run what did not complete, and `resume` returns once the run ended (a cancel
    /// handle given to [`Resume::cancel`](crate::Resume::cancel) does not reach it: use `cancel`); a fleet run that
    /// is still running is followed to its end, or until it only waits. A run that is not the
    /// fleet's is resumed in this process, as without a fleet. [`rerun`](PipelineEngine::rerun)
    /// of a fleet run runs the new run on the fleet too.
    pub fn fleet(mut self, store: PostgresStore) -> Self {
        self.checkpointer = Some(Arc::new(store.clone()));
        self.audit = Some(Arc::new(store.clone()));
        self.remote = Some(Arc::new(OnFleet(store.clone())));
        self.fleet = Some(store);
        self
    }

    /// Resumes a fleet run on the fleet (see [`fleet`](PipelineEngine::fleet)); `None` when the
    /// fleet never had the run.
    async fn resume_on_fleet(
        &self,
        store: &PostgresStore,
        run_id: &RunId,
    ) -> Option<Result<PipelineResult<P::Output>, PipelineError>> {
        let from_store = |e| PipelineError::from_store(run_id, e);
        match sql::run_row(store, run_id).await {
            Ok(Some(_)) => {}
            Ok(None) => return None,
            Err(e) => return Some(Err(from_store(e))),
        }
        Some(self.reopen(store, run_id).await)
    }

    async fn reopen(
        &self,
        store: &PostgresStore,
        run_id: &RunId,
    ) -> Result<PipelineResult<P::Output>, PipelineError> {
        let from_store = |e| PipelineError::from_store(run_id, e);
        let header = sql::header(store, run_id).await.map_err(from_store)?;
        let header = header.ok_or_else(|| PipelineError::UnknownRun(run_id.clone()))?;
        // The workers serve runs of this graph only: a changed pipeline is refused, as in one
        // process.
        lifecycle::check_header(&self.graph, &header)?;
        let graph = &self.graph;
        let summary = |completed: &[u32]| {
            let ids = completed
                .iter()
                .map(|&n| &*graph.inner.nodes[n as usize].id);
            let now = now_ms();
            let mut summary = RunSummary::in_progress(
                run_id.clone(),
                graph.name(),
                header.started_at_ms,
                now,
                graph.node_ids(),
                ids,
            );
            summary.resumed_at_ms = Some(now);
            summary
        };
        let reopened = sql::reopen(store, run_id, &*self.graph.inner, summary)
            .await
            .map_err(from_store)?;
        match reopened {
            // The workers run it: resuming it follows it to its end (or until it only waits, as
            // a waiting run in one process answers).
            Reopened::Running(completed) => Ok(self.since(self.wait(run_id).await?, completed)),
            Reopened::NotFleet => Err(PipelineError::UnknownRun(run_id.clone())),
            Reopened::Ended(completed) | Reopened::Again(completed) => {
                Ok(self.since(self.wait(run_id).await?, completed))
            }
        }
    }

    /// `result` as a call that found nodes `completed` says it, as a resume in one process does:
    /// those were restored, and only the others ran in this call.
    pub(crate) fn since(
        &self,
        mut result: PipelineResult<P::Output>,
        completed: Vec<u32>,
    ) -> PipelineResult<P::Output> {
        let names: Arc<dyn NodeNames> = self.graph.inner.clone();
        let executed = result.executed.indexes().filter(|i| !completed.contains(i));
        result.executed = NodeList::new(Arc::clone(&names), executed.collect());
        result.restored = NodeList::new(names, completed);
        result
    }

    pub(super) fn fleet_store(&self, run_id: &RunId) -> Result<&PostgresStore, PipelineError> {
        self.fleet
            .as_ref()
            .ok_or_else(|| PipelineError::NoFleet(run_id.clone()))
    }

    /// The engine's one listener for ended runs, shared by all its waits.
    fn done_listener(&self, store: &PostgresStore) -> &Listener {
        self.fleet_done
            .get_or_init(|| Listener::start(store.config().clone(), DONE))
    }

    /// The rows of a new run's nodes, those `done` resolved from the start (a rerun's kept nodes).
    pub(crate) fn new_nodes(&self, done: &[bool]) -> Vec<NewNode<'_>> {
        let graph = &self.graph.inner;
        let done = |n: u32| done.get(n as usize).copied().unwrap_or(false);
        (0..graph.nodes.len() as u32)
            .map(|i| NewNode {
                id: &graph.nodes[i as usize].id,
                upstream: graph.upstream.of(i).iter().filter(|&&u| !done(u)).count(),
                fail_fast: machine::stops_run(&graph.nodes[i as usize].options, self.on_error),
                done: done(i),
            })
            .collect()
    }

    /// Waits until the run ends, whichever workers ran it, and returns its result; or, as a run in
    /// one process ends [`Waiting`](RunStatus::Waiting), until nothing of it is left but waits (for
    /// a signal, or a timer due later than [`wait_in_process`](crate::EngineSettings::wait_in_process)):
    /// [`signal`](PipelineEngine::signal) continues it. Woken by `LISTEN/NOTIFY` (a run's end, or
    /// a wait beginning), and looking every second in case a notification was lost. While the
    /// server cannot be reached it keeps trying (with a warning in the log), as workers do: wrap
    /// it in a timeout to give up.
    pub async fn wait(&self, run_id: &RunId) -> Result<PipelineResult<P::Output>, PipelineError> {
        let store = self.fleet_store(run_id)?;
        let listener = self.done_listener(store);
        let mut pause = Duration::from_millis(50);
        loop {
            let woken = listener.armed();
            match self.ended(store, run_id).await {
                Ok(Some(result)) => return Ok(result),
                Ok(None) => pause = Duration::from_millis(50),
                // The server is restarting or unreachable: keep waiting, as the workers do.
                Err(PipelineError::Store {
                    source: source @ crate::store::StoreError::Postgres { .. },
                    ..
                }) => {
                    tracing::warn!(run = %run_id, error = %source, "cannot read the run; trying again");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(2));
                    continue;
                }
                Err(e) => return Err(e),
            }
            tokio::select! {
                () = woken => {}
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    }

    /// The result of a fleet run, or `None` while it runs.
    async fn ended(
        &self,
        store: &PostgresStore,
        run_id: &RunId,
    ) -> Result<Option<PipelineResult<P::Output>>, PipelineError> {
        let from_store = |e| PipelineError::from_store(run_id, e);
        let Some(run) = sql::run_row(store, run_id).await.map_err(from_store)? else {
            return Err(PipelineError::UnknownRun(run_id.clone()));
        };
        let graph = &self.graph.inner;
        let waiting = self.waiting_only(&run);
        let status = match run.state.as_str() {
            "completed" => RunStatus::Completed,
            "failed" => RunStatus::Failed,
            "cancelled" => RunStatus::Cancelled,
            _ if !waiting.is_empty() => RunStatus::Waiting,
            _ => return Ok(None),
        };
        let mut failures = BTreeMap::new();
        let mut executed = Vec::new();
        // A fleet run was submitted by this graph (same fingerprint), so its nodes are the
        // graph's; every node starts as not run.
        let mut statuses = vec![NodeStatus::NotRun; graph.nodes.len()];
        for node in &run.nodes {
            let Some(index) = graph.node_index(&node.id) else {
                continue;
            };
            statuses[index as usize] = node_status(&node.state);
            if let Some(error) = &node.error
                && node.state == "failed"
            {
                // A mapped node's failure names its items, as in one process.
                let attempts = node.failed_items.iter().map(|i| i.attempts).max();
                let failure = NodeFailure {
                    error: error.clone(),
                    attempts: attempts.unwrap_or(node.attempt),
                    items: node.failed_items.clone(),
                };
                failures.insert(node.id.clone(), failure);
            }
            if matches!(node.state.as_str(), "completed" | "failed") {
                executed.push(index);
            }
        }
        // Which nodes came from the cache the trail says: only read when the pipeline has any.
        let mut cached = BTreeMap::new();
        if graph.nodes.iter().any(|n| n.options.cache.is_some()) {
            let trail = crate::store::AuditLog::entries(store, run_id)
                .await
                .map_err(from_store)?;
            cached = crate::store::cached_from(trail.iter().flatten());
            for node in cached.keys() {
                if let Some(index) = graph.node_index(node) {
                    statuses[index as usize] = NodeStatus::Cached;
                    executed.retain(|&i| i != index);
                }
            }
        }
        let names: Arc<dyn NodeNames> = graph.clone();
        Ok(Some(PipelineResult {
            run_id: run_id.clone(),
            status,
            output: self.fleet_output(store, run_id).await?,
            nodes: NodeStatuses::new(names.clone(), statuses),
            failures,
            restored: NodeList::new(names.clone(), Vec::new()),
            cached,
            executed: NodeList::new(names, executed),
            warnings: Vec::new(),
            waiting,
            stored: true,
        }))
    }

    /// The waits a running fleet run waits on when nothing else of it is left, as a run in one
    /// process ends `Waiting`: no node ready or running, some wait suspended, none due within the
    /// engine's [`wait_in_process`](crate::EngineSettings::wait_in_process) threshold (a worker takes
    /// those when they are due). Empty while anything else is left.
    fn waiting_only(&self, run: &sql::RunRow) -> Vec<WaitingOn> {
        let graph = &self.graph.inner;
        let soon = now_ms().saturating_add(self.in_process.as_millis() as u64);
        let mut waiting = Vec::new();
        for node in &run.nodes {
            match (node.state.as_str(), node.began) {
                // A node waiting for its upstream nodes waits, in the end, on a wait.
                ("completed" | "failed" | "skipped" | "not_run" | "waiting", _) => {}
                ("suspended", Some((began_at_ms, due))) if due.is_none_or(|due| due > soon) => {
                    let timer = graph.node_index(&node.id).is_some_and(|i| {
                        matches!(graph.nodes[i as usize].wait, Some(WaitDef::Timer(_)))
                    });
                    waiting.push(WaitingOn {
                        wait: node.id.clone(),
                        began_at_ms,
                        deadline_ms: due,
                        timer,
                    });
                }
                _ => return Vec::new(),
            }
        }
        waiting
    }

    /// The pipeline's output, from the stored outputs of the nodes it reads (`None` when one of
    /// them did not complete).
    async fn fleet_output(
        &self,
        store: &PostgresStore,
        run_id: &RunId,
    ) -> Result<Option<P::Output>, PipelineError> {
        let graph = &self.graph.inner;
        let ids: Vec<&str> = self
            .graph
            .output_nodes()
            .into_iter()
            .map(|i| &*graph.nodes[i as usize].id)
            .collect();
        let stored = sql::outputs(store, run_id, &ids)
            .await
            .map_err(|e| PipelineError::from_store(run_id, e))?;
        let stored: BTreeMap<String, crate::data::Json> = stored.into_iter().collect();
        // The header is read only when the output holds an input: a run whose header is damaged
        // still ends (failed, naming the damage) for its waiters.
        let inputs = match graph
            .output_slots
            .iter()
            .any(|s| matches!(s, Slot::Input(_)))
        {
            true => {
                let header = sql::header(store, run_id)
                    .await
                    .map_err(|e| PipelineError::from_store(run_id, e))?;
                let Some(header) = header else {
                    return Ok(None);
                };
                Some(serde_json::from_str(header.inputs.get()))
            }
            false => None,
        };
        output_from_store(&self.graph, run_id, inputs, &stored)
    }

    /// Cancels a fleet run from any process: no node of it starts or commits any more, and its
    /// waiters return [`RunStatus::Cancelled`]. `Ok(false)` when it had already ended.
    pub async fn cancel(&self, run_id: &RunId) -> Result<bool, PipelineError> {
        let store = self.fleet_store(run_id)?;
        let header = sql::header(store, run_id)
            .await
            .map_err(|e| PipelineError::from_store(run_id, e))?;
        let Some(header) = header else {
            return Err(PipelineError::UnknownRun(run_id.clone()));
        };
        let summary = |nodes| RunSummary {
            run_id: run_id.clone(),
            pipeline: header.pipeline.clone(),
            status: Some(RunStatus::Cancelled),
            started_at_ms: header.started_at_ms,
            updated_at_ms: now_ms(),
            nodes,
            restored: Vec::new(),
            resumed_at_ms: None,
        };
        match sql::cancel(store, run_id, summary).await {
            Ok(Some(true)) => {
                // As in one process: a signal sent after this is refused as for a cancelled run.
                crate::store::Checkpointer::cancel_waits(store, run_id)
                    .await
                    .map_err(|e| PipelineError::from_store(run_id, e))?;
                Ok(true)
            }
            Ok(Some(false)) => Ok(false),
            Ok(None) => Err(PipelineError::UnknownRun(run_id.clone())),
            Err(e) => Err(PipelineError::from_store(run_id, e)),
        }
    }
}
