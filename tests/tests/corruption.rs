//! Torn, corrupt, foreign and future files: decoding yields the state up to the last intact record
//! or an error naming the file and offset; never a panic, never a wrong record.

use std::path::{Path, PathBuf};

use pipeline::store::{decode_audit_file, decode_checkpoint_file};
use pipeline::{FileAuditLog, FileCheckpointer, GraphBuilder, PipelineEngine, StoreError};
use proptest::prelude::*;

/// The checkpoint and audit files of a completed 6-node run with ~1 KB outputs.
fn run_files() -> (Vec<u8>, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut g = GraphBuilder::<String>::new("text");
        let mut last = g.input("seed", |s: &String| s.clone());
        for i in 0..6 {
            last = g
                .node(format!("n{i}"))
                .run(last, move |s: String, _| async move {
                    Ok::<_, std::io::Error>(
                        format!("{s}{i}")
                            .repeat(2)
                            .chars()
                            .take(1_000)
                            .collect::<String>(),
                    )
                });
        }
        let engine = PipelineEngine::new(g.build(last).unwrap())
            .checkpointer(FileCheckpointer::new(dir.path()))
            .audit_log(FileAuditLog::new(dir.path()));
        let result = engine.run("seed-".into()).await.unwrap();
        let ckpt = FileCheckpointer::new(dir.path()).path(&result.run_id);
        let audit = FileAuditLog::new(dir.path()).path(&result.run_id);
        (std::fs::read(ckpt).unwrap(), std::fs::read(audit).unwrap())
    })
}

fn files() -> &'static (Vec<u8>, Vec<u8>) {
    static FILES: std::sync::OnceLock<(Vec<u8>, Vec<u8>)> = std::sync::OnceLock::new();
    FILES.get_or_init(run_files)
}

/// Decoded records as comparable text: the header, then one string per record.
type Decoded = Result<(String, Vec<String>), StoreError>;

fn checkpoint(bytes: &[u8]) -> Decoded {
    decode_checkpoint_file(Path::new("run.ckpt"), bytes).map(|c| {
        let records = c
            .nodes
            .iter()
            .map(|n| format!("{}={}", n.node, n.output.get()))
            .collect();
        (format!("{:?}", c.header.run_id), records)
    })
}

fn audit(bytes: &[u8]) -> Decoded {
    decode_audit_file(Path::new("run.audit"), bytes).map(|(header, entries)| {
        let records = entries
            .iter()
            .map(|e| {
                format!(
                    "{}#{}={:?}",
                    e.node,
                    e.attempt,
                    e.output.as_ref().map(|o| o.get())
                )
            })
            .collect();
        (format!("{:?}", header.run_id), records)
    })
}

/// Checks that `damaged` decodes to a prefix of `whole`'s records, or to an error naming the file.
fn prefix_or_error(
    decode: fn(&[u8]) -> Decoded,
    whole: &[u8],
    damaged: &[u8],
) -> Result<usize, String> {
    let (header, records) = decode(whole).map_err(|e| format!("the intact file fails: {e}"))?;
    match decode(damaged) {
        Ok((h, r)) if h == header && r.len() <= records.len() && records[..r.len()] == r[..] => {
            Ok(r.len())
        }
        Ok((_, r)) => Err(format!(
            "decoded {} records that are not a prefix of the original",
            r.len()
        )),
        Err(e) => {
            let text = e.to_string();
            match text.contains("run.ckpt") || text.contains("run.audit") {
                true => Ok(usize::MAX),
                false => Err(format!("the error does not name the file: {text}")),
            }
        }
    }
}

#[test]
fn every_truncation_keeps_every_record_before_the_cut() {
    for (name, decode, whole) in [
        ("checkpoint", checkpoint as fn(&[u8]) -> Decoded, &files().0),
        ("audit", audit as fn(&[u8]) -> Decoded, &files().1),
    ] {
        let records = decode(whole).unwrap().1.len();
        assert_eq!(records, 6, "{name}");
        let mut last_record_start = None;
        for cut in 0..whole.len() {
            let kept = prefix_or_error(decode, whole, &whole[..cut])
                .unwrap_or_else(|e| panic!("{name} cut at {cut}: {e}"));
            if kept == records - 1 && last_record_start.is_none() {
                last_record_start = Some(cut);
            }
        }
        // Within the last record, every cut keeps all the others.
        let start = last_record_start.unwrap();
        for cut in start..whole.len() {
            assert_eq!(
                decode(&whole[..cut]).unwrap().1.len(),
                records - 1,
                "{name} cut at {cut}"
            );
        }
    }
}

