//! The fleet's own behaviour with four workers in this process on a PostgreSQL database: the
//! engine submits, waits and cancels; leases, takeovers, fencing, draining, worker concurrency,
//! fingerprints. The semantics shared with a run in one process are tested once, on every
//! executor (`engine_semantics.rs`, `each.rs`, `waits.rs`, `rerun.rs`: `tests::on_every_executor!`).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pipeline::fleet::{Shutdown, Worker};
use pipeline::store::*;
use pipeline::*;
use tests::fleet::{Fleet, wait};
use tests::postgres::TestDatabase;

/// Which node ids fail while they are in the set, and how often each node ran.
#[derive(Clone, Default)]
struct Probe {
    fail: Arc<Mutex<BTreeMap<String, usize>>>,
    ran: Arc<Mutex<BTreeMap<String, usize>>>,
}

impl Probe {
    /// `id` fails its next `times` attempts.
    fn failing(self, id: &str, times: usize) -> Self {
        self.fail.lock().unwrap().insert(id.into(), times);
        self
    }
    fn enter(&self, id: &str) -> Result<(), std::io::Error> {
        *self.ran.lock().unwrap().entry(id.into()).or_default() += 1;
        let mut fail = self.fail.lock().unwrap();
        match fail.get_mut(id) {
            Some(n) if *n > 0 => {
                *n -= 1;
                Err(std::io::Error::other(format!("boom in {id}")))
            }
            _ => Ok(()),
        }
    }
    fn ran(&self, id: &str) -> usize {
        self.ran.lock().unwrap().get(id).copied().unwrap_or(0)
    }
}

/// x -> a -> {b, c} -> d (a diamond), and x -> e (an independent branch). Output: d.
fn diamond(probe: &Probe) -> Graph<u64, u64> {
    tests::diamond(|id: &'static str, f: fn(u64, u64) -> u64| {
        let probe = probe.clone();
        move |(p, q): (u64, u64), _ctx: NodeContext| {
            let probe = probe.clone();
            async move {
                probe.enter(id)?;
                Ok::<_, std::io::Error>(f(p, q))
            }
        }
    })
}

/// Submits `input` and waits for the run.
async fn submit_and_wait<O: Send + 'static>(
    engine: &PipelineEngine<Graph<u64, O>>,
    input: u64,
) -> PipelineResult<O> {
    let run_id = engine.submit(input).await.unwrap();
    wait(engine, &run_id).await
}

fn ok<T>(value: T) -> Result<T, std::io::Error> {
    Ok(value)
}

fn statuses<O>(result: &PipelineResult<O>) -> Vec<(String, NodeStatus)> {
    // Sorted by id, as the expected lists are.
    result.nodes.to_map().into_iter().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    no_postgres,
    ignore = "needs PostgreSQL, which did not answer when the tests were built: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
)]
async fn a_submitted_run_completes_on_the_workers_with_the_in_process_result() {
    let probe = Probe::default();
    let mut fleet = Fleet::start(&diamond(&probe), 4).await;
    let engine = fleet.engine(diamond(&probe));
    let run_id = engine.submit(1).await.unwrap();
    let result = wait(&engine, &run_id).await;

    let local = PipelineEngine::new(diamond(&Probe::default()))
        .run(1)
        .await
        .unwrap();
    assert_eq!(result.status, RunStatus::Completed);
    assert_eq!(result.output, local.output);
    assert_eq!(result.output, Some((2 * 2) + (2 * 3)));
    assert_eq!(statuses(&result), statuses(&local));
    let checkpoint = engine.load_checkpoint(&run_id).await.unwrap().unwrap();
    let mut recorded: Vec<&str> = checkpoint.completed().collect();
    recorded.sort();
    assert_eq!(recorded, ["a", "b", "c", "d", "e"]);
    let trail = engine.audit_trail(&run_id).await.unwrap().unwrap();
    assert_eq!(trail.len(), 5);
    assert!(
        trail
            .iter()
            .all(|e| e.worker.as_deref().is_some_and(|w| w.starts_with('w')))
    );
    for id in ["a", "b", "c", "d", "e"] {
        assert_eq!(probe.ran(id), 1, "{id}");
    }
    let reports = fleet.stop().await;
    assert_eq!(reports.iter().map(|r| r.completed).sum::<u64>(), 5);
}

