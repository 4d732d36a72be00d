//! Store directories other users can write to: links planted at a store's file names never make
//! a store write elsewhere, and a directory writable by others is refused by name (as ssh's
//! `StrictModes` does).
#![cfg(unix)]

use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;

use pipeline::store::{FORMAT_VERSION, SqliteCheckpointer, Stores};
use pipeline::*;

fn graph() -> Graph<u64, u64> {
    let mut g = GraphBuilder::<u64>::new("hostile");
    let x = g.input("x", |x: &u64| *x);
    let a = g
        .node("a")
        .run(x, |x, _| async move { Ok::<_, std::io::Error>(x + 1) });
    g.build(a).unwrap()
}

fn victim(dir: &Path) -> std::path::PathBuf {
    let victim = dir.join("victim.txt");
    std::fs::write(&victim, "precious").unwrap();
    victim
}

fn untouched(victim: &Path) {
    assert_eq!(std::fs::read_to_string(victim).unwrap(), "precious");
}

/// Finding: a symlink planted at the (predictable) temp name made the engine write the header
/// and every record into another file. Links at every name a file store uses are refused or
/// replaced, never followed.
#[tokio::test]
async fn links_planted_at_a_file_stores_names_are_never_followed() {
    let outside = tempfile::tempdir().unwrap();
    let victim = victim(outside.path());
    let store = tempfile::tempdir().unwrap();
    let dir = store.path();
    let pid = std::process::id();
    for name in [
        format!(".r1.ckpt.{pid}.tmp"),
        format!(".r1.ckpt.{pid}.0.tmp"),
        format!(".r1.summary.{pid}.tmp"),
        "r1.ckpt.epoch".to_owned(),
        "r1.summary".to_owned(),
        "r2.ckpt".to_owned(),
    ] {
        symlink(&victim, dir.join(name)).unwrap();
    }
    let engine = PipelineEngine::new(graph())
        .checkpointer(FileCheckpointer::new(dir))
        .audit_log(FileAuditLog::new(dir));
    let run = engine.run(1).id(RunId::new("r1").unwrap()).await.unwrap();
    assert_eq!(run.output, Some(2));
    assert!(run.warnings.is_empty(), "{:?}", run.warnings);
    // A link at a run's own file name: creating it is refused, resuming it is an error.
    let taken = engine.run(1).id(RunId::new("r2").unwrap()).await;
    assert!(
        matches!(taken, Err(PipelineError::RunExists(_))),
        "{taken:?}"
    );
    let resumed = engine.resume(&RunId::new("r2").unwrap()).await;
    assert!(resumed.is_err(), "{resumed:?}");
    untouched(&victim);
}

/// Finding: the SQLite lock files were opened with `File::create`, following a planted link.
#[tokio::test]
async fn a_link_planted_at_a_sqlite_lock_file_is_never_followed() {
    let outside = tempfile::tempdir().unwrap();
    let victim = victim(outside.path());
    let store = tempfile::tempdir().unwrap();
    let db = store.path().join("runs.db");
    let checkpointer = SqliteCheckpointer::open(&db).unwrap();
    let locks = store.path().join("runs.db.locks");
    std::fs::create_dir_all(&locks).unwrap();
    symlink(&victim, locks.join("checkpoint-r1.lock")).unwrap();
    let engine = PipelineEngine::new(graph()).checkpointer(checkpointer);
    let run = engine.run(1).id(RunId::new("r1").unwrap()).await;
    // The lock cannot be taken through the link: the checkpointer is disabled with a warning.
    let run = run.unwrap();
    assert_eq!(run.output, Some(2));
    assert_eq!(run.warnings.len(), 1, "{:?}", run.warnings);
    untouched(&victim);
    let mode = std::fs::metadata(&db).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the database is owner-only");
}

/// A store directory other users can write to is refused with an error naming it and the fix;
/// a sticky one owned by this user is accepted.
#[tokio::test]
async fn a_store_directory_writable_by_others_is_refused_by_name() {
    let parent = tempfile::tempdir().unwrap();
    let open = parent.path().join("open");
    std::fs::create_dir(&open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
    let refused = FileCheckpointer::new(&open)
        .create_run(&header(&graph()))
        .await
        .unwrap_err();
    let message = refused.to_string();
    assert!(
        matches!(refused, StoreError::InsecureDirectory { mode: 0o777, .. })
            && message.contains(&open.display().to_string())
            && message.contains("chmod 700"),
        "{message}"
    );
    let refused = Stores::open(format!("sqlite://{}", open.join("runs.db").display()));
    assert!(matches!(refused, Err(StoreError::InsecureDirectory { .. })));

    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let accepted = FileCheckpointer::new(&open)
        .create_run(&header(&graph()))
        .await;
    assert!(accepted.is_ok(), "{accepted:?}");
}

fn header(graph: &Graph<u64, u64>) -> RunHeader {
    RunHeader {
        format_version: FORMAT_VERSION,
        run_id: RunId::new("dir-check").unwrap(),
        pipeline: graph.name().into(),
        fingerprint: graph.fingerprint().into(),
        graph: graph.signature().clone().into(),
        inputs: serde_json::value::to_raw_value(&1u64).unwrap().into(),
        started_at_ms: 1,
        trace: None,
    }
}
