//! The directory store's cache log, `cache/entries.log`: framed records appended under an OS
//! lock (`cache/lock`), and this process's index of them, brought up to date by the log's
//! length on every lookup.
//!
//! - A lookup checks the log's length (an `fstat` of the file it read, while that file still has
//!   a name), reads only what was appended since it last looked, and reads its entry's one frame
//!   at the offset the index holds (nothing, when this process decoded the entry before): no
//!   directory walk, no file opened per entry.
//! - Writers (a put, a removal, a compaction) hold `cache/lock`, so records never interleave and
//!   the first to store a key keeps it, across processes.
//! - A record cut short by a crash is never indexed (a reader takes it for one still being
//!   written); the next writer truncates it before it appends.
//! - A compaction writes the live entries to a new file and renames it over the log; a reader
//!   notices that the file it read lost its name, and indexes the new one whole.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::record::{self, Record};
use crate::data::Json;
use crate::store::cache::CacheEntry;
use crate::store::error::{StoreError, StoreResult};
use crate::store::framing::{self, FRAME_HEADER_LEN, PREFIX_LEN};
use crate::store::fs::io_error;
use crate::store::shared::lock;

/// The log's file name in the store's `cache` directory.
pub(super) const LOG: &str = "entries.log";
pub(super) const MAGIC: &[u8; 8] = b"PLCACHE\0";
pub(super) const VERSION: u32 = 2;

/// One directory store's cache log and this process's index of it.
#[derive(Debug)]
pub(crate) struct CacheLog {
    pub(super) dir: PathBuf,
    /// `dir/entries.log`.
    log: PathBuf,
    pub(super) sync: bool,
    pub(super) state: Mutex<State>,
    /// Serializes this process's writers (the OS lock serializes processes), with the files
    /// they keep open between writes.
    pub(super) writer: Mutex<Writer>,
}

/// A writer's open files: `cache/lock`, and the log opened for writing with its identity.
#[derive(Debug, Default)]
pub(super) struct Writer {
    pub(super) lock: Option<File>,
    pub(super) log: Option<(FileId, File)>,
}

/// What a read found, or that it would read more than it was allowed to.
pub(super) enum Read<T> {
    Done(T),
    /// More than the budget is to be read: do it off the async threads.
    Heavy,
}

/// Where [`CacheLog::locate`] found an entry: kept decoded, at a slot of a file (with the file's
/// id), or nowhere.
pub(super) enum Found {
    Kept(Decoded),
    At(Arc<File>, Slot, FileId),
    Absent,
}

/// The index: where each live entry's frame is, in the file it was read from.
#[derive(Debug, Default)]
pub(super) struct State {
    pub(super) open: Option<Opened>,
    pub(super) slots: HashMap<Box<str>, Slot>,
    /// Bytes of frames no entry uses (removed, replaced, damaged, and the removals themselves).
    pub(super) dead: u64,
    /// Entries this process decoded, so that a repeated hit reads nothing but the log's length;
    /// dropped with their slots, and all of them when they would hold more than [`MEMO_BYTES`].
    memo: HashMap<Box<str>, Decoded>,
    /// The frame bytes of the entries in `memo`.
    memo_bytes: u64,
}

/// A decoded entry and its output.
pub(super) type Decoded = Arc<(CacheEntry, Json)>;

/// How many bytes of frames the decoded entries a process keeps may stand for; one entry larger
/// than a sixteenth of it is never kept.
const MEMO_BYTES: u64 = 16 << 20;

#[derive(Debug)]
pub(super) struct Opened {
    pub(super) file: Arc<File>,
    pub(super) id: FileId,
    /// Where the indexed part ends.
    pub(super) end: u64,
}

/// A live entry's frame: offset and whole length (header included).
#[derive(Clone, Copy, Debug)]
pub(super) struct Slot {
    pub offset: u64,
    pub len: u64,
}

/// A frame's offset in the log, and its payload.
pub(super) type Framed = (u64, Vec<u8>);