fn gated() -> Graph<u64, u64> {
    let mut g = GraphBuilder::<u64>::new("gated");
    let x = g.input("x", |x: &u64| *x);
    let small = g
        .node("small")
        .when(x, |x| x < 10)
        .run(x, |x, _| async move { ok(x) });
    let _after = g
        .node("after_small")
        .run(small, |s, _| async move { ok(s + 1) });
    let other = g.node("other").run(x, |x, _| async move { ok(x * 2) });
    g.build(other).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    no_postgres,
    ignore = "needs PostgreSQL, which did not answer when the tests were built: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
)]
async fn a_false_gate_skips_the_node_and_everything_downstream_writing_nothing() {
    let mut fleet = Fleet::start(&gated(), 4).await;
    let engine = fleet.engine(gated());
    let result = submit_and_wait(&engine, 50).await;
    assert_eq!(result.status, RunStatus::Completed);
    assert_eq!(result.output, Some(100));
    assert_eq!(result.node("small"), Some(NodeStatus::Skipped));
    assert_eq!(result.node("after_small"), Some(NodeStatus::Skipped));
    let checkpoint = engine
        .load_checkpoint(&result.run_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(checkpoint.completed().collect::<Vec<_>>(), ["other"]);
    let trail = engine.audit_trail(&result.run_id).await.unwrap().unwrap();
    assert!(trail.iter().all(|e| e.node == "other"), "{trail:?}");

    let open = submit_and_wait(&engine, 5).await;
    assert_eq!(open.node("small"), Some(NodeStatus::Completed));
    assert_eq!(open.node("after_small"), Some(NodeStatus::Completed));
    fleet.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    no_postgres,
    ignore = "needs PostgreSQL, which did not answer when the tests were built: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
)]
async fn fail_fast_stops_scheduling_and_lets_running_nodes_finish() {
    let release = Arc::new(tokio::sync::Notify::new());
    let mut fleet = Fleet::start(&tests::fail_fast(&release), 4).await;
    let result = submit_and_wait(&fleet.engine(tests::fail_fast(&release)), 1).await;
    assert_eq!(result.status, RunStatus::Failed);
    assert_eq!(
        statuses(&result),
        vec![
            ("after_fail".into(), NodeStatus::NotRun),
            ("after_slow".into(), NodeStatus::NotRun),
            ("fail".into(), NodeStatus::Failed),
            ("slow".into(), NodeStatus::Completed),
        ]
    );
    fleet.stop().await;
}

