//! The fleet against the local PostgreSQL server, printed as rows for `scripts/bench`:
//! node completions per second with 1, 2 and 4 workers (no-op nodes), beside the in-process
//! engine with the SQLite store in the same run; latency from `submit` to the first node
//! starting on a worker process (p50, p99; the bench starts itself again as the worker); from `signal` to the node after the wait starting (p50, p99); rows and
//! bytes per node at 100, 1,000 and 10,000 nodes.
//!
//! `PIPELINE_BENCH_POSTGRES` names a database to create the bench's own database from
//! (default `postgres://postgres@127.0.0.1:5432/postgres`); the bench drops it at the end.

use std::time::{Duration, Instant};

use pipeline::fleet::{Shutdown, Worker};
use pipeline::store::{PostgresStore, SqliteCheckpointer};
use pipeline::{Graph, GraphBuilder, PipelineEngine, Signal};

const RUNS: usize = 100;
const WIDTH: usize = 50;

fn wide(n: usize) -> Graph<u64, Vec<u64>> {
    let mut g = GraphBuilder::<u64>::new(format!("wide{n}"));
    let x = g.input("x", |x: &u64| *x);
    let nodes: Vec<_> = (0..n)
        .map(|i| {
            g.node(format!("n{i}")).run(
                x,
                |x, _| async move { Ok::<_, std::convert::Infallible>(x) },
            )
        })
        .collect();
    g.build(nodes).unwrap()
}

async fn admin(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("PostgreSQL answers (start it: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start)");
    tokio::spawn(connection);
    client
}

/// A fresh database; returns its URL.
async fn database(admin: &tokio_postgres::Client, server: &str, name: &str) -> String {
    for sql in [
        format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        format!("CREATE DATABASE {name}"),
    ] {
        admin.batch_execute(&sql).await.unwrap();
    }
    format!("{}/{name}", server.rsplit_once('/').unwrap().0)
}

/// Node completions per second: RUNS runs of WIDTH no-op nodes submitted first, then `workers`
/// workers (concurrency 32 each: no-op nodes finish at once, so a worker holds many to keep its
/// claims and commits in batches) run them all.
async fn throughput(url: &str, workers: usize) -> f64 {
    let store = PostgresStore::open(url).unwrap();
    store.migrate().await.unwrap();
    let engine = PipelineEngine::new(wide(WIDTH)).fleet(store);
    let mut ids = Vec::new();
    for i in 0..RUNS {
        ids.push(engine.submit(i as u64).await.unwrap());
    }
    let shutdown = Shutdown::new();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..workers {
        let worker = Worker::new(PostgresStore::open(url).unwrap())
            .serve(&wide(WIDTH))
            .id(format!("bench-{i}"))
            .concurrency(32);
        tasks.push(tokio::spawn(worker.run(shutdown.clone())));
    }
    for id in &ids {
        engine.wait(id).await.unwrap();
    }
    let elapsed = started.elapsed();
    shutdown.stop();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    (RUNS * WIDTH) as f64 / elapsed.as_secs_f64()
}

