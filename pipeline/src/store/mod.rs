//! Where runs are kept: the [`Checkpointer`] (completed node outputs, for resume) and the
//! [`AuditLog`] (every attempt, for people), with in-memory and file backends.

mod file;
mod framing;
mod memory;
mod records;
#[cfg(feature = "sqlite")]
mod sqlite;

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;

pub use file::{
    Durability, FileAuditLog, FileCheckpointer, StoreStats, decode_audit_file,
    decode_checkpoint_file,
};
pub use memory::{InMemoryAuditLog, InMemoryCheckpointer};
pub use records::{
    AuditEntry, AuditStatus, Checkpoint, FORMAT_VERSION, NodeRecord, RunHeader, RunSummary,
};
#[cfg(feature = "sqlite")]
pub use sqlite::{SqliteAuditLog, SqliteCheckpointer};

use crate::RunId;

/// Why a store could not do what was asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A file or directory operation failed.
    #[error("cannot {op} `{}`: {source}", path.display())]
    Io {
        /// What was being done ("create", "append to", "read", ...).
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A record failed its checksum or could not be decoded.
    #[error("`{}` is corrupt at byte offset {offset}: {reason}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Where the bad record starts.
        offset: u64,
        /// What is wrong with it.
        reason: String,
    },
    /// The file was written by a newer (or unknown) format version.
    #[error(
        "`{}` has format version {found}, but this build reads only version {supported}; \
         use the pipeline version that wrote it",
        path.display()
    )]
    UnsupportedVersion {
        /// The file.
        path: PathBuf,
        /// The version in the file.
        found: u32,
        /// The version this build reads and writes.
        supported: u32,
    },
    /// The file does not start with this store's magic bytes.
    #[error("`{}` is not a pipeline {kind} file (wrong magic bytes)", path.display())]
    NotAStoreFile {
        /// The file.
        path: PathBuf,
        /// "checkpoint" or "audit".
        kind: &'static str,
    },
    /// A run with this id already exists in the store.
    #[error("run `{0}` already exists")]
    RunExists(RunId),
    /// Another engine (in this process or another) is writing this run.
    #[error("run `{0}` is in use by another engine (in this or another process)")]
    Locked(RunId),
    /// The run was never created in this store.
    #[error("run `{0}` does not exist")]
    UnknownRun(RunId),
    /// A record could not be serialized.
    #[error("cannot encode a record: {0}")]
    Encode(#[source] serde_json::Error),
    /// An error from a custom backend.
    #[error(transparent)]
    Backend(Box<dyn std::error::Error + Send + Sync>),
}

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
