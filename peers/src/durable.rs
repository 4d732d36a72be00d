//! Durable steps against the `dbos` crate (DBOS Transact for Rust) on the same PostgreSQL
//! server: `scripts/bench --peers --durable`.
//!
//! Workloads: `chain-10` (10 sequential no-op steps) and `fan-10` (a root, 10 parallel steps, a
//! sum: 12 steps). Each is run one workflow after another, and with 64 in flight. Contenders:
//! DBOS, and this crate over its PostgreSQL store, SQLite, files with `Durability::Sync` and
//! `Async`, and the fleet (2 in-process workers on PostgreSQL). Every one keeps what it must to
//! resume a workflow after a crash; ours also keeps the audit trail (every attempt, its inputs
//! and output). Each contender gets a database or directory of its own, made fresh each round.
//!
//! Figures: time per step (median of `rounds` rounds), speed against DBOS (above 1 is faster),
//! and for the PostgreSQL contenders the rows written, transactions committed and WAL flushes
//! per step, read from the server's statistics once the contender's connections have closed.

use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use pipeline::fleet::{Shutdown, Worker};
use pipeline::store::{Durability, PostgresStore, StoreSpec, Stores};
use pipeline::{Graph, GraphBuilder, Handle, PipelineEngine, RunStatus};

/// The server every PostgreSQL contender uses: `PIPELINE_BENCH_POSTGRES`, or the local one.
pub fn server() -> String {
    std::env::var("PIPELINE_BENCH_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// The two workloads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Work {
    Chain10,
    Fan10,
}

impl Work {
    /// Durable steps per workflow.
    pub fn steps(self) -> usize {
        match self {
            Work::Chain10 => 10,
            Work::Fan10 => 12,
        }
    }

    /// What a workflow started with `x` returns.
    fn expected(self, x: u64) -> u64 {
        match self {
            Work::Chain10 => x + 10,
            Work::Fan10 => 10 * (x + 2),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Work::Chain10 => "chain-10",
            Work::Fan10 => "fan-10",
        }
    }
}

/// One workflow after another, or many in flight.
#[derive(Clone, Copy, Debug)]
pub struct Mode {
    pub workflows: usize,
    pub in_flight: usize,
}

/// Who runs the workflows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Contender {
    Dbos,
    Postgres,
    Sqlite,
    FilesSync,
    FilesAsync,
    Fleet,
}

impl Contender {
    pub const ALL: [Contender; 6] = [
        Contender::Dbos,
        Contender::Postgres,
        Contender::Sqlite,
        Contender::FilesSync,
        Contender::FilesAsync,
        Contender::Fleet,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Contender::Dbos => "DBOS 0.5.0",
            Contender::Postgres => "ours, PostgreSQL",
            Contender::Sqlite => "ours, SQLite",
            Contender::FilesSync => "ours, files Sync",
            Contender::FilesAsync => "ours, files Async",
            Contender::Fleet => "ours, fleet (2 workers)",
        }
    }

    fn on_postgres(self) -> bool {
        matches!(
            self,
            Contender::Dbos | Contender::Postgres | Contender::Fleet
        )
    }
}

/// What one measured pass gives.
#[derive(Clone, Copy, Debug, Default)]
pub struct Pass {
    pub per_step: Duration,
    /// Per step, from the server's statistics (PostgreSQL contenders only).
    pub rows: f64,
    pub transactions: f64,
    pub wal_flushes: f64,
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL housekeeping.

async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("PostgreSQL answers (start it: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start)");
    tokio::spawn(connection);
    client
}

/// A fresh database named `name`; returns its URL.
async fn database(admin: &tokio_postgres::Client, name: &str) -> String {
    for sql in [
        format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        format!("CREATE DATABASE {name}"),
    ] {
        admin.batch_execute(&sql).await.expect("a fresh database");
    }
    let server = server();
    format!("{}/{name}", server.rsplit_once('/').expect("a URL").0)
}

