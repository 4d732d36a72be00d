//! The engine: builds runs from a [`Pipeline`], starts, resumes and inspects them.

mod cancel;
mod node_task;
mod scheduler;

use std::collections::BTreeMap;
use std::sync::Arc;

use tracing::Instrument;

pub use cancel::CancelHandle;

use crate::data::{Json, Value, to_json};
use crate::definition::{FromCheckpoint, Pipeline};
use crate::event::{EventHandler, NoEvents};
use crate::graph::{Graph, GraphInner};
use crate::store::{
    AuditEntry, AuditLog, Checkpoint, Checkpointer, FORMAT_VERSION, RunHeader, RunSummary,
    StoreError,
};
use crate::{NodeStatus, OnError, PersistenceWarning, PipelineError, PipelineResult, RunId, Store};

/// What every node task of one run shares.
pub(crate) struct RunShared {
    pub run_id: RunId,
    /// When the run first started (the original start, for a resumed run).
    pub started_at_ms: u64,
    pub checkpointer: Option<Arc<dyn Checkpointer>>,
    pub audit: Option<Arc<dyn AuditLog>>,
    pub events: Arc<dyn EventHandler>,
}

/// Releases the stores' hold on a run (its lock, open files) when the run ends or its future is
/// dropped.
pub(crate) struct Lease {
    run_id: RunId,
    checkpointer: Option<Arc<dyn Checkpointer>>,
    audit: Option<Arc<dyn AuditLog>>,
}

impl Lease {
    fn new(run_id: RunId) -> Self {
        Lease {
            run_id,
            checkpointer: None,
            audit: None,
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(checkpointer) = &self.checkpointer {
            checkpointer.release_run(&self.run_id);
        }
        if let Some(audit) = &self.audit {
            audit.release_run(&self.run_id);
        }
    }
}

impl RunShared {
    /// Whether node outputs need serializing for a store.
    pub fn persists(&self) -> bool {
        self.checkpointer.is_some() || self.audit.is_some()
    }
}

/// Runs a [`Pipeline`]: every node whose dependencies are satisfied, independent nodes concurrently on
/// tokio, with a checkpoint record and an audit entry after each node.
///
/// ```
/// use pipeline::{GraphBuilder, InMemoryCheckpointer, NodeStatus, PipelineEngine, RunStatus};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut g = GraphBuilder::<String>::new("greet");
/// let name = g.input("name", |n: &String| n.clone());
/// let greeting = g.node("greeting").run(name, |name, _| async move {
///     Ok::<_, std::io::Error>(format!("hello, {name}"))
/// });
/// let engine = PipelineEngine::new(g.build(greeting)?).checkpointer(InMemoryCheckpointer::new());
///
/// let first = engine.run("ada".to_string()).await?;
/// assert_eq!(first.status, RunStatus::Completed);
/// assert_eq!(first.output.as_deref(), Some("hello, ada"));
///
/// // Resuming a completed run runs nothing and returns the same output.
/// let again = engine.resume(&first.run_id).await?;
/// assert_eq!(again.output, first.output);
/// assert!(again.executed.is_empty());
/// assert_eq!(again.node("greeting"), Some(NodeStatus::Completed));
/// # Ok(())
/// # }
/// ```
pub struct PipelineEngine<P: Pipeline> {
    pipeline: P,
    graph: Graph<P::Inputs, P::Output>,
    checkpointer: Option<Arc<dyn Checkpointer>>,
    audit: Option<Arc<dyn AuditLog>>,
    events: Arc<dyn EventHandler>,
    on_error: OnError,
    max_concurrency: Option<usize>,
}

impl<P: Pipeline> PipelineEngine<P> {
    /// An engine for `pipeline`, with no stores, fail-fast, and no concurrency cap.
    pub fn new(pipeline: P) -> Self {
        PipelineEngine {
            graph: pipeline.graph(),
            pipeline,
            checkpointer: None,
            audit: None,
            events: Arc::new(NoEvents),
            on_error: OnError::default(),
            max_concurrency: None,
        }
    }

