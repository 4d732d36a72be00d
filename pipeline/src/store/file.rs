//! Stores that keep one append-only file per run in a directory.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::framing::{self, MAGIC_LEN};
use super::{
    AuditEntry, AuditLog, Checkpoint, Checkpointer, FORMAT_VERSION, NodeRecord, RunHeader,
    RunSummary, StoreError,
};
use crate::RunId;

/// How hard a file store works to make each record survive a crash.
///
/// Both settings survive a crash of the process (kill -9, panic, OOM): a record written with
/// `write(2)` is in the OS page cache and reaches the disk without the process.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Durability {
    /// `fsync` each record (and, when a run's file is created, its directory) before the engine
    /// starts any node that depends on it. Survives power loss and kernel crashes: a node that
    /// was reported completed is never run again.
    #[default]
    Sync,
    /// Leave flushing to the OS. Faster; on power loss or a kernel crash the last few seconds of
    /// records may be lost, so the nodes they recorded run again on resume (a torn last record is
    /// detected and dropped, never misread).
    Async,
}

/// One append-only, framed file per run, shared by the checkpoint and audit stores.
#[derive(Debug)]
struct RunFiles {
    dir: PathBuf,
    extension: &'static str,
    magic: &'static [u8; MAGIC_LEN],
    kind: &'static str,
    durability: Durability,
    open: Mutex<HashMap<RunId, Arc<OpenRun>>>,
    stats: Stats,
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

#[derive(Debug, Default)]
struct Stats {
    records: AtomicU64,
    bytes: AtomicU64,
    fsyncs: AtomicU64,
}

/// A run's file while a run is being written, with group commit: appends are serialized, and
/// one `fsync` covers every append that finished before it started, so concurrent nodes share it.
#[derive(Debug)]
struct OpenRun {
    file: File,
    /// Serializes appends, so records never interleave; holds the count of records appended.
    appended: Mutex<u64>,
    /// How many of the appended records an `fsync` has covered.
    synced: Mutex<u64>,
}

impl OpenRun {
    fn new(file: File) -> Arc<OpenRun> {
        Arc::new(OpenRun {
            file,
            appended: Mutex::new(0),
            synced: Mutex::new(0),
        })
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section here is a single map operation or a single write; a panic inside
    // one leaves nothing half-done that a later caller could misread.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn io_error<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> StoreError + 'a {
    move |source| StoreError::Io {
        op,
        path: path.to_owned(),
        source,
    }
}

impl RunFiles {
    fn new(
        dir: PathBuf,
        extension: &'static str,
        magic: &'static [u8; MAGIC_LEN],
        kind: &'static str,
        durability: Durability,
    ) -> Arc<RunFiles> {
        Arc::new(RunFiles {
            dir,
            extension,
            magic,
            kind,
            durability,
            open: Mutex::default(),
            stats: Stats::default(),
        })
    }

    /// The same store with another durability (and fresh state).
    fn with_durability(&self, durability: Durability) -> Arc<RunFiles> {
        RunFiles::new(
            self.dir.clone(),
            self.extension,
            self.magic,
            self.kind,
            durability,
        )
    }

    fn path(&self, run_id: &RunId) -> PathBuf {
        self.dir.join(format!("{run_id}.{}", self.extension))
    }

    fn create_dir(&self) -> Result<(), StoreError> {
        create_private_dir(&self.dir)
    }

    fn open_options() -> OpenOptions {
        let mut options = OpenOptions::new();
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        options
    }

    /// Writes the prefix and header to a temporary file and links it into place, so a run's file
    /// either does not exist or holds a whole header, and two creators of one id cannot both win.
    fn create(&self, run_id: &RunId, header: &impl Serialize) -> Result<(), StoreError> {
        self.create_dir()?;
        let mut bytes = framing::prefix(self.magic, FORMAT_VERSION).to_vec();
        framing::frame(&encode(header)?, &mut bytes)?;
        let path = self.path(run_id);
        let tmp = self.dir.join(format!(
            ".{run_id}.{}.{}.tmp",
            self.extension,
            std::process::id()
        ));
        let result = self.write_new(&tmp, &bytes).and_then(|()| {
            fs::hard_link(&tmp, &path).map_err(|e| match e.kind() {
                io::ErrorKind::AlreadyExists => StoreError::RunExists(run_id.clone()),
                _ => io_error("create", &path)(e),
            })
        });
        let _ = fs::remove_file(&tmp);
        result?;
        if self.durability == Durability::Sync {
            sync_dir(&self.dir)?;
        }
        let file = self.open_locked(run_id, &path)?;
        lock(&self.open).insert(run_id.clone(), OpenRun::new(file));
        Ok(())
    }