/// How many bytes a write or a lookup reads on the async thread before it gives the work to the
/// blocking pool.
pub(super) const INLINE_BYTES: u64 = 256 * 1024;

/// A file's identity, which a rename over the log changes.
pub(super) type FileId = (u64, u64);

#[cfg(unix)]
pub(super) fn file_id(meta: &fs::Metadata) -> FileId {
    use std::os::unix::fs::MetadataExt;
    (meta.dev(), meta.ino())
}

#[cfg(not(unix))]
pub(super) fn file_id(meta: &fs::Metadata) -> FileId {
    let created = meta
        .created()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok());
    (0, created.map_or(0, |d| d.as_nanos() as u64))
}

/// Whether a file still has a name (a file renamed over, or removed, has none).
#[cfg(unix)]
pub(super) fn still_linked(meta: &fs::Metadata) -> bool {
    std::os::unix::fs::MetadataExt::nlink(meta) > 0
}

/// Without link counts, the log is always found by its path.
#[cfg(not(unix))]
pub(super) fn still_linked(_: &fs::Metadata) -> bool {
    false
}

#[cfg(unix)]
pub(super) fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
}

#[cfg(unix)]
pub(super) fn write_at(file: &File, buf: &[u8], offset: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::write_all_at(file, buf, offset)
}

#[cfg(windows)]
pub(super) fn read_at(file: &File, mut buf: &mut [u8], mut offset: u64) -> io::Result<()> {
    while !buf.is_empty() {
        match std::os::windows::fs::FileExt::seek_read(file, buf, offset)? {
            0 => return Err(io::ErrorKind::UnexpectedEof.into()),
            n => (buf, offset) = (&mut buf[n..], offset + n as u64),
        }
    }
    Ok(())
}

#[cfg(windows)]
pub(super) fn write_at(file: &File, mut buf: &[u8], mut offset: u64) -> io::Result<()> {
    while !buf.is_empty() {
        let n = std::os::windows::fs::FileExt::seek_write(file, buf, offset)?;
        (buf, offset) = (&buf[n..], offset + n as u64);
    }
    Ok(())
}

impl CacheLog {
    pub fn new(dir: PathBuf, sync: bool) -> Self {
        CacheLog {
            log: dir.join(LOG),
            dir,
            sync,
            state: Mutex::default(),
            writer: Mutex::default(),
        }
    }

    pub(super) fn path(&self) -> &Path {
        &self.log
    }

    /// The entry of `key`, decoded by `decode` from its frame unless this process decoded it
    /// before; with `budget`, [`Read::Heavy`] instead of reading more bytes than that.
    pub(super) fn get(
        &self,
        key: &str,
        budget: Option<u64>,
        decode: impl FnOnce(&Framed) -> StoreResult<(CacheEntry, Json)>,
    ) -> StoreResult<Read<Option<Decoded>>> {
        let (file, slot, id) = match self.locate(key, budget, true)? {
            Read::Heavy => return Ok(Read::Heavy),
            Read::Done(Found::Kept(decoded)) => return Ok(Read::Done(Some(decoded))),
            Read::Done(Found::Absent) => return Ok(Read::Done(None)),
            Read::Done(Found::At(file, slot, id)) => (file, slot, id),
        };
        let framed = (slot.offset, read_frame(&file, self.path(), slot)?);
        let decoded = Arc::new(decode(&framed)?);
        let mut state = lock(&self.state);
        // Kept only if it is still the key's entry in the file it was read from.
        let slot = state.slots.get(key).copied();
        if let Some(slot) = slot
            && slot.offset == framed.0
            && state.open.as_ref().map(|o| o.id) == Some(id)
        {
            state.remember(key, slot.len, &decoded);
        }
        Ok(Read::Done(Some(decoded)))
    }

