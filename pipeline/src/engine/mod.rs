//! The engine's public face: [`PipelineEngine`] builds runs of a [`Pipeline`], starts, resumes
//! and inspects them. A run's life around the scheduler is in `lifecycle`; the scheduler and a
//! node's life each have their own module.

mod attempt;
mod cached;
mod cancel;
mod clock;
mod keyed;
pub(crate) mod lifecycle;
mod limits;
pub(crate) mod node_task;
mod persist;
pub(crate) mod rank;
mod ranked;
mod read;
mod rerun;
mod restore;
mod scheduler;
mod settings;
mod signal;
mod start;
mod tasks;

use std::sync::Arc;

use tracing::Instrument;

pub use crate::store::DEFAULT_KEY_RETENTION;
pub use cancel::CancelHandle;
pub use clock::{Clock, ManualClock, SystemClock};
#[cfg(feature = "postgres")]
pub(crate) use keyed::output_from_store;
pub use settings::EngineSettings;
pub use signal::{IntoSignal, Signal, SignalOutcome};
#[cfg(feature = "postgres")]
pub(crate) use start::Call;
pub use start::{Rerun, Resume, RunOptions, Start};

use crate::call::guard::{self, GuardedEvents};
use crate::data::{RoundTrip, to_json};
use crate::definition::Pipeline;
use crate::error::PipelineError;
use crate::event::EventHandler;
use crate::graph::Graph;
use crate::node::OnError;
use crate::result::{PersistenceWarning, PipelineResult};
use crate::run_id::RunId;
use crate::store::now_ms;
use crate::store::{AuditDetail, AuditLog, Checkpointer, Epoch, LastAttempts};
use lifecycle::{Lease, RunShared};
use restore::StoredRun;

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
    pub(crate) graph: Graph<P::Inputs, P::Output>,
    pub(crate) checkpointer: Option<Arc<dyn Checkpointer>>,
    pub(crate) audit: Option<Arc<dyn AuditLog>>,
    /// `None`: no handler, and no event is built or timed.
    events: Option<Arc<dyn EventHandler>>,
    pub(crate) on_error: OnError,
    max_concurrency: Option<usize>,
    /// Waits due within this long are awaited in the process (on a fleet: `wait` waits for them).
    pub(crate) in_process: std::time::Duration,
    round_trip: RoundTrip,
    audit_detail: AuditDetail,
    node_logs: crate::trace::LogLimits,
    /// What says when a wait is due, and when an idempotency key expires.
    pub(crate) clock: Arc<dyn Clock>,
    /// How long an idempotency key is held by the run that took it.
    pub(crate) key_retention: std::time::Duration,
    #[cfg(feature = "postgres")]
    pub(crate) fleet: Option<crate::store::PostgresStore>,
    /// Where a run is resumed when another executor ran it (a fleet).
    pub(crate) remote: Option<Arc<dyn Remote<P>>>,
    #[cfg(feature = "postgres")]
    pub(crate) fleet_done: std::sync::OnceLock<crate::store::postgres::Listener>,
}

impl<P: Pipeline> PipelineEngine<P> {
    /// An engine for `pipeline`, with no stores, fail-fast, and no concurrency cap.
    pub fn new(pipeline: P) -> Self {
        PipelineEngine {
            graph: pipeline.graph(),
            pipeline,
            checkpointer: None,
            audit: None,
            events: None,
            on_error: OnError::default(),
            max_concurrency: None,
            in_process: std::time::Duration::from_secs(60),
            round_trip: RoundTrip::default(),
            audit_detail: AuditDetail::default(),
            node_logs: crate::trace::LogLimits::default(),
            clock: Arc::new(SystemClock),
            key_retention: DEFAULT_KEY_RETENTION,
            #[cfg(feature = "postgres")]
            fleet: None,
            remote: None,
            #[cfg(feature = "postgres")]
            fleet_done: std::sync::OnceLock::new(),
        }
    }

    /// Checkpoints each completed node into `checkpointer`, which makes runs resumable.
    pub fn checkpointer(mut self, checkpointer: impl Checkpointer + 'static) -> Self {
        self.checkpointer = Some(Arc::new(checkpointer));
        self
    }

