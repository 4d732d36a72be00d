//! Reading run files for resume frame by frame, without holding them: for a checkpoint, a first
//! pass finds the valid prefix and which nodes it records, a second keeps only the outputs a
//! resume still needs (see [`OutputFilter`]); for an audit trail, one pass finds where to append.
//! Resuming a long run then holds its live frontier, not its files.

use std::collections::HashSet;
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::decode::{Decoded, FileKind};
use crate::data::Json;
use crate::node::MapItem;
use crate::store::Recovery;
use crate::store::error::{StoreError, StoreResult};
use crate::store::filter::OutputFilter;
use crate::store::framing::{self, FRAME_HEADER_LEN, MAGIC_LEN, PREFIX_LEN};
use crate::store::fs::io_error;
use crate::store::records::{Completion, FORMAT_VERSION, NodeRecord, RunHeader};
use crate::store::traits::Truncated;

/// A record's fields without its output.
#[derive(Deserialize)]
struct RecordMeta {
    node: String,
    attempt: u32,
    started_at_ms: u64,
    finished_at_ms: u64,
    duration_us: u64,
    #[serde(default)]
    item: Option<MapItem>,
    #[serde(default)]
    item_digest: Option<String>,
}

impl RecordMeta {
    /// The record these fields belong to, with `output`.
    fn with_output(self, output: Json) -> NodeRecord {
        NodeRecord {
            node: self.node,
            attempt: self.attempt,
            started_at_ms: self.started_at_ms,
            finished_at_ms: self.finished_at_ms,
            duration_us: self.duration_us,
            item: self.item,
            item_digest: self.item_digest,
            output,
        }
    }
}

/// The frames of a run file, read one at a time into one reused buffer.
struct Frames<'f> {
    reader: BufReader<&'f File>,
    path: &'f Path,
    at: u64,
    payload: Vec<u8>,
}

impl<'f> Frames<'f> {
    /// Checks the file's magic bytes and version, and starts at its first frame.
    fn open(file: &'f File, path: &'f Path, kind: FileKind) -> StoreResult<Self> {
        let mut reader = BufReader::with_capacity(1 << 16, file);
        (&*file)
            .seek(SeekFrom::Start(0))
            .map_err(io_error("read", path))?;
        let mut prefix = [0u8; PREFIX_LEN];
        if reader.read_exact(&mut prefix).is_err() || prefix[..MAGIC_LEN] != kind.magic[..] {
            return Err(StoreError::NotAStoreFile {
                path: path.to_owned(),
                kind: kind.name,
            });
        }
        let found = u32::from_le_bytes([prefix[8], prefix[9], prefix[10], prefix[11]]);
        if found != FORMAT_VERSION {
            return Err(StoreError::UnsupportedVersion {
                path: path.to_owned(),
                found,
                supported: FORMAT_VERSION,
            });
        }
        Ok(Frames {
            reader,
            path,
            at: PREFIX_LEN as u64,
            payload: Vec::new(),
        })
    }

    /// The next intact frame's payload, or `None` at the end of the valid prefix.
    fn next(&mut self) -> StoreResult<Option<&[u8]>> {
        let mut head = [0u8; FRAME_HEADER_LEN];
        if !self.fill(&mut head)? {
            return Ok(None);
        }
        let word = |i: usize| u32::from_le_bytes([head[i], head[i + 1], head[i + 2], head[i + 3]]);
        if crc32fast::hash(&head[..4]) != word(4) {
            return Ok(None);
        }
        self.payload.resize(word(0) as usize, 0);
        let mut payload = std::mem::take(&mut self.payload);
        let whole = self.fill(&mut payload)?;
        self.payload = payload;
        if !whole || crc32fast::hash(&self.payload) != word(8) {
            return Ok(None);
        }
        self.at += (FRAME_HEADER_LEN + self.payload.len()) as u64;
        Ok(Some(&self.payload))
    }

    /// Fills `buf`; `false` when the file ends first.
    fn fill(&mut self, buf: &mut [u8]) -> StoreResult<bool> {
        match self.reader.read_exact(buf) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(false),
            Err(e) => Err(io_error("read", self.path)(e)),
        }
    }

    fn decode<T: DeserializeOwned>(&self, offset: u64) -> StoreResult<T> {
        serde_json::from_slice(&self.payload).map_err(|e| StoreError::Corrupt {
            path: self.path.to_owned(),
            offset,
            reason: format!("undecodable record: {e}"),
        })
    }
}