    /// Opens a run's file for reading and appending, holding an exclusive OS lock on it until the
    /// handle is closed. The OS drops the lock when its process dies, so the lock of a crashed
    /// process never blocks a resume.
    fn open_locked(&self, run_id: &RunId, path: &Path) -> Result<File, StoreError> {
        let file = Self::open_options()
            .read(true)
            .append(true)
            .open(path)
            .map_err(io_error("open", path))?;
        match file.try_lock() {
            Ok(()) => Ok(file),
            Err(fs::TryLockError::WouldBlock) => Err(StoreError::Locked(run_id.clone())),
            Err(fs::TryLockError::Error(e)) => Err(io_error("lock", path)(e)),
        }
    }

    fn write_new(&self, path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
        let mut file = Self::open_options()
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .map_err(io_error("create", path))?;
        file.write_all(bytes).map_err(io_error("write", path))?;
        if self.durability == Durability::Sync {
            file.sync_all().map_err(io_error("sync", path))?;
        }
        Ok(())
    }

    /// Reads a run's whole file; `Ok(None)` when it does not exist.
    fn read(&self, run_id: &RunId) -> Result<Option<(PathBuf, Vec<u8>)>, StoreError> {
        let path = self.path(run_id);
        match fs::read(&path) {
            Ok(bytes) => Ok(Some((path, bytes))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_error("read", &path)(e)),
        }
    }

    /// Decodes a whole file into its header and records.
    fn decode<H: DeserializeOwned, R: DeserializeOwned>(
        &self,
        path: &Path,
        bytes: &[u8],
    ) -> Result<(H, Vec<R>, u64), StoreError> {
        decode_file(path, bytes, self.magic, self.kind)
    }
}

fn decode_file<H: DeserializeOwned, R: DeserializeOwned>(
    path: &Path,
    bytes: &[u8],
    magic: &[u8; MAGIC_LEN],
    kind: &'static str,
) -> Result<(H, Vec<R>, u64), StoreError> {
    let scanned = framing::scan(path, bytes, magic, FORMAT_VERSION, kind)?;
    let mut frames = scanned.frames.iter();
    let header = frames.next().ok_or_else(|| StoreError::Corrupt {
        path: path.to_owned(),
        offset: framing::PREFIX_LEN as u64,
        reason: "the file has no header record".into(),
    })?;
    let header = decode_at(path, header)?;
    let records = frames
        .map(|f| decode_at(path, f))
        .collect::<Result<_, _>>()?;
    if let Some(at) = scanned.torn_at {
        tracing::warn!(file = %path.display(), offset = at, "ignoring a torn last record");
    }
    Ok((header, records, scanned.valid_len))
}

impl RunFiles {
    /// Locks a run's file, reads it whole, drops a torn tail, and keeps the file open for
    /// appending. `Ok(None)` when the run does not exist.
    fn resume<H: DeserializeOwned, R: DeserializeOwned>(
        &self,
        run_id: &RunId,
    ) -> Result<Option<(H, Vec<R>)>, StoreError> {
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
        let (header, records, valid_len) = self.decode(&path, &bytes)?;
        if valid_len != bytes.len() as u64 {
            file.set_len(valid_len)
                .map_err(io_error("truncate", &path))?;
            if self.durability == Durability::Sync {
                file.sync_all().map_err(io_error("sync", &path))?;
            }
        }
        lock(&self.open).insert(run_id.clone(), OpenRun::new(file));
        Ok(Some((header, records)))
    }

    /// Serializes and frames `record` on the caller's thread, then appends it: inline with
    /// [`Durability::Async`], on the blocking pool with [`Durability::Sync`] (it may wait for
    /// an `fsync`).
    async fn append(
        self: &Arc<Self>,
        run_id: &RunId,
        record: &impl Serialize,
    ) -> Result<(), StoreError> {
        let mut bytes = Vec::new();
        framing::frame(&encode(record)?, &mut bytes)?;
        let run_id = run_id.clone();
        blocking(self, move |files| files.append_bytes(&run_id, &bytes)).await
    }

