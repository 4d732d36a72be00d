//! Idempotent starts (issue 27, item 1): a start whose idempotency key a run of the pipeline
//! holds returns that run's id and result; it is neither a second run nor an error. The key is
//! given per start or named by the pipeline from its inputs, and held for the engine's retention.
//! The shared tests run on every executor (`tests::on_every_executor!`); the process tests start
//! 16 processes with one key at once on each store that processes share, and on a fleet.

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pipeline::*;
use tests::*;

/// x -> double -> plus_one, counting every execution of `double`; `double` fails while `failing`
/// is set. With `keyed`, the pipeline names its key: the input itself.
fn counted(calls: &Arc<AtomicUsize>, failing: &Arc<Mutex<bool>>, keyed: bool) -> Graph<u64, u64> {
    let mut g = GraphBuilder::<u64>::new("counted");
    if keyed {
        g.idempotent(|x: &u64| *x);
    }
    let x = g.input("x", |x: &u64| *x);
    let (calls, failing) = (Arc::clone(calls), Arc::clone(failing));
    let double = g.node("double").run(x, move |x, _| {
        calls.fetch_add(1, Ordering::SeqCst);
        let fail = *failing.lock().unwrap();
        async move {
            match fail {
                true => Err(std::io::Error::other("double failed")),
                false => Ok(x * 2),
            }
        }
    });
    let plus_one = g
        .node("plus_one")
        .run(double, |d, _| async move { ok(d + 1) });
    g.build(plus_one).unwrap()
}

fn keyed(key: &str) -> RunOptions {
    RunOptions::new().idempotency_key(key)
}

