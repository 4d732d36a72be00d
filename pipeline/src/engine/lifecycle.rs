//! A run's life around the scheduler: taking the run in its stores (create or resume), checking
//! a stored run against the graph, restoring completed outputs, writing run summaries, and
//! releasing the stores when the run ends or its future is dropped.

use std::future::Future;
use std::sync::Arc;

use super::restore::{StoredRun, graph_changed, output_filter};
use crate::call::guard::GuardedEvents;
use crate::data::{Json, RoundTrip};
use crate::error::PipelineError;
use crate::event::EventHandler;
use crate::graph::Graph;
use crate::result::{PersistenceWarning, WarningSource};
use crate::run_id::RunId;
use crate::store::now_ms;
use crate::store::{
    AuditDetail, AuditLog, Checkpointer, Epoch, FORMAT_VERSION, LastAttempts, Resumed, RunHeader,
    RunSummary, StoreError, Truncated,
};
use crate::trace::RunTrace;

/// What every node task of one run shares.
pub(crate) struct RunShared {
    /// The pipeline's name.
    pub pipeline: Arc<str>,
    pub run_id: RunId,
    /// When the run first started (the original start, for a resumed run).
    pub started_at_ms: u64,
    /// When this start began, if it resumes the run.
    pub resumed_at_ms: Option<u64>,
    /// The run's trace (see [`crate::trace`]): made at its start, read from its header on a
    /// resume; `None` when no trace is exported.
    pub trace: Option<RunTrace>,
    /// How much of each attempt's log its audit entry keeps.
    pub node_logs: crate::trace::LogLimits,
    pub checkpointer: Option<Arc<dyn Checkpointer>>,
    pub audit: Option<Arc<dyn AuditLog>>,
    /// Whether the checkpointer and the audit log commit in one place, so that a node's record
    /// and its audit entry go in one commit ([`Checkpointer::save_with_entry`]).
    pub joint: bool,
    /// The epochs the run was taken at in each store: every write carries its store's.
    pub checkpoint_epoch: Epoch,
    pub audit_epoch: Epoch,
    pub events: Arc<GuardedEvents>,
    /// Whether outputs are checked to read back as the same value before they are checkpointed.
    pub round_trip: RoundTrip,
    /// How much of the values an attempt read and wrote its audit entry holds.
    pub audit_detail: AuditDetail,
    /// What says when a wait is due.
    pub clock: Arc<dyn super::Clock>,
    /// For a resumed run, the last attempt each node and item made before this start (by the
    /// audit trail): its attempts are numbered on from them.
    pub last_attempts: LastAttempts,
    /// The run's priority ([`RunOptions::priority`](crate::RunOptions::priority)); its credit
    /// (priority and fairness, [`super::rank`]) is taken when it executes.
    pub priority: i32,
    /// Its credit in the order of waiting work, in milliseconds: what it waits for in this
    /// process goes as if asked for this much earlier.
    pub credit_ms: i64,
}

impl RunShared {
    /// The rank of what the run asks for now: the time less its credit.
    pub fn rank(&self) -> i64 {
        crate::store::now_ms_signed().saturating_sub(self.credit_ms)
    }
}

impl RunShared {
    /// The last attempt number node `node` (its item `item`) reached in the run's earlier
    /// starts, 0 in its first.
    pub fn attempts_before(&self, node: &str, item: Option<u32>) -> u32 {
        match self.last_attempts.is_empty() {
            true => 0,
            false => self.last_attempts.last(node, item),
        }
    }

    /// Whether node outputs need serializing for a store.
    pub fn persists(&self) -> bool {
        self.checkpointer.is_some() || self.audit.is_some()
    }

    /// Records a failed store operation that disables `store` for this run: the business logic
    /// goes on without it.
    fn disable(
        &mut self,
        source: WarningSource,
        message: String,
        warnings: &mut Vec<PersistenceWarning>,
    ) {
        let warning = PersistenceWarning {
            source,
            node: None,
            message,
            lost: true,
        };
        tracing::warn!(%warning, "persistence disabled for this run");
        self.events.on_persistence_warning(&self.run_id, &warning);
        warnings.push(warning);
        match source {
            WarningSource::Checkpoint => self.checkpointer = None,
            WarningSource::Audit => self.audit = None,
            WarningSource::EventHandler | WarningSource::Output | WarningSource::Cache => {}
        }
    }
}

/// Releases the stores' holds on a run (their locks, open files) when the run ends or its future
/// is dropped.
#[derive(Default)]
pub(crate) struct Lease {
    holds: Vec<Hold>,
}

/// One store's hold on a run at one epoch: released when dropped.
struct Hold(Option<Box<dyn FnOnce() + Send + Sync>>);

impl Hold {
    fn new(release: impl FnOnce() + Send + Sync + 'static) -> Hold {
        Hold(Some(Box::new(release)))
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        if let Some(release) = self.0.take() {
            release();
        }
    }
}

