//! One suite of store behaviour, run against every backend: in memory, files, and SQLite.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use pipeline::store::*;
use pipeline::*;

/// A backend under test: `open` gives fresh handles on the same storage, as a new process would.
trait Backend {
    fn open(&self) -> (Arc<dyn Checkpointer>, Arc<dyn AuditLog>);
}

struct Memory(InMemoryCheckpointer, InMemoryAuditLog);

impl Backend for Memory {
    fn open(&self) -> (Arc<dyn Checkpointer>, Arc<dyn AuditLog>) {
        (Arc::new(self.0.clone()), Arc::new(self.1.clone()))
    }
}

struct Files(tempfile::TempDir);

impl Backend for Files {
    fn open(&self) -> (Arc<dyn Checkpointer>, Arc<dyn AuditLog>) {
        let dir = self.0.path();
        (
            Arc::new(FileCheckpointer::new(dir)),
            Arc::new(FileAuditLog::new(dir)),
        )
    }
}

struct Sqlite(tempfile::TempDir);

impl Backend for Sqlite {
    fn open(&self) -> (Arc<dyn Checkpointer>, Arc<dyn AuditLog>) {
        let store =
            SqliteCheckpointer::open(self.0.path().join("runs.db")).expect("the database opens");
        let audit = store.audit_log();
        (Arc::new(store), Arc::new(audit))
    }
}

fn memory() -> Memory {
    Memory(InMemoryCheckpointer::new(), InMemoryAuditLog::new())
}
fn files() -> Files {
    Files(tempfile::tempdir().unwrap())
}
fn sqlite() -> Sqlite {
    Sqlite(tempfile::tempdir().unwrap())
}

/// x -> a -> b -> c; `b` fails while `down` is set.
fn graph(down: Arc<AtomicBool>) -> Graph<u64, u64> {
    let mut g = GraphBuilder::<u64>::new("backend_suite");
    let x = g.input("x", |x: &u64| *x);
    let a = g
        .node("a")
        .run(x, |x, _| async move { Ok::<_, std::io::Error>(x + 1) });
    let b = g.node("b").run(a, move |a, _| {
        let down = down.load(Ordering::SeqCst);
        async move {
            match down {
                true => Err(std::io::Error::other("b is down")),
                false => Ok(a * 10),
            }
        }
    });
    let c = g
        .node("c")
        .run(b, |b, _| async move { Ok::<_, std::io::Error>(b + 3) });
    g.build(c).unwrap()
}

fn engine(backend: &dyn Backend, down: Arc<AtomicBool>) -> PipelineEngine<Graph<u64, u64>> {
    let (checkpointer, audit) = backend.open();
    PipelineEngine::new(graph(down))
        .checkpointer(checkpointer)
        .audit_log(audit)
}

fn header(run_id: &str) -> RunHeader {
    let graph = graph(Arc::default());
    RunHeader {
        format_version: FORMAT_VERSION,
        run_id: RunId::new(run_id).unwrap(),
        pipeline: graph.name().into(),
        fingerprint: graph.fingerprint().into(),
        graph: graph.signature().clone(),
        inputs: serde_json::value::to_raw_value(&1u64).unwrap().into(),
        started_at_ms: 1,
    }
}

fn record(node: &str, output: u64) -> NodeRecord {
    NodeRecord {
        node: node.into(),
        attempt: 1,
        started_at_ms: 1,
        finished_at_ms: 2,
        duration_us: 3,
        output: serde_json::value::to_raw_value(&output).unwrap().into(),
    }
}

async fn records_round_trip_in_order(backend: &dyn Backend) {
    let (store, _) = backend.open();
    let h = header("round-trip");
    store.create_run(&h).await.unwrap();
    for (i, node) in ["a", "b", "c"].iter().enumerate() {
        store
            .save(&h.run_id, &record(node, i as u64))
            .await
            .unwrap();
    }
    store.release_run(&h.run_id);
    let (reopened, _) = backend.open();
    let loaded = reopened.load(&h.run_id).await.unwrap().unwrap();
    assert_eq!(loaded.header.fingerprint, h.fingerprint);
    assert_eq!(loaded.completed().collect::<Vec<_>>(), ["a", "b", "c"]);
    assert_eq!(loaded.node("b").unwrap().output.get(), "1");
    assert!(
        reopened
            .load(&RunId::new("absent").unwrap())
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        reopened
            .resume_run(&RunId::new("absent").unwrap())
            .await
            .unwrap()
            .is_none()
    );
}

async fn a_taken_id_is_refused(backend: &dyn Backend) {
    let (store, audit) = backend.open();
    let h = header("taken");
    store.create_run(&h).await.unwrap();
    audit.create_run(&h).await.unwrap();
    store.release_run(&h.run_id);
    audit.release_run(&h.run_id);
    let (store, audit) = backend.open();
    assert!(matches!(
        store.create_run(&h).await,
        Err(StoreError::RunExists(_))
    ));
    assert!(matches!(
        audit.create_run(&h).await,
        Err(StoreError::RunExists(_))
    ));
}

async fn one_writer_per_run(backend: &dyn Backend) {
    let (first, _) = backend.open();
    let (second, _) = backend.open();
    let h = header("locked");
    first.create_run(&h).await.unwrap();
    assert!(matches!(
        second.resume_run(&h.run_id).await,
        Err(StoreError::Locked(_))
    ));
    first.release_run(&h.run_id);
    assert!(second.resume_run(&h.run_id).await.unwrap().is_some());
    second.release_run(&h.run_id);
}

