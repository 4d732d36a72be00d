//! The cache log against a model: random puts, removals and compactions, by two handles on one
//! directory (two processes' worth of state), read back exactly; and what a crash or an earlier
//! format leaves behind.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;

use proptest::prelude::*;

use super::CacheLog;
use super::log::{Found, LOG, Read, read_frame};
use super::record::{Record, framed};
use crate::run_id::RunId;
use crate::store::cache::CacheEntry;

fn key(i: u8) -> String {
    format!("k{i:02}")
}

fn put(log: &CacheLog, key: &str, value: &str) -> bool {
    let bytes = framed(&Record::Put(key, value.as_bytes())).unwrap();
    log.put(key, bytes, false).unwrap().unwrap()
}

/// `key`'s value as the log holds it: read from its frame, or from what this handle decoded
/// before (both ways are checked to agree).
fn get(log: &CacheLog, key: &str) -> Option<String> {
    let found = match log.locate(key, None, false).unwrap() {
        Read::Done(Found::At(file, slot, _)) => Some(read_frame(&file, log.path(), slot).unwrap()),
        Read::Done(Found::Absent) => None,
        Read::Done(Found::Kept(_)) => panic!("a kept entry where none was asked for"),
        Read::Heavy => panic!("a read without a budget is done"),
    };
    let framed = found.map(|payload| match super::record::parse(&payload).unwrap() {
        Record::Put(k, json) => {
            assert_eq!(k, key);
            String::from_utf8(json.to_vec()).unwrap()
        }
        Record::Remove(_) => panic!("a removal indexed as an entry"),
    });
    let decode = |framed: &super::log::Framed| {
        let Ok(Record::Put(_, json)) = super::record::parse(&framed.1) else {
            panic!("an entry's frame");
        };
        let output = serde_json::from_slice::<Box<serde_json::value::RawValue>>(json).unwrap();
        let entry = CacheEntry::new(key, "t::f", RunId::new("r1").unwrap());
        Ok((entry, Arc::from(output)))
    };
    let Read::Done(decoded) = log.get(key, None, decode).unwrap() else {
        panic!("a read without a budget is done");
    };
    assert_eq!(decoded.map(|d| d.1.get().to_owned()), framed, "{key}");
    framed
}

#[derive(Clone, Debug)]
enum Op {
    Put(u8, u8, u16),
    Remove(u8, Vec<u8>),
    Compact(u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..2u8, 0..12u8, any::<u16>()).prop_map(|(h, k, v)| Op::Put(h, k, v)),
        2 => (0..2u8, proptest::collection::vec(0..12u8, 1..4)).prop_map(|(h, k)| Op::Remove(h, k)),
        1 => (0..2u8).prop_map(Op::Compact),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Whatever the two handles do, each reads what the model holds: the first put of a key
    /// wins until it is removed, and a compaction by one is seen by the other.
    #[test]
    fn two_handles_read_what_the_model_holds(ops in proptest::collection::vec(op(), 1..40)) {
        let dir = tempfile::tempdir().unwrap();
        let handles = [
            CacheLog::new(dir.path().join("cache"), false),
            CacheLog::new(dir.path().join("cache"), false),
        ];
        let mut model: BTreeMap<String, String> = BTreeMap::new();
        for op in ops {
            match op {
                Op::Put(h, k, v) => {
                    let (key, value) = (key(k), format!("{{\"v\":{v}}}"));
                    let fresh = !model.contains_key(&key);
                    prop_assert_eq!(put(&handles[h as usize], &key, &value), fresh);
                    model.entry(key).or_insert(value);
                }
                Op::Remove(h, keys) => {
                    let keys: Vec<String> = keys.into_iter().map(key).collect();
                    let there = keys.iter().filter(|k| model.remove(*k).is_some()).count();
                    prop_assert_eq!(handles[h as usize].remove(&keys).unwrap(), there as u64);
                }
                Op::Compact(h) => handles[h as usize].compact().unwrap(),
            }
            for handle in &handles {
                for k in 0..12 {
                    prop_assert_eq!(get(handle, &key(k)), model.get(&key(k)).cloned());
                }
            }
        }
    }
}

#[test]
fn a_record_cut_short_is_not_read_and_the_next_writer_drops_it() {
    let dir = tempfile::tempdir().unwrap();
    let log = CacheLog::new(dir.path().join("cache"), true);
    assert!(put(&log, "a1", "1"));
    // A writer that died halfway through its record.
    let cut = framed(&Record::Put("b2", b"22222222")).unwrap();
    let path = dir.path().join("cache").join(LOG);
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    file.write_all(&cut[..cut.len() - 3]).unwrap();
    let other = CacheLog::new(dir.path().join("cache"), true);
    assert_eq!(get(&other, "b2"), None);
    assert_eq!(get(&other, "a1").as_deref(), Some("1"));
    assert!(put(&other, "b2", "2"), "the cut record never counted");
    for handle in [&log, &other] {
        assert_eq!(get(handle, "b2").as_deref(), Some("2"));
    }
    let len = std::fs::metadata(&path).unwrap().len();
    let whole = super::log::MAGIC.len() as u64
        + 4
        + [("a1", "1"), ("b2", "2")]
            .iter()
            .map(|(k, v)| framed(&Record::Put(k, v.as_bytes())).unwrap().len() as u64)
            .sum::<u64>();
    assert_eq!(len, whole, "the cut bytes were dropped, not written over");
}

#[test]
fn a_compaction_keeps_live_entries_only_and_removes_the_first_format_s_files() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let log = Arc::new(CacheLog::new(cache.clone(), false));
    for i in 0..20 {
        assert!(put(&log, &key(i), &format!("\"{}\"", "x".repeat(1_000))));
    }
    std::fs::write(
        cache.join("0123abcd.entry"),
        b"an entry of the first format",
    )
    .unwrap();
    std::fs::write(cache.join(".0123abcd.entry.77.0.tmp"), b"its temporary").unwrap();
    let before = std::fs::metadata(cache.join(LOG)).unwrap().len();
    let gone: Vec<String> = (0..15).map(key).collect();
    assert_eq!(log.remove(&gone).unwrap(), 15);
    let after = std::fs::metadata(cache.join(LOG)).unwrap().len();
    assert!(after * 3 < before, "{after} of {before} bytes: compacted");
    assert!(!cache.join("0123abcd.entry").exists());
    assert!(!cache.join(".0123abcd.entry.77.0.tmp").exists());
    for i in 0..20 {
        assert_eq!(get(&log, &key(i)).is_some(), i >= 15, "{}", key(i));
    }
}

#[test]
fn a_cache_removed_from_disk_is_gone_for_a_process_that_had_read_it() {
    let dir = tempfile::tempdir().unwrap();
    let (writer, reader) = (
        CacheLog::new(dir.path().join("cache"), false),
        CacheLog::new(dir.path().join("cache"), false),
    );
    assert!(put(&writer, "a1", "1"));
    assert_eq!(
        get(&reader, "a1").as_deref(),
        Some("1"),
        "read, and decoded"
    );
    std::fs::remove_dir_all(dir.path().join("cache")).unwrap();
    assert_eq!(get(&reader, "a1"), None);
    assert!(put(&writer, "a1", "2"), "a new log");
    assert_eq!(get(&reader, "a1").as_deref(), Some("2"));
}