/// A node that fails twice then succeeds: three audited attempts, one checkpoint record, and
/// the retries wait in the queue (a ready row with a later time), not in a sleeping worker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    no_postgres,
    ignore = "needs PostgreSQL, which did not answer when the tests were built: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
)]
async fn retries_audit_every_attempt_and_only_the_last_decides() {
    let graph = |probe: &Probe| {
        let mut g = GraphBuilder::<u64>::new("retries");
        let x = g.input("x", |x: &u64| *x);
        let p = probe.clone();
        let n = g
            .node("n")
            .retries(2)
            .backoff(Backoff {
                initial: Duration::from_millis(20),
                max: Duration::from_millis(20),
            })
            .run(x, move |x, ctx| {
                let p = p.clone();
                async move {
                    p.enter("n")?;
                    Ok::<_, std::io::Error>(x * 100 + u64::from(ctx.attempt()))
                }
            });
        g.build(n).unwrap()
    };
    let probe = Probe::default().failing("n", 2);
    let mut fleet = Fleet::start(&graph(&probe), 2).await;
    let engine = fleet.engine(graph(&probe));
    let result = submit_and_wait(&engine, 7).await;
    assert_eq!(result.status, RunStatus::Completed);
    assert_eq!(result.output, Some(703));
    assert_eq!(probe.ran("n"), 3);
    let trail = engine.audit_trail(&result.run_id).await.unwrap().unwrap();
    let attempts: Vec<(u32, AuditStatus)> = trail.iter().map(|e| (e.attempt, e.status)).collect();
    assert_eq!(
        attempts,
        [
            (1, AuditStatus::Failed),
            (2, AuditStatus::Failed),
            (3, AuditStatus::Completed)
        ]
    );
    assert_eq!(trail[0].error.as_deref(), Some("boom in n"));
    let checkpoint = engine
        .load_checkpoint(&result.run_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(checkpoint.nodes.len(), 1);
    assert_eq!(checkpoint.nodes[0].attempt, 3);

    let _ = probe.failing("n", 3);
    let result = submit_and_wait(&engine, 7).await;
    assert_eq!(result.status, RunStatus::Failed);
    assert_eq!(result.failures["n"].attempts, 3);
    fleet.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    no_postgres,
    ignore = "needs PostgreSQL, which did not answer when the tests were built: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
)]
async fn a_node_that_never_returns_fails_with_a_timeout() {
    let graph = || {
        let mut g = GraphBuilder::<u64>::new("hangs");
        let x = g.input("x", |x: &u64| *x);
        let n = g
            .node("n")
            .timeout(Duration::from_millis(100))
            .run(x, |x, _| async move {
                std::future::pending::<()>().await;
                ok(x)
            });
        g.build(n).unwrap()
    };
    let mut fleet = Fleet::start(&graph(), 1).await;
    let result = submit_and_wait(&fleet.engine(graph()), 1).await;
    assert_eq!(result.status, RunStatus::Failed);
    assert_eq!(result.failures["n"].error, "timed out after 100ms");
    fleet.stop().await;
}