    /// Checkpoints each completed node into `checkpointer`, which makes runs resumable.
    pub fn checkpointer(mut self, checkpointer: impl Checkpointer + 'static) -> Self {
        self.checkpointer = Some(Arc::new(checkpointer));
        self
    }

    /// Records every node attempt into `audit_log`.
    pub fn audit_log(mut self, audit_log: impl AuditLog + 'static) -> Self {
        self.audit = Some(Arc::new(audit_log));
        self
    }

    /// Sends run and node events to `handler`.
    pub fn event_handler(mut self, handler: impl EventHandler + 'static) -> Self {
        self.events = Arc::new(handler);
        self
    }

    /// Sets the failure policy for nodes that do not set their own (default [`OnError::FailFast`]).
    pub fn on_error(mut self, on_error: OnError) -> Self {
        self.on_error = on_error;
        self
    }

    /// Runs at most `n` nodes of a run at once (at least 1; default: no cap).
    pub fn max_concurrency(mut self, n: usize) -> Self {
        self.max_concurrency = Some(n.max(1));
        self
    }

    /// The pipeline this engine runs.
    pub fn pipeline(&self) -> &P {
        &self.pipeline
    }

    /// The graph this engine runs.
    pub fn graph(&self) -> &Graph<P::Inputs, P::Output> {
        &self.graph
    }

    /// Starts a run with a generated (UUID v7) run id.
    pub async fn run(&self, inputs: P::Inputs) -> Result<PipelineResult<P::Output>, PipelineError> {
        self.start(RunId::generate(), inputs, None).await
    }

    /// Starts a run with the id `run_id`; [`PipelineError::RunExists`] when a store already has it.
    pub async fn run_with_id(
        &self,
        run_id: RunId,
        inputs: P::Inputs,
    ) -> Result<PipelineResult<P::Output>, PipelineError> {
        self.start(run_id, inputs, None).await
    }

    /// Starts a run that `cancel` can stop; a generated id when `run_id` is `None`.
    pub async fn run_with_cancel(
        &self,
        run_id: Option<RunId>,
        inputs: P::Inputs,
        cancel: &CancelHandle,
    ) -> Result<PipelineResult<P::Output>, PipelineError> {
        let run_id = run_id.unwrap_or_else(RunId::generate);
        self.start(run_id, inputs, Some(cancel.clone())).await
    }

    /// Resumes run `run_id`: restores the outputs of its completed nodes and runs only the rest
    /// (condition gates are evaluated again). A completed run runs nothing and returns its output.
    pub async fn resume(&self, run_id: &RunId) -> Result<PipelineResult<P::Output>, PipelineError> {
        self.resume_inner(run_id, None).await
    }

    /// [`resume`](PipelineEngine::resume) with a handle that can cancel it.
    pub async fn resume_with_cancel(
        &self,
        run_id: &RunId,
        cancel: &CancelHandle,
    ) -> Result<PipelineResult<P::Output>, PipelineError> {
        self.resume_inner(run_id, Some(cancel.clone())).await
    }

    /// The checkpoint of run `run_id` as stored; `Ok(None)` for an unknown run.
    pub async fn load_checkpoint(
        &self,
        run_id: &RunId,
    ) -> Result<Option<Checkpoint>, PipelineError> {
        let checkpointer = self
            .checkpointer
            .as_ref()
            .ok_or_else(|| PipelineError::NoCheckpointer(run_id.clone()))?;
        checkpointer.load(run_id).await.map_err(store_error(run_id))
    }