/// Reads a checkpoint for resume: its header, every record, and the outputs `filter` says a
/// resume needs (the others are `null`), holding at most one frame beyond them.
pub(super) fn read_checkpoint(
    file: &File,
    path: &Path,
    kind: FileKind,
    recovery: Recovery,
    filter: &OutputFilter,
) -> StoreResult<Decoded<RunHeader, NodeRecord>> {
    // Pass 1: the valid prefix, the header, and which nodes are recorded (complete).
    let mut completion = Completion::default();
    let first = first_pass(file, path, kind, recovery, |frames, offset| {
        let meta = frames.decode::<RecordMeta>(offset)?;
        completion.add(meta.node, meta.item);
        Ok(())
    })?;
    let recorded = filter.settled(completion.complete());
    let (header, valid_end, truncated) = (first.header, first.valid_end, first.truncated);
    // Pass 2: the records, with the outputs a resume needs.
    let mut frames = Frames::open(file, path, kind)?;
    frames.next()?; // the header
    let mut records = Vec::with_capacity(recorded.len());
    let mut kept = HashSet::new();
    let null: Arc<serde_json::value::RawValue> =
        Arc::from(serde_json::value::RawValue::NULL.to_owned());
    while frames.at < valid_end {
        let offset = frames.at;
        if frames.next()?.is_none() {
            break;
        }
        let meta: RecordMeta = frames.decode(offset)?;
        let first_of_its_kind = kept.insert((meta.node.clone(), meta.item.map(|i| i.index)));
        let output = if filter.needs(&meta.node, &recorded) && first_of_its_kind {
            frames.decode::<NodeRecord>(offset)?.output
        } else {
            Arc::clone(&null)
        };
        records.push(meta.with_output(output));
    }
    Ok(Decoded {
        header,
        records,
        truncated,
    })
}

/// What a first pass over a run file found.
struct FirstPass {
    header: RunHeader,
    /// Where the valid prefix ends.
    valid_end: u64,
    truncated: Option<Truncated>,
}

