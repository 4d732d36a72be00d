//! Reading a whole run file back: its header and records, up to the last intact one. The public
//! decoders here are what the corruption tests and the fuzz target call.

use std::path::Path;

use serde::de::DeserializeOwned;

use crate::store::Recovery;
use crate::store::error::{StoreError, StoreResult};
use crate::store::framing::{self, MAGIC_LEN};
use crate::store::records::{AuditEntry, Checkpoint, FORMAT_VERSION, RunHeader};
use crate::store::traits::Truncated;

/// What a run file holds: its extension, magic bytes and name in messages.
#[derive(Clone, Copy, Debug)]
pub(super) struct FileKind {
    pub extension: &'static str,
    pub magic: &'static [u8; MAGIC_LEN],
    pub name: &'static str,
}

pub(super) const CHECKPOINT: FileKind = FileKind {
    extension: "ckpt",
    magic: b"PIPECKPT",
    name: "checkpoint",
};

pub(super) const AUDIT: FileKind = FileKind {
    extension: "audit",
    magic: b"PIPEAUDT",
    name: "audit",
};

/// A whole run file, decoded.
pub(super) struct Decoded<H, R> {
    pub header: H,
    pub records: Vec<R>,
    /// The bytes dropped from its end, if any.
    pub truncated: Option<Truncated>,
}

/// Decodes a whole file into its header and records, dropping a torn tail (and, with
/// [`Recovery::PointInTime`], damage followed by valid records).
pub(super) fn decode_file<H: DeserializeOwned, R: DeserializeOwned>(
    path: &Path,
    bytes: &[u8],
    kind: FileKind,
    recovery: Recovery,
) -> StoreResult<Decoded<H, R>> {
    let scanned = framing::scan(path, bytes, kind.magic, FORMAT_VERSION, kind.name, recovery)?;
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
    let truncated = scanned.torn_at.map(|offset| Truncated {
        offset,
        bytes: bytes.len() as u64 - offset,
        dropped_valid_records: scanned.dropped_valid,
    });
    if let Some(t) = &truncated {
        tracing::warn!(file = %path.display(), offset = t.offset, bytes = t.bytes, "dropping a torn tail");
    }
    Ok(Decoded {
        header,
        records,
        truncated,
    })
}

fn decode_at<T: DeserializeOwned>(path: &Path, frame: &framing::Frame<'_>) -> StoreResult<T> {
    serde_json::from_slice(frame.payload).map_err(|e| StoreError::Corrupt {
        path: path.to_owned(),
        offset: frame.offset,
        reason: format!("undecodable record: {e}"),
    })
}

/// Decodes the bytes of a checkpoint file as [`FileCheckpointer`](super::FileCheckpointer)
/// writes it: the state up to the last intact record (invalid bytes after it, a torn tail, are
/// ignored), or an error naming `path` and the offset of damage followed by valid records. Never
/// panics, whatever the bytes.
pub fn decode_checkpoint_file(path: &Path, bytes: &[u8]) -> StoreResult<Checkpoint> {
    let decoded = decode_file(path, bytes, CHECKPOINT, Recovery::Strict)?;
    Ok(Checkpoint {
        header: decoded.header,
        nodes: decoded.records,
    })
}

/// Decodes the bytes of an audit file as [`FileAuditLog`](super::FileAuditLog) writes it, like
/// [`decode_checkpoint_file`].
pub fn decode_audit_file(path: &Path, bytes: &[u8]) -> StoreResult<(RunHeader, Vec<AuditEntry>)> {
    let decoded = decode_file(path, bytes, AUDIT, Recovery::Strict)?;
    Ok((decoded.header, decoded.records))
}
