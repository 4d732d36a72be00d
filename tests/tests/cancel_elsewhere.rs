//! A cancel reaches a run wherever it runs: asked for by another engine (another process) on the
//! same stores, it is stored with the run, and the engine holding the run reads it while the run
//! runs (every `CHECK_EVERY`, a second) and ends it `Cancelled`, on every backend.

use std::sync::Arc;
use std::time::Duration;

use pipeline::*;
use tokio::sync::Notify;

/// x -> first -> stuck (which never ends unless cancelled): the run's holder is busy.
fn stuck(started: Arc<Notify>) -> Graph<u64, u64> {
    let mut g = GraphBuilder::<u64>::new("stuck");
    let x = g.input("x", |x: &u64| *x);
    let first = g
        .node("first")
        .run(x, |x, _| async move { Ok::<_, std::io::Error>(x + 1) });
    let stuck = g.node("stuck").run(first, move |x, _| {
        let started = Arc::clone(&started);
        async move {
            started.notify_one();
            std::future::pending::<()>().await;
            Ok::<_, std::io::Error>(x)
        }
    });
    g.build(stuck).unwrap()
}

async fn cancelled_from_elsewhere(stores: impl Fn() -> Stores) {
    let started = Arc::new(Notify::new());
    let holder = PipelineEngine::new(stuck(Arc::clone(&started))).stores(stores());
    let run_id = RunId::generate();
    let id = run_id.clone();
    let running = tokio::spawn(async move { holder.run(1).id(id).await });
    started.notified().await;
    let other = PipelineEngine::new(stuck(Arc::default())).stores(stores());
    // The run is held: the request is stored, and the holder ends the run.
    let ended_here = other.cancel_waiting(&run_id).await.unwrap();
    assert!(ended_here.is_none(), "another engine holds the run");
    let result = tokio::time::timeout(Duration::from_secs(60), running)
        .await
        .expect("the holder ends the run once it reads the cancel")
        .unwrap()
        .unwrap();
    assert_eq!(result.status, RunStatus::Cancelled);
    assert_eq!(result.nodes.get("first"), Some(NodeStatus::Completed));
    assert_eq!(result.nodes.get("stuck"), Some(NodeStatus::NotRun));
    // And it stays cancelled: a resume runs nothing.
    let again = other.resume(&run_id).await.unwrap();
    assert_eq!(again.status, RunStatus::Cancelled);
    assert!(again.executed.is_empty(), "{:?}", again.executed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_from_another_engine_ends_a_run_in_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_owned();
    cancelled_from_elsewhere(move || Stores::open(&path).unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_from_another_engine_ends_a_run_in_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let spec = format!("sqlite://{}", dir.path().join("runs.db").display());
    cancelled_from_elsewhere(move || Stores::open(&spec).unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    no_postgres,
    ignore = "needs PostgreSQL, which did not answer when the tests were built: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
)]
async fn a_cancel_from_another_engine_ends_a_run_in_postgres() {
    let db = tests::postgres::TestDatabase::create();
    let url = db.url.clone();
    cancelled_from_elsewhere(move || Stores::open(&url).unwrap()).await;
}
