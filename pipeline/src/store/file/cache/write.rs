//! The cache log's writers: a put, a removal and a compaction, each under this process's writer
//! lock and the OS lock of `cache/lock`, so that records never interleave and the first to store
//! a key keeps it, across processes.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::Path;

use super::log::{
    CacheLog, INLINE_BYTES, MAGIC, State, VERSION, Writer, file_id, read_at, still_linked, write_at,
};
use super::record::{self, Record};
use crate::store::error::StoreResult;
use crate::store::framing::{self, PREFIX_LEN};
use crate::store::fs::{create_private_dir, io_error, private_options, sync_dir};
use crate::store::shared::lock;

const LOCK: &str = "lock";
const COMPACTING: &str = ".entries.log.compacting";

/// What a write did.
enum Written<T> {
    Appended(T),
    /// Nothing was to be appended.
    Nothing,
    /// The index was not brought up to date: that would have read more than the budget.
    Heavy,
}

/// This process's writer, holding the OS lock until dropped.
struct Held<'a>(std::sync::MutexGuard<'a, Writer>);

impl Drop for Held<'_> {
    fn drop(&mut self) {
        if let Some(lock) = &self.0.lock {
            let _ = lock.unlock();
        }
    }
}

impl CacheLog {
    /// Appends `framed` (one framed put of `key`) unless the key has an entry; returns whether
    /// it was appended. `inline`: only if that needs no waiting (for a lock another writer
    /// holds, or for a long read), else `Err(framed)` gives the record back untouched.
    pub(super) fn put(
        &self,
        key: &str,
        framed: Vec<u8>,
        inline: bool,
    ) -> StoreResult<Result<bool, Vec<u8>>> {
        let (held, budget) = match inline {
            false => (self.hold()?, None),
            true => match self.try_hold()? {
                Some(held) => (held, Some(INLINE_BYTES)),
                None => return Ok(Err(framed)),
            },
        };
        let mut framed = Some(framed);
        let appended = self.write(held, budget, |state| match state.slots.contains_key(key) {
            true => Ok(None),
            false => Ok(framed.take().map(|f| (f, ()))),
        })?;
        match (appended, framed) {
            (Written::Heavy, Some(framed)) => Ok(Err(framed)),
            (written, _) => Ok(Ok(matches!(written, Written::Appended(())))),
        }
    }

    /// Appends a removal of those of `keys` that have entries, and compacts the log when a
    /// quarter of it is dead; returns how many were removed.
    pub(super) fn remove(&self, keys: &[String]) -> StoreResult<u64> {
        let removed = self.write(self.hold()?, None, |state| {
            let mut live: Vec<&str> = keys
                .iter()
                .map(String::as_str)
                .filter(|k| state.slots.contains_key(*k))
                .collect();
            live.sort_unstable();
            live.dedup();
            if live.is_empty() {
                return Ok(None);
            }
            let count = live.len() as u64;
            Ok(Some((record::framed(&Record::Remove(live))?, count)))
        })?;
        let Written::Appended(removed) = removed else {
            return Ok(0);
        };
        let worth_it = {
            let state = lock(&self.state);
            let live: u64 = state.slots.values().map(|s| s.len).sum();
            state.dead * 4 > live + state.dead
        };
        if worth_it {
            self.compact()?;
        }
        Ok(removed)
    }

    /// With the locks `held` and the index brought up to date (within `budget`): appends the
    /// framed bytes `decide` returns (if any), then indexes them.
    fn write<T>(
        &self,
        mut held: Held<'_>,
        budget: Option<u64>,
        decide: impl FnOnce(&State) -> StoreResult<Option<(Vec<u8>, T)>>,
    ) -> StoreResult<Written<T>> {
        let path = self.path();
        let (decided, end) = {
            let mut state = lock(&self.state);
            if !state.refresh(path, budget)? {
                return Ok(Written::Heavy);
            }
            let end = state.open.as_ref().map(|o| o.end);
            (decide(&state)?, end)
        };
        let Some((bytes, decided)) = decided else {
            return Ok(Written::Nothing);
        };
        let file = held.log(path)?;
        let len = file.metadata().map_err(io_error("inspect", path))?.len();
        // What the index holds is what the file holds up to `end`: anything after it is a record
        // a writer that died left unfinished (no writer is at work: this one holds the lock).
        let at = match end {
            Some(end) if end >= PREFIX_LEN as u64 => end,
            _ => {
                file.set_len(0).map_err(io_error("truncate", path))?;
                write_at(file, &framing::prefix(MAGIC, VERSION), 0)
                    .map_err(io_error("write", path))?;
                PREFIX_LEN as u64
            }
        };
        if len > at {
            tracing::warn!(
                path = %path.display(),
                offset = at,
                bytes = len - at,
                "a cache record left unfinished (a crash while it was written) is dropped"
            );
            file.set_len(at).map_err(io_error("truncate", path))?;
        }
        write_at(file, &bytes, at).map_err(io_error("append to", path))?;
        if self.sync {
            file.sync_data().map_err(io_error("sync", path))?;
            if at == PREFIX_LEN as u64 {
                sync_dir(&self.dir)?;
            }
        }
        lock(&self.state).refresh(path, None)?;
        Ok(Written::Appended(decided))
    }

