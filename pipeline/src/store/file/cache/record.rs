//! The cache log's records, as frame payloads: a put is `P`, the key, a newline, then the entry
//! and its output as JSON; a removal is `R`, then the keys, one per line. A reader indexes a
//! log by its keys alone, without decoding a single output.

use crate::store::error::{StoreError, StoreResult};
use crate::store::framing;

/// One record of the log.
#[derive(Debug)]
pub(super) enum Record<'a> {
    /// An entry of a key: its JSON (`{"entry": …, "output": …}`).
    Put(&'a str, &'a [u8]),
    /// The removal of the entries of these keys.
    Remove(Vec<&'a str>),
}

/// Refuses what cannot be a key: a key is a digest of letters and digits.
pub(super) fn check_key(key: &str) -> StoreResult<()> {
    match !key.is_empty() && key.len() <= 128 && key.bytes().all(|b| b.is_ascii_alphanumeric()) {
        true => Ok(()),
        false => Err(StoreError::Encode(serde::ser::Error::custom(format_args!(
            "a cache key is a digest of letters and digits, not {key:?}"
        )))),
    }
}

/// `record`, framed.
pub(super) fn framed(record: &Record<'_>) -> StoreResult<Vec<u8>> {
    let mut payload = Vec::new();
    match record {
        Record::Put(key, json) => {
            check_key(key)?;
            payload.reserve(key.len() + json.len() + 2);
            payload.push(b'P');
            payload.extend_from_slice(key.as_bytes());
            payload.push(b'\n');
            payload.extend_from_slice(json);
        }
        Record::Remove(keys) => {
            payload.push(b'R');
            for (i, key) in keys.iter().enumerate() {
                check_key(key)?;
                if i > 0 {
                    payload.push(b'\n');
                }
                payload.extend_from_slice(key.as_bytes());
            }
        }
    }
    let mut out = Vec::with_capacity(framing::FRAME_HEADER_LEN + payload.len());
    framing::frame(&payload, &mut out)?;
    Ok(out)
}

/// The record a frame's payload holds; what is wrong with it otherwise.
pub(super) fn parse(payload: &[u8]) -> Result<Record<'_>, String> {
    let text = |bytes| std::str::from_utf8(bytes).map_err(|_| "a key that is not text".to_owned());
    match payload.split_first() {
        Some((b'P', rest)) => {
            let newline = rest
                .iter()
                .position(|&b| b == b'\n')
                .ok_or("a cache entry without its key's end")?;
            Ok(Record::Put(text(&rest[..newline])?, &rest[newline + 1..]))
        }
        Some((b'R', rest)) => rest
            .split(|&b| b == b'\n')
            .map(text)
            .collect::<Result<_, _>>()
            .map(Record::Remove),
        Some((kind, _)) => Err(format!(
            "a cache record of an unknown kind ({:?}): written by a newer version?",
            *kind as char
        )),
        None => Err("an empty cache record".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(framed: &[u8]) -> &[u8] {
        &framed[framing::FRAME_HEADER_LEN..]
    }

    #[test]
    fn records_read_back_as_written() {
        let put = framed(&Record::Put("abc123", br#"{"entry":1}"#)).unwrap();
        let Ok(Record::Put(key, json)) = parse(payload(&put)) else {
            panic!("a put");
        };
        assert_eq!((key, json), ("abc123", &br#"{"entry":1}"#[..]));
        let remove = framed(&Record::Remove(vec!["a1", "b2"])).unwrap();
        let Ok(Record::Remove(keys)) = parse(payload(&remove)) else {
            panic!("a removal");
        };
        assert_eq!(keys, ["a1", "b2"]);
    }

    #[test]
    fn a_key_that_is_not_a_digest_is_refused() {
        for key in ["", "a\nb", "../x", "a b"] {
            assert!(framed(&Record::Put(key, b"{}")).is_err(), "{key:?}");
        }
        assert!(parse(b"Xabc").unwrap_err().contains("unknown kind"));
        assert!(parse(b"Pabc").is_err());
    }
}