    /// Checkpoints into, and records every attempt and the run's end in, the two stores of
    /// `stores`: what the command line reads (`runs`, `show`, `audit`) to tell how each run
    /// went. Prefer it to a checkpointer alone.
    ///
    /// ```
    /// # use pipeline::{GraphBuilder, PipelineEngine, store::Stores};
    /// # let mut g = GraphBuilder::<u64>::new("p");
    /// # let x = g.input("x", |x: &u64| *x);
    /// # let graph = g.build(x)?;
    /// let engine = PipelineEngine::new(graph).stores(Stores::open("./runs")?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn stores(mut self, stores: crate::store::Stores) -> Self {
        self.checkpointer = Some(stores.checkpointer);
        self.audit = Some(stores.audit);
        self
    }

    /// Records every node attempt into `audit_log`.
    pub fn audit_log(mut self, audit_log: impl AuditLog + 'static) -> Self {
        self.audit = Some(Arc::new(audit_log));
        self
    }

    /// Sends run and node events to `handler`.
    pub fn event_handler(mut self, handler: impl EventHandler + 'static) -> Self {
        self.events = Some(Arc::new(handler));
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

    async fn start(
        &self,
        run_id: RunId,
        inputs: P::Inputs,
        cancel: Option<CancelHandle>,
        priority: i32,
        caller: Option<crate::trace::TraceParent>,
    ) -> Result<PipelineResult<P::Output>, PipelineError> {
        // A wait suspends the run into its checkpoint: without one, nothing could continue it.
        if self.checkpointer.is_none() && self.graph.inner.has_waits() {
            return Err(PipelineError::NoCheckpointer(run_id));
        }
        let started_at_ms = now_ms();
        let mut shared = self.shared(run_id.clone(), started_at_ms);
        shared.priority = priority;
        shared.trace = crate::trace::begin(caller);
        let mut warnings = Vec::new();
        let mut lease = Lease::default();
        if shared.persists() {
            // The inputs' `Serialize` is user code: a panic there only disables persistence.
            match guard::caught_sync(|| to_json(&inputs))
                .map_err(|panic| format!("their `Serialize` {panic}"))
                .and_then(|json| json.map_err(|e| e.to_string()))
            {
                Ok(json) => {
                    let header =
                        lifecycle::header(&self.graph, &run_id, json, started_at_ms, shared.trace);
                    let waits = self.graph.inner.has_waits();
                    lifecycle::create_stores(
                        &mut shared,
                        &header,
                        &mut warnings,
                        &mut lease,
                        waits,
                    )
                    .await?;
                }
                Err(e) if self.graph.inner.has_waits() => {
                    return Err(PipelineError::WaitsNeedCheckpoint {
                        run_id,
                        reason: format!("cannot serialize the inputs: {e}"),
                    });
                }
                Err(e) => lifecycle::unpersistable_inputs(&mut shared, &e, &mut warnings),
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
        if let Some(remote) = &self.remote
            && let Some(result) = remote.resume(self, run_id).await
        {
            return result;
        }
        let checkpointer = self
            .checkpointer
            .as_ref()
            .ok_or_else(|| PipelineError::NoCheckpointer(run_id.clone()))?;
        let mut lease = Lease::default();
        let Some(resumed) =
            lifecycle::resume_checkpoint(&self.graph, checkpointer, run_id, &mut lease).await?
        else {
            return Err(PipelineError::UnknownRun(run_id.clone()));
        };
        let checkpoint = resumed.checkpoint;
        lifecycle::check_header(&self.graph, &checkpoint.header)?;
        let inputs: P::Inputs =
            serde_json::from_str(checkpoint.header.inputs.get()).map_err(|source| {
                PipelineError::Decode {
                    run_id: run_id.clone(),
                    what: "inputs".into(),
                    source,
                }
            })?;
        let restored = restore::restore(&self.graph, &checkpoint)?;
        let mut shared = self.shared(run_id.clone(), checkpoint.header.started_at_ms);
        shared.resumed_at_ms = Some(now_ms());
        shared.trace = checkpoint.header.trace;
        shared.checkpoint_epoch = resumed.epoch;
        let mut warnings = Vec::new();
        if let Some(truncated) = resumed.truncated {
            lifecycle::report_truncation(&shared, &truncated, &mut warnings);
        }
        lifecycle::resume_audit(&mut shared, &checkpoint.header, &mut warnings, &mut lease).await?;
        self.execute(shared, warnings, &inputs, Some(restored), cancel, lease)
            .await
    }

    /// Runs what is not restored; `lease` is dropped when the run ends or this future is dropped.
    async fn execute(
        &self,
        shared: RunShared,
        warnings: Vec<PersistenceWarning>,
        inputs: &P::Inputs,
        restored: Option<StoredRun>,
        cancel: Option<CancelHandle>,
        lease: Lease,
    ) -> Result<PipelineResult<P::Output>, PipelineError> {
        let mut shared = shared;
        let limit = self.run_limit_key(inputs, &shared.run_id)?;
        // Its place in the order of what waits: its priority, and its fairness key's turn.
        let limit_key = limit.as_ref().map(|(key, _)| key.as_str());
        let fair = self.fair_key(inputs, &shared.run_id, limit_key)?;
        let now = crate::store::now_ms_signed();
        let (credit, _turn) =
            rank::credit_here(&shared.pipeline, fair.as_deref(), now, shared.priority);
        shared.credit_ms = credit;
        // A run over its key's run limit waits here, by rank, for one of its key to end.
        let _place = match limit {
            Some((key, runs)) => {
                Some(limits::run_permit(&shared.pipeline, key, runs, shared.rank()).await)
            }
            None => None,
        };
        let resumed = restored.is_some();
        let restored = restored.unwrap_or_default();
        let (audit, events) = (shared.audit.clone(), Arc::clone(&shared.events));
        let audit_epoch = shared.audit_epoch;
        // Summaries live in the audit log; without one, do not build them.
        let summary = audit
            .is_some()
            .then(|| lifecycle::start_summary(&self.graph, &shared, &restored));
        let mut summary_warnings = Vec::new();
        if let (Some(audit), Some(summary)) = (&audit, &summary) {
            lifecycle::write_summary(
                audit.as_ref(),
                audit_epoch,
                summary,
                &*events,
                &mut summary_warnings,
            )
            .await;
        }
        let shared_trace = shared.trace;
        let run = scheduler::Run::new(
            &self.graph,
            shared,
            self.on_error,
            self.max_concurrency,
            warnings,
        )
        .wait_in_process(self.in_process);
        let trace = shared_trace.as_ref();
        let span = crate::trace::run_span(self.graph.name(), run.run_id(), resumed, trace);
        let run_id = run.run_id().clone();
        // A panic in user code outside any node (an input's extractor, a `Clone` of the output)
        // is an error of this call, never an unwind into the caller.
        let execute = guard::caught(|| run.execute(inputs, restored, cancel, resumed));
        // Entering a disabled span on every poll costs a little; skip it when nobody listens.
        let result = if span.is_disabled() {
            execute.await
        } else {
            execute.instrument(span.clone()).await
        };
        let mut result = result.map_err(|message| PipelineError::Panicked { run_id, message })?;
        crate::trace::run_status(&span, result.status.code());
        if let (Some(audit), Some(mut summary)) = (&audit, summary) {
            summary.status = Some(result.status);
            summary.updated_at_ms = now_ms();
            summary.nodes = result.nodes.to_map();
            lifecycle::write_summary(
                audit.as_ref(),
                audit_epoch,
                &summary,
                &*events,
                &mut summary_warnings,
            )
            .await;
        }
        result.warnings.extend(summary_warnings);
        result.warnings.extend(events.take_panics());
        drop(lease); // after the run, and also when this future is dropped mid-run
        self.continue_if_signalled(result).await
    }

    fn shared(&self, run_id: RunId, started_at_ms: u64) -> RunShared {
        RunShared {
            pipeline: Arc::clone(&self.graph.inner.name),
            run_id,
            started_at_ms,
            resumed_at_ms: None,
            trace: None,
            node_logs: self.node_logs,
            checkpointer: self.checkpointer.clone(),
            audit: self.audit.clone(),
            joint: joint(self.checkpointer.as_deref(), self.audit.as_deref()),
            checkpoint_epoch: Epoch::FIRST,
            audit_epoch: Epoch::FIRST,
            events: Arc::new(GuardedEvents::new(self.events.clone())),
            round_trip: self.round_trip,
            audit_detail: self.audit_detail,
            clock: Arc::clone(&self.clock),
            last_attempts: LastAttempts::new(),
            priority: 0,
            credit_ms: 0,
        }
    }
}

/// Whether `checkpointer` and `audit` commit in one place (see [`crate::store::CommitPlace`]).
fn joint(checkpointer: Option<&dyn Checkpointer>, audit: Option<&dyn AuditLog>) -> bool {
    match (checkpointer, audit) {
        (Some(c), Some(a)) => c.commit_place().is_some() && c.commit_place() == a.commit_place(),
        _ => false,
    }
}

/// An executor other than this process, which an engine asks first when it resumes a run, so a
/// run goes back where it ran: a fleet (feature `postgres`, set by `PipelineEngine::fleet`). The
/// engine knows it only through this trait: the fleet uses the engine, never the other way round.
#[async_trait::async_trait]
pub(crate) trait Remote<P: Pipeline>: Send + Sync {
    /// Resumes run `run_id` where it ran and returns its result once it ended; `None` when this
    /// executor never had the run (the engine then resumes it in this process).
    async fn resume(
        &self,
        engine: &PipelineEngine<P>,
        run_id: &RunId,
    ) -> Option<Result<PipelineResult<P::Output>, PipelineError>>;

    /// Runs run `run_id` again where it ran, as the new run `header` names, keeping `kept` (the
    /// original's records of the nodes that do not run again); `None` when this executor never
    /// had the run.
    async fn rerun(
        &self,
        engine: &PipelineEngine<P>,
        run_id: &RunId,
        header: crate::store::RunHeader,
        kept: Vec<crate::store::NodeRecord>,
    ) -> Option<Result<PipelineResult<P::Output>, PipelineError>>;
}
