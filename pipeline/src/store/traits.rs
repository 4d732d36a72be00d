//! The two store traits the engine writes through: [`Checkpointer`] (completed outputs, for
//! resume) and [`AuditLog`] (every attempt, for people), and their impls for `Arc`.

use std::sync::Arc;

use async_trait::async_trait;

use super::error::StoreError;
use super::records::{AuditEntry, Checkpoint, NodeRecord, RunHeader, RunSummary};
use crate::run_id::RunId;

/// Keeps each completed node's output so a run can resume without re-running it.
///
/// A store keeps one append-only log per run: a [`RunHeader`], then one [`NodeRecord`] per completed
/// node. The engine calls [`create_run`](Checkpointer::create_run) or
/// [`resume_run`](Checkpointer::resume_run) once, then [`save`](Checkpointer::save) after each node
/// succeeds, before any dependent node starts, then [`release_run`](Checkpointer::release_run).
/// One engine at a time may write a run: `create_run` and `resume_run` fail with
/// [`StoreError::Locked`] while another holds it.
#[async_trait]
pub trait Checkpointer: Send + Sync {
    /// Starts a new run; [`StoreError::RunExists`] when the id is taken.
    async fn create_run(&self, header: &RunHeader) -> Result<(), StoreError>;

    /// Takes the run's lock, loads the run to resume it, and prepares to append to it (a file store
    /// drops a torn tail here). `Ok(None)` when the run is unknown.
    async fn resume_run(&self, run_id: &RunId) -> Result<Option<Checkpoint>, StoreError>;

    /// Appends one completed node.
    async fn save(&self, run_id: &RunId, record: &NodeRecord) -> Result<(), StoreError>;

    /// Reads a run without preparing to write. `Ok(None)` when the run is unknown.
    async fn load(&self, run_id: &RunId) -> Result<Option<Checkpoint>, StoreError>;

    /// Every run in the store, oldest first for generated (UUID v7) ids.
    async fn list_runs(&self) -> Result<Vec<RunId>, StoreError>;

    /// The run ended, or its future was dropped: release what is held for it (its lock, open
    /// files). Called exactly once per successful `create_run` or `resume_run`.
    fn release_run(&self, run_id: &RunId) {
        let _ = run_id;
    }
}

/// Records every node attempt (completed or failed) with its inputs, output or error, and timing.
#[async_trait]
pub trait AuditLog: Send + Sync {
    /// Starts the trail of a new run; [`StoreError::RunExists`] when the id is taken.
    async fn create_run(&self, header: &RunHeader) -> Result<(), StoreError>;

    /// Prepares to append to the trail of a resumed run, creating it if it does not exist yet.
    async fn resume_run(&self, header: &RunHeader) -> Result<(), StoreError>;

    /// Appends one entry.
    async fn append(&self, entry: &AuditEntry) -> Result<(), StoreError>;

    /// A run's entries in the order they were written; `Ok(None)` when the run is unknown.
    async fn entries(&self, run_id: &RunId) -> Result<Option<Vec<AuditEntry>>, StoreError>;

    /// Every run in the store.
    async fn list_runs(&self) -> Result<Vec<RunId>, StoreError>;

    /// Replaces the run's summary (see [`RunSummary`]). Stores that keep none ignore it.
    async fn write_summary(&self, summary: &RunSummary) -> Result<(), StoreError> {
        let _ = summary;
        Ok(())
    }

    /// The run's latest summary, if the store keeps one.
    async fn summary(&self, run_id: &RunId) -> Result<Option<RunSummary>, StoreError> {
        let _ = run_id;
        Ok(None)
    }

    /// The run ended, or its future was dropped: release what is held for it (its lock, open
    /// files). Called exactly once per successful `create_run` or `resume_run`.
    fn release_run(&self, run_id: &RunId) {
        let _ = run_id;
    }
}

#[async_trait]
impl<C: Checkpointer + ?Sized> Checkpointer for Arc<C> {
    async fn create_run(&self, header: &RunHeader) -> Result<(), StoreError> {
        (**self).create_run(header).await
    }
    async fn resume_run(&self, run_id: &RunId) -> Result<Option<Checkpoint>, StoreError> {
        (**self).resume_run(run_id).await
    }
    async fn save(&self, run_id: &RunId, record: &NodeRecord) -> Result<(), StoreError> {
        (**self).save(run_id, record).await
    }
    async fn load(&self, run_id: &RunId) -> Result<Option<Checkpoint>, StoreError> {
        (**self).load(run_id).await
    }
    async fn list_runs(&self) -> Result<Vec<RunId>, StoreError> {
        (**self).list_runs().await
    }
    fn release_run(&self, run_id: &RunId) {
        (**self).release_run(run_id)
    }
}

#[async_trait]
impl<A: AuditLog + ?Sized> AuditLog for Arc<A> {
    async fn create_run(&self, header: &RunHeader) -> Result<(), StoreError> {
        (**self).create_run(header).await
    }
    async fn resume_run(&self, header: &RunHeader) -> Result<(), StoreError> {
        (**self).resume_run(header).await
    }
    async fn append(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        (**self).append(entry).await
    }
    async fn entries(&self, run_id: &RunId) -> Result<Option<Vec<AuditEntry>>, StoreError> {
        (**self).entries(run_id).await
    }
    async fn write_summary(&self, summary: &RunSummary) -> Result<(), StoreError> {
        (**self).write_summary(summary).await
    }
    async fn summary(&self, run_id: &RunId) -> Result<Option<RunSummary>, StoreError> {
        (**self).summary(run_id).await
    }
    async fn list_runs(&self) -> Result<Vec<RunId>, StoreError> {
        (**self).list_runs().await
    }
    fn release_run(&self, run_id: &RunId) {
        (**self).release_run(run_id)
    }
}
