//! [`FileCheckpointer`]: the [`Checkpointer`] adapter over the run-file log.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;

use super::audit::FileAuditLog;
use super::decode::{AUDIT, CHECKPOINT, Decoded, FileKind};
use super::log::{Repair, RunFiles, StoreStats};
use super::stream;
use super::waits;
use crate::data::Json;
use crate::result::WaitingOn;
use crate::run_id::RunId;
use crate::store::epoch::Epoch;
use crate::store::error::{StoreError, StoreResult};
use crate::store::filter::OutputFilter;
use crate::store::keys::KeyClaim;
use crate::store::place::CommitPlace;
use crate::store::records::{AuditEntry, Checkpoint, NodeRecord, RunHeader};
use crate::store::shared::blocking;
use crate::store::traits::{Checkpointer, Resumed};
use crate::store::waits::{RunWaits, SignalRecord, SignalSent};
use crate::store::{Durability, Recovery};

/// A [`Checkpointer`] that keeps one file per run, `<dir>/<run id>.ckpt`, appending one framed
/// record per completed node: a run of N nodes writes O(N) bytes in all.
///
/// ```no_run
/// use pipeline::{Durability, FileCheckpointer};
///
/// let checkpointer = FileCheckpointer::new("./.pipeline").durability(Durability::Async);
/// # let _ = checkpointer;
/// ```
#[derive(Debug, Clone)]
pub struct FileCheckpointer {
    files: Arc<RunFiles>,
    /// The audit files of the same directory that [`FileCheckpointer::audit_log`] hands out:
    /// a node's record and its entry are written to both at once.
    trail: Arc<RunFiles>,
}

impl FileCheckpointer {
    /// A store in `dir`, created (owner-only, 0700 on Unix) when the first run starts.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        let dir = dir.into();
        let (durability, recovery) = (Durability::default(), Recovery::default());
        FileCheckpointer {
            files: RunFiles::new(dir.clone(), CHECKPOINT, durability, recovery),
            trail: RunFiles::new(dir, AUDIT, durability, recovery),
        }
    }

    /// Sets how records are flushed (default [`Durability::Sync`]), and entries of
    /// [`audit_log`](FileCheckpointer::audit_log).
    pub fn durability(self, durability: Durability) -> Self {
        FileCheckpointer {
            files: self.files.with(durability, self.files.recovery),
            trail: self.trail.with(durability, self.trail.recovery),
        }
    }

    /// Sets what loading and resuming do with damage followed by valid records (default
    /// [`Recovery::Strict`]: an error). A torn tail is always dropped.
    pub fn recovery(self, recovery: Recovery) -> Self {
        FileCheckpointer {
            files: self.files.with(self.files.durability, recovery),
            trail: self.trail,
        }
    }

    /// The audit log of this store's directory, with its durability: a completed node's record
    /// and its audit entry are then appended and flushed together (their two files `fsync`ed at
    /// once, [`Checkpointer::save_with_entry`]) instead of one after the other.
    ///
    /// ```no_run
    /// use pipeline::{Durability, FileCheckpointer, PipelineEngine};
    ///
    /// let checkpointer = FileCheckpointer::new("./.pipeline").durability(Durability::Sync);
    /// let audit_log = checkpointer.audit_log();
    /// # let _ = (checkpointer, audit_log);
    /// ```
    pub fn audit_log(&self) -> FileAuditLog {
        FileAuditLog::from_files(Arc::clone(&self.trail))
    }

    /// Keeps the valid prefix of run `run_id`'s damaged checkpoint (see [`Repair`]); `Ok(None)`
    /// when it is intact. Fails with [`StoreError::Locked`](crate::store::StoreError::Locked) while an engine holds the run.
    pub fn repair(&self, run_id: &RunId) -> StoreResult<Option<Repair>> {
        self.files.repair(run_id)
    }

    /// The directory holding the runs.
    pub fn dir(&self) -> &Path {
        &self.files.dir
    }

    /// The file holding run `run_id`.
    pub fn path(&self, run_id: &RunId) -> PathBuf {
        self.files.path(run_id)
    }

    /// What this store (and its clones) appended so far.
    pub fn stats(&self) -> StoreStats {
        self.files.stats()
    }
}

