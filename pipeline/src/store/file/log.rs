//! The log writer behind both file stores: one append-only, framed file per run, held open and
//! OS-locked while its run is written, with group commit of `fsync`s.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::cache::CacheLog;
use super::decode::{Decoded, FileKind, decode_file};
use super::group::{self, OpenRun, Stats};
use crate::run_id::RunId;
use crate::store::epoch::Epoch;
use crate::store::error::{StoreError, StoreResult};
use crate::store::framing;
use crate::store::fs::{
    check_private_dir, create_private_dir, create_whole, io_error, lock_run, private_options,
    replace_atomically, sync_dir,
};
use crate::store::records::{FORMAT_VERSION, RunHeader};
use crate::store::shared::{blocking, lock};
use crate::store::traits::Truncated;
use crate::store::{Durability, Recovery};

/// One append-only, framed file per run in a directory.
#[derive(Debug)]
pub(super) struct RunFiles {
    pub dir: PathBuf,
    pub kind: FileKind,
    pub durability: Durability,
    pub recovery: Recovery,
    open: Mutex<HashMap<RunId, Arc<OpenRun>>>,
    stats: Arc<Stats>,
    /// The store's result cache (`cache/entries.log`).
    pub cache: Arc<CacheLog>,
}

/// A run file taken for appending: its decoded contents, and the epoch it was taken at.
pub(super) type Taken<H, R> = (Decoded<H, R>, Epoch);

/// What [`FileCheckpointer::repair`](super::FileCheckpointer::repair) or
/// [`FileAuditLog::repair`](super::FileAuditLog::repair) did to a damaged run file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Repair {
    /// The repaired file.
    pub file: PathBuf,
    /// The records (besides the header) it keeps.
    pub kept_records: usize,
    /// What was dropped from its end.
    pub truncated: Truncated,
    /// The whole damaged file, copied aside before the repair.
    pub damaged_copy: PathBuf,
}

/// What a file store has done since it was created: for benchmarks and monitoring.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Records appended (headers not counted).
    pub records: u64,
    /// Bytes appended by those records, framing included.
    pub bytes: u64,
    /// `fsync`s of record appends (with [`Durability::Sync`], concurrent appends share one).
    pub fsyncs: u64,
}

impl RunFiles {
    pub fn new(
        dir: PathBuf,
        kind: FileKind,
        durability: Durability,
        recovery: Recovery,
    ) -> Arc<RunFiles> {
        Arc::new(RunFiles {
            kind,
            durability,
            recovery,
            open: Mutex::default(),
            stats: Arc::default(),
            cache: Arc::new(CacheLog::new(
                dir.join("cache"),
                durability == Durability::Sync,
            )),
            dir,
        })
    }

    /// The same store with other settings (and fresh state).
    pub fn with(&self, durability: Durability, recovery: Recovery) -> Arc<RunFiles> {
        RunFiles::new(self.dir.clone(), self.kind, durability, recovery)
    }

    pub fn path(&self, run_id: &RunId) -> PathBuf {
        self.dir.join(format!("{run_id}.{}", self.kind.extension))
    }

    fn sync(&self) -> bool {
        self.durability == Durability::Sync
    }

