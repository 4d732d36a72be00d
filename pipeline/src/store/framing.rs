//! The on-disk framing shared by the file stores.
//!
//! A file is `magic (8 bytes) | format version (u32 LE)` followed by frames
//! `payload length (u32 LE) | CRC-32 of the length (u32 LE) | CRC-32 of the payload (u32 LE) |
//! payload (JSON)`. The first frame is the run header.
//!
//! - Invalid bytes after the last valid frame are a *torn tail*, whatever they are: a frame cut
//!   short by a crash, zeros or garbage a power loss left in allocated blocks, a last record
//!   zeroed in place. The valid prefix is kept; the tail is reported and dropped before the next
//!   append (point-in-time recovery, as RocksDB and SQLite's WAL do).
//! - A bad frame followed by a valid one is corruption: an error naming the file and offset,
//!   unless the caller asks for [`Recovery::PointInTime`], which keeps the valid prefix. The length
//!   has its own checksum, so a damaged length is never mistaken for a torn tail by accident.

use std::path::Path;

use super::Recovery;
use super::error::{StoreError, StoreResult};

pub(crate) const MAGIC_LEN: usize = 8;
pub(crate) const PREFIX_LEN: usize = MAGIC_LEN + 4;
pub(crate) const FRAME_HEADER_LEN: usize = 12;

/// The file prefix: magic bytes and format version.
pub(crate) fn prefix(magic: &[u8; MAGIC_LEN], version: u32) -> [u8; PREFIX_LEN] {
    let mut out = [0; PREFIX_LEN];
    out[..MAGIC_LEN].copy_from_slice(magic);
    out[MAGIC_LEN..].copy_from_slice(&version.to_le_bytes());
    out
}

/// Appends one frame holding `payload` to `out`.
pub(crate) fn frame(payload: &[u8], out: &mut Vec<u8>) -> StoreResult<()> {
    let len = u32::try_from(payload.len()).map_err(|_| {
        StoreError::Encode(serde::ser::Error::custom(format_args!(
            "record of {} bytes exceeds the 4 GiB frame limit",
            payload.len()
        )))
    })?;
    out.reserve(FRAME_HEADER_LEN + payload.len());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&len.to_le_bytes()).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    out.extend_from_slice(payload);
    Ok(())
}

/// One intact frame.
pub(crate) struct Frame<'a> {
    pub offset: u64,
    pub payload: &'a [u8],
}

/// The intact frames of a file, and where its torn tail (if any) starts.
pub(crate) struct Scanned<'a> {
    pub frames: Vec<Frame<'a>>,
    /// Where the intact part ends, when bytes follow it: everything from there on is dropped.
    pub torn_at: Option<u64>,
    /// Whether valid frames were dropped after the damage (only with [`Recovery::PointInTime`]).
    pub dropped_valid: bool,
}

/// Where the whole, valid frame that starts at `at` ends; `None` when none starts there.
pub(crate) fn frame_at(bytes: &[u8], at: usize) -> Option<usize> {
    let header = bytes.get(at..at + FRAME_HEADER_LEN)?;
    let word =
        |i: usize| u32::from_le_bytes([header[i], header[i + 1], header[i + 2], header[i + 3]]);
    if crc32fast::hash(&header[..4]) != word(4) {
        return None;
    }
    let start = at + FRAME_HEADER_LEN;
    let payload = bytes.get(start..start.checked_add(word(0) as usize)?)?;
    (crc32fast::hash(payload) == word(8)).then_some(start + payload.len())
}

/// Whether any valid frame starts after `at`: if none does, the bytes from `at` are a torn tail.
pub(crate) fn valid_frame_after(bytes: &[u8], at: usize) -> bool {
    next_frame_after(bytes, at).is_some()
}

/// Where the first valid frame after `at` starts, if one does.
pub(crate) fn next_frame_after(bytes: &[u8], at: usize) -> Option<usize> {
    (at + 1..bytes.len().saturating_sub(FRAME_HEADER_LEN - 1))
        .find(|&i| frame_at(bytes, i).is_some())
}

/// Splits a whole file into frames, checking the prefix and every checksum.
pub(crate) fn scan<'a>(
    path: &Path,
    bytes: &'a [u8],
    magic: &[u8; MAGIC_LEN],
    version: u32,
    kind: &'static str,
    recovery: Recovery,
) -> StoreResult<Scanned<'a>> {
    if bytes.len() < PREFIX_LEN || bytes[..MAGIC_LEN] != magic[..] {
        return Err(StoreError::NotAStoreFile {
            path: path.to_owned(),
            kind,
        });
    }
    let mut found = [0; 4];
    found.copy_from_slice(&bytes[MAGIC_LEN..PREFIX_LEN]);
    let found = u32::from_le_bytes(found);
    if found != version {
        return Err(StoreError::UnsupportedVersion {
            path: path.to_owned(),
            found,
            supported: version,
        });
    }
    let mut frames = Vec::new();
    let mut at = PREFIX_LEN;
    while at < bytes.len() {
        let Some(end) = frame_at(bytes, at) else {
            break;
        };
        frames.push(Frame {
            offset: at as u64,
            payload: &bytes[at + FRAME_HEADER_LEN..end],
        });
        at = end;
    }
    let mut dropped_valid = false;
    if at < bytes.len() && valid_frame_after(bytes, at) {
        match recovery {
            Recovery::Strict => return Err(corrupt(path, at, damage(bytes, at))),
            Recovery::PointInTime => dropped_valid = true,
        }
    }
    Ok(Scanned {
        frames,
        torn_at: (at < bytes.len()).then_some(at as u64),
        dropped_valid,
    })
}