/// The limit for the fleet on this server: RUNS * WIDTH rows of a bare queue table, claimed by
/// `workers` loops (a connection each) with the fleet's batching: up to 32 rows claimed with
/// `FOR UPDATE SKIP LOCKED` in one transaction (`synchronous_commit = off`, as the fleet's
/// claim), then marked done in a second, durable one. Nodes per second.
async fn bare_skip_locked(url: &str, workers: usize) -> f64 {
    let setup = admin(url).await;
    setup
        .batch_execute(&format!(
            "CREATE TABLE bare_queue (id bigserial PRIMARY KEY, state text NOT NULL DEFAULT \
             'ready', worker text); CREATE INDEX ON bare_queue (id) WHERE state = 'ready'; \
             INSERT INTO bare_queue (state) SELECT 'ready' FROM generate_series(1, {})",
            RUNS * WIDTH
        ))
        .await
        .unwrap();
    let started = Instant::now();
    let loops: Vec<_> = (0..workers)
        .map(|i| {
            let url = url.to_owned();
            tokio::spawn(async move {
                let mut client = admin(&url).await;
                let claim = client
                    .prepare(
                        "UPDATE bare_queue q SET state = 'running', worker = $1 FROM \
                         (SELECT id FROM bare_queue WHERE state = 'ready' ORDER BY id \
                          LIMIT 32 FOR UPDATE SKIP LOCKED) c WHERE q.id = c.id RETURNING q.id",
                    )
                    .await
                    .unwrap();
                let done = client
                    .prepare("UPDATE bare_queue SET state = 'done' WHERE id = ANY($1)")
                    .await
                    .unwrap();
                let name = format!("bare-{i}");
                loop {
                    let tx = client.transaction().await.unwrap();
                    tx.batch_execute("SET LOCAL synchronous_commit = off")
                        .await
                        .unwrap();
                    let ids: Vec<i64> = tx
                        .query(&claim, &[&name])
                        .await
                        .unwrap()
                        .iter()
                        .map(|row| row.get(0))
                        .collect();
                    tx.commit().await.unwrap();
                    if ids.is_empty() {
                        return;
                    }
                    client.execute(&done, &[&ids]).await.unwrap();
                }
            })
        })
        .collect();
    for task in loops {
        task.await.unwrap();
    }
    (RUNS * WIDTH) as f64 / started.elapsed().as_secs_f64()
}

/// The same work in one process, run after run, with the SQLite checkpointer and audit log.
async fn in_process_sqlite() -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteCheckpointer::open(dir.path().join("runs.db")).unwrap();
    let engine = PipelineEngine::new(wide(WIDTH))
        .audit_log(store.audit_log())
        .checkpointer(store);
    let started = Instant::now();
    for i in 0..RUNS {
        engine.run(i as u64).await.unwrap();
    }
    (RUNS * WIDTH) as f64 / started.elapsed().as_secs_f64()
}

/// The median and the 99th percentile of `samples`.
fn p50_p99(mut samples: Vec<Duration>) -> (Duration, Duration) {
    samples.sort();
    (
        samples[samples.len() / 2],
        samples[samples.len() * 99 / 100],
    )
}

/// The wall clock in microseconds (worker processes and the bench share the machine's clock).
fn now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// One node that outputs when it started, by the wall clock.
fn stamp() -> Graph<u64, u64> {
    stamped("stamp", |g, x| g.node("n").run(x, stamp_now))
}

/// The same under limits that never hold it back: the node limited to 100 at once, and the
/// runs to 100 at once per key (every run has one key), so claims take the limited paths.
fn stamp_limited() -> Graph<u64, u64> {
    stamped("stamp_limited", |g, x| {
        g.limit_runs(|_: &u64| "every run", 100);
        g.node("n").limit(100).run(x, stamp_now)
    })
}

async fn stamp_now(_: u64, _: pipeline::NodeContext) -> Result<u64, std::convert::Infallible> {
    Ok(now_us())
}

fn stamped(
    name: &str,
    node: impl FnOnce(&mut GraphBuilder<u64>, pipeline::Handle<u64>) -> pipeline::Handle<u64>,
) -> Graph<u64, u64> {
    let mut g = GraphBuilder::<u64>::new(name);
    let x = g.input("x", |x: &u64| *x);
    let n = node(&mut g, x);
    g.build(n).unwrap()
}

/// This bench as a worker process serving `stamp` (or `stamp_limited`) on `url` until it is
/// killed.
fn worker_process(url: &str, limited: bool) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let graph = if limited { stamp_limited() } else { stamp() };
        let worker = Worker::new(PostgresStore::open(url).unwrap())
            .serve(&graph)
            .concurrency(4);
        worker.run(Shutdown::new()).await.unwrap();
    });
}

