//! Priorities, aging and fairness on a fleet: runs submitted while no worker runs are claimed,
//! once one worker (one node at a time) starts, in the order their ranks give (a run's ready time
//! less its credit: a second per point of priority, less its fairness key's turn). In one process
//! the same ranks order the places of limits (`engine::limits` tests).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pipeline::fleet::{Shutdown, Worker};
use pipeline::store::PostgresStore;
use pipeline::{Graph, GraphBuilder, PipelineEngine, RunId};

/// What the node saw: each run's tenant and number, in the order they started, with when.
type Seen = Arc<Mutex<Vec<(String, u64, Instant)>>>;

/// (tenant, n) -> work: notes its start, takes `pause`; runs take turns by tenant when `fair`.
fn work(seen: &Seen, pause: Duration, fair: bool) -> Graph<(String, u64), u64> {
    let mut g = GraphBuilder::<(String, u64)>::new("work");
    let x = g.input("x", |x: &(String, u64)| x.clone());
    if fair {
        g.fair(|(tenant, _): &(String, u64)| tenant.clone());
    }
    let seen = Arc::clone(seen);
    let node = g.node("work").run(x, move |(tenant, n), _| {
        seen.lock().unwrap().push((tenant, n, Instant::now()));
        async move {
            tokio::time::sleep(pause).await;
            Ok::<_, std::io::Error>(n)
        }
    });
    g.build(node).unwrap()
}

struct Db {
    store: PostgresStore,
    _db: tests::postgres::TestDatabase,
}

async fn database() -> Db {
    let db = tests::postgres::TestDatabase::create();
    let store = PostgresStore::open(&db.url).unwrap();
    store.migrate().await.unwrap();
    Db { store, _db: db }
}

/// One worker claiming one node at a time, until every run of `ids` ended.
async fn drain(store: &PostgresStore, graph: &Graph<(String, u64), u64>, ids: &[RunId]) {
    let shutdown = Shutdown::new();
    let worker = Worker::new(store.clone())
        .serve(graph)
        .concurrency(1)
        .poll_interval(Duration::from_millis(100));
    let running = tokio::spawn(worker.run(shutdown.clone()));
    let engine = PipelineEngine::new(graph.clone()).fleet(store.clone());
    for id in ids {
        let waited = tokio::time::timeout(Duration::from_secs(60), engine.wait(id));
        waited.await.expect("ends within a minute").unwrap();
    }
    shutdown.stop();
    running.await.unwrap().unwrap();
}