    fn append_bytes(&self, run_id: &RunId, bytes: &[u8]) -> Result<(), StoreError> {
        let run = match lock(&self.open).get(run_id) {
            Some(run) => Arc::clone(run),
            None => return Err(StoreError::UnknownRun(run_id.clone())),
        };
        let number = {
            let mut appended = lock(&run.appended);
            (&run.file)
                .write_all(bytes)
                .map_err(|e| io_error("append to", &self.path(run_id))(e))?;
            *appended += 1;
            *appended
        };
        self.stats.records.fetch_add(1, Ordering::Relaxed);
        self.stats
            .bytes
            .fetch_add(bytes.len() as u64, Ordering::Relaxed);
        if self.durability == Durability::Sync {
            let mut synced = lock(&run.synced);
            if *synced < number {
                // Covers this record and every record appended before the sync starts.
                let covered = *lock(&run.appended);
                run.file
                    .sync_data()
                    .map_err(|e| io_error("sync", &self.path(run_id))(e))?;
                self.stats.fsyncs.fetch_add(1, Ordering::Relaxed);
                *synced = covered;
            }
        }
        Ok(())
    }

    fn stats(&self) -> StoreStats {
        StoreStats {
            records: self.stats.records.load(Ordering::Relaxed),
            bytes: self.stats.bytes.load(Ordering::Relaxed),
            fsyncs: self.stats.fsyncs.load(Ordering::Relaxed),
        }
    }

    fn close(&self, run_id: &RunId) {
        lock(&self.open).remove(run_id);
    }

    fn list(&self) -> Result<Vec<RunId>, StoreError> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_error("list", &self.dir)(e)),
        };
        let mut runs = Vec::new();
        for entry in entries {
            let path = entry.map_err(io_error("list", &self.dir))?.path();
            if path.extension().and_then(|e| e.to_str()) != Some(self.extension) {
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

const CHECKPOINT_MAGIC: &[u8; MAGIC_LEN] = b"PIPECKPT";
const AUDIT_MAGIC: &[u8; MAGIC_LEN] = b"PIPEAUDT";

/// Decodes the bytes of a checkpoint file as [`FileCheckpointer`] writes it: the state up to the
/// last intact record (a torn last record is ignored), or an error naming `path` and the offset of
/// the damage. Never panics, whatever the bytes.
pub fn decode_checkpoint_file(path: &Path, bytes: &[u8]) -> Result<Checkpoint, StoreError> {
    let (header, nodes, _) = decode_file(path, bytes, CHECKPOINT_MAGIC, "checkpoint")?;
    Ok(Checkpoint { header, nodes })
}

/// Decodes the bytes of an audit file as [`FileAuditLog`] writes it, like
/// [`decode_checkpoint_file`].
pub fn decode_audit_file(
    path: &Path,
    bytes: &[u8],
) -> Result<(RunHeader, Vec<AuditEntry>), StoreError> {
    let (header, entries, _) = decode_file(path, bytes, AUDIT_MAGIC, "audit")?;
    Ok((header, entries))
}

fn decode_at<T: DeserializeOwned>(
    path: &Path,
    frame: &framing::Frame<'_>,
) -> Result<T, StoreError> {
    serde_json::from_slice(frame.payload).map_err(|e| StoreError::Corrupt {
        path: path.to_owned(),
        offset: frame.offset,
        reason: format!("undecodable record: {e}"),
    })
}

/// Creates `dir` and its parents, owner-only (0700) on Unix.
pub(super) fn create_private_dir(dir: &Path) -> Result<(), StoreError> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(dir)
        .map_err(io_error("create directory", dir))
}

fn encode(value: &impl Serialize) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value).map_err(StoreError::Encode)
}

fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    #[cfg(unix)]
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_error("sync directory", dir))?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Runs blocking file work off the async threads when it may wait for the disk (`fsync`), and
/// inline when it only copies into the page cache.
async fn blocking<T: Send + 'static>(
    files: &Arc<RunFiles>,
    work: impl FnOnce(&RunFiles) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    if files.durability == Durability::Async {
        return work(files);
    }
    let files = Arc::clone(files);
    tokio::task::spawn_blocking(move || work(&files))
        .await
        .map_err(|e| StoreError::Backend(Box::new(e)))?
}

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
}

impl FileCheckpointer {
    /// A store in `dir`, created (owner-only, 0700 on Unix) when the first run starts.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        FileCheckpointer {
            files: RunFiles::new(
                dir.into(),
                "ckpt",
                CHECKPOINT_MAGIC,
                "checkpoint",
                Durability::default(),
            ),
        }
    }

    /// Sets how records are flushed (default [`Durability::Sync`]).
    pub fn durability(self, durability: Durability) -> Self {
        FileCheckpointer {
            files: self.files.with_durability(durability),
        }
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

    fn read(files: &RunFiles, run_id: &RunId) -> Result<Option<Checkpoint>, StoreError> {
        let Some((path, bytes)) = files.read(run_id)? else {
            return Ok(None);
        };
        let (header, nodes, _) = files.decode(&path, &bytes)?;
        Ok(Some(Checkpoint { header, nodes }))
    }
}