    /// Where `key`'s entry is, the log brought up to date first: kept decoded (looked up only
    /// with `kept`), at a slot of the open file, or absent; with `budget`, [`Read::Heavy`]
    /// instead of reading more bytes than that.
    pub(super) fn locate(
        &self,
        key: &str,
        budget: Option<u64>,
        kept: bool,
    ) -> StoreResult<Read<Found>> {
        let mut state = lock(&self.state);
        if !state.refresh(self.path(), budget)? {
            return Ok(Read::Heavy);
        }
        if kept && let Some(decoded) = state.memo.get(key) {
            return Ok(Read::Done(Found::Kept(Arc::clone(decoded))));
        }
        let (Some(open), Some(slot)) = (&state.open, state.slots.get(key)) else {
            return Ok(Read::Done(Found::Absent));
        };
        if budget.is_some_and(|b| slot.len > b) {
            return Ok(Read::Heavy);
        }
        Ok(Read::Done(Found::At(
            Arc::clone(&open.file),
            *slot,
            open.id,
        )))
    }

    /// The log brought up to date, and its live entries' slots in the log's order; `None`
    /// without a log.
    pub(super) fn live_slots(&self) -> StoreResult<Option<(Arc<File>, Vec<Slot>)>> {
        let mut state = lock(&self.state);
        state.refresh(self.path(), None)?;
        Ok(state
            .open
            .as_ref()
            .map(|open| (Arc::clone(&open.file), state.sorted_slots())))
    }

    /// Every live entry's frame payload, in the log's order; a frame damaged since it was
    /// indexed is left out (and logged).
    pub(super) fn frames(&self) -> StoreResult<Vec<Framed>> {
        let path = self.path();
        let Some((file, slots)) = self.live_slots()? else {
            return Ok(Vec::new());
        };
        let mut frames = Vec::with_capacity(slots.len());
        for slot in slots {
            match read_frame(&file, path, slot) {
                Ok(payload) => frames.push((slot.offset, payload)),
                Err(e @ StoreError::Corrupt { .. }) => tracing::warn!("{e}"),
                Err(e) => return Err(e),
            }
        }
        Ok(frames)
    }
}

/// The frame at `slot`, checked against its checksums; its payload.
pub(super) fn read_frame(file: &File, path: &Path, slot: Slot) -> StoreResult<Vec<u8>> {
    let mut frame = vec![0; slot.len as usize];
    read_at(file, &mut frame, slot.offset).map_err(io_error("read", path))?;
    if framing::frame_at(&frame, 0) != Some(frame.len()) {
        return Err(StoreError::Corrupt {
            path: path.to_owned(),
            offset: slot.offset,
            reason: "a cache entry no longer matches its checksum (damaged on disk)".to_owned(),
        });
    }
    frame.drain(..FRAME_HEADER_LEN);
    Ok(frame)
}

impl State {
    /// Brings the index up to what the log holds. `Ok(false)`, with nothing read, when that
    /// means reading more than `budget` bytes.
    pub(super) fn refresh(&mut self, path: &Path, budget: Option<u64>) -> StoreResult<bool> {
        let Some(meta) = self.inspect(path).map_err(io_error("inspect", path))? else {
            *self = State::default();
            return Ok(true);
        };
        let mut len = meta.len();
        let current = self.open.as_ref().map(|o| (o.id, o.end));
        if current.is_none_or(|(id, end)| id != file_id(&meta) || len < end) {
            if budget.is_some_and(|b| len > b) {
                return Ok(false);
            }
            let file = File::open(path).map_err(io_error("open", path))?;
            let meta = file.metadata().map_err(io_error("inspect", path))?;
            len = meta.len();
            *self = State::default();
            self.open = Some(Opened {
                file: Arc::new(file),
                id: file_id(&meta),
                end: 0,
            });
        }
        let Some(open) = &self.open else {
            return Ok(true);
        };
        let (file, base) = (Arc::clone(&open.file), open.end);
        if len <= base {
            return Ok(true);
        }
        if budget.is_some_and(|b| len - base > b) {
            return Ok(false);
        }
        let mut bytes = vec![0; (len - base) as usize];
        read_at(&file, &mut bytes, base).map_err(io_error("read", path))?;
        let mut at = 0;
        if base == 0 {
            if bytes.len() < PREFIX_LEN {
                return Ok(true); // being created, or its creator died: nothing to index
            }
            check_prefix(path, &bytes)?;
            at = PREFIX_LEN;
        }
        while at < bytes.len() {
            if let Some(end) = framing::frame_at(&bytes, at) {
                let payload = &bytes[at + FRAME_HEADER_LEN..end];
                self.index(path, base + at as u64, (end - at) as u64, payload)?;
                at = end;
                continue;
            }
            // A bad frame followed by a good one was damaged on disk: skipped (a miss, and the
            // next compaction drops it). Without one after it, it is being written, or its
            // writer died: not indexed, and left for the next writer.
            let Some(next) = framing::next_frame_after(&bytes, at) else {
                break;
            };
            tracing::warn!(
                path = %path.display(),
                offset = base + at as u64,
                "a damaged cache record is skipped"
            );
            self.dead += (next - at) as u64;
            at = next;
        }
        if let Some(open) = &mut self.open {
            open.end = base + at as u64;
        }
        Ok(true)
    }