/// Takes a run in a store on a task of its own. The store's work (often on the blocking pool)
/// can finish after the caller's future was dropped; the hold it yields then drops with the
/// unread result and releases the run, instead of leaving it locked until the process exits.
async fn claim<T: Send + 'static>(
    work: impl Future<Output = Result<(T, Option<Hold>), StoreError>> + Send + 'static,
) -> Result<(T, Option<Hold>), StoreError> {
    let (sender, receiver) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        // An unread result is dropped here, or with the channel: either way its hold releases.
        let _ = sender.send(work.await);
    });
    receiver.await.unwrap_or_else(|_| {
        Err(StoreError::Backend(
            "the store panicked while taking the run".into(),
        ))
    })
}

/// The header a new run of `graph` starts its stores with.
pub(crate) fn header<I, O>(
    graph: &Graph<I, O>,
    run_id: &RunId,
    inputs: Json,
    started_at_ms: u64,
    trace: Option<RunTrace>,
) -> RunHeader {
    RunHeader {
        format_version: FORMAT_VERSION,
        run_id: run_id.clone(),
        pipeline: graph.name().to_owned(),
        fingerprint: graph.fingerprint().to_owned(),
        graph: Arc::clone(graph.inner.signature()),
        inputs,
        started_at_ms,
        trace,
    }
}

/// What taking a run in a store came to: its epoch and hold, or `None` when the store failed and
/// is disabled for this run (with a warning). A refusal to hand the run over (a taken id, a held
/// lock) is the caller's error.
fn taken<T>(
    result: Result<(T, Option<Hold>), StoreError>,
    shared: &mut RunShared,
    store: WarningSource,
    warnings: &mut Vec<PersistenceWarning>,
    lease: &mut Lease,
) -> Result<Option<T>, PipelineError> {
    match result {
        Ok((value, hold)) => {
            lease.holds.extend(hold);
            Ok(Some(value))
        }
        Err(e @ (StoreError::RunExists(_) | StoreError::Locked(_))) => {
            Err(PipelineError::from_store(&shared.run_id, e))
        }
        Err(e) => {
            shared.disable(store, e.to_string(), warnings);
            Ok(None)
        }
    }
}

fn checkpoint_hold(store: &Arc<dyn Checkpointer>, run_id: &RunId, epoch: Epoch) -> Hold {
    let (store, run_id) = (Arc::clone(store), run_id.clone());
    Hold::new(move || store.release_run(&run_id, epoch))
}

fn audit_hold(store: &Arc<dyn AuditLog>, run_id: &RunId, epoch: Epoch) -> Hold {
    let (store, run_id) = (Arc::clone(store), run_id.clone());
    Hold::new(move || store.release_run(&run_id, epoch))
}

/// Takes the run in one store (`work` creates or resumes it there) on a task of its own, records
/// the epoch it was taken at, and holds it in `lease`; a failing store is disabled for the run.
async fn take_in(
    shared: &mut RunShared,
    store: WarningSource,
    warnings: &mut Vec<PersistenceWarning>,
    lease: &mut Lease,
    work: impl Future<Output = Result<(Epoch, Option<Hold>), StoreError>> + Send + 'static,
) -> Result<(), PipelineError> {
    let epoch = taken(claim(work).await, shared, store, warnings, lease)?;
    match (store, epoch) {
        (WarningSource::Checkpoint, Some(epoch)) => shared.checkpoint_epoch = epoch,
        (WarningSource::Audit, Some(epoch)) => shared.audit_epoch = epoch,
        _ => {}
    }
    Ok(())
}

/// Creates a new run in each store, holding each in `lease`. A run with `waits` whose checkpoint
/// cannot be created is refused ([`PipelineError::WaitsNeedCheckpoint`]), before its audit trail
/// is.
pub(crate) async fn create_stores(
    shared: &mut RunShared,
    header: &RunHeader,
    warnings: &mut Vec<PersistenceWarning>,
    lease: &mut Lease,
    waits: bool,
) -> Result<(), PipelineError> {
    if let Some(store) = shared.checkpointer.clone() {
        let header = header.clone();
        let work = async move {
            let epoch = store.create_run(&header).await?;
            Ok((epoch, Some(checkpoint_hold(&store, &header.run_id, epoch))))
        };
        take_in(shared, WarningSource::Checkpoint, warnings, lease, work).await?;
        // A run with waits is continued from its checkpoint: without one it could never be, so
        // it is refused before anything runs (or is audited).
        if shared.checkpointer.is_none() && waits {
            return Err(PipelineError::WaitsNeedCheckpoint {
                run_id: shared.run_id.clone(),
                reason: warnings.pop().map(|w| w.message).unwrap_or_default(),
            });
        }
    }
    if let Some(store) = shared.audit.clone() {
        let header = header.clone();
        let work = async move {
            let epoch = store.create_run(&header).await?;
            Ok((epoch, Some(audit_hold(&store, &header.run_id, epoch))))
        };
        take_in(shared, WarningSource::Audit, warnings, lease, work).await?;
    }
    Ok(())
}

