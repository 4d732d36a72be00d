//! [`FileAuditLog`]: the [`AuditLog`] adapter over the run-file log, with run summaries beside it.

use std::fs;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;

use super::decode::AUDIT;
use super::log::{Repair, RunFiles, StoreStats, encode};
use super::stream;
use crate::run_id::RunId;
use crate::store::epoch::Epoch;
use crate::store::error::{StoreError, StoreResult};
use crate::store::fs::{io_error, replace_atomically};
use crate::store::place::CommitPlace;
use crate::store::records::{AuditEntry, RunHeader, RunSummary};
use crate::store::shared::blocking;
use crate::store::traits::AuditLog;
use crate::store::{Durability, Recovery};

/// An [`AuditLog`] that keeps one file per run, `<dir>/<run id>.audit`, appending one framed
/// entry per node attempt.
#[derive(Debug, Clone)]
pub struct FileAuditLog {
    files: Arc<RunFiles>,
}

impl FileAuditLog {
    /// A log in `dir`, created (owner-only, 0700 on Unix) when the first run starts.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        FileAuditLog {
            files: RunFiles::new(
                dir.into(),
                AUDIT,
                Durability::default(),
                Recovery::default(),
            ),
        }
    }

    /// The log over `files` (those of a [`FileCheckpointer`](super::FileCheckpointer)'s
    /// `audit_log`).
    pub(super) fn from_files(files: Arc<RunFiles>) -> Self {
        FileAuditLog { files }
    }

    /// Sets how entries are flushed (default [`Durability::Sync`]).
    pub fn durability(self, durability: Durability) -> Self {
        FileAuditLog {
            files: self.files.with(durability, self.files.recovery),
        }
    }

    /// Sets what loading and resuming do with damage followed by valid entries (default
    /// [`Recovery::Strict`]: an error). A torn tail is always dropped.
    pub fn recovery(self, recovery: Recovery) -> Self {
        FileAuditLog {
            files: self.files.with(self.files.durability, recovery),
        }
    }

    /// Keeps the valid prefix of run `run_id`'s damaged audit file (see [`Repair`]); `Ok(None)`
    /// when it is intact.
    pub fn repair(&self, run_id: &RunId) -> StoreResult<Option<Repair>> {
        self.files.repair(run_id)
    }

    /// The file holding the trail of run `run_id`.
    pub fn path(&self, run_id: &RunId) -> PathBuf {
        self.files.path(run_id)
    }

    /// What this log (and its clones) appended so far.
    pub fn stats(&self) -> StoreStats {
        self.files.stats()
    }

    fn summary_path(&self, run_id: &RunId) -> PathBuf {
        self.files.dir.join(format!("{run_id}.summary"))
    }
}

#[async_trait]
impl AuditLog for FileAuditLog {
    async fn create_run(&self, header: &RunHeader) -> StoreResult<Epoch> {
        self.files.create_run(header).await
    }

    async fn resume_run(&self, header: &RunHeader) -> StoreResult<Epoch> {
        let (files, header) = (Arc::clone(&self.files), header.clone());
        blocking(move || {
            // Streamed: the trail is checked for appending, never held in memory.
            let (kind, recovery) = (files.kind, files.recovery);
            let resume = || -> StoreResult<Option<Epoch>> {
                let resumed = files.take(&header.run_id, |file, path| {
                    stream::read_for_append(file, path, kind, recovery)
                })?;
                Ok(resumed.map(|(_, epoch)| epoch))
            };
            if let Some(epoch) = resume()? {
                return Ok(epoch);
            }
            match files.create(&header.run_id, &header) {
                // Created meanwhile by an engine that lost the run: take it over.
                Err(StoreError::RunExists(id)) => resume()?.ok_or(StoreError::UnknownRun(id)),
                created => created,
            }
        })
        .await
    }

    async fn append(&self, epoch: Epoch, entry: &AuditEntry) -> StoreResult<()> {
        self.files.append(&entry.run_id, epoch, entry).await
    }

    fn commit_place(&self) -> Option<CommitPlace> {
        Some(CommitPlace::of(&self.files))
    }

    /// Written to `<dir>/<run id>.summary` through a temporary file and a rename, so a reader
    /// sees the old summary or the new one, never a torn one.
    async fn write_summary(&self, epoch: Epoch, summary: &RunSummary) -> StoreResult<()> {
        let path = self.summary_path(&summary.run_id);
        let bytes = encode(summary)?;
        let run_id = summary.run_id.clone();
        self.files
            .run(move |files| {
                files.check(&run_id, epoch)?;
                replace_atomically(&path, &bytes, files.durability == Durability::Sync)
            })
            .await
    }

    async fn delete_run(&self, run_id: &RunId) -> StoreResult<bool> {
        let (files, run_id) = (Arc::clone(&self.files), run_id.clone());
        let summary = self.summary_path(&run_id);
        blocking(move || super::delete::delete(&files, &run_id, &[summary])).await
    }

    async fn summary(&self, run_id: &RunId) -> StoreResult<Option<RunSummary>> {
        let path = self.summary_path(run_id);
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_error("read", &path)(e)),
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| StoreError::Corrupt {
                path,
                offset: 0,
                reason: format!("undecodable run summary: {e}"),
            })
    }

    async fn entries(&self, run_id: &RunId) -> StoreResult<Option<Vec<AuditEntry>>> {
        let (files, run_id) = (Arc::clone(&self.files), run_id.clone());
        blocking(move || {
            let loaded: Option<(RunHeader, Vec<AuditEntry>)> = files.load(&run_id)?;
            Ok(loaded.map(|(_, entries)| entries))
        })
        .await
    }

    async fn list_runs(&self) -> StoreResult<Vec<RunId>> {
        self.files.list()
    }

    fn release_run(&self, run_id: &RunId, epoch: Epoch) {
        self.files.close(run_id, epoch);
    }
}