fn labels(seen: &Seen) -> Vec<String> {
    let seen = seen.lock().unwrap();
    seen.iter().map(|(t, n, _)| format!("{t}{n}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    no_postgres,
    ignore = "needs PostgreSQL, which did not answer when the tests were built: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
)]
async fn a_fleet_claims_runs_by_priority_then_in_the_order_they_came() {
    let db = database().await;
    let seen = Seen::default();
    let graph = work(&seen, Duration::ZERO, false);
    let engine = PipelineEngine::new(graph.clone()).fleet(db.store.clone());
    let mut ids = Vec::new();
    for (n, priority) in [(1, 0), (2, 5), (3, 0), (4, 10), (5, -3)] {
        let submit = engine.submit(("p".into(), n)).priority(priority);
        ids.push(submit.await.unwrap());
    }
    drain(&db.store, &graph, &ids).await;
    assert_eq!(labels(&seen), ["p4", "p2", "p1", "p3", "p5"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    no_postgres,
    ignore = "needs PostgreSQL, which did not answer when the tests were built: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
)]
async fn a_run_of_low_priority_ages_past_newer_runs_of_higher_priority() {
    let db = database().await;
    let seen = Seen::default();
    let graph = work(&seen, Duration::ZERO, false);
    let engine = PipelineEngine::new(graph.clone()).fleet(db.store.clone());
    let old = engine.submit(("low".into(), 0)).await.unwrap();
    // The old run waits 1.5 s: that is worth 1.5 points of priority.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let one = engine.submit(("high".into(), 1)).priority(1).await.unwrap();
    let two = engine.submit(("high".into(), 2)).priority(2).await.unwrap();
    drain(&db.store, &graph, &[old, one, two]).await;
    // Priority 2 came 1.5 s later (worth 2 s): before it. Priority 1 (worth 1 s): after it.
    assert_eq!(labels(&seen), ["high2", "low0", "high1"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    no_postgres,
    ignore = "needs PostgreSQL, which did not answer when the tests were built: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
)]
async fn a_tenants_backlog_of_100_times_the_others_does_not_delay_them() {
    let (runs, tenants) = (5u64, ["b", "c", "d", "e"]);
    let mut waits = Vec::new();
    for (backlog, fair) in [(0, true), (500, true), (500, false)] {
        let db = database().await;
        let seen = Seen::default();
        let graph = work(&seen, Duration::from_millis(5), fair);
        let engine = PipelineEngine::new(graph.clone()).fleet(db.store.clone());
        let mut ids = Vec::new();
        for n in 0..backlog {
            ids.push(engine.submit(("a".into(), n)).await.unwrap());
        }
        // Then the others' runs, as the worker starts: when each was submitted.
        let shutdown = Shutdown::new();
        let worker = Worker::new(db.store.clone())
            .serve(&graph)
            .concurrency(1)
            .poll_interval(Duration::from_millis(100));
        let running = tokio::spawn(worker.run(shutdown.clone()));
        let mut submitted = Vec::new();
        for n in 0..runs {
            for tenant in tenants {
                submitted.push(((tenant.to_owned(), n), Instant::now()));
                ids.push(engine.submit((tenant.into(), n)).await.unwrap());
            }
        }
        // Every other tenant's run started (or 400 of the backlog's before them): how long each
        // waited, and how many runs of `a` started before the last of them.
        let others = (runs as usize) * tenants.len();
        let deadline = Instant::now() + Duration::from_secs(120);
        let (wait, a_before) = loop {
            let seen = seen.lock().unwrap().clone();
            let started: Vec<_> = seen.iter().filter(|(t, _, _)| t != "a").collect();
            let all = started.len() == others;
            if all || seen.len() - started.len() >= 400 || Instant::now() > deadline {
                let last = match all {
                    true => seen.iter().rposition(|(t, _, _)| t != "a").unwrap_or(0),
                    false => seen.len(),
                };
                let a_before = seen[..last].iter().filter(|(t, _, _)| t == "a").count();
                let mut wait: Vec<Duration> = submitted
                    .iter()
                    .map(|((t, n), at)| {
                        let start = started.iter().find(|(st, sn, _)| st == t && sn == n);
                        start.map_or(Duration::MAX, |(_, _, s)| s.duration_since(*at))
                    })
                    .collect();
                wait.sort();
                break (wait[wait.len() * 99 / 100], a_before);
            }
            drop(seen);
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        shutdown.stop_now();
        let _ = running.await;
        let wait_text = match wait {
            Duration::MAX => "not all started".to_owned(),
            wait => format!("{wait:?}"),
        };
        eprintln!(
            "backlog {backlog}, fair {fair}: others' p99 wait to start {wait_text}, \
             {a_before} of the backlog's runs went before their last"
        );
        waits.push((wait, a_before));
    }
    let (alone, fair, unfair) = (waits[0], waits[1], waits[2]);
    assert!(
        alone.0 < Duration::MAX && fair.0 < Duration::MAX,
        "every other run started"
    );
    // With turns, the backlog's runs go one per round of the others' (20 runs of 4 tenants, 5
    // rounds): at most one per round, and a few claimed before the others came.
    assert!(fair.1 <= 10, "{} runs of the backlog went first", fair.1);
    // Without them, the whole backlog went first.
    assert!(
        unfair.1 >= 400,
        "only {} of the backlog went first",
        unfair.1
    );
}