    /// Indexes the record at `offset` (`len` bytes framed).
    fn index(&mut self, path: &Path, offset: u64, len: u64, payload: &[u8]) -> StoreResult<()> {
        match record::parse(payload).map_err(|reason| StoreError::Corrupt {
            path: path.to_owned(),
            offset,
            reason,
        })? {
            Record::Put(key, _) if self.slots.contains_key(key) => self.dead += len,
            Record::Put(key, _) => {
                self.slots.insert(key.into(), Slot { offset, len });
            }
            Record::Remove(keys) => {
                self.dead += len;
                for key in keys {
                    let Some(slot) = self.slots.remove(key) else {
                        continue;
                    };
                    self.dead += slot.len;
                    if self.memo.remove(key).is_some() {
                        self.memo_bytes -= slot.len;
                    }
                }
            }
        }
        Ok(())
    }

    /// The log's metadata, `None` when there is no log: from the file this index read while the
    /// file is still the log (an `fstat`, without walking the path), else from the path. A
    /// compaction renamed another file over it, or the directory was removed, when it has no
    /// name left.
    fn inspect(&self, path: &Path) -> io::Result<Option<fs::Metadata>> {
        if let Some(open) = &self.open {
            let meta = open.file.metadata()?;
            if still_linked(&meta) {
                return Ok(Some(meta));
            }
        }
        match fs::metadata(path) {
            Ok(meta) => Ok(Some(meta)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Keeps `decoded`, the entry of `key` (`len` bytes framed), for the next lookups.
    fn remember(&mut self, key: &str, len: u64, decoded: &Decoded) {
        if len > MEMO_BYTES / 16 {
            return;
        }
        if self.memo_bytes + len > MEMO_BYTES {
            self.memo.clear();
            self.memo_bytes = 0;
        }
        if self.memo.insert(key.into(), Arc::clone(decoded)).is_none() {
            self.memo_bytes += len;
        }
    }

    pub(super) fn sorted_slots(&self) -> Vec<Slot> {
        let mut slots: Vec<Slot> = self.slots.values().copied().collect();
        slots.sort_by_key(|s| s.offset);
        slots
    }
}

fn check_prefix(path: &Path, bytes: &[u8]) -> StoreResult<()> {
    if bytes[..MAGIC.len()] != MAGIC[..] {
        return Err(StoreError::NotAStoreFile {
            path: path.to_owned(),
            kind: "cache log",
        });
    }
    let mut found = [0; 4];
    found.copy_from_slice(&bytes[MAGIC.len()..PREFIX_LEN]);
    match u32::from_le_bytes(found) {
        VERSION => Ok(()),
        found => Err(StoreError::UnsupportedVersion {
            path: path.to_owned(),
            found,
            supported: VERSION,
        }),
    }
}