/// Refuses a run file whose header names another run than its file name.
fn check_run_id(header: &RunHeader, run_id: &RunId, path: &Path) -> StoreResult<()> {
    match header.run_id == *run_id {
        true => Ok(()),
        false => Err(StoreError::ForeignRun {
            path: path.to_owned(),
            expected: run_id.clone(),
            found: header.run_id.clone(),
        }),
    }
}

/// What `read` makes of run `run_id`'s file, opened to read only (no lock: a reader never waits
/// for a writer); `Ok(None)` when there is no such file. Its header must name the run.
impl FileCheckpointer {
    async fn read<T: Send + 'static>(
        &self,
        run_id: &RunId,
        read: impl FnOnce(&std::fs::File, &Path, (FileKind, Recovery)) -> StoreResult<T>
        + Send
        + 'static,
    ) -> StoreResult<Option<T>> {
        let (files, run_id) = (Arc::clone(&self.files), run_id.clone());
        blocking(move || {
            let path = files.path(&run_id);
            let file = match std::fs::File::open(&path) {
                Ok(file) => file,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(crate::store::fs::io_error("open", &path)(e)),
            };
            let header = stream::read_header(&file, &path, files.kind)?;
            check_run_id(&header, &run_id, &path)?;
            read(&file, &path, (files.kind, files.recovery)).map(Some)
        })
        .await
    }
}

fn resumed((decoded, epoch): (Decoded<RunHeader, NodeRecord>, Epoch)) -> Resumed {
    Resumed {
        checkpoint: Checkpoint {
            header: decoded.header,
            nodes: decoded.records,
        },
        epoch,
        truncated: decoded.truncated,
    }
}

#[async_trait]
impl Checkpointer for FileCheckpointer {
    async fn create_run(&self, header: &RunHeader) -> StoreResult<Epoch> {
        self.files.create_run(header).await
    }

    /// Reads the run frame by frame, keeping only the outputs the resume needs.
    async fn resume_run(
        &self,
        run_id: &RunId,
        filter: &OutputFilter,
    ) -> StoreResult<Option<Resumed>> {
        let (files, run_id, filter) = (Arc::clone(&self.files), run_id.clone(), filter.clone());
        blocking(move || {
            let (kind, recovery) = (files.kind, files.recovery);
            let taken = files.take(&run_id, |file, path| {
                let decoded = stream::read_checkpoint(file, path, kind, recovery, &filter)?;
                check_run_id(&decoded.header, &run_id, path)?;
                Ok(decoded)
            })?;
            Ok(taken.map(resumed))
        })
        .await
    }

    async fn save(&self, run_id: &RunId, epoch: Epoch, record: &NodeRecord) -> StoreResult<()> {
        self.files.append(run_id, epoch, record).await
    }

    fn commit_place(&self) -> Option<CommitPlace> {
        Some(CommitPlace::of(&self.trail))
    }

    /// Checks both holds, then appends the record and the entry at once: with
    /// [`Durability::Sync`] their two files are flushed at the same time, not one after the
    /// other (each flush still reaches the disk on its own: a chain's node waited 2.27 `fsync`s
    /// on the project's machine). A crash while they are flushed, or an I/O error on one file,
    /// can keep either one alone, as two stores written one after the other could; the engine
    /// then appends the entry alone.
    async fn save_with_entry(
        &self,
        run_id: &RunId,
        epoch: Epoch,
        record: &NodeRecord,
        audit_epoch: Epoch,
        entry: &AuditEntry,
    ) -> StoreResult<()> {
        let record = self.files.prepare(run_id, epoch, record)?;
        let entry = self.trail.prepare(run_id, audit_epoch, entry)?;
        let (saved, appended) = tokio::join!(record.write(), entry.write());
        saved.and(appended)
    }

