//! A run's life around the scheduler: taking the run in its stores (create or resume), checking
//! a stored run against the graph, restoring completed outputs, writing run summaries, and
//! releasing the stores when the run ends or its future is dropped.

use std::sync::Arc;

use crate::data::{Json, Value};
use crate::error::PipelineError;
use crate::event::EventHandler;
use crate::graph::Graph;
use crate::result::{PersistenceWarning, StoreKind};
use crate::run_id::RunId;
use crate::store::{
    AuditLog, Checkpoint, Checkpointer, FORMAT_VERSION, RunHeader, RunSummary, StoreError,
};

/// The wall clock, in milliseconds since the Unix epoch, as stores record it.
pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// What every node task of one run shares.
pub(crate) struct RunShared {
    pub run_id: RunId,
    /// When the run first started (the original start, for a resumed run).
    pub started_at_ms: u64,
    pub checkpointer: Option<Arc<dyn Checkpointer>>,
    pub audit: Option<Arc<dyn AuditLog>>,
    pub events: Arc<dyn EventHandler>,
}

impl RunShared {
    /// Whether node outputs need serializing for a store.
    pub fn persists(&self) -> bool {
        self.checkpointer.is_some() || self.audit.is_some()
    }

    /// Records a failed store operation that disables `store` for this run: the business logic
    /// goes on without it.
    fn disable(
        &mut self,
        store: StoreKind,
        message: String,
        warnings: &mut Vec<PersistenceWarning>,
    ) {
        let warning = PersistenceWarning {
            store,
            node: None,
            message,
        };
        tracing::warn!(%warning, "persistence disabled for this run");
        self.events.on_persistence_warning(&self.run_id, &warning);
        warnings.push(warning);
        match store {
            StoreKind::Checkpoint => self.checkpointer = None,
            StoreKind::Audit => self.audit = None,
        }
    }
}

/// A node output restored from a checkpoint: its node index, value, and stored JSON.
pub(crate) type Restored = (u32, Value, Json);

/// Releases the stores' hold on a run (its lock, open files) when the run ends or its future is
/// dropped.
pub(crate) struct Lease {
    run_id: RunId,
    checkpointer: Option<Arc<dyn Checkpointer>>,
    audit: Option<Arc<dyn AuditLog>>,
}

impl Lease {
    pub fn new(run_id: RunId) -> Self {
        Lease {
            run_id,
            checkpointer: None,
            audit: None,
        }
    }