    /// Runs `work` off the async threads when it may wait for the disk (`fsync`), and inline
    /// when it only copies into the page cache.
    pub async fn run<T: Send + 'static>(
        self: &Arc<Self>,
        work: impl FnOnce(&RunFiles) -> Result<T, StoreError> + Send + 'static,
    ) -> StoreResult<T> {
        if !self.sync() {
            return work(self);
        }
        let files = Arc::clone(self);
        blocking(move || work(&files)).await
    }

    /// Creates a run's file holding the prefix and `header`, whole or not at all, and keeps it
    /// open and locked for appending at [`Epoch::FIRST`]; [`StoreError::RunExists`] when the run
    /// exists.
    pub fn create(&self, run_id: &RunId, header: &impl Serialize) -> StoreResult<Epoch> {
        create_private_dir(&self.dir)?;
        let mut bytes = framing::prefix(self.kind.magic, FORMAT_VERSION).to_vec();
        framing::frame(&encode(header)?, &mut bytes)?;
        let path = self.path(run_id);
        if !create_whole(&path, &bytes, self.sync())? {
            return Err(StoreError::RunExists(run_id.clone()));
        }
        let file = self.open_locked(run_id, &path)?;
        self.write_epoch(run_id, Epoch::FIRST)?;
        if self.sync() {
            sync_dir(&self.dir)?;
        }
        lock(&self.open).insert(run_id.clone(), OpenRun::new(file, Epoch::FIRST));
        Ok(Epoch::FIRST)
    }

    /// Where a run's epoch is kept: `<run id>.<extension>.epoch`, beside its file.
    pub(super) fn epoch_path(&self, run_id: &RunId) -> PathBuf {
        self.dir
            .join(format!("{run_id}.{}.epoch", self.kind.extension))
    }

    /// The run's last epoch; a run file written before epochs existed is at [`Epoch::FIRST`].
    fn read_epoch(&self, run_id: &RunId) -> StoreResult<Epoch> {
        let path = self.epoch_path(run_id);
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Epoch::FIRST),
            Err(e) => return Err(io_error("read", &path)(e)),
        };
        text.trim()
            .parse()
            .map(Epoch::new)
            .map_err(|_| StoreError::Corrupt {
                path,
                offset: 0,
                reason: format!("the epoch file holds {text:?}, not a number"),
            })
    }

    /// Records `epoch` as the run's current one, atomically (called holding the run's lock).
    fn write_epoch(&self, run_id: &RunId, epoch: Epoch) -> StoreResult<()> {
        let text = epoch.to_string();
        replace_atomically(&self.epoch_path(run_id), text.as_bytes(), self.sync())
    }

    /// [`create`](Self::create) off the async threads when it may wait for the disk.
    pub async fn create_run(self: &Arc<Self>, header: &RunHeader) -> StoreResult<Epoch> {
        let header = header.clone();
        self.run(move |files| files.create(&header.run_id, &header))
            .await
    }

    /// Opens a run's file for reading and appending, holding its OS lock until the handle closes.
    fn open_locked(&self, run_id: &RunId, path: &Path) -> StoreResult<File> {
        let file = private_options()
            .read(true)
            .append(true)
            .open(path)
            .map_err(io_error("open", path))?;
        lock_run(file, path, run_id)
    }

    /// Reads a run's whole file; `Ok(None)` when it does not exist.
    pub fn read(&self, run_id: &RunId) -> StoreResult<Option<(PathBuf, Vec<u8>)>> {
        let path = self.path(run_id);
        match fs::read(&path) {
            Ok(bytes) => Ok(Some((path, bytes))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_error("read", &path)(e)),
        }
    }

    /// Reads and decodes a run's whole file; `Ok(None)` when it does not exist.
    pub fn load<H: DeserializeOwned, R: DeserializeOwned>(
        &self,
        run_id: &RunId,
    ) -> StoreResult<Option<(H, Vec<R>)>> {
        let Some((path, bytes)) = self.read(run_id)? else {
            return Ok(None);
        };
        let decoded = decode_file(&path, &bytes, self.kind, self.recovery)?;
        Ok(Some((decoded.header, decoded.records)))
    }

    /// Locks a run's file at its next epoch, decodes it with `read`, drops what `read` says is
    /// damaged at its end, and keeps the file open for appending. `Ok(None)` when the run does
    /// not exist.
    pub fn take<H, R>(
        &self,
        run_id: &RunId,
        read: impl FnOnce(&mut File, &Path) -> Result<Decoded<H, R>, StoreError>,
    ) -> StoreResult<Option<Taken<H, R>>> {
        if self.dir.exists() {
            check_private_dir(&self.dir)?;
        }
        let path = self.path(run_id);
        let mut file = match self.open_locked(run_id, &path) {
            Err(StoreError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
                return Ok(None);
            }
            other => other?,
        };
        let decoded = read(&mut file, &path)?;
        if let Some(truncated) = &decoded.truncated {
            self.truncate(&file, &path, truncated.offset)?;
        }
        let epoch = self.read_epoch(run_id)?.next();
        self.write_epoch(run_id, epoch)?;
        if self.sync() {
            sync_dir(&self.dir)?;
        }
        lock(&self.open).insert(run_id.clone(), OpenRun::new(file, epoch));
        Ok(Some((decoded, epoch)))
    }

    fn truncate(&self, file: &File, path: &Path, len: u64) -> StoreResult<()> {
        file.set_len(len).map_err(io_error("truncate", path))?;
        if self.sync() {
            file.sync_all().map_err(io_error("sync", path))?;
        }
        Ok(())
    }

    /// Keeps the valid prefix of a damaged run file: the whole file is first copied aside to
    /// `<file>.damaged-<unix ms>`, then truncated to its last record before the damage. Holds the
    /// run's lock meanwhile. `Ok(None)` when the file is intact or missing.
    pub fn repair(&self, run_id: &RunId) -> StoreResult<Option<Repair>> {
        let path = self.path(run_id);
        let mut file = match self.open_locked(run_id, &path) {
            Err(StoreError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
                return Ok(None);
            }
            other => other?,
        };
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)
            .map_err(io_error("read", &path))?;
        let decoded: Decoded<serde::de::IgnoredAny, serde::de::IgnoredAny> =
            decode_file(&path, &bytes, self.kind, Recovery::PointInTime)?;
        let Some(truncated) = decoded.truncated else {
            return Ok(None);
        };
        let aside = PathBuf::from(format!("{}.damaged-{}", path.display(), now_ms()));
        if !create_whole(&aside, &bytes, true)? {
            return Err(io_error("create", &aside)(
                io::ErrorKind::AlreadyExists.into(),
            ));
        }
        self.truncate(&file, &path, truncated.offset)?;
        file.sync_all().map_err(io_error("sync", &path))?;
        Ok(Some(Repair {
            file: path,
            kept_records: decoded.records.len(),
            truncated,
            damaged_copy: aside,
        }))
    }

    /// Serializes and frames `record` on the caller's thread, then appends it: inline with
    /// [`Durability::Async`]; with [`Durability::Sync`], in the run's next group commit, and
    /// returns once an `fsync` covered it.
    pub async fn append(
        self: &Arc<Self>,
        run_id: &RunId,
        epoch: Epoch,
        record: &impl Serialize,
    ) -> StoreResult<()> {
        self.prepare(run_id, epoch, record)?.write().await
    }

    /// Checks that this process holds `run_id` at `epoch` and frames `record`, writing nothing:
    /// [`Prepared::write`] appends it. Two prepared appends written together are both written,
    /// or (when either holder was fenced) neither.
    pub fn prepare(
        self: &Arc<Self>,
        run_id: &RunId,
        epoch: Epoch,
        record: &impl Serialize,
    ) -> StoreResult<Prepared> {
        let mut bytes = Vec::new();
        framing::frame(&encode(record)?, &mut bytes)?;
        Ok(Prepared {
            files: Arc::clone(self),
            run: self.held(run_id, epoch)?,
            path: self.path(run_id),
            bytes,
        })
    }

    /// The open run `run_id`, if this process holds it at `epoch`.
    fn held(&self, run_id: &RunId, epoch: Epoch) -> StoreResult<Arc<OpenRun>> {
        match lock(&self.open).get(run_id) {
            Some(run) if run.epoch == epoch => Ok(Arc::clone(run)),
            Some(run) => Err(StoreError::Fenced {
                run_id: run_id.clone(),
                epoch,
                current: Some(run.epoch),
            }),
            // Writes come only from a holder: one whose run is gone lost it (its hold was released).
            None => Err(StoreError::Fenced {
                run_id: run_id.clone(),
                epoch,
                current: None,
            }),
        }
    }

    /// Checks that this process holds `run_id` at `epoch`, for writes beside the run's file.
    pub fn check(&self, run_id: &RunId, epoch: Epoch) -> StoreResult<()> {
        self.held(run_id, epoch).map(drop)
    }

    pub fn stats(&self) -> StoreStats {
        StoreStats {
            records: self.stats.records.load(Ordering::Relaxed),
            bytes: self.stats.bytes.load(Ordering::Relaxed),
            fsyncs: self.stats.fsyncs.load(Ordering::Relaxed),
        }
    }

    /// Closes the run's file (dropping its lock) if this process holds it at `epoch`.
    pub fn close(&self, run_id: &RunId, epoch: Epoch) {
        let mut open = lock(&self.open);
        if open.get(run_id).is_some_and(|run| run.epoch == epoch) {
            open.remove(run_id);
        }
    }

    pub fn list(&self) -> StoreResult<Vec<RunId>> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_error("list", &self.dir)(e)),
        };
        let mut runs = Vec::new();
        for entry in entries {
            let path = entry.map_err(io_error("list", &self.dir))?.path();
            if path.extension().and_then(|e| e.to_str()) != Some(self.kind.extension) {
                continue;
            }
            if let Some(id) = path.file_stem().and_then(|s| s.to_str()) {
                runs.extend(RunId::new(id).ok());
            }
        }
        runs.sort();
        Ok(runs)
    }
}

pub(super) fn encode(value: &impl Serialize) -> StoreResult<Vec<u8>> {
    serde_json::to_vec(value).map_err(StoreError::Encode)
}

fn now_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
}

/// A record framed for a run this process holds, not yet appended (see [`RunFiles::prepare`]).
pub(super) struct Prepared {
    files: Arc<RunFiles>,
    run: Arc<OpenRun>,
    path: PathBuf,
    bytes: Vec<u8>,
}

impl Prepared {
    /// Appends the record: with [`Durability::Sync`] through the run's group commit, returning
    /// once it is on disk; with `Async`, written without waiting for the disk.
    pub async fn write(self) -> StoreResult<()> {
        let Prepared {
            files,
            run,
            path,
            bytes,
        } = self;
        if files.sync() {
            return group::append(Arc::clone(&files.stats), run, path, bytes).await;
        }
        {
            let _writing = lock(&run.writing);
            (&run.file)
                .write_all(&bytes)
                .map_err(|e| io_error("append to", &path)(e))?;
        }
        files.stats.count_record(bytes.len());
        Ok(())
    }
}