    /// The typed checkpoint of run `run_id` (for a `pipeline!`, its generated `<Name>Checkpoint`:
    /// the inputs and each completed node's output); `Ok(None)` for an unknown run.
    pub async fn checkpoint(&self, run_id: &RunId) -> Result<Option<P::Checkpoint>, PipelineError> {
        let Some(stored) = self.load_checkpoint(run_id).await? else {
            return Ok(None);
        };
        P::Checkpoint::from_checkpoint(&stored)
            .map(Some)
            .map_err(|source| PipelineError::Decode {
                run_id: run_id.clone(),
                what: "checkpoint".into(),
                source,
            })
    }

    /// The audit trail of run `run_id`; `Ok(None)` for an unknown run or an engine without an
    /// audit log.
    pub async fn audit_trail(
        &self,
        run_id: &RunId,
    ) -> Result<Option<Vec<AuditEntry>>, PipelineError> {
        match &self.audit {
            Some(audit) => audit.entries(run_id).await.map_err(store_error(run_id)),
            None => Ok(None),
        }
    }

    async fn start(
        &self,
        run_id: RunId,
        inputs: P::Inputs,
        cancel: Option<CancelHandle>,
    ) -> Result<PipelineResult<P::Output>, PipelineError> {
        let started_at_ms = node_task::now_ms();
        let mut shared = self.shared(run_id.clone(), started_at_ms);
        let mut warnings = Vec::new();
        let mut lease = Lease::new(run_id.clone());
        if shared.persists() {
            match to_json(&inputs) {
                Ok(json) => {
                    let header = self.header(&run_id, json, started_at_ms);
                    self.create_stores(&mut shared, &header, &mut warnings, &mut lease)
                        .await?;
                }
                Err(e) => {
                    let message = format!("cannot serialize the inputs: {e}");
                    header_warning(&shared, &mut warnings, Store::Checkpoint, message);
                    shared.checkpointer = None;
                    shared.audit = None;
                }
            }
        }
        self.execute(shared, warnings, &inputs, None, cancel, lease)
            .await
    }

    async fn resume_inner(
        &self,
        run_id: &RunId,
        cancel: Option<CancelHandle>,
    ) -> Result<PipelineResult<P::Output>, PipelineError> {
        let checkpointer = self
            .checkpointer
            .as_ref()
            .ok_or_else(|| PipelineError::NoCheckpointer(run_id.clone()))?;
        let checkpoint = match checkpointer.resume_run(run_id).await {
            Ok(Some(checkpoint)) => checkpoint,
            Ok(None) => return Err(PipelineError::UnknownRun(run_id.clone())),
            Err(StoreError::Locked(id)) => return Err(PipelineError::RunLocked(id)),
            Err(e) => return Err(store_error(run_id)(e)),
        };
        let mut lease = Lease::new(run_id.clone());
        lease.checkpointer = Some(Arc::clone(checkpointer));
        self.check_header(&checkpoint.header)?;
        let inputs: P::Inputs =
            serde_json::from_str(checkpoint.header.inputs.get()).map_err(|source| {
                PipelineError::Decode {
                    run_id: run_id.clone(),
                    what: "inputs".into(),
                    source,
                }
            })?;
        let restored = self.restore(&checkpoint)?;
        let mut shared = self.shared(run_id.clone(), checkpoint.header.started_at_ms);
        let mut warnings = Vec::new();
        if let Some(audit) = &shared.audit {
            match audit.resume_run(&checkpoint.header).await {
                Ok(()) => lease.audit = Some(Arc::clone(audit)),
                Err(StoreError::Locked(id)) => return Err(PipelineError::RunLocked(id)),
                Err(e) => {
                    header_warning(&shared, &mut warnings, Store::Audit, e.to_string());
                    shared.audit = None;
                }
            }
        }
        self.execute(shared, warnings, &inputs, Some(restored), cancel, lease)
            .await
    }