/// `block` starts (and tells the test), then never returns; `after` depends on it.
fn blocking(started: &Arc<tokio::sync::Notify>, probe: &Probe) -> Graph<u64, u64> {
    let mut g = GraphBuilder::<u64>::new("blocking");
    let x = g.input("x", |x: &u64| *x);
    let (started, probe) = (Arc::clone(started), probe.clone());
    let block = g.node("block").run(x, move |x, _| {
        let (started, probe) = (Arc::clone(&started), probe.clone());
        async move {
            probe.enter("block")?;
            started.notify_one();
            if probe.ran("block") == 1 {
                // The first attempt hangs: its worker dies or the run is cancelled meanwhile.
                std::future::pending::<()>().await;
            }
            ok(x)
        }
    });
    let after = g.node("after").run(block, |b, _| async move { ok(b + 1) });
    g.build(after).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    no_postgres,
    ignore = "needs PostgreSQL, which did not answer when the tests were built: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
)]
async fn cancel_from_another_engine_stops_the_run_and_its_running_node() {
    let (started, probe) = (Arc::new(tokio::sync::Notify::new()), Probe::default());
    let db = TestDatabase::create();
    let store = PostgresStore::open(&db.url).unwrap();
    let shutdown = Shutdown::new();
    let worker = Worker::new(store.clone())
        .serve(&blocking(&started, &probe))
        .lease(Duration::from_millis(500), Duration::from_millis(50));
    let worker = tokio::spawn(worker.run(shutdown.clone()));
    let engine = PipelineEngine::new(blocking(&started, &probe)).fleet(store.clone());
    let run_id = engine.submit(1).await.unwrap();
    started.notified().await;

    // An engine in another process cannot resume it beside the workers.
    let resumed = PipelineEngine::new(blocking(&started, &probe))
        .checkpointer(PostgresStore::open(&db.url).unwrap())
        .resume(&run_id)
        .await;
    assert!(
        matches!(resumed, Err(PipelineError::RunLocked(_))),
        "{resumed:?}"
    );
    // Another engine (as another process would) cancels it.
    let other = PipelineEngine::new(blocking(&started, &probe))
        .fleet(PostgresStore::open(&db.url).unwrap());
    assert!(other.cancel(&run_id).await.unwrap());
    assert!(
        !other.cancel(&run_id).await.unwrap(),
        "a second cancel finds it ended"
    );
    let result = wait(&engine, &run_id).await;
    assert_eq!(result.status, RunStatus::Cancelled);
    assert_eq!(
        statuses(&result),
        vec![
            ("after".into(), NodeStatus::NotRun),
            ("block".into(), NodeStatus::NotRun)
        ]
    );
    shutdown.stop();
    let report = worker.await.unwrap().unwrap();
    assert_eq!(
        report.lost, 1,
        "the running node's claim was fenced: {report:?}"
    );
    assert_eq!(report.completed, 0);
    assert!(
        engine
            .load_checkpoint(&run_id)
            .await
            .unwrap()
            .unwrap()
            .nodes
            .is_empty()
    );
    let summary = AuditLog::summary(&store, &run_id).await.unwrap().unwrap();
    assert_eq!(summary.status, Some(RunStatus::Cancelled));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    no_postgres,
    ignore = "needs PostgreSQL, which did not answer when the tests were built: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
)]
async fn a_workers_concurrency_caps_the_nodes_it_runs_at_once() {
    let graph = |gauge: &Arc<(AtomicUsize, AtomicUsize)>, pairs: &Arc<tokio::sync::Barrier>| {
        let mut g = GraphBuilder::<u64>::new("wide");
        let x = g.input("x", |x: &u64| *x);
        let mut outs = Vec::new();
        for i in 0..6 {
            let (gauge, pairs) = (Arc::clone(gauge), Arc::clone(pairs));
            outs.push(g.node(format!("n{i}")).run(x, move |x, _| {
                let (gauge, pairs) = (Arc::clone(&gauge), Arc::clone(&pairs));
                async move {
                    let now = gauge.0.fetch_add(1, Ordering::SeqCst) + 1;
                    gauge.1.fetch_max(now, Ordering::SeqCst);
                    // Two at a time meet here: with a cap of one this would never return.
                    pairs.wait().await;
                    gauge.0.fetch_sub(1, Ordering::SeqCst);
                    ok(x)
                }
            }));
        }
        g.build(outs).unwrap()
    };
    let gauge = Arc::new((AtomicUsize::new(0), AtomicUsize::new(0)));
    let pairs = Arc::new(tokio::sync::Barrier::new(2));
    let db = TestDatabase::create();
    let store = PostgresStore::open(&db.url).unwrap();
    let shutdown = Shutdown::new();
    let worker = Worker::new(store.clone())
        .serve(&graph(&gauge, &pairs))
        .concurrency(2);
    let worker = tokio::spawn(worker.run(shutdown.clone()));
    let engine = PipelineEngine::new(graph(&gauge, &pairs)).fleet(store);
    let run_id = engine.submit(1).await.unwrap();
    let result = tokio::time::timeout(Duration::from_secs(60), engine.wait(&run_id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(result.status, RunStatus::Completed);
    assert_eq!(gauge.1.load(Ordering::SeqCst), 2);
    shutdown.stop();
    assert_eq!(worker.await.unwrap().unwrap().completed, 6);
}

/// A worker built from another version of a pipeline (its fingerprint differs) never runs the
/// nodes of runs submitted by this one: it leaves them for a worker of the same build.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    no_postgres,
    ignore = "needs PostgreSQL, which did not answer when the tests were built: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
)]
async fn a_worker_of_another_build_leaves_the_nodes_alone() {
    let version = |nodes: usize| {
        let mut g = GraphBuilder::<u64>::new("versioned");
        let mut last = g.input("x", |x: &u64| *x);
        for i in 0..nodes {
            last = g
                .node(format!("n{i}"))
                .run(last, |x, _| async move { ok(x + 1) });
        }
        g.build(last).unwrap()
    };
    let mut fleet = Fleet::start(&version(3), 1).await;
    let engine = fleet.engine(version(2));
    let run_id = engine.submit(1).await.unwrap();
    // `runs` says why: the worker that is running serves another build. (Polled: the worker
    // announces itself on its own task when it starts.)
    let why = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let unserved = pipeline::fleet::unserved_runs(&fleet.store).await.unwrap();
            match unserved.get(&run_id) {
                Some(why) if why.contains("waits for a worker of its build") => return why.clone(),
                _ => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
    })
    .await
    .expect("the run is listed as waiting for a worker of its build");
    assert!(why.contains(version(2).fingerprint()), "{why}");
    assert!(why.contains(version(3).fingerprint()), "{why}");
    fleet.add(
        Worker::new(fleet.store.clone())
            .serve(&version(2))
            .id("same-build"),
    );
    let result = wait(&engine, &run_id).await;
    assert_eq!(result.output, Some(3));
    let trail = engine.audit_trail(&run_id).await.unwrap().unwrap();
    assert!(
        trail
            .iter()
            .all(|e| e.worker.as_deref() == Some("same-build")),
        "{trail:?}"
    );
    let reports = fleet.stop().await;
    assert_eq!(reports[0].completed, 0, "the other build ran nothing");
}