/// The database's committed transactions and written rows, and the server's WAL flushes, once no
/// connection to the database is left (a backend sends its statistics when it exits).
async fn counters(admin: &tokio_postgres::Client, name: &str) -> [f64; 3] {
    loop {
        let row = admin
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = $1",
                &[&name],
            )
            .await
            .expect("pg_stat_activity");
        if row.get::<_, i64>(0) == 0 {
            break;
        }
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    admin
        .batch_execute("SELECT pg_stat_force_next_flush(); SELECT pg_stat_clear_snapshot()")
        .await
        .expect("a statistics flush");
    let row = admin
        .query_one(
            "SELECT d.xact_commit::float8, (d.tup_inserted + d.tup_updated + d.tup_deleted)::float8, \
             w.wal_sync::float8 FROM pg_stat_database d, pg_stat_wal w WHERE d.datname = $1",
            &[&name],
        )
        .await
        .expect("pg_stat_database");
    [row.get(0), row.get(1), row.get(2)]
}

// ---------------------------------------------------------------------------------------------
// DBOS.

async fn dbos_chain(x: u64) -> dbos::Result<u64> {
    let mut x = x;
    for i in 0..10 {
        x = dbos::step(&format!("s{i}"), move || async move { Ok::<_, dbos::Error>(x + 1) })
            .await?;
    }
    Ok(x)
}

async fn dbos_fan(x: u64) -> dbos::Result<u64> {
    let root = dbos::step("root", move || async move { Ok::<_, dbos::Error>(x + 1) }).await?;
    let parts = (0..10).map(|i| {
        dbos::step(&format!("p{i}"), move || async move {
            Ok::<_, dbos::Error>(root + 1)
        })
    });
    let parts: Vec<u64> = futures_util::future::try_join_all(parts).await?;
    dbos::step("sum", move || {
        let parts = parts.clone();
        async move { Ok::<_, dbos::Error>(parts.iter().sum::<u64>()) }
    })
    .await
}

async fn run_dbos(url: &str, work: Work, mode: Mode) -> Duration {
    let mut config = dbos::Config::new("bench", url);
    config.app_version = Some("1".to_owned());
    let dbos = dbos::DBOS::new(config);
    let chain = dbos.register_workflow("chain", dbos_chain).expect("register");
    let fan = dbos.register_workflow("fan", dbos_fan).expect("register");
    dbos.launch().await.expect("DBOS launches");
    let started = Instant::now();
    futures_util::stream::iter(0..mode.workflows as u64)
        .map(|x| {
            let (chain, fan) = (chain.clone(), fan.clone());
            async move {
                let got = match work {
                    Work::Chain10 => chain.run(x).await,
                    Work::Fan10 => fan.run(x).await,
                }
                .expect("the DBOS workflow");
                assert_eq!(got, work.expected(x), "DBOS {work:?}");
            }
        })
        .buffer_unordered(mode.in_flight)
        .collect::<Vec<()>>()
        .await;
    let took = started.elapsed();
    dbos.shutdown().await;
    took
}

// ---------------------------------------------------------------------------------------------
// Ours.

fn step(x: u64) -> impl std::future::Future<Output = Result<u64, Infallible>> {
    std::future::ready(Ok(x + 1))
}

/// The workload as a graph.
pub fn graph(work: Work) -> Graph<u64, u64> {
    let mut g = GraphBuilder::<u64>::new(work.name());
    let x = g.input("x", |x: &u64| *x);
    let last = match work {
        Work::Chain10 => (0..10).fold(x, |last, i| {
            g.node(format!("s{i}")).run(last, |x, _| step(x))
        }),
        Work::Fan10 => {
            let root = g.node("root").run(x, |x, _| step(x));
            let parts: Vec<Handle<u64>> = (0..10)
                .map(|i| g.node(format!("p{i}")).run(root, |x, _| step(x)))
                .collect();
            g.node("sum").run(parts, |xs: Vec<u64>, _| async move {
                Ok::<_, Infallible>(xs.iter().sum::<u64>())
            })
        }
    };
    g.build(last).expect("a valid graph")
}

async fn run_engine(stores: Stores, work: Work, mode: Mode) -> Duration {
    let engine = Arc::new(PipelineEngine::new(graph(work)).stores(stores));
    let started = Instant::now();
    futures_util::stream::iter(0..mode.workflows as u64)
        .map(|x| {
            let engine = Arc::clone(&engine);
            async move {
                let result = engine.run(x).await.expect("the run starts");
                assert_eq!(result.status, RunStatus::Completed, "{:?}", result.failures);
                assert!(result.warnings.is_empty(), "{:?}", result.warnings);
                assert_eq!(result.output, Some(work.expected(x)), "ours {work:?}");
            }
        })
        .buffer_unordered(mode.in_flight)
        .collect::<Vec<()>>()
        .await;
    started.elapsed()
}