/// From `submit` to the node starting on an idle worker in a process of its own (this bench
/// started again as a worker), over 200 one-node runs of `graph`: the node's output is when it
/// started.
async fn latency(url: &str, limited: bool) -> (Duration, Duration) {
    let store = PostgresStore::open(url).unwrap();
    store.migrate().await.unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut worker = std::process::Command::new(exe)
        .args(["--worker", url])
        .args(limited.then_some("--limited"))
        .spawn()
        .expect("the bench starts itself as a worker process");
    let graph = if limited { stamp_limited() } else { stamp() };
    let engine = PipelineEngine::new(graph).fleet(store);
    // Warm up: the worker process is up, connected and listening once a run completed.
    let id = engine.submit(0).await.unwrap();
    engine.wait(&id).await.unwrap();
    let mut samples = Vec::new();
    for i in 0..200 {
        let submitted = now_us();
        let id = engine.submit(i).await.unwrap();
        let began = engine.wait(&id).await.unwrap().output.unwrap();
        samples.push(Duration::from_micros(began.saturating_sub(submitted)));
    }
    worker.kill().unwrap();
    worker.wait().unwrap();
    p50_p99(samples)
}

/// From `signal` (sent by an engine with no worker) to the dependent node starting on an idle
/// worker, over 100 runs whose wait has begun: the signal's transaction, its `NOTIFY`, the
/// worker's claim and completion of the wait, and the dependent's claim.
async fn signal_latency(url: &str) -> (Duration, Duration) {
    let (sender, mut started) = tokio::sync::mpsc::unbounded_channel::<Instant>();
    let graph = move || {
        let sender = sender.clone();
        let mut g = GraphBuilder::<u64>::new("approve");
        let x = g.input("x", |x: &u64| *x);
        let plan = g.node("plan").run(
            x,
            |x, _| async move { Ok::<_, std::convert::Infallible>(x) },
        );
        let approval = g.node("approval").signal::<bool, _>(plan);
        let n = g.node("n").run((plan, approval), move |(x, _), _| {
            let _ = sender.send(Instant::now());
            async move { Ok::<_, std::convert::Infallible>(x) }
        });
        g.build(n).unwrap()
    };
    let store = PostgresStore::open(url).unwrap();
    store.migrate().await.unwrap();
    let client = admin(url).await;
    let shutdown = Shutdown::new();
    let worker = Worker::new(store.clone()).serve(&graph()).concurrency(4);
    let task = tokio::spawn(worker.run(shutdown.clone()));
    let engine = PipelineEngine::new(graph()).fleet(store.clone());
    let sender = PipelineEngine::new(graph()).fleet(store);
    let mut samples = Vec::new();
    for i in 0..101 {
        let id = engine.submit(i).await.unwrap();
        loop {
            let began: Option<bool> = client
                .query_opt(
                    "SELECT began FROM pipeline_fleet_nodes WHERE run_id = $1 AND node_id = 'approval'",
                    &[&id.as_str()],
                )
                .await
                .unwrap()
                .map(|row| row.get(0));
            if began == Some(true) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let sent = Instant::now();
        sender
            .signal(&id, Signal::new("approval", &true).unwrap())
            .await
            .unwrap();
        let began = started.recv().await.unwrap();
        engine.wait(&id).await.unwrap();
        if i > 0 {
            samples.push(began - sent); // the first warms up the connections
        }
    }
    shutdown.stop();
    task.await.unwrap().unwrap();
    p50_p99(samples)
}

/// Rows and bytes (row data, `pg_column_size`) the store adds per node for one run of `n`
/// no-op nodes.
async fn footprint(url: &str, n: usize) -> (f64, f64) {
    let client = admin(url).await;
    let measure = || async {
        let row = client
            .query_one(
                "SELECT \
                 (SELECT count(*) FROM pipeline_node_records) + \
                 (SELECT count(*) FROM pipeline_audit_entries) + \
                 (SELECT count(*) FROM pipeline_fleet_nodes) + \
                 (SELECT count(*) FROM pipeline_fleet_runs) + \
                 (SELECT count(*) FROM pipeline_runs) + \
                 (SELECT count(*) FROM pipeline_audit_runs) + \
                 (SELECT count(*) FROM pipeline_run_summaries), \
                 coalesce((SELECT sum(pg_column_size(t.*)) FROM pipeline_node_records t), 0) + \
                 coalesce((SELECT sum(pg_column_size(t.*)) FROM pipeline_audit_entries t), 0) + \
                 coalesce((SELECT sum(pg_column_size(t.*)) FROM pipeline_fleet_nodes t), 0) + \
                 coalesce((SELECT sum(pg_column_size(t.*)) FROM pipeline_fleet_runs t), 0) + \
                 coalesce((SELECT sum(pg_column_size(t.*)) FROM pipeline_runs t), 0) + \
                 coalesce((SELECT sum(pg_column_size(t.*)) FROM pipeline_audit_runs t), 0) + \
                 coalesce((SELECT sum(pg_column_size(t.*)) FROM pipeline_run_summaries t), 0)",
                &[],
            )
            .await
            .unwrap();
        (row.get::<_, i64>(0) as f64, row.get::<_, i64>(1) as f64)
    };
    let store = PostgresStore::open(url).unwrap();
    store.migrate().await.unwrap();
    let before = measure().await;
    let engine = PipelineEngine::new(wide(n)).fleet(store.clone());
    let id = engine.submit(1).await.unwrap();
    let shutdown = Shutdown::new();
    let worker = Worker::new(store).serve(&wide(n)).concurrency(16);
    let task = tokio::spawn(worker.run(shutdown.clone()));
    engine.wait(&id).await.unwrap();
    shutdown.stop();
    task.await.unwrap().unwrap();
    let after = measure().await;
    (
        (after.0 - before.0) / n as f64,
        (after.1 - before.1) / n as f64,
    )
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|a| a == "--worker") {
        return worker_process(&args[at + 1], args.iter().any(|a| a == "--limited"));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let server = std::env::var("PIPELINE_BENCH_POSTGRES")
            .unwrap_or("postgres://postgres@127.0.0.1:5432/postgres".to_owned());
        let admin_client = admin(&server).await;
        let sqlite = in_process_sqlite().await;
        println!("fleet_sqlite_in_process_nodes_per_s {sqlite:.0}");
        let mut two = 0.0;
        for workers in [1, 2, 4] {
            let url = database(&admin_client, &server, "pipeline_bench_fleet").await;
            let rate = throughput(&url, workers).await;
            println!("fleet_workers_{workers}_nodes_per_s {rate:.0}");
            if workers == 2 {
                two = rate;
            }
        }
        let url = database(&admin_client, &server, "pipeline_bench_fleet").await;
        let bare = bare_skip_locked(&url, 2).await;
        println!("fleet_bare_skip_locked_2_loops_nodes_per_s {bare:.0}");
        println!("fleet_workers_2_of_bare {:.2}", two / bare);
        for (limited, name) in [(false, ""), (true, "_limited")] {
            let url = database(&admin_client, &server, "pipeline_bench_fleet").await;
            let (p50, p99) = latency(&url, limited).await;
            let ms = |d: Duration| d.as_secs_f64() * 1000.0;
            println!("fleet_submit_to_start{name}_p50_ms {:.2}", ms(p50));
            println!("fleet_submit_to_start{name}_p99_ms {:.2}", ms(p99));
        }
        let url = database(&admin_client, &server, "pipeline_bench_fleet").await;
        let (p50, p99) = signal_latency(&url).await;
        println!(
            "fleet_signal_to_start_p50_ms {:.2}",
            p50.as_secs_f64() * 1000.0
        );
        println!(
            "fleet_signal_to_start_p99_ms {:.2}",
            p99.as_secs_f64() * 1000.0
        );
        for n in [100, 1_000, 10_000] {
            let (rows, bytes) = footprint(&url, n).await;
            println!("fleet_rows_per_node_{n} {rows:.2}");
            println!("fleet_bytes_per_node_{n} {bytes:.0}");
        }
        admin_client
            .batch_execute("DROP DATABASE IF EXISTS pipeline_bench_fleet WITH (FORCE)")
            .await
            .unwrap();
    });
}