/// A worker that dies mid-node (stopped at once: no commit, no release) loses the node to
/// another worker when its lease expires; the node is checkpointed once, by the new worker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    no_postgres,
    ignore = "needs PostgreSQL, which did not answer when the tests were built: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
)]
async fn a_dead_workers_node_runs_again_elsewhere_after_its_lease() {
    let (started, probe) = (Arc::new(tokio::sync::Notify::new()), Probe::default());
    let db = TestDatabase::create();
    let store = PostgresStore::open(&db.url).unwrap();
    let worker = |id: &str| {
        Worker::new(store.clone())
            .serve(&blocking(&started, &probe))
            .lease(Duration::from_millis(300), Duration::from_millis(100))
            .poll_interval(Duration::from_millis(50))
            .id(id)
    };
    let dies = Shutdown::new();
    let first = tokio::spawn(worker("dies").run(dies.clone()));
    let engine = PipelineEngine::new(blocking(&started, &probe)).fleet(store.clone());
    let run_id = engine.submit(1).await.unwrap();
    started.notified().await;
    dies.stop_now();
    first.await.unwrap().unwrap();

    let survives = Shutdown::new();
    let second = tokio::spawn(worker("survives").run(survives.clone()));
    let result = wait(&engine, &run_id).await;
    assert_eq!(result.status, RunStatus::Completed);
    assert_eq!(result.output, Some(2));
    assert_eq!(
        probe.ran("block"),
        2,
        "at least once: the lost attempt ran again"
    );
    let checkpoint = engine.load_checkpoint(&run_id).await.unwrap().unwrap();
    assert_eq!(checkpoint.completed().filter(|n| *n == "block").count(), 1);
    let trail = engine.audit_trail(&run_id).await.unwrap().unwrap();
    assert!(
        trail
            .iter()
            .all(|e| e.worker.as_deref() == Some("survives")),
        "{trail:?}"
    );
    survives.stop();
    second.await.unwrap().unwrap();
}

