//! Chaos over worker processes: 20 runs of the 203-node chaos pipeline (`tests::chaos`: fan-out,
//! diamonds, gates, and a node mapped over 500 items) on 4 worker processes, with 100 kill -9s
//! of random workers while they run (kill one, start a fresh one). Every run completes with the
//! output of an undisturbed run in one process; each node and each item is checkpointed once and
//! has one completed audit entry; no node or item runs again after its checkpoint committed (the
//! side-effect log says when each execution started); and a killed worker's nodes and items are
//! running elsewhere within lease + 2 s.
//!
//! `PIPELINE_FLEET_KILLS` sets the number of kills (default 100).
#![cfg(unix)]

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pipeline::store::{AuditStatus, PostgresStore};
use pipeline::{PipelineEngine, RunId, RunStatus};
use tests::postgres::TestDatabase;

const SUBJECT: &str = env!("CARGO_BIN_EXE_fleet_subject");
const RUNS: u64 = 20;
const WORKERS: usize = 4;
const LEASE: Duration = Duration::from_secs(1);

fn worker(url: &str, id: &str, log: &Path) -> Child {
    Command::new(SUBJECT)
        .args([url, id])
        .arg(log)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("a worker process starts")
}

/// A claim: run, node, item (-1 for a node row), token.
type Held = (String, i32, i32, i64);