tests::on_every_executor! {
    async fn a_second_start_with_the_same_key_returns_the_first_run_and_its_result(on: Executor) {
        let (calls, failing) = (Arc::new(AtomicUsize::new(0)), Arc::new(Mutex::new(false)));
        let on = on.engine(counted(&calls, &failing, false), |e| e).await;
        let first = on.run_with(20, keyed("order-1")).await.unwrap();
        assert_eq!((first.status, first.output), (RunStatus::Completed, Some(41)));
        let second = on.run_with(20, keyed("order-1")).await.unwrap();
        assert_eq!(second.run_id, first.run_id, "the first run's id");
        assert_eq!((second.status, second.output), (RunStatus::Completed, Some(41)));
        assert_eq!(second.node("plus_one"), Some(NodeStatus::Completed));
        assert_eq!(calls.load(Ordering::SeqCst), 1, "not a second run");
        // Another key is another run; no key is always a new run.
        let other = on.run_with(20, keyed("order-2")).await.unwrap();
        assert_ne!(other.run_id, first.run_id);
        let unkeyed = on.run(20).await.unwrap();
        assert_ne!(unkeyed.run_id, first.run_id);
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    async fn a_key_the_pipeline_names_from_its_inputs_starts_one_run_per_key(on: Executor) {
        let (calls, failing) = (Arc::new(AtomicUsize::new(0)), Arc::new(Mutex::new(false)));
        let on = on.engine(counted(&calls, &failing, true), |e| e).await;
        let first = on.run(5).await.unwrap();
        let again = on.run(5).await.unwrap();
        let other = on.run(6).await.unwrap();
        assert_eq!(again.run_id, first.run_id);
        assert_eq!(again.output, Some(11));
        assert_ne!(other.run_id, first.run_id);
        assert_eq!(other.output, Some(13));
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        // A key given per start takes precedence over the pipeline's.
        let given = on.run_with(5, keyed("given")).await.unwrap();
        assert_ne!(given.run_id, first.run_id);
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    async fn a_failed_holder_is_returned_as_it_failed_and_not_run_again(on: Executor) {
        let (calls, failing) = (Arc::new(AtomicUsize::new(0)), Arc::new(Mutex::new(true)));
        let on = on.engine(counted(&calls, &failing, false), |e| e).await;
        let first = on.run_with(1, keyed("k")).await.unwrap();
        assert_eq!(first.status, RunStatus::Failed);
        *failing.lock().unwrap() = false;
        let second = on.run_with(1, keyed("k")).await.unwrap();
        assert_eq!(second.run_id, first.run_id);
        assert_eq!(second.status, RunStatus::Failed);
        assert_eq!(second.node("double"), Some(NodeStatus::Failed));
        assert_eq!(second.failures["double"].error, "double failed");
        assert_eq!(second.node("plus_one"), Some(NodeStatus::NotRun));
        assert_eq!(calls.load(Ordering::SeqCst), 1, "resume is the caller's choice");
    }

    async fn sixteen_starts_with_one_key_at_once_make_one_run(on: Executor) {
        let (calls, failing) = (Arc::new(AtomicUsize::new(0)), Arc::new(Mutex::new(false)));
        let on = on.engine(counted(&calls, &failing, false), |e| e).await;
        let starts = (0..16).map(|_| on.run_with(3, keyed("burst")));
        let results = futures_util::future::join_all(starts).await;
        let ids: std::collections::BTreeSet<RunId> =
            results.iter().map(|r| r.as_ref().unwrap().run_id.clone()).collect();
        assert_eq!(ids.len(), 1, "{ids:?}");
        assert!(results.iter().all(|r| r.as_ref().unwrap().output == Some(7)));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    async fn a_key_is_held_for_the_retention_and_then_starts_a_new_run(on: Executor) {
        let (calls, failing) = (Arc::new(AtomicUsize::new(0)), Arc::new(Mutex::new(false)));
        let clock = ManualClock::now();
        let settings = EngineSettings::new()
            .clock(clock.clone())
            .key_retention(Duration::from_secs(3600));
        let on = on.engine(counted(&calls, &failing, false), |e| e.settings(settings)).await;
        let first = on.run_with(2, keyed("nightly")).await.unwrap();
        clock.advance(Duration::from_secs(3599));
        let held = on.run_with(2, keyed("nightly")).await.unwrap();
        assert_eq!(held.run_id, first.run_id);
        clock.advance(Duration::from_secs(1));
        let expired = on.run_with(2, keyed("nightly")).await.unwrap();
        assert_ne!(expired.run_id, first.run_id, "the retention ended: a new run");
        let held_again = on.run_with(2, keyed("nightly")).await.unwrap();
        assert_eq!(held_again.run_id, expired.run_id, "the new run holds the key now");
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }
}

#[tokio::test]
async fn a_key_needs_a_checkpointer() {
    let (calls, failing) = (Arc::new(AtomicUsize::new(0)), Arc::new(Mutex::new(false)));
    let engine = PipelineEngine::new(counted(&calls, &failing, false));
    let refused = engine.run(1).idempotency_key("k").await;
    assert!(
        matches!(refused, Err(PipelineError::NoCheckpointer(_))),
        "{refused:?}"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

const SUBJECT: &str = env!("CARGO_BIN_EXE_crash_subject");

/// Starts 16 `crash_subject` processes at once with one key over `store` (`mode` `keyed` runs,
/// `keyed-submit` submits to a fleet); returns each one's run id and the side-effect log.
fn sixteen_processes(store: &str, mode: &str, dir: &std::path::Path) -> (Vec<String>, String) {
    let log = dir.join("effects.log");
    let children: Vec<_> = (0..16)
        .map(|_| {
            Command::new(SUBJECT)
                .args([
                    store,
                    "nightly-2026-12-06",
                    mode,
                    &log.display().to_string(),
                ])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("the subject starts")
        })
        .collect();
    let ids = children
        .into_iter()
        .map(|child| {
            let out = child.wait_with_output().expect("the subject ends");
            let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
            assert!(
                out.status.success(),
                "{stdout}{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let line = stdout
                .lines()
                .find(|l| l.starts_with("run "))
                .unwrap_or_default();
            line.trim_start_matches("run ").to_owned()
        })
        .collect();
    let effects = std::fs::read_to_string(&log).unwrap_or_default();
    (ids, effects)
}

/// Each of the 16 got the one run's id, and every node of it executed once.
fn one_run(ids: &[String], effects: &str) {
    assert!(!ids[0].is_empty(), "{ids:?}");
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    let mut nodes: Vec<&str> = effects.lines().collect();
    let executed = nodes.len();
    nodes.sort_unstable();
    nodes.dedup();
    assert_eq!(executed, nodes.len(), "a node ran twice: {effects}");
    assert!(executed > 0);
}

#[test]
fn sixteen_processes_with_one_key_make_one_run_in_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store").display().to_string();
    let (ids, effects) = sixteen_processes(&store, "keyed", dir.path());
    one_run(&ids, &effects);
}

#[test]
fn sixteen_processes_with_one_key_make_one_run_in_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite://{}", dir.path().join("runs.db").display());
    let (ids, effects) = sixteen_processes(&store, "keyed", dir.path());
    one_run(&ids, &effects);
}

#[test]
#[cfg_attr(
    no_postgres,
    ignore = "needs PostgreSQL, which did not answer when the tests were built: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
)]
fn sixteen_processes_with_one_key_make_one_run_in_postgres() {
    let db = postgres::TestDatabase::create();
    let dir = tempfile::tempdir().unwrap();
    let (ids, effects) = sixteen_processes(&db.url, "keyed", dir.path());
    one_run(&ids, &effects);
}

#[test]
#[cfg_attr(
    no_postgres,
    ignore = "needs PostgreSQL, which did not answer when the tests were built: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
)]
fn sixteen_processes_submitting_one_key_to_a_fleet_submit_one_run() {
    let db = postgres::TestDatabase::create();
    let dir = tempfile::tempdir().unwrap();
    let (ids, _) = sixteen_processes(&db.url, "keyed-submit", dir.path());
    assert!(!ids[0].is_empty(), "{ids:?}");
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    let runs = db.count("SELECT count(*) FROM pipeline_fleet_runs");
    assert_eq!(runs, 1, "one run submitted");
}

mod dsl {
    use pipeline::prelude::*;

    /// A report line for one customer and day.
    #[node]
    fn line(customer: String, day: u32, note: String) -> String {
        format!("{customer}/{day}: {note}")
    }

    pipeline! {
        /// One report per customer and day, whatever the note says.
        #[idempotent(key = (customer, day))]
        pub Daily(customer: String, day: u32, note: String) -> String {
            text = line(customer, day, note);
            text
        }
    }
}

#[tokio::test]
async fn a_pipeline_names_its_key_from_its_inputs_with_idempotent() {
    use dsl::{Daily, DailyInputs};
    let engine =
        PipelineEngine::new(Daily).checkpointer(pipeline::store::InMemoryCheckpointer::new());
    let inputs = |customer: &str, day, note: &str| DailyInputs {
        customer: customer.into(),
        day,
        note: note.into(),
    };
    let first = engine.run(inputs("acme", 6, "first")).await.unwrap();
    let same_key = engine.run(inputs("acme", 6, "second")).await.unwrap();
    let other_day = engine.run(inputs("acme", 7, "third")).await.unwrap();
    assert_eq!(same_key.run_id, first.run_id);
    assert_eq!(
        same_key.output.as_deref(),
        Some("acme/6: first"),
        "the first run's result"
    );
    assert_ne!(other_day.run_id, first.run_id);
    assert_eq!(other_day.output.as_deref(), Some("acme/7: third"));
}
