//! The on-disk framing shared by the file stores.
//!
//! A file is `magic (8 bytes) | format version (u32 LE)` followed by frames
//! `payload length (u32 LE) | CRC-32 of the length (u32 LE) | CRC-32 of the payload (u32 LE) |
//! payload (JSON)`. The first frame is the run header.
//!
//! - A frame cut short by a crash (the process died mid-append: fewer bytes than its header or its
//!   length says) is a *torn tail*: it is reported and ignored, and dropped before the next append.
//! - The last frame whose payload fails its checksum is also a torn tail (a power loss can leave
//!   the tail's blocks allocated but unwritten).
//! - Any other checksum failure is corruption: an error naming the file and offset. The length has
//!   its own checksum, so a damaged length is never mistaken for a torn tail (which would silently
//!   drop the intact records after it).

use std::path::Path;

use super::error::StoreError;

pub(crate) const MAGIC_LEN: usize = 8;
pub(crate) const PREFIX_LEN: usize = MAGIC_LEN + 4;
const FRAME_HEADER_LEN: usize = 12;

/// The file prefix: magic bytes and format version.
pub(crate) fn prefix(magic: &[u8; MAGIC_LEN], version: u32) -> [u8; PREFIX_LEN] {
    let mut out = [0; PREFIX_LEN];
    out[..MAGIC_LEN].copy_from_slice(magic);
    out[MAGIC_LEN..].copy_from_slice(&version.to_le_bytes());
    out
}

/// Appends one frame holding `payload` to `out`.
pub(crate) fn frame(payload: &[u8], out: &mut Vec<u8>) -> Result<(), StoreError> {
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
    /// The length of the intact part: everything from here on is a torn tail.
    pub valid_len: u64,
    pub torn_at: Option<u64>,
}

/// Splits a whole file into frames, checking the prefix and every checksum.
pub(crate) fn scan<'a>(
    path: &Path,
    bytes: &'a [u8],
    magic: &[u8; MAGIC_LEN],
    version: u32,
    kind: &'static str,
) -> Result<Scanned<'a>, StoreError> {
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
    while let Some(header) = bytes.get(at..at + FRAME_HEADER_LEN) {
        let word =
            |i: usize| u32::from_le_bytes([header[i], header[i + 1], header[i + 2], header[i + 3]]);
        if crc32fast::hash(&header[..4]) != word(4) {
            return Err(corrupt(path, at, "record length checksum mismatch"));
        }
        let start = at + FRAME_HEADER_LEN;
        let Some(payload) = start
            .checked_add(word(0) as usize)
            .and_then(|end| bytes.get(start..end))
        else {
            break; // the last frame, cut short
        };
        let end = start + payload.len();
        if crc32fast::hash(payload) != word(8) {
            if end == bytes.len() {
                break; // the last frame, allocated but not fully written
            }
            return Err(corrupt(path, at, "record checksum mismatch"));
        }
        frames.push(Frame {
            offset: at as u64,
            payload,
        });
        at = end;
    }
    Ok(Scanned {
        frames,
        valid_len: at as u64,
        torn_at: (at < bytes.len()).then_some(at as u64),
    })
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

    fn payloads(bytes: &[u8]) -> Result<(Vec<String>, Option<u64>), StoreError> {
        let s = scan(Path::new("t"), bytes, MAGIC, 1, "test")?;
        let texts = s
            .frames
            .iter()
            .map(|f| String::from_utf8_lossy(f.payload).into_owned())
            .collect();
        Ok((texts, s.torn_at))
    }

    #[test]
    fn every_truncation_of_the_last_record_keeps_the_earlier_ones() -> Result<(), StoreError> {
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
    fn a_garbled_last_payload_is_a_torn_tail() -> Result<(), StoreError> {
        let mut bytes = file(&["one", "two"]);
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        assert_eq!(payloads(&bytes)?.0, ["one"]);
        Ok(())
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
