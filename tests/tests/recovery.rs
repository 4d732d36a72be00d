//! Point-in-time recovery of file stores: invalid bytes after the last valid record (what a crash
//! or power loss leaves) are a torn tail, dropped with a warning before the run resumes; damage
//! followed by valid records is an error, unless the user asks for recovery or repairs the run.

use std::fs;
use std::path::Path;

use pipeline::store::Recovery;
use pipeline::*;

/// x -> n0 -> n1 -> ... -> n4, each adding 1, with ~200-byte records.
fn chain() -> Graph<u64, u64> {
    let mut g = GraphBuilder::<u64>::new("chain");
    let mut last = g.input("x", |x: &u64| *x);
    for i in 0..5 {
        last = g
            .node(format!("n{i}"))
            .run(last, |v, _| async move { Ok::<_, std::io::Error>(v + 1) });
    }
    g.build(last).unwrap()
}

fn engine(dir: &Path, recovery: Recovery) -> PipelineEngine<Graph<u64, u64>> {
    PipelineEngine::new(chain())
        .checkpointer(FileCheckpointer::new(dir).recovery(recovery))
        .audit_log(FileAuditLog::new(dir).recovery(recovery))
}

/// Bytes done to a file.
type Damage = Box<dyn Fn(&mut Vec<u8>)>;

/// A completed run whose checkpoint and audit files are then damaged by `damage`.
async fn damaged(dir: &Path, damage: impl Fn(&mut Vec<u8>)) -> RunId {
    let done = engine(dir, Recovery::Strict).run(0).await.unwrap();
    for path in [
        FileCheckpointer::new(dir).path(&done.run_id),
        FileAuditLog::new(dir).path(&done.run_id),
    ] {
        let mut bytes = fs::read(&path).unwrap();
        damage(&mut bytes);
        fs::write(&path, &bytes).unwrap();
    }
    done.run_id
}

/// Finding: 12 or more zero bytes appended, the last record zeroed in place, or 64 bytes of
/// garbage appended made resume and `show` fail with `record length checksum mismatch`.
#[tokio::test]
async fn a_power_loss_tail_is_dropped_with_a_warning_and_the_run_resumes() {
    let last_record = |bytes: &[u8]| {
        // The last checkpoint record starts where the file without it would end.
        let tail = String::from_utf8_lossy(bytes)
            .rfind("{\"node\":\"n4\"")
            .unwrap();
        tail - 12
    };
    let damages: [(&str, Damage); 4] = [
        ("12 zero bytes", Box::new(|b| b.extend_from_slice(&[0; 12]))),
        (
            "4096 zero bytes",
            Box::new(|b| b.extend_from_slice(&[0; 4096])),
        ),
        (
            "64 garbage bytes",
            Box::new(|b| b.extend_from_slice(&[0xab; 64])),
        ),
        (
            "the last record zeroed",
            Box::new(move |b: &mut Vec<u8>| {
                let at = if String::from_utf8_lossy(b).contains("{\"node\":\"n4\"") {
                    last_record(b)
                } else {
                    b.len() - 40
                };
                b[at..].fill(0);
            }),
        ),
    ];
    for (what, damage) in damages {
        let dir = tempfile::tempdir().unwrap();
        let run_id = damaged(dir.path(), damage).await;
        let fresh = engine(dir.path(), Recovery::Strict);
        let loaded = fresh.load_checkpoint(&run_id).await;
        assert!(loaded.is_ok(), "{what}: load fails: {loaded:?}");
        let resumed = fresh.resume(&run_id).await;
        let resumed = resumed.unwrap_or_else(|e| panic!("{what}: resume fails: {e}"));
        assert_eq!(resumed.output, Some(5), "{what}");
        let warning = resumed
            .warnings
            .iter()
            .find(|w| w.message.contains("torn tail"))
            .unwrap_or_else(|| panic!("{what}: no warning: {:?}", resumed.warnings));
        assert!(
            warning.message.contains("bytes at offset"),
            "{what}: {warning}"
        );
        // The tail was truncated before appending: the file loads whole again.
        let path = FileCheckpointer::new(dir.path()).path(&run_id);
        let again = store::decode_checkpoint_file(&path, &fs::read(&path).unwrap()).unwrap();
        assert_eq!(again.completed().count(), 5, "{what}");
        let trail = fresh.audit_trail(&run_id).await.unwrap().unwrap();
        assert!(
            trail.len() >= 5,
            "{what}: the audit file has the same tail rule"
        );
    }
}

/// Damage followed by valid records: an error by default; `Recovery::PointInTime` keeps the
/// valid prefix and the nodes after it run again; `repair` does the same once, for good, after
/// copying the damaged file aside.
#[tokio::test]
async fn damage_before_valid_records_is_an_error_unless_recovered_or_repaired() {
    let flip_n2 = |b: &mut Vec<u8>| {
        let at = String::from_utf8_lossy(b).find("\"node\":\"n2\"").unwrap();
        b[at + 9] ^= 0x20; // inside n2's record; n3 and n4 follow intact
    };
    // The default refuses.
    let dir = tempfile::tempdir().unwrap();
    let run_id = damaged(dir.path(), flip_n2).await;
    let refused = engine(dir.path(), Recovery::Strict).resume(&run_id).await;
    assert!(
        matches!(
            refused,
            Err(PipelineError::Store {
                source: StoreError::Corrupt { .. },
                ..
            })
        ),
        "{refused:?}"
    );

    // Point-in-time recovery keeps n0 and n1.
    let recovered = engine(dir.path(), Recovery::PointInTime)
        .resume(&run_id)
        .await
        .unwrap();
    assert_eq!(recovered.output, Some(5));
    assert_eq!(recovered.restored, ["n0", "n1"]);
    assert!(
        recovered.warnings[0]
            .message
            .contains("point-in-time recovery"),
        "{:?}",
        recovered.warnings
    );

    // `repair` keeps the prefix for good and keeps a copy of the damaged file.
    let dir = tempfile::tempdir().unwrap();
    let run_id = damaged(dir.path(), flip_n2).await;
    let repair = FileCheckpointer::new(dir.path())
        .repair(&run_id)
        .unwrap()
        .expect("the file was damaged");
    assert_eq!(repair.kept_records, 2);
    assert!(repair.truncated.dropped_valid_records);
    assert!(repair.damaged_copy.exists());
    let damaged_copy = fs::read(&repair.damaged_copy).unwrap();
    assert_eq!(
        damaged_copy.len() as u64,
        repair.truncated.offset + repair.truncated.bytes
    );
    assert!(
        FileCheckpointer::new(dir.path())
            .repair(&run_id)
            .unwrap()
            .is_none()
    );
    FileAuditLog::new(dir.path()).repair(&run_id).unwrap();
    let resumed = engine(dir.path(), Recovery::Strict)
        .resume(&run_id)
        .await
        .unwrap();
    assert_eq!(resumed.output, Some(5));
    assert_eq!(resumed.executed, ["n2", "n3", "n4"]);
}