#[async_trait]
impl Checkpointer for FileCheckpointer {
    async fn create_run(&self, header: &RunHeader) -> Result<(), StoreError> {
        let header = header.clone();
        blocking(&self.files, move |f| f.create(&header.run_id, &header)).await
    }

    async fn resume_run(&self, run_id: &RunId) -> Result<Option<Checkpoint>, StoreError> {
        let run_id = run_id.clone();
        let files = Arc::clone(&self.files);
        tokio::task::spawn_blocking(move || {
            let resumed = files.resume(&run_id)?;
            Ok(resumed.map(|(header, nodes)| Checkpoint { header, nodes }))
        })
        .await
        .map_err(|e| StoreError::Backend(Box::new(e)))?
    }

    async fn save(&self, run_id: &RunId, record: &NodeRecord) -> Result<(), StoreError> {
        self.files.append(run_id, record).await
    }

    async fn load(&self, run_id: &RunId) -> Result<Option<Checkpoint>, StoreError> {
        let run_id = run_id.clone();
        let files = Arc::clone(&self.files);
        tokio::task::spawn_blocking(move || Self::read(&files, &run_id))
            .await
            .map_err(|e| StoreError::Backend(Box::new(e)))?
    }

    async fn list_runs(&self) -> Result<Vec<RunId>, StoreError> {
        self.files.list()
    }

    fn release_run(&self, run_id: &RunId) {
        self.files.close(run_id);
    }
}

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
                "audit",
                AUDIT_MAGIC,
                "audit",
                Durability::default(),
            ),
        }
    }

    /// Sets how entries are flushed (default [`Durability::Sync`]).
    pub fn durability(self, durability: Durability) -> Self {
        FileAuditLog {
            files: self.files.with_durability(durability),
        }
    }

    /// The file holding the trail of run `run_id`.
    pub fn path(&self, run_id: &RunId) -> PathBuf {
        self.files.path(run_id)
    }

    /// What this log (and its clones) appended so far.
    pub fn stats(&self) -> StoreStats {
        self.files.stats()
    }
}

#[async_trait]
impl AuditLog for FileAuditLog {
    async fn create_run(&self, header: &RunHeader) -> Result<(), StoreError> {
        let header = header.clone();
        blocking(&self.files, move |f| f.create(&header.run_id, &header)).await
    }

    async fn resume_run(&self, header: &RunHeader) -> Result<(), StoreError> {
        let header = header.clone();
        let files = Arc::clone(&self.files);
        tokio::task::spawn_blocking(move || {
            let resumed: Option<(RunHeader, Vec<serde::de::IgnoredAny>)> =
                files.resume(&header.run_id)?;
            match resumed {
                Some(_) => Ok(()),
                None => files.create(&header.run_id, &header),
            }
        })
        .await
        .map_err(|e| StoreError::Backend(Box::new(e)))?
    }

    async fn append(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        self.files.append(&entry.run_id, entry).await
    }

    /// Written to `<dir>/<run id>.summary` through a temporary file and a rename, so a reader
    /// sees the old summary or the new one, never a torn one.
    async fn write_summary(&self, summary: &RunSummary) -> Result<(), StoreError> {
        let summary = summary.clone();
        blocking(&self.files, move |files| {
            let path = files.dir.join(format!("{}.summary", summary.run_id));
            let tmp = files.dir.join(format!(
                ".{}.summary.{}.tmp",
                summary.run_id,
                std::process::id()
            ));
            files.write_new(&tmp, &encode(&summary)?)?;
            fs::rename(&tmp, &path).map_err(io_error("replace", &path))
        })
        .await
    }

    async fn summary(&self, run_id: &RunId) -> Result<Option<RunSummary>, StoreError> {
        let path = self.files.dir.join(format!("{run_id}.summary"));
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

    async fn entries(&self, run_id: &RunId) -> Result<Option<Vec<AuditEntry>>, StoreError> {
        let run_id = run_id.clone();
        let files = Arc::clone(&self.files);
        tokio::task::spawn_blocking(move || {
            let Some((path, bytes)) = files.read(&run_id)? else {
                return Ok(None);
            };
            let (_, entries, _): (RunHeader, _, _) = files.decode(&path, &bytes)?;
            Ok(Some(entries))
        })
        .await
        .map_err(|e| StoreError::Backend(Box::new(e)))?
    }

    async fn list_runs(&self) -> Result<Vec<RunId>, StoreError> {
        self.files.list()
    }

    fn release_run(&self, run_id: &RunId) {
        self.files.close(run_id);
    }
}