#[test]
fn empty_foreign_and_future_files_are_refused_with_the_file_named() {
    let (ckpt, _) = files();
    let empty = checkpoint(b"").unwrap_err();
    assert!(matches!(empty, StoreError::NotAStoreFile { .. }), "{empty}");
    assert!(empty.to_string().contains("run.ckpt"), "{empty}");

    let audit_as_checkpoint = checkpoint(&files().1).unwrap_err();
    assert!(
        audit_as_checkpoint
            .to_string()
            .contains("not a pipeline checkpoint file")
    );

    let mut future = ckpt.clone();
    future[8] = 2;
    let err = checkpoint(&future).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::UnsupportedVersion {
                found: 2,
                supported: 1,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("format version 2"), "{err}");
}

#[test]
fn garbage_appended_after_the_last_record_is_a_torn_tail() {
    let (ckpt, _) = files();
    let mut with_garbage = ckpt.clone();
    with_garbage.extend_from_slice(b"\x01\x02\x03"); // shorter than a frame header
    assert_eq!(checkpoint(&with_garbage).unwrap().1.len(), 6);
    with_garbage.extend_from_slice(&[0xab; 64]); // no valid record follows: still a torn tail
    assert_eq!(checkpoint(&with_garbage).unwrap().1.len(), 6);
}

#[test]
fn a_damaged_record_followed_by_valid_ones_is_an_error_at_its_offset() {
    let (ckpt, _) = files();
    let whole = checkpoint(ckpt).unwrap().1;
    // Damage the payload of the second-to-last record: the last one still follows intact.
    let mut damaged = ckpt.clone();
    let at = ckpt.len() - 1_100;
    damaged[at] ^= 0x55;
    match checkpoint(&damaged) {
        Err(StoreError::Corrupt { offset, .. }) => assert!(offset < at as u64),
        other => panic!(
            "expected corruption, got {:?}",
            other.map(|d| d.1.len() == whole.len())
        ),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, ..ProptestConfig::default() })]

    #[test]
    fn flipped_bytes_never_decode_to_a_wrong_record(at in any::<prop::sample::Index>(), mask in 1u8..) {
        for (decode, whole) in [(checkpoint as fn(&[u8]) -> Decoded, &files().0), (audit, &files().1)] {
            let mut damaged = whole.clone();
            damaged[at.index(whole.len())] ^= mask;
            prop_assert!(prefix_or_error(decode, whole, &damaged).is_ok(), "{:?}", prefix_or_error(decode, whole, &damaged));
        }
    }

    #[test]
    fn appended_garbage_never_decodes_to_a_wrong_record(garbage in prop::collection::vec(any::<u8>(), 1..200)) {
        for (decode, whole) in [(checkpoint as fn(&[u8]) -> Decoded, &files().0), (audit, &files().1)] {
            let mut damaged = whole.clone();
            damaged.extend_from_slice(&garbage);
            prop_assert!(prefix_or_error(decode, whole, &damaged).is_ok());
        }
    }
}

/// The fuzzer's corpus (`fuzz/corpus/decode_records`) replayed: every input decodes or fails
/// cleanly, without a panic.
#[test]
fn the_fuzz_corpus_decodes_without_panics() {
    let corpus = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/decode_records");
    let entries =
        std::fs::read_dir(&corpus).unwrap_or_else(|e| panic!("{}: {e}", corpus.display()));
    let mut inputs = 0;
    for entry in entries {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        let _ = checkpoint(&bytes);
        let _ = audit(&bytes);
        let mut framed = b"PIPECKPT\x01\x00\x00\x00".to_vec();
        framed.extend_from_slice(&bytes);
        let _ = checkpoint(&framed);
        inputs += 1;
    }
    assert!(inputs > 0, "the corpus is empty");
}