/// A worker frozen past its lease (its whole runtime blocked, heartbeats too, until another
/// worker has taken the node over) finishes its node late: its commit is fenced, the other one's
/// stands.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    no_postgres,
    ignore = "needs PostgreSQL, which did not answer when the tests were built: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
)]
async fn a_late_commit_after_the_lease_lapsed_is_fenced() {
    let started = Arc::new(tokio::sync::Notify::new());
    let (taken_over, thawed) = std::sync::mpsc::channel::<()>();
    let (taken_over, thawed) = (
        Arc::new(Mutex::new(taken_over)),
        Arc::new(Mutex::new(thawed)),
    );
    let graph = |probe: &Probe| {
        let mut g = GraphBuilder::<u64>::new("frozen");
        let x = g.input("x", |x: &u64| *x);
        let (p, started) = (probe.clone(), Arc::clone(&started));
        let (taken_over, thawed) = (Arc::clone(&taken_over), Arc::clone(&thawed));
        let n = g.node("n").run(x, move |x, _| {
            let (p, started) = (p.clone(), Arc::clone(&started));
            let (taken_over, thawed) = (Arc::clone(&taken_over), Arc::clone(&thawed));
            async move {
                p.enter("n")?;
                if p.ran("n") == 1 {
                    started.notify_one();
                    // Freezes this worker's runtime (a GC pause, a stopped VM) until the node
                    // was taken over; a minute at most, so a broken takeover fails the test.
                    let thawed = thawed.lock().unwrap();
                    let _ = thawed.recv_timeout(Duration::from_secs(60));
                } else {
                    let _ = taken_over.lock().unwrap().send(());
                }
                Ok::<_, std::io::Error>(x + p.ran("n") as u64 * 100)
            }
        });
        g.build(n).unwrap()
    };
    let probe = Probe::default();
    let db = TestDatabase::create();
    let store = PostgresStore::open(&db.url).unwrap();
    let worker = |id: &str| {
        Worker::new(store.clone())
            .serve(&graph(&probe))
            .lease(Duration::from_millis(300), Duration::from_millis(100))
            .poll_interval(Duration::from_millis(50))
            .id(id)
    };
    // The frozen worker on a runtime of its own, with a store of its own.
    let own_store = PostgresStore::open(&db.url).unwrap();
    let frozen_worker = Worker::new(own_store)
        .serve(&graph(&probe))
        .lease(Duration::from_millis(300), Duration::from_millis(100))
        .poll_interval(Duration::from_millis(50))
        .id("frozen");
    let frozen_stop = Shutdown::new();
    let frozen = tests::fleet::on_own_runtime(frozen_worker, frozen_stop.clone());
    let engine = PipelineEngine::new(graph(&probe)).fleet(store.clone());
    let run_id = engine.submit(1).await.unwrap();
    started.notified().await; // the frozen worker has the node
    let other_stop = Shutdown::new();
    let other = tokio::spawn(worker("other").run(other_stop.clone()));
    let result = wait(&engine, &run_id).await;
    assert_eq!(probe.ran("n"), 2);
    assert_eq!(
        result.output,
        Some(201),
        "the second attempt's output stands"
    );
    frozen_stop.stop();
    other_stop.stop();
    let frozen = frozen.join().unwrap().unwrap();
    assert_eq!(frozen.lost, 1, "{frozen:?}");
    assert_eq!(frozen.completed, 0, "{frozen:?}");
    assert_eq!(other.await.unwrap().unwrap().completed, 1);
    let trail = engine.audit_trail(&run_id).await.unwrap().unwrap();
    assert_eq!(trail.len(), 1, "{trail:?}");
    assert_eq!(trail[0].worker.as_deref(), Some("other"));
}