async fn audit_entries_round_trip(backend: &dyn Backend) {
    let (store, audit) = backend.open();
    let engine = PipelineEngine::new(graph(Arc::new(AtomicBool::new(true))))
        .checkpointer(store)
        .audit_log(audit);
    let failed = engine.run(1).await.unwrap();
    let (_, reopened) = backend.open();
    let trail = reopened.entries(&failed.run_id).await.unwrap().unwrap();
    let summary: Vec<(String, AuditStatus)> =
        trail.iter().map(|e| (e.node.clone(), e.status)).collect();
    assert_eq!(
        summary,
        [
            ("a".into(), AuditStatus::Completed),
            ("b".into(), AuditStatus::Failed)
        ]
    );
    assert_eq!(trail[1].error.as_deref(), Some("b is down"));
    assert_eq!(trail[1].inputs["a"].get(), "2");
    assert!(
        reopened
            .entries(&RunId::new("absent").unwrap())
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(reopened.list_runs().await.unwrap(), [failed.run_id]);
}

async fn a_failed_run_resumes_from_a_reopened_store(backend: &dyn Backend) {
    let down = Arc::new(AtomicBool::new(true));
    let failed = engine(backend, down.clone()).run(1).await.unwrap();
    assert_eq!(failed.status, RunStatus::Failed);
    down.store(false, Ordering::SeqCst);
    let resumed = engine(backend, down).resume(&failed.run_id).await.unwrap();
    assert_eq!(resumed.status, RunStatus::Completed);
    assert_eq!(resumed.output, Some(23));
    assert_eq!(resumed.restored, ["a"]);
    assert_eq!(resumed.executed, ["b", "c"]);
    let (store, audit) = backend.open();
    assert_eq!(
        store.list_runs().await.unwrap(),
        std::slice::from_ref(&failed.run_id)
    );
    let trail = audit.entries(&failed.run_id).await.unwrap().unwrap();
    assert_eq!(trail.len(), 4, "a, b failed, b, c");
}

async fn summaries_say_how_each_run_stands(backend: &dyn Backend) {
    let down = Arc::new(AtomicBool::new(true));
    let failed = engine(backend, down.clone()).run(1).await.unwrap();
    let (_, audit) = backend.open();
    let summary = audit.summary(&failed.run_id).await.unwrap().unwrap();
    assert_eq!(summary.status, Some(RunStatus::Failed));
    assert_eq!(summary.pipeline, "backend_suite");
    assert_eq!(summary.nodes, failed.nodes);
    assert_eq!(
        (
            summary.count(NodeStatus::Completed),
            summary.count(NodeStatus::Failed)
        ),
        (1, 1)
    );
    down.store(false, Ordering::SeqCst);
    engine(backend, down).resume(&failed.run_id).await.unwrap();
    let summary = audit.summary(&failed.run_id).await.unwrap().unwrap();
    assert_eq!(summary.status, Some(RunStatus::Completed));
    assert_eq!(summary.count(NodeStatus::Completed), 3);
    assert!(summary.updated_at_ms >= summary.started_at_ms);
    assert!(
        audit
            .summary(&RunId::new("absent").unwrap())
            .await
            .unwrap()
            .is_none()
    );
}

macro_rules! suite {
    ($($backend:ident),*) => {
        $(
            mod $backend {
                #[tokio::test]
                async fn records_round_trip_in_order() {
                    super::records_round_trip_in_order(&super::$backend()).await;
                }
                #[tokio::test]
                async fn a_taken_id_is_refused() {
                    super::a_taken_id_is_refused(&super::$backend()).await;
                }
                #[tokio::test]
                async fn one_writer_per_run() {
                    super::one_writer_per_run(&super::$backend()).await;
                }
                #[tokio::test]
                async fn audit_entries_round_trip() {
                    super::audit_entries_round_trip(&super::$backend()).await;
                }
                #[tokio::test]
                async fn summaries_say_how_each_run_stands() {
                    super::summaries_say_how_each_run_stands(&super::$backend()).await;
                }
                #[tokio::test]
                async fn a_failed_run_resumes_from_a_reopened_store() {
                    super::a_failed_run_resumes_from_a_reopened_store(&super::$backend()).await;
                }
            }
        )*
    };
}

suite!(memory, files, sqlite);

/// SQLite keeps its own pages intact across crashes (WAL); what it cannot catch is a record that
/// decodes to garbage: that is an error naming the database and the row, never a wrong record.
#[tokio::test]
async fn a_garbled_sqlite_record_is_an_error_naming_the_database_and_row() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("runs.db");
    let store = SqliteCheckpointer::open(&path).unwrap();
    let h = header("garbled");
    store.create_run(&h).await.unwrap();
    store.save(&h.run_id, &record("a", 1)).await.unwrap();
    store.save(&h.run_id, &record("b", 2)).await.unwrap();
    store.release_run(&h.run_id);
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute(
            "UPDATE node_records SET record = '{\"node\": 7' WHERE seq = 2",
            [],
        )
        .unwrap();
    let err = SqliteCheckpointer::open(&path)
        .unwrap()
        .load(&h.run_id)
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::CorruptRow { row: 2, .. }),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(
        message.contains("runs.db") && message.contains("row 2"),
        "{message}"
    );

    std::fs::write(
        dir.path().join("not.db"),
        b"not a database at all, not even close",
    )
    .unwrap();
    let refused = SqliteCheckpointer::open(dir.path().join("not.db")).unwrap_err();
    assert!(refused.to_string().contains("not.db"), "{refused}");
}