/// The nodes and items `worker` holds now (running under its lease).
async fn held_by(client: &tokio_postgres::Client, worker: &str) -> Vec<Held> {
    client
        .query(
            "SELECT run_id, node, -1, claim FROM pipeline_fleet_nodes \
             WHERE state = 'running' AND worker = $1 AND lease_expires_at IS NOT NULL \
             UNION ALL SELECT run_id, node, item, claim FROM pipeline_fleet_items \
             WHERE state = 'running' AND worker = $1",
            &[&worker],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect()
}

/// How long until every claim in `held` was claimed again by another worker (or resolved).
async fn takeover(url: String, held: Vec<Held>, killed: Instant) -> Duration {
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let mut pending = held;
    while !pending.is_empty() && killed.elapsed() < LEASE + Duration::from_secs(10) {
        let mut still = Vec::new();
        for (run, node, item, claim) in pending {
            // `leased` is false for a mapped node whose map the worker opened: its row stays
            // running under the same claim, without a lease, until its items are done.
            let row = client
                .query_one(
                    "SELECT claim, state, lease_expires_at IS NOT NULL FROM pipeline_fleet_nodes \
                     WHERE run_id = $1 AND node = $2 AND $3 = -1 \
                     UNION ALL SELECT claim, state, true FROM pipeline_fleet_items \
                     WHERE run_id = $1 AND node = $2 AND item = $3",
                    &[&run, &node, &item],
                )
                .await
                .unwrap();
            // Still the killed worker's claim, running under its lease: not taken over yet.
            // (Otherwise the worker committed it between the look and the kill: it resolved
            // the node or the item, or opened the node's map.)
            if row.get::<_, i64>(0) == claim
                && row.get::<_, &str>(1) == "running"
                && row.get::<_, bool>(2)
            {
                still.push((run, node, item, claim));
            }
        }
        pending = still;
        // Observation, not synchronisation: how soon the takeover is seen, to 10 ms.
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    killed.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    no_postgres,
    ignore = "needs PostgreSQL, which did not answer when the tests were built: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
)]
async fn a_hundred_kill_9s_of_workers_lose_nothing_and_repeat_nothing_committed() {
    let kills: usize = std::env::var("PIPELINE_FLEET_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let db = TestDatabase::create();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("effects.log");
    let store = PostgresStore::open(&db.url).unwrap();
    store.migrate().await.unwrap();
    let (client, connection) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);

    let undisturbed = PipelineEngine::new(tests::chaos::graph(None));
    let mut expected = BTreeMap::new();
    for x in 0..RUNS {
        expected.insert(x, undisturbed.run(x).await.unwrap().output);
    }

    let mut next_id = 0;
    let mut spawn = |workers: &mut Vec<(String, Child)>| {
        let id = format!("chaos-{next_id}");
        next_id += 1;
        workers.push((id.clone(), worker(&db.url, &id, &log)));
    };
    let mut workers = Vec::new();
    for _ in 0..WORKERS {
        spawn(&mut workers);
    }
    let engine = PipelineEngine::new(tests::chaos::graph(None)).fleet(store.clone());
    let mut runs = Vec::new();
    for x in 0..RUNS {
        runs.push((x, engine.submit(x).await.unwrap()));
    }

    let seed = fastrand::u64(..);
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut takeovers = Vec::new();
    let mut killed_while_running = 0;
    for _ in 0..kills {
        // The chaos schedule: a kill every 20 to 80 ms.
        tokio::time::sleep(Duration::from_millis(rng.u64(20..80))).await;
        let victim = rng.usize(0..workers.len());
        let (id, mut child) = workers.swap_remove(victim);
        let held = held_by(&client, &id).await;
        child.kill().unwrap(); // SIGKILL
        let killed = Instant::now();
        child.wait().unwrap();
        if !held.is_empty() {
            takeovers.push(tokio::spawn(takeover(db.url.clone(), held, killed)));
        }
        let running: i64 = client
            .query_one(
                "SELECT count(*) FROM pipeline_fleet_runs WHERE state = 'running'",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        killed_while_running += usize::from(running > 0);
        spawn(&mut workers);
    }

    for (x, run_id) in &runs {
        let result = tokio::time::timeout(Duration::from_secs(120), engine.wait(run_id))
            .await
            .unwrap_or_else(|_| panic!("run {x} did not end (seed {seed})"))
            .unwrap();
        assert_eq!(result.status, RunStatus::Completed, "run {x} (seed {seed})");
        assert_eq!(result.output, expected[x], "run {x} (seed {seed})");
    }
    for (_, mut child) in workers {
        child.kill().unwrap();
        child.wait().unwrap();
    }

    let mut times: Vec<Duration> = Vec::new();
    for takeover in takeovers {
        times.push(takeover.await.unwrap());
    }
    times.sort();
    let executions = effects(&log);
    let mut reruns = 0;
    for (_, run_id) in &runs {
        let checkpoint = engine.load_checkpoint(run_id).await.unwrap().unwrap();
        let trail = engine.audit_trail(run_id).await.unwrap().unwrap();
        // A node by its id, an item as `node[i]`, as the side-effect log names them.
        let key = |node: &str, item: Option<pipeline::MapItem>| match item {
            Some(item) => format!("{node}[{}]", item.index),
            None => node.to_owned(),
        };
        let mut completed: HashMap<String, usize> = HashMap::new();
        for entry in trail.iter().filter(|e| e.status == AuditStatus::Completed) {
            *completed.entry(key(&entry.node, entry.item)).or_default() += 1;
        }
        let mut recorded: HashMap<String, usize> = HashMap::new();
        for record in &checkpoint.nodes {
            let unit = key(&record.node, record.item);
            *recorded.entry(unit.clone()).or_default() += 1;
            assert_eq!(
                completed.get(&unit),
                Some(&1),
                "{run_id} {unit}: one completed audit entry per checkpoint record (seed {seed})",
            );
            // `tally` and `list` record no side effect.
            let Some(starts) = executions.get(&(run_id.clone(), unit.clone())) else {
                continue;
            };
            reruns += starts.len() - 1;
            assert!(
                starts.iter().all(|&start| start <= record.finished_at_ms),
                "{run_id} {unit} ran again after its checkpoint committed (seed {seed})",
            );
        }
        let items = recorded.keys().filter(|k| k.starts_with("items[")).count();
        assert_eq!(
            items as u64,
            tests::chaos::ITEMS,
            "{run_id}: every item recorded"
        );
        assert!(
            recorded.values().all(|&n| n == 1),
            "{run_id}: each node and each item has exactly one record (seed {seed})"
        );
        let mut seen = std::collections::HashSet::new();
        assert!(
            checkpoint.completed().all(|n| seen.insert(n)),
            "{run_id}: a node recorded twice"
        );
    }
    let limit = LEASE + Duration::from_secs(2);
    let (median, max) = (times[times.len() / 2], times[times.len() - 1]);
    println!(
        "{kills} kills ({killed_while_running} while runs were running), {} took nodes with \
         them; takeover median {median:?}, max {max:?}; {reruns} executions repeated (seed {seed})",
        times.len()
    );
    assert!(max <= limit, "a takeover took {max:?} (seed {seed})");
    assert!(
        killed_while_running >= kills * 9 / 10,
        "the runs ended before the kills did"
    );
}

/// The side-effect log: each `(run, node)`'s execution start times.
fn effects(log: &Path) -> HashMap<(RunId, String), Vec<u64>> {
    let mut executions: HashMap<(RunId, String), Vec<u64>> = HashMap::new();
    for line in std::fs::read_to_string(log).unwrap_or_default().lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        if let [run, node, start] = fields[..]
            && let (Ok(run), Ok(start)) = (RunId::new(run), start.parse())
        {
            executions
                .entry((run, node.to_owned()))
                .or_default()
                .push(start);
        }
    }
    executions
}