    /// Rewrites the log with its live entries only (checked again on the way), and removes what
    /// earlier formats and interrupted compactions left in the directory.
    pub(super) fn compact(&self) -> StoreResult<()> {
        let _held = self.hold()?;
        let path = self.path();
        let Some((file, slots)) = self.live_slots()? else {
            return Ok(());
        };
        let tmp = self.dir.join(COMPACTING);
        match fs::remove_file(&tmp) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                return Err(io_error("remove", &tmp)(e));
            }
            _ => {}
        }
        let new = private_options()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(io_error("create", &tmp))?;
        let mut out = BufWriter::new(new);
        let written = (|| {
            out.write_all(&framing::prefix(MAGIC, VERSION))?;
            for slot in slots {
                let mut frame = vec![0; slot.len as usize];
                read_at(&file, &mut frame, slot.offset)?;
                match framing::frame_at(&frame, 0) == Some(frame.len()) {
                    true => out.write_all(&frame)?,
                    false => tracing::warn!(
                        path = %path.display(),
                        offset = slot.offset,
                        "a damaged cache entry is dropped"
                    ),
                }
            }
            out.flush()?;
            out.get_ref().sync_all()
        })();
        if let Err(e) = written.and_then(|()| fs::rename(&tmp, path)) {
            let _ = fs::remove_file(&tmp);
            return Err(io_error("compact", path)(e));
        }
        sync_dir(&self.dir)?;
        remove_leftovers(&self.dir)?;
        lock(&self.state).refresh(path, None)?;
        Ok(())
    }
}

impl CacheLog {
    /// This process's writer, with the OS lock of `cache/lock` taken (waiting for it).
    fn hold(&self) -> StoreResult<Held<'_>> {
        let mut writer = lock(&self.writer);
        self.lock_file(&mut writer)?
            .lock()
            .map_err(io_error("lock", &self.dir.join(LOCK)))?;
        Ok(Held(writer))
    }
}

impl CacheLog {
    /// [`CacheLog::hold`] without waiting: `None` when another writer, in this process or
    /// another, holds a lock.
    fn try_hold(&self) -> StoreResult<Option<Held<'_>>> {
        let mut writer = match self.writer.try_lock() {
            Ok(writer) => writer,
            Err(std::sync::TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => return Ok(None),
        };
        let path = self.dir.join(LOCK);
        let file = self.lock_file(&mut writer)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(Held(writer))),
            Err(fs::TryLockError::WouldBlock) => Ok(None),
            Err(fs::TryLockError::Error(e)) => Err(io_error("lock", &path)(e)),
        }
    }

    /// `cache/lock`, opened (and the directory created) by the first writer.
    fn lock_file<'w>(&self, writer: &'w mut Writer) -> StoreResult<&'w File> {
        // A lock file without a name (its directory was removed) locks nothing another process
        // would see: opened again, with the directory.
        let named = |file: &File| file.metadata().is_ok_and(|m| still_linked(&m));
        if writer.lock.as_ref().is_some_and(|file| !named(file)) {
            *writer = Writer::default();
        }
        if writer.lock.is_none() {
            create_private_dir(&self.dir)?;
            let path = self.dir.join(LOCK);
            let file = private_options()
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .map_err(io_error("open", &path))?;
            writer.lock = Some(file);
        }
        match &writer.lock {
            Some(file) => Ok(file),
            None => Err(io_error("open", &self.dir.join(LOCK))(
                io::ErrorKind::NotFound.into(),
            )),
        }
    }
}

impl Held<'_> {
    /// The log at `path` opened for writing (created if it is not there): the file this writer
    /// kept open, unless a compaction replaced it since.
    fn log(&mut self, path: &Path) -> StoreResult<&File> {
        let current = match fs::metadata(path) {
            Ok(meta) => Some(file_id(&meta)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(io_error("inspect", path)(e)),
        };
        let kept = self.0.log.as_ref().map(|(id, _)| *id);
        if current.is_none() || kept != current {
            let file = private_options()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(path)
                .map_err(io_error("open", path))?;
            let id = file_id(&file.metadata().map_err(io_error("inspect", path))?);
            self.0.log = Some((id, file));
        }
        match &self.0.log {
            Some((_, file)) => Ok(file),
            None => Err(io_error("open", path)(io::ErrorKind::NotFound.into())),
        }
    }
}

/// Removes the entry files of the cache's first format (`<key>.entry`, and their temporaries),
/// which this one does not read.
fn remove_leftovers(dir: &Path) -> StoreResult<()> {
    let listing = fs::read_dir(dir).map_err(io_error("list", dir))?;
    for item in listing {
        let path = item.map_err(io_error("list", dir))?.path();
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        // `<key>.entry`, and `.<key>.entry.<pid>.<n>.tmp` (a writer of that format that died).
        let old = name.is_some_and(|n| {
            n.ends_with(".entry")
                || (n.starts_with('.') && n.contains(".entry.") && n.ends_with(".tmp"))
        });
        if old && let Err(e) = fs::remove_file(&path) {
            return Err(io_error("remove", &path)(e));
        }
    }
    Ok(())
}