    pub fn hold_checkpointer(&mut self, checkpointer: &Arc<dyn Checkpointer>) {
        self.checkpointer = Some(Arc::clone(checkpointer));
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

/// The header a new run of `graph` starts its stores with.
pub(crate) fn header<I, O>(
    graph: &Graph<I, O>,
    run_id: &RunId,
    inputs: Json,
    started_at_ms: u64,
) -> RunHeader {
    RunHeader {
        format_version: FORMAT_VERSION,
        run_id: run_id.clone(),
        pipeline: graph.name().to_owned(),
        fingerprint: graph.fingerprint().to_owned(),
        graph: graph.signature().clone(),
        inputs,
        started_at_ms,
    }
}

/// Whether taking a run in a store worked: a refusal to hand it over (a taken id, a held lock) is
/// the caller's error; any other failure disables that store for this run with a warning.
fn taken(
    result: Result<(), StoreError>,
    shared: &mut RunShared,
    store: StoreKind,
    warnings: &mut Vec<PersistenceWarning>,
) -> Result<bool, PipelineError> {
    match result {
        Ok(()) => Ok(true),
        Err(e @ (StoreError::RunExists(_) | StoreError::Locked(_))) => {
            Err(PipelineError::from_store(&shared.run_id, e))
        }
        Err(e) => {
            shared.disable(store, e.to_string(), warnings);
            Ok(false)
        }
    }
}

/// Creates a new run in each store, holding each in `lease`.
pub(crate) async fn create_stores(
    shared: &mut RunShared,
    header: &RunHeader,
    warnings: &mut Vec<PersistenceWarning>,
    lease: &mut Lease,
) -> Result<(), PipelineError> {
    if let Some(checkpointer) = shared.checkpointer.clone() {
        let created = checkpointer.create_run(header).await;
        if taken(created, shared, StoreKind::Checkpoint, warnings)? {
            lease.checkpointer = Some(checkpointer);
        }
    }
    if let Some(audit) = shared.audit.clone() {
        let created = audit.create_run(header).await;
        if taken(created, shared, StoreKind::Audit, warnings)? {
            lease.audit = Some(audit);
        }
    }
    Ok(())
}

/// Takes a resumed run's audit trail, holding it in `lease`.
pub(crate) async fn resume_audit(
    shared: &mut RunShared,
    header: &RunHeader,
    warnings: &mut Vec<PersistenceWarning>,
    lease: &mut Lease,
) -> Result<(), PipelineError> {
    if let Some(audit) = shared.audit.clone() {
        let resumed = audit.resume_run(header).await;
        if taken(resumed, shared, StoreKind::Audit, warnings)? {
            lease.audit = Some(audit);
        }
    }
    Ok(())
}

/// Disables both stores for a run whose inputs cannot be serialized.
pub(crate) fn unpersistable_inputs(
    shared: &mut RunShared,
    error: &serde_json::Error,
    warnings: &mut Vec<PersistenceWarning>,
) {
    let message = format!("cannot serialize the inputs: {error}");
    shared.disable(StoreKind::Checkpoint, message, warnings);
    shared.audit = None;
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

fn graph_changed<I, O>(
    graph: &Graph<I, O>,
    header: &RunHeader,
    changes: Vec<String>,
) -> PipelineError {
    PipelineError::GraphChanged {
        run_id: header.run_id.clone(),
        pipeline: header.pipeline.clone(),
        stored: header.fingerprint.clone(),
        current: graph.fingerprint().to_owned(),
        changes,
    }
}

/// Decodes each completed node's output; the first record of a node wins.
pub(crate) fn restore<I, O>(
    graph: &Graph<I, O>,
    checkpoint: &Checkpoint,
) -> Result<Vec<Restored>, PipelineError> {
    let inner = &graph.inner;
    let mut seen = vec![false; inner.nodes.len()];
    let mut restored = Vec::with_capacity(checkpoint.nodes.len());
    for record in &checkpoint.nodes {
        let Some(&index) = inner.index.get(record.node.as_str()) else {
            let change = format!(
                "the checkpoint has a record for unknown node `{}`",
                record.node
            );
            return Err(graph_changed(graph, &checkpoint.header, vec![change]));
        };
        if std::mem::replace(&mut seen[index as usize], true) {
            continue;
        }
        let node = &inner.nodes[index as usize];
        let value =
            (node.codec.decode)(&record.output).map_err(|source| PipelineError::Decode {
                run_id: checkpoint.header.run_id.clone(),
                what: format!("output of node `{}`", record.node),
                source,
            })?;
        restored.push((index, value, Arc::clone(&record.output)));
    }
    Ok(restored)
}

/// The summary of a run as it starts: the restored nodes completed, the rest not run yet.
pub(crate) fn start_summary<I, O>(
    graph: &Graph<I, O>,
    shared: &RunShared,
    restored: &[Restored],
) -> RunSummary {
    let nodes = &graph.inner.nodes;
    RunSummary::in_progress(
        shared.run_id.clone(),
        graph.name(),
        shared.started_at_ms,
        now_ms(),
        graph.node_ids(),
        restored
            .iter()
            .map(|&(index, ..)| &*nodes[index as usize].id),
    )
}

/// Writes a run summary; a failure is a persistence warning, like any other audit write.
pub(crate) async fn write_summary(
    audit: &dyn AuditLog,
    summary: &RunSummary,
    events: &dyn EventHandler,
    warnings: &mut Vec<PersistenceWarning>,
) {
    if let Err(e) = audit.write_summary(summary).await {
        let warning = PersistenceWarning {
            store: StoreKind::Audit,
            node: None,
            message: format!("cannot write the run summary: {e}"),
        };
        events.on_persistence_warning(&summary.run_id, &warning);
        warnings.push(warning);
    }
}