async fn run_fleet(url: &str, work: Work, mode: Mode) -> Duration {
    let store = PostgresStore::open(url).expect("the store");
    store.migrate().await.expect("the schema");
    let engine = Arc::new(PipelineEngine::new(graph(work)).fleet(store));
    let shutdown = Shutdown::new();
    let workers: Vec<_> = (0..2)
        .map(|i| {
            let worker = Worker::new(PostgresStore::open(url).expect("the store"))
                .serve(&graph(work))
                .id(format!("bench-{i}"))
                .concurrency(32);
            tokio::spawn(worker.run(shutdown.clone()))
        })
        .collect();
    let started = Instant::now();
    futures_util::stream::iter(0..mode.workflows as u64)
        .map(|x| {
            let engine = Arc::clone(&engine);
            async move {
                let id = engine.submit(x).await.expect("submitted");
                let result = engine.wait(&id).await.expect("the run ends");
                assert_eq!(result.status, RunStatus::Completed, "{:?}", result.failures);
                assert_eq!(result.output, Some(work.expected(x)), "fleet {work:?}");
            }
        })
        .buffer_unordered(mode.in_flight)
        .collect::<Vec<()>>()
        .await;
    let took = started.elapsed();
    shutdown.stop();
    for worker in workers {
        worker.await.expect("the worker task").expect("the worker");
    }
    took
}

/// One pass of `contender` over a fresh database or directory.
pub async fn pass(contender: Contender, work: Work, mode: Mode, scratch: &std::path::Path) -> Pass {
    let admin = connect(&server()).await;
    let name = format!("bench_durable_{}", std::process::id());
    let steps = (mode.workflows * work.steps()) as f64;
    let mut wal_before = 0.0;
    let took = match contender {
        Contender::Dbos | Contender::Postgres | Contender::Fleet => {
            let url = database(&admin, &name).await;
            wal_before = wal_flushes(&admin).await;
            let took = match contender {
                Contender::Dbos => run_dbos(&url, work, mode).await,
                Contender::Fleet => run_fleet(&url, work, mode).await,
                _ => {
                    let stores = StoreSpec::parse(&url)
                        .and_then(|spec| spec.open(Durability::Sync))
                        .expect("the store");
                    if let Ok(store) = PostgresStore::open(&url) {
                        store.migrate().await.expect("the schema");
                    }
                    run_engine(stores, work, mode).await
                }
            };
            took
        }
        Contender::Sqlite => {
            let file: PathBuf = scratch.join(format!("{}.db", uuid_ish()));
            let spec = StoreSpec::Sqlite(file);
            run_engine(spec.open(Durability::Sync).expect("SQLite"), work, mode).await
        }
        Contender::FilesSync | Contender::FilesAsync => {
            let dir = scratch.join(uuid_ish());
            let durability = match contender {
                Contender::FilesSync => Durability::Sync,
                _ => Durability::Async,
            };
            let spec = StoreSpec::Directory(dir);
            run_engine(spec.open(durability).expect("files"), work, mode).await
        }
    };
    let mut result = Pass {
        per_step: took.div_f64(steps),
        ..Pass::default()
    };
    if contender.on_postgres() {
        let [xacts, rows, flushes] = counters(&admin, &name).await;
        result.transactions = xacts / steps;
        result.rows = rows / steps;
        result.wal_flushes = (flushes - wal_before) / steps;
        admin
            .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .await
            .expect("drop the database");
    }
    result
}

/// The server's WAL flushes so far (server-wide: a pass reads them before and after).
async fn wal_flushes(admin: &tokio_postgres::Client) -> f64 {
    admin
        .batch_execute("SELECT pg_stat_clear_snapshot()")
        .await
        .expect("a statistics snapshot");
    let row = admin
        .query_one("SELECT wal_sync::float8 FROM pg_stat_wal", &[])
        .await
        .expect("pg_stat_wal");
    row.get(0)
}

fn uuid_ish() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!("run{}", NEXT.fetch_add(1, Ordering::Relaxed))
}