    /// Runs what is not restored; `lease` is dropped when the run ends or this future is dropped.
    async fn execute(
        &self,
        shared: RunShared,
        warnings: Vec<PersistenceWarning>,
        inputs: &P::Inputs,
        restored: Option<Vec<(u32, Value, Json)>>,
        cancel: Option<CancelHandle>,
        lease: Lease,
    ) -> Result<PipelineResult<P::Output>, PipelineError> {
        let resumed = restored.is_some();
        let restored = restored.unwrap_or_default();
        let (audit, events) = (shared.audit.clone(), Arc::clone(&shared.events));
        // Summaries live in the audit log; without one, do not build them.
        let summary = audit
            .is_some()
            .then(|| self.start_summary(&shared, &restored));
        let mut summary_warnings = Vec::new();
        if let (Some(audit), Some(summary)) = (&audit, &summary) {
            write_summary(audit.as_ref(), summary, &*events, &mut summary_warnings).await;
        }
        let run = scheduler::Run::new(
            &self.graph,
            shared,
            self.on_error,
            self.max_concurrency,
            warnings,
        );
        let span = tracing::info_span!("pipeline.run", pipeline = self.graph.name(), run_id = %run.run_id(), resumed);
        let execute = run.execute(inputs, restored, cancel, resumed);
        // Entering a disabled span on every poll costs a little; skip it when nobody listens.
        let mut result = if span.is_disabled() {
            execute.await
        } else {
            execute.instrument(span).await
        };
        if let (Some(audit), Some(mut summary)) = (&audit, summary) {
            summary.status = Some(result.status);
            summary.updated_at_ms = node_task::now_ms();
            summary.nodes = result.nodes.clone();
            write_summary(audit.as_ref(), &summary, &*events, &mut summary_warnings).await;
        }
        result.warnings.extend(summary_warnings);
        drop(lease); // after the run, and also when this future is dropped mid-run
        Ok(result)
    }

    /// The summary of a run as it starts: the restored nodes completed, the rest not run yet.
    fn start_summary(&self, shared: &RunShared, restored: &[(u32, Value, Json)]) -> RunSummary {
        let mut nodes: BTreeMap<String, NodeStatus> = self
            .graph
            .node_ids()
            .map(|id| (id.to_owned(), NodeStatus::NotRun))
            .collect();
        for &(index, ..) in restored {
            let id = &self.graph.inner.nodes[index as usize].id;
            nodes.insert(id.to_string(), NodeStatus::Completed);
        }
        RunSummary {
            run_id: shared.run_id.clone(),
            pipeline: self.graph.name().to_owned(),
            status: None,
            started_at_ms: shared.started_at_ms,
            updated_at_ms: node_task::now_ms(),
            nodes,
        }
    }

    fn shared(&self, run_id: RunId, started_at_ms: u64) -> RunShared {
        RunShared {
            run_id,
            started_at_ms,
            checkpointer: self.checkpointer.clone(),
            audit: self.audit.clone(),
            events: Arc::clone(&self.events),
        }
    }

    fn header(&self, run_id: &RunId, inputs: Json, started_at_ms: u64) -> RunHeader {
        RunHeader {
            format_version: FORMAT_VERSION,
            run_id: run_id.clone(),
            pipeline: self.graph.name().to_owned(),
            fingerprint: self.graph.fingerprint().to_owned(),
            graph: self.graph.signature().clone(),
            inputs,
            started_at_ms,
        }
    }

    /// Creates the run in each store. A taken id is an error; any other failure disables that
    /// store for this run with one warning, so the business logic goes on.
    async fn create_stores(
        &self,
        shared: &mut RunShared,
        header: &RunHeader,
        warnings: &mut Vec<PersistenceWarning>,
        lease: &mut Lease,
    ) -> Result<(), PipelineError> {
        if let Some(checkpointer) = &shared.checkpointer {
            match checkpointer.create_run(header).await {
                Ok(()) => lease.checkpointer = Some(Arc::clone(checkpointer)),
                Err(StoreError::RunExists(id)) => return Err(PipelineError::RunExists(id)),
                Err(StoreError::Locked(id)) => return Err(PipelineError::RunLocked(id)),
                Err(e) => {
                    header_warning(shared, warnings, Store::Checkpoint, e.to_string());
                    shared.checkpointer = None;
                }
            }
        }
        if let Some(audit) = &shared.audit {
            match audit.create_run(header).await {
                Ok(()) => lease.audit = Some(Arc::clone(audit)),
                Err(StoreError::RunExists(id)) => return Err(PipelineError::RunExists(id)),
                Err(StoreError::Locked(id)) => return Err(PipelineError::RunLocked(id)),
                Err(e) => {
                    header_warning(shared, warnings, Store::Audit, e.to_string());
                    shared.audit = None;
                }
            }
        }
        Ok(())
    }