/// What is wrong with the frame at `at`.
fn damage(bytes: &[u8], at: usize) -> &'static str {
    match bytes.get(at..at + 8) {
        Some(h) if crc32fast::hash(&h[..4]).to_le_bytes() != h[4..8] => {
            "record length checksum mismatch, and valid records follow"
        }
        _ => "record checksum mismatch, and valid records follow",
    }
}

fn corrupt(path: &Path, offset: usize, reason: &str) -> StoreError {
    StoreError::Corrupt {
        path: path.to_owned(),
        offset: offset as u64,
        reason: reason.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAGIC: &[u8; 8] = b"TESTLOG1";

    fn file(records: &[&str]) -> Vec<u8> {
        let mut out = prefix(MAGIC, 1).to_vec();
        for r in records {
            assert!(frame(r.as_bytes(), &mut out).is_ok());
        }
        out
    }

    fn payloads(bytes: &[u8]) -> StoreResult<(Vec<String>, Option<u64>)> {
        let s = scan(Path::new("t"), bytes, MAGIC, 1, "test", Recovery::Strict)?;
        let texts = s
            .frames
            .iter()
            .map(|f| String::from_utf8_lossy(f.payload).into_owned())
            .collect();
        Ok((texts, s.torn_at))
    }

    #[test]
    fn every_truncation_of_the_last_record_keeps_the_earlier_ones() -> StoreResult<()> {
        let whole = file(&["one", "two", "three"]);
        let two = file(&["one", "two"]).len();
        for cut in two..whole.len() {
            let (texts, torn) = payloads(&whole[..cut])?;
            assert_eq!(texts, ["one", "two"], "cut at {cut}");
            assert_eq!(torn, (cut > two).then_some(two as u64));
        }
        assert_eq!(payloads(&whole)?.0, ["one", "two", "three"]);
        Ok(())
    }

    #[test]
    fn a_flipped_byte_before_the_tail_is_an_error_with_its_offset() {
        let mut bytes = file(&["one", "two"]);
        bytes[PREFIX_LEN + FRAME_HEADER_LEN] ^= 0x01;
        match payloads(&bytes) {
            Err(StoreError::Corrupt { offset, .. }) => assert_eq!(offset, PREFIX_LEN as u64),
            other => panic!("expected corruption, got {:?}", other.map(|p| p.0)),
        }
    }

    #[test]
    fn a_damaged_length_is_corruption_not_a_torn_tail() {
        let mut bytes = file(&["one", "two", "three"]);
        bytes[PREFIX_LEN] = 0xff; // the first record's length now runs past the end
        assert!(matches!(
            payloads(&bytes),
            Err(StoreError::Corrupt { offset, .. }) if offset == PREFIX_LEN as u64
        ));
    }

    #[test]
    fn a_garbled_last_payload_is_a_torn_tail() -> StoreResult<()> {
        let mut bytes = file(&["one", "two"]);
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        assert_eq!(payloads(&bytes)?.0, ["one"]);
        Ok(())
    }

    #[test]
    fn zeros_garbage_and_a_zeroed_last_record_are_a_torn_tail() -> StoreResult<()> {
        let two = file(&["one", "two"]);
        for tail in [vec![0u8; 12], vec![0u8; 4096], vec![0xab; 64]] {
            let mut bytes = two.clone();
            bytes.extend_from_slice(&tail);
            assert_eq!(
                payloads(&bytes)?,
                (vec!["one".into(), "two".into()], Some(two.len() as u64))
            );
        }
        let one = file(&["one"]).len();
        let mut zeroed = two.clone();
        zeroed[one..].fill(0);
        assert_eq!(payloads(&zeroed)?.0, ["one"]);
        Ok(())
    }

    #[test]
    fn point_in_time_recovery_keeps_the_prefix_before_damage() {
        let mut bytes = file(&["one", "two", "three"]);
        let one = file(&["one"]).len();
        bytes[one + FRAME_HEADER_LEN] ^= 0x01; // "two" damaged, "three" intact after it
        assert!(payloads(&bytes).is_err());
        let scanned = scan(
            Path::new("t"),
            &bytes,
            MAGIC,
            1,
            "test",
            Recovery::PointInTime,
        );
        let scanned = scanned
            .ok()
            .filter(|s| s.dropped_valid && s.torn_at == Some(one as u64));
        assert!(scanned.is_some_and(|s| s.frames.len() == 1));
    }

    #[test]
    fn wrong_magic_and_future_versions_are_refused() {
        assert!(matches!(
            payloads(b""),
            Err(StoreError::NotAStoreFile { .. })
        ));
        assert!(matches!(
            payloads(b"NOTALOG!\x01\0\0\0"),
            Err(StoreError::NotAStoreFile { .. })
        ));
        let future = prefix(MAGIC, 2);
        assert!(matches!(
            payloads(&future),
            Err(StoreError::UnsupportedVersion { found: 2, .. })
        ));
    }
}