/// Takes a stored run in the checkpointer, holding it in `lease`; `Ok(None)` for an unknown run.
/// The store may leave out the outputs no node that will run needs.
pub(crate) async fn resume_checkpoint<I, O>(
    graph: &Graph<I, O>,
    store: &Arc<dyn Checkpointer>,
    run_id: &RunId,
    lease: &mut Lease,
) -> Result<Option<Resumed>, PipelineError> {
    let (store, id, filter) = (Arc::clone(store), run_id.clone(), output_filter(graph));
    let resumed = claim(async move {
        let resumed = store.resume_run(&id, &filter).await?;
        let hold = resumed
            .as_ref()
            .map(|r| checkpoint_hold(&store, &id, r.epoch));
        Ok((resumed, hold))
    })
    .await;
    let (resumed, hold) = resumed.map_err(|e| PipelineError::from_store(run_id, e))?;
    lease.holds.extend(hold);
    Ok(resumed)
}

/// Takes a resumed run's audit trail, holding it in `lease`.
pub(crate) async fn resume_audit(
    shared: &mut RunShared,
    header: &RunHeader,
    warnings: &mut Vec<PersistenceWarning>,
    lease: &mut Lease,
) -> Result<(), PipelineError> {
    if let Some(store) = shared.audit.clone() {
        let header = header.clone();
        let work = async move {
            let epoch = store.resume_run(&header).await?;
            Ok((epoch, Some(audit_hold(&store, &header.run_id, epoch))))
        };
        take_in(shared, WarningSource::Audit, warnings, lease, work).await?;
    }
    // Attempt numbers go on from the trail's: the same rule the fleet applies when it reopens.
    if let Some(store) = shared.audit.clone() {
        match store.last_attempts(&header.run_id).await {
            Ok(last) => shared.last_attempts = last,
            Err(e) => {
                let message = format!("cannot read the attempts made so far: {e}");
                shared.disable(WarningSource::Audit, message, warnings);
            }
        }
    }
    Ok(())
}

/// Disables both stores for a run whose inputs cannot be serialized.
pub(crate) fn unpersistable_inputs(
    shared: &mut RunShared,
    error: &str,
    warnings: &mut Vec<PersistenceWarning>,
) {
    let message = format!("cannot serialize the inputs: {error}");
    shared.disable(WarningSource::Checkpoint, message, warnings);
    shared.audit = None;
}

/// Reports the bytes the checkpointer dropped from the end of a resumed run's log.
pub(crate) fn report_truncation(
    shared: &RunShared,
    truncated: &Truncated,
    warnings: &mut Vec<PersistenceWarning>,
) {
    let what = match truncated.dropped_valid_records {
        true => "damaged records and the records after them (point-in-time recovery)",
        false => "a torn tail",
    };
    let warning = PersistenceWarning {
        source: WarningSource::Checkpoint,
        node: None,
        message: format!(
            "dropped {} bytes at offset {} of the checkpoint, {what}; the nodes recorded there \
             run again",
            truncated.bytes, truncated.offset
        ),
        lost: false,
    };
    tracing::warn!(%warning, "recovered a damaged checkpoint");
    shared
        .events
        .on_persistence_warning(&shared.run_id, &warning);
    warnings.push(warning);
}

/// Refuses a stored run written by another pipeline or another shape of this one.
pub(crate) fn check_header<I, O>(
    graph: &Graph<I, O>,
    header: &RunHeader,
) -> Result<(), PipelineError> {
    if header.pipeline != graph.name() {
        return Err(PipelineError::PipelineMismatch {
            run_id: header.run_id.clone(),
            expected: graph.name().to_owned(),
            found: header.pipeline.clone(),
        });
    }
    if header.fingerprint != graph.fingerprint() {
        return Err(graph_changed(
            graph,
            header,
            graph.signature().changes_since(&header.graph),
        ));
    }
    Ok(())
}

/// The summary of a run as it starts: the restored nodes completed, the rest not run yet.
pub(crate) fn start_summary<I, O>(
    graph: &Graph<I, O>,
    shared: &RunShared,
    restored: &StoredRun,
) -> RunSummary {
    let nodes = &graph.inner.nodes;
    let restored: Vec<&str> = restored
        .complete
        .iter()
        .map(|&(index, ..)| &*nodes[index as usize].id)
        .collect();
    let mut summary = RunSummary::in_progress(
        shared.run_id.clone(),
        graph.name(),
        shared.started_at_ms,
        now_ms(),
        graph.node_ids(),
        restored.iter().copied(),
    );
    summary.restored = restored.into_iter().map(str::to_owned).collect();
    summary.resumed_at_ms = shared.resumed_at_ms;
    summary
}

/// Writes a run summary; a failure is a persistence warning, like any other audit write.
pub(crate) async fn write_summary(
    audit: &dyn AuditLog,
    epoch: Epoch,
    summary: &RunSummary,
    events: &dyn EventHandler,
    warnings: &mut Vec<PersistenceWarning>,
) {
    if let Err(e) = audit.write_summary(epoch, summary).await {
        let warning = PersistenceWarning {
            source: WarningSource::Audit,
            node: None,
            message: format!("cannot write the run summary: {e}"),
            lost: true,
        };
        events.on_persistence_warning(&summary.run_id, &warning);
        warnings.push(warning);
    }
}