    async fn load(&self, run_id: &RunId) -> StoreResult<Option<Checkpoint>> {
        let (files, run_id) = (Arc::clone(&self.files), run_id.clone());
        let loaded = blocking(move || {
            let loaded = files.load::<RunHeader, NodeRecord>(&run_id)?;
            if let Some((header, _)) = &loaded {
                check_run_id(header, &run_id, &files.path(&run_id))?;
            }
            Ok(loaded)
        })
        .await?;
        Ok(loaded.map(|(header, nodes)| Checkpoint { header, nodes }))
    }

    async fn list_runs(&self) -> StoreResult<Vec<RunId>> {
        self.files.list()
    }

    fn release_run(&self, run_id: &RunId, epoch: Epoch) {
        self.files.close(run_id, epoch);
    }

    async fn delete_run(&self, run_id: &RunId) -> StoreResult<bool> {
        let (files, run_id) = (Arc::clone(&self.files), run_id.clone());
        blocking(move || {
            let others = waits::files(&files, &run_id);
            super::delete::delete(&files, &run_id, &others)
        })
        .await
    }

    fn cache(&self) -> Option<&dyn crate::store::ResultCache> {
        Some(&*self.files)
    }

    async fn claim_key(&self, claim: &KeyClaim, now_ms: u64) -> StoreResult<KeyClaim> {
        let (files, claim) = (Arc::clone(&self.files), claim.clone());
        blocking(move || super::keys::claim(&files, &claim, now_ms)).await
    }

    async fn is_held(&self, run_id: &RunId) -> StoreResult<Option<bool>> {
        let path = self.files.path(run_id);
        blocking(move || crate::store::fs::is_locked(&path)).await
    }

    async fn send_signal(&self, run_id: &RunId, signal: &SignalRecord) -> StoreResult<SignalSent> {
        let (files, run_id, signal) = (Arc::clone(&self.files), run_id.clone(), signal.clone());
        blocking(move || waits::send(&files, &run_id, &signal)).await
    }

    async fn waits(&self, run_id: &RunId) -> StoreResult<RunWaits> {
        let (files, run_id) = (Arc::clone(&self.files), run_id.clone());
        blocking(move || waits::read(&files, &run_id)).await
    }

    async fn cancel_waits(&self, run_id: &RunId) -> StoreResult<()> {
        let (files, run_id) = (Arc::clone(&self.files), run_id.clone());
        blocking(move || waits::cancel(&files, &run_id)).await
    }

    async fn remove_signal(&self, run_id: &RunId, wait: &str) -> StoreResult<bool> {
        let (files, run_id, wait) = (Arc::clone(&self.files), run_id.clone(), wait.to_owned());
        blocking(move || waits::remove(&files, &run_id, &wait)).await
    }

    /// Reads the first frame of the run's file.
    async fn header(&self, run_id: &RunId) -> StoreResult<Option<RunHeader>> {
        self.read(run_id, |file, path, (kind, _)| {
            stream::read_header(file, path, kind)
        })
        .await
    }

    /// Reads each record only as far as its output, skipping the rest on disk.
    async fn load_records(&self, run_id: &RunId) -> StoreResult<Option<Checkpoint>> {
        let read = |file: &_, path: &_, (kind, recovery)| {
            let (header, nodes) = stream::read_records(file, path, kind, recovery)?;
            Ok(Checkpoint { header, nodes })
        };
        self.read(run_id, read).await
    }

    /// Reads the outputs of node `node`'s records alone.
    async fn load_output(&self, run_id: &RunId, node: &str) -> StoreResult<Option<Json>> {
        let node = node.to_owned();
        let read = move |file: &_, path: &_, (kind, recovery)| {
            let (header, nodes) = stream::read_node(file, path, kind, recovery, &node)?;
            Ok(Checkpoint { header, nodes }.output_of(&node))
        };
        Ok(self.read(run_id, read).await?.flatten())
    }

    async fn set_waiting(
        &self,
        run_id: &RunId,
        epoch: Epoch,
        waiting: &[WaitingOn],
    ) -> StoreResult<()> {
        let (files, run_id, waiting) = (Arc::clone(&self.files), run_id.clone(), waiting.to_vec());
        blocking(move || waits::set_waiting(&files, &run_id, epoch, &waiting)).await
    }
}