/// A graceful stop finishes the node in flight; past the drain deadline it gives the claim
/// back, and another worker takes the node at once (without waiting for the lease).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    no_postgres,
    ignore = "needs PostgreSQL, which did not answer when the tests were built: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
)]
async fn a_graceful_stop_drains_then_gives_back_what_is_left() {
    let (started, probe) = (Arc::new(tokio::sync::Notify::new()), Probe::default());
    let db = TestDatabase::create();
    let store = PostgresStore::open(&db.url).unwrap();
    let stop = Shutdown::new();
    let first = Worker::new(store.clone())
        .serve(&blocking(&started, &probe))
        .drain_deadline(Duration::from_millis(200))
        .id("leaving");
    let first = tokio::spawn(first.run(stop.clone()));
    let engine = PipelineEngine::new(blocking(&started, &probe)).fleet(store.clone());
    let run_id = engine.submit(1).await.unwrap();
    started.notified().await;
    stop.stop();
    let report = first.await.unwrap().unwrap();
    assert_eq!(report.released, 1, "{report:?}");

    // A lease of an hour: the node is taken at once only because it was given back.
    let stays = Shutdown::new();
    let second = Worker::new(store.clone())
        .serve(&blocking(&started, &probe))
        .lease(Duration::from_secs(3600), Duration::from_secs(1200))
        .id("staying");
    let second = tokio::spawn(second.run(stays.clone()));
    let result = wait(&engine, &run_id).await;
    assert_eq!(result.status, RunStatus::Completed);
    stays.stop();
    assert_eq!(second.await.unwrap().unwrap().completed, 2);
}

/// Two workers race for the same ready nodes, 10,000 times: 10,000 single-node runs submitted
/// at once, each node claimed by exactly one of them and committed exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    no_postgres,
    ignore = "needs PostgreSQL, which did not answer when the tests were built: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
)]
async fn two_workers_racing_for_each_node_commit_it_exactly_once() {
    const RUNS: usize = 10_000;
    let graph = || {
        let mut g = GraphBuilder::<u64>::new("single");
        let x = g.input("x", |x: &u64| *x);
        let n = g.node("n").run(x, |x, _| async move { ok(x * 2) });
        g.build(n).unwrap()
    };
    let mut fleet = Fleet::start(&graph(), 0).await;
    for i in 0..2 {
        let worker = Worker::new(PostgresStore::open(&fleet.db.url).unwrap());
        fleet.add(
            worker
                .serve(&graph())
                .id(format!("racer-{i}"))
                .concurrency(16),
        );
    }
    let engine = Arc::new(fleet.engine(graph()));
    let mut ids = Vec::new();
    for chunk in (0..RUNS as u64).collect::<Vec<_>>().chunks(500) {
        let mut submits = tokio::task::JoinSet::new();
        for &i in chunk {
            let engine = Arc::clone(&engine);
            submits.spawn(async move { (i, engine.submit(i).await.unwrap()) });
        }
        ids.extend(submits.join_all().await);
    }
    let mut waits = tokio::task::JoinSet::new();
    for chunk in ids.chunks(RUNS / 8) {
        let (engine, chunk) = (Arc::clone(&engine), chunk.to_vec());
        waits.spawn(async move {
            for (i, id) in chunk {
                assert_eq!(wait(&engine, &id).await.output, Some(i * 2), "{id}");
            }
        });
    }
    waits.join_all().await;
    let reports = fleet.stop().await;
    let completed: Vec<u64> = reports.iter().map(|r| r.completed).collect();
    assert_eq!(completed.iter().sum::<u64>(), RUNS as u64, "{reports:?}");
    assert!(reports.iter().all(|r| r.lost == 0), "{reports:?}");
    assert!(completed.iter().all(|&n| n > 0), "both raced: {reports:?}");
    let (client, connection) = tokio_postgres::connect(&fleet.db.url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let counts = client
        .query_one(
            "SELECT (SELECT count(*) FROM pipeline_audit_entries), \
                    (SELECT count(DISTINCT run_id) FROM pipeline_audit_entries), \
                    (SELECT count(*) FROM pipeline_node_records)",
            &[],
        )
        .await
        .unwrap();
    let counts: [i64; 3] = [counts.get(0), counts.get(1), counts.get(2)];
    assert_eq!(
        counts, [RUNS as i64; 3],
        "entries, runs with entries, records"
    );
}