    fn check_header(&self, header: &RunHeader) -> Result<(), PipelineError> {
        if header.pipeline != self.graph.name() {
            return Err(PipelineError::PipelineMismatch {
                run_id: header.run_id.clone(),
                expected: self.graph.name().to_owned(),
                found: header.pipeline.clone(),
            });
        }
        if header.fingerprint != self.graph.fingerprint() {
            return Err(PipelineError::GraphChanged {
                run_id: header.run_id.clone(),
                pipeline: header.pipeline.clone(),
                stored: header.fingerprint.clone(),
                current: self.graph.fingerprint().to_owned(),
                changes: self.graph.signature().changes_since(&header.graph),
            });
        }
        Ok(())
    }

    /// Decodes each completed node's output; the first record of a node wins.
    fn restore(&self, checkpoint: &Checkpoint) -> Result<Vec<(u32, Value, Json)>, PipelineError> {
        let inner: &GraphInner<_, _> = &self.graph.inner;
        let run_id = &checkpoint.header.run_id;
        let mut seen = vec![false; inner.nodes.len()];
        let mut restored = Vec::with_capacity(checkpoint.nodes.len());
        for record in &checkpoint.nodes {
            let Some(&index) = inner.index.get(record.node.as_str()) else {
                return Err(PipelineError::GraphChanged {
                    run_id: run_id.clone(),
                    pipeline: checkpoint.header.pipeline.clone(),
                    stored: checkpoint.header.fingerprint.clone(),
                    current: self.graph.fingerprint().to_owned(),
                    changes: vec![format!(
                        "the checkpoint has a record for unknown node `{}`",
                        record.node
                    )],
                });
            };
            if std::mem::replace(&mut seen[index as usize], true) {
                continue;
            }
            let node = &inner.nodes[index as usize];
            let value =
                (node.codec.decode)(&record.output).map_err(|source| PipelineError::Decode {
                    run_id: run_id.clone(),
                    what: format!("output of node `{}`", record.node),
                    source,
                })?;
            restored.push((index, value, Arc::clone(&record.output)));
        }
        Ok(restored)
    }
}

/// Writes a run summary; a failure is a persistence warning, like any other audit write.
async fn write_summary(
    audit: &dyn AuditLog,
    summary: &RunSummary,
    events: &dyn EventHandler,
    warnings: &mut Vec<PersistenceWarning>,
) {
    if let Err(e) = audit.write_summary(summary).await {
        let warning = PersistenceWarning {
            store: Store::Audit,
            node: None,
            message: format!("cannot write the run summary: {e}"),
        };
        events.on_persistence_warning(&summary.run_id, &warning);
        warnings.push(warning);
    }
}

fn header_warning(
    shared: &RunShared,
    warnings: &mut Vec<PersistenceWarning>,
    store: Store,
    message: String,
) {
    let warning = PersistenceWarning {
        store,
        node: None,
        message,
    };
    tracing::warn!(%warning, "persistence disabled for this run");
    shared
        .events
        .on_persistence_warning(&shared.run_id, &warning);
    warnings.push(warning);
}

fn store_error(run_id: &RunId) -> impl FnOnce(StoreError) -> PipelineError + '_ {
    move |source| PipelineError::Store {
        run_id: run_id.clone(),
        source,
    }
}