/// Reads every intact frame once, decoding the header and handing each record to `record`, then
/// classifies what follows the valid prefix.
fn first_pass(
    file: &File,
    path: &Path,
    kind: FileKind,
    recovery: Recovery,
    mut record: impl FnMut(&Frames<'_>, u64) -> Result<(), StoreError>,
) -> StoreResult<FirstPass> {
    let mut frames = Frames::open(file, path, kind)?;
    let mut header: Option<RunHeader> = None;
    loop {
        let offset = frames.at;
        if frames.next()?.is_none() {
            break;
        }
        match header {
            None => header = Some(frames.decode(offset)?),
            Some(_) => record(&frames, offset)?,
        }
    }
    let valid_end = frames.at;
    let truncated = tail(file, path, valid_end, recovery)?;
    let header = header.ok_or_else(|| StoreError::Corrupt {
        path: path.to_owned(),
        offset: PREFIX_LEN as u64,
        reason: "the file has no header record".into(),
    })?;
    Ok(FirstPass {
        header,
        valid_end,
        truncated,
    })
}

/// How much of a record's payload is read to find its fields before its output.
const META_PREFIX: usize = 1024;

/// A run file's header and its records with every output `null`, reading each record only as
/// far as its output: a record written by this build has every other field before it (see
/// [`NodeRecord`]), so the rest of the payload is skipped on disk. An older record (its `item`
/// after the output) is read whole. A frame that is not whole ends the records: a torn tail, or,
/// with valid frames after it, an error unless `recovery` keeps the valid prefix (as on
/// resume). A flipped byte inside an output skipped is not seen: what a resume reads, it checks.
pub(super) fn read_records(
    file: &File,
    path: &Path,
    kind: FileKind,
    recovery: Recovery,
) -> StoreResult<(RunHeader, Vec<NodeRecord>)> {
    read_selected(file, path, (kind, recovery), |_| false)
}

/// [`read_records`], with the outputs of the records of node `node`.
pub(super) fn read_node(
    file: &File,
    path: &Path,
    kind: FileKind,
    recovery: Recovery,
    node: &str,
) -> StoreResult<(RunHeader, Vec<NodeRecord>)> {
    let (header, records) = read_selected(file, path, (kind, recovery), |meta| meta.node == node)?;
    Ok((
        header,
        records.into_iter().filter(|r| r.node == node).collect(),
    ))
}

/// The header and the records, with the outputs of those `keep` selects.
fn read_selected(
    file: &File,
    path: &Path,
    (kind, recovery): (FileKind, Recovery),
    keep: impl Fn(&RecordMeta) -> bool,
) -> StoreResult<(RunHeader, Vec<NodeRecord>)> {
    let header = read_header(file, path, kind)?;
    let mut frames = Frames::open(file, path, kind)?;
    frames.next()?; // the header, read above
    let len = file.metadata().map_err(io_error("read", path))?.len();
    let null: Arc<serde_json::value::RawValue> =
        Arc::from(serde_json::value::RawValue::NULL.to_owned());
    let mut records = Vec::new();
    let mut at = frames.at;
    let mut head = [0u8; FRAME_HEADER_LEN];
    while at + FRAME_HEADER_LEN as u64 <= len {
        read_at(file, path, at, &mut head)?;
        let word = |i: usize| u32::from_le_bytes([head[i], head[i + 1], head[i + 2], head[i + 3]]);
        let size = word(0) as u64;
        let start = at + FRAME_HEADER_LEN as u64;
        if crc32fast::hash(&head[..4]) != word(4) || start + size > len {
            tail(file, path, at, recovery)?;
            break;
        }
        // The whole payload, when its checksum holds.
        let whole = || -> StoreResult<Option<Vec<u8>>> {
            let mut payload = vec![0u8; size as usize];
            read_at(file, path, start, &mut payload)?;
            Ok((crc32fast::hash(&payload) == word(8)).then_some(payload))
        };
        let corrupt = |e: serde_json::Error| StoreError::Corrupt {
            path: path.to_owned(),
            offset: at,
            reason: format!("undecodable record: {e}"),
        };
        let mut prefix = vec![0u8; size.min(META_PREFIX as u64) as usize];
        read_at(file, path, start, &mut prefix)?;
        let mut payload = None;
        let meta = match meta_before_output(&prefix) {
            Some(meta) => meta,
            None => match whole()? {
                Some(bytes) => {
                    let meta = serde_json::from_slice::<RecordMeta>(&bytes).map_err(corrupt)?;
                    payload = Some(bytes);
                    meta
                }
                None => {
                    tail(file, path, at, recovery)?;
                    break;
                }
            },
        };
        let output = match keep(&meta) {
            false => Arc::clone(&null),
            true => {
                let bytes = match payload.take() {
                    Some(bytes) => bytes,
                    None => match whole()? {
                        Some(bytes) => bytes,
                        None => {
                            tail(file, path, at, recovery)?;
                            break;
                        }
                    },
                };
                serde_json::from_slice::<NodeRecord>(&bytes)
                    .map_err(corrupt)?
                    .output
            }
        };
        records.push(meta.with_output(output));
        at = start + size;
    }
    Ok((header, records))
}

/// The fields of a record written output-last, from the first bytes of its payload: what comes
/// before `,"output":`, closed as an object. `None` when the output does not start within them,
/// or `item` is not among them (a record of an older layout, whose `item` follows the output).
fn meta_before_output(prefix: &[u8]) -> Option<RecordMeta> {
    const OUTPUT: &[u8] = b",\"output\":";
    let end = prefix.windows(OUTPUT.len()).position(|w| w == OUTPUT)?;
    let fields = &prefix[..end];
    if !fields.windows(7).any(|w| w == b"\"item\":") {
        return None;
    }
    let mut object = fields.to_vec();
    object.push(b'}');
    serde_json::from_slice(&object).ok()
}

/// Reads `buf.len()` bytes of `file` at `offset`.
fn read_at(file: &File, path: &Path, offset: u64, buf: &mut [u8]) -> StoreResult<()> {
    let mut reader = file;
    reader
        .seek(SeekFrom::Start(offset))
        .and_then(|_| reader.read_exact(buf))
        .map_err(io_error("read", path))
}

/// The header of a run file: its first frame, nothing more.
pub(super) fn read_header(file: &File, path: &Path, kind: FileKind) -> StoreResult<RunHeader> {
    let mut frames = Frames::open(file, path, kind)?;
    let offset = frames.at;
    match frames.next()? {
        Some(_) => frames.decode(offset),
        None => Err(StoreError::Corrupt {
            path: path.to_owned(),
            offset,
            reason: "the file has no header record".into(),
        }),
    }
}

/// Checks a run file for appending (an audit trail on resume) without decoding its records or
/// holding it: its header, and what to drop from its end.
pub(super) fn read_for_append(
    file: &File,
    path: &Path,
    kind: FileKind,
    recovery: Recovery,
) -> StoreResult<Decoded<RunHeader, serde::de::IgnoredAny>> {
    let first = first_pass(file, path, kind, recovery, |_, _| Ok(()))?;
    Ok(Decoded {
        header: first.header,
        records: Vec::new(),
        truncated: first.truncated,
    })
}

/// What follows the valid prefix: nothing, a torn tail, or (with valid frames after the damage)
/// corruption, an error unless `recovery` keeps the prefix.
fn tail(
    file: &File,
    path: &Path,
    valid_end: u64,
    recovery: Recovery,
) -> StoreResult<Option<Truncated>> {
    let len = file.metadata().map_err(io_error("read", path))?.len();
    if valid_end >= len {
        return Ok(None);
    }
    // Damage is rare: read what follows it whole to look for valid frames after it.
    let mut rest = Vec::new();
    let mut reader = file;
    reader
        .seek(SeekFrom::Start(valid_end))
        .and_then(|_| reader.read_to_end(&mut rest))
        .map_err(io_error("read", path))?;
    let dropped_valid_records = framing::valid_frame_after(&rest, 0);
    if dropped_valid_records && recovery == Recovery::Strict {
        return Err(StoreError::Corrupt {
            path: path.to_owned(),
            offset: valid_end,
            reason: "a damaged record, and valid records follow".into(),
        });
    }
    Ok(Some(Truncated {
        offset: valid_end,
        bytes: len - valid_end,
        dropped_valid_records,
    }))
}
