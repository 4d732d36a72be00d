//! Engine overhead against hand-written tokio, checkpoint cost, resume cost and group commit.
//! `scripts/bench` runs this and prints one table from the results.
//!
//! Every measured run is driven from a tokio worker thread (`tokio::spawn` of the whole run), for
//! the engine and the baselines alike: from the `block_on` thread every hop would be a cross-thread
//! wake-up.

mod common;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use pipeline::{
    Durability, FileCheckpointer, Graph, InMemoryCheckpointer, PipelineEngine, RoundTrip, RunId,
};
use tokio::runtime::Runtime;

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

type Engine<O> = Arc<PipelineEngine<Graph<u64, O>>>;

/// One run of `engine`, driven from a worker thread.
async fn run<O: Send + 'static>(engine: &Engine<O>) -> Option<O> {
    let engine = Arc::clone(engine);
    tokio::spawn(async move { engine.run(0).await.expect("the run starts").output })
        .await
        .expect("the run task")
}

fn chain_benches(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("chain");
    for n in [1_000usize, 10_000] {
        group.throughput(Throughput::Elements(n as u64));
        let engine: Engine<u64> = Arc::new(PipelineEngine::new(chain(n)));
        group.bench_function(BenchmarkId::new("engine", n), |b| {
            b.to_async(&rt).iter(|| run(&engine))
        });
        group.bench_function(BenchmarkId::new("spawn_await", n), |b| {
            b.to_async(&rt).iter(|| async move {
                tokio::spawn(async move {
                    let mut x = 0;
                    for _ in 0..n {
                        x = tokio::spawn(noop(x)).await.expect("task");
                    }
                    x
                })
                .await
            })
        });
        group.bench_function(BenchmarkId::new("direct_await", n), |b| {
            b.to_async(&rt).iter(|| async move {
                tokio::spawn(async move {
                    let mut x = 0;
                    for _ in 0..n {
                        x = noop(x).await;
                    }
                    x
                })
                .await
            })
        });
    }
    group.finish();
}

/// A chain whose nodes are limited (a limit that never binds) or rated (a rate that never
/// waits), against the same chain without: what a limit or a rate costs per node.
fn limit_benches(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("limits");
    let n = 1_000usize;
    group.throughput(Throughput::Elements(n as u64));
    for (name, limit, rate) in [
        ("none", false, false),
        ("limit", true, false),
        ("rate", false, true),
    ] {
        let engine: Engine<u64> = Arc::new(PipelineEngine::new(chain_with(n, limit, rate)));
        group.bench_function(BenchmarkId::new(name, n), |b| {
            b.to_async(&rt).iter(|| run(&engine))
        });
    }
    group.finish();
}

fn fanout_benches(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("fanout");
    for n in [1_000usize, 10_000] {
        group.throughput(Throughput::Elements(n as u64));
        let engine: Engine<u64> = Arc::new(PipelineEngine::new(fanout(n)));
        group.bench_function(BenchmarkId::new("engine", n), |b| {
            b.to_async(&rt).iter(|| run(&engine))
        });
        group.bench_function(BenchmarkId::new("spawn_join_all", n), |b| {
            b.to_async(&rt).iter(|| async move {
                tokio::spawn(async move {
                    let source = tokio::spawn(noop(0)).await.expect("task");
                    let parts = (0..n).map(|_| tokio::spawn(noop(source)));
                    let parts = futures_util::future::join_all(parts).await;
                    let sum: u64 = parts.into_iter().map(|p| p.expect("task")).sum();
                    tokio::spawn(async move { sum }).await.expect("task")
                })
                .await
            })
        });
    }
    group.finish();
}

/// A node mapped over `n` items (`each`) against a fan-out of `n` ordinary nodes doing the same
/// work, without stores and with in-memory stores (fresh for each run).
fn each_benches(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("each");
    for n in [1_000usize, 10_000, 100_000] {
        group.throughput(Throughput::Elements(n as u64));
        for (name, graph) in [("map", mapped(n)), ("fanout", fanout(n))] {
            let engine: Engine<u64> = Arc::new(PipelineEngine::new(graph.clone()));
            group.bench_function(BenchmarkId::new(name, n), |b| {
                b.to_async(&rt).iter(|| run(&engine))
            });
            let stored = |graph: Graph<u64, u64>| -> Engine<u64> {
                Arc::new(
                    PipelineEngine::new(graph)
                        .checkpointer(InMemoryCheckpointer::new())
                        .audit_log(pipeline::InMemoryAuditLog::new()),
                )
            };
            group.bench_function(BenchmarkId::new(format!("{name}_memory_stores"), n), |b| {
                b.to_async(&rt).iter_batched(
                    || stored(graph.clone()),
                    |engine| async move { run(&engine).await },
                    BatchSize::PerIteration,
                )
            });
        }
    }
    group.finish();
}

fn scratch_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("a temporary directory")
}

fn checkpoint_benches(c: &mut Criterion) {
    let rt = runtime();
    let dir = scratch_dir();
    let mut group = c.benchmark_group("checkpoint");
    let n = 1_000usize;
    group.throughput(Throughput::Elements(n as u64));
    // A fresh in-memory store per iteration, so that runs kept by earlier iterations do not
    // slow the later ones (and the two variants compare fairly).
    for (name, round_trip) in [
        ("memory", RoundTrip::Verify),
        // Without the round-trip check of each output: its cost is the difference.
        ("memory_trust", RoundTrip::Trust),
    ] {
        let graph = text_chain(n, 1_024);
        group.bench_function(BenchmarkId::new(name, n), |b| {
            b.to_async(&rt).iter_batched(
                || {
                    Arc::new(
                        PipelineEngine::new(graph.clone())
                            .checkpointer(InMemoryCheckpointer::new())
                            .settings(pipeline::EngineSettings::new().round_trip(round_trip)),
                    )
                },
                |engine: Engine<String>| async move { run(&engine).await },
                BatchSize::PerIteration,
            )
        });
    }
    for (name, durability) in [
        ("file_async", Durability::Async),
        ("file_sync", Durability::Sync),
    ] {
        let store = FileCheckpointer::new(dir.path().join(name)).durability(durability);
        let engine: Engine<String> =
            Arc::new(PipelineEngine::new(text_chain(n, 1_024)).checkpointer(store));
        group.bench_function(BenchmarkId::new(name, n), |b| {
            b.to_async(&rt).iter(|| run(&engine))
        });
    }
    group.finish();
}

/// A no-op chain with the in-memory checkpointer and audit log, each attempt's log kept (the
/// default: the body polled with its log as the thread's current one) and not kept
/// (`LogLimits::off`): the difference is what node logs cost a node that logs nothing, in a
/// process whose subscriber has the `NodeLogs` layer (without one, attempts are not watched).
/// Last in the file's groups: it installs the process's subscriber.
fn audit_benches(c: &mut Criterion) {
    // The process's subscriber has the NodeLogs layer, as the CLI's does (events only: no span
    // is made), so attempts are watched; `off` then keeps none.
    {
        use tracing_subscriber::layer::{Layer, SubscriberExt};
        let logs =
            pipeline::trace::NodeLogs.with_filter(tracing_subscriber::filter::filter_fn(|meta| {
                meta.is_event()
            }));
        let _ = tracing::subscriber::set_global_default(tracing_subscriber::registry().with(logs));
    }
    let rt = runtime();
    let mut group = c.benchmark_group("audit");
    let n = 1_000usize;
    group.throughput(Throughput::Elements(n as u64));
    for (name, limits) in [
        ("memory_logs", pipeline::trace::LogLimits::default()),
        ("memory_logs_off", pipeline::trace::LogLimits::off()),
    ] {
        let graph = chain(n);
        group.bench_function(BenchmarkId::new(name, n), |b| {
            b.to_async(&rt).iter_batched(
                || {
                    Arc::new(
                        PipelineEngine::new(graph.clone())
                            .checkpointer(InMemoryCheckpointer::new())
                            .audit_log(pipeline::InMemoryAuditLog::new())
                            .settings(pipeline::EngineSettings::new().node_logs(limits)),
                    )
                },
                |engine: Engine<u64>| async move { run(&engine).await },
                BatchSize::PerIteration,
            )
        });
    }
    group.finish();
}

fn resume_benches(c: &mut Criterion) {
    let rt = runtime();
    let dir = scratch_dir();
    let mut group = c.benchmark_group("resume");
    for n in [1_000usize, 10_000] {
        group.throughput(Throughput::Elements(n as u64));
        let store =
            FileCheckpointer::new(dir.path().join(n.to_string())).durability(Durability::Async);
        let engine = Arc::new(PipelineEngine::new(chain_failing_last(n)).checkpointer(store));
        let id = RunId::new(format!("resume-{n}")).expect("a valid id");
        rt.block_on(engine.run(0).id(id.clone()))
            .expect("the run starts");
        group.bench_function(BenchmarkId::new("file", n), |b| {
            b.to_async(&rt).iter(|| {
                let (engine, id) = (Arc::clone(&engine), id.clone());
                async move {
                    tokio::spawn(async move { engine.resume(&id).await.expect("resumes").status })
                        .await
                }
            })
        });
    }
    group.finish();
}

fn fanout_durable_benches(c: &mut Criterion) {
    let rt = runtime();
    let dir = scratch_dir();
    let mut group = c.benchmark_group("fanout_durable");
    let n = 1_000usize;
    group.throughput(Throughput::Elements(n as u64));
    let store = FileCheckpointer::new(dir.path()).durability(Durability::Sync);
    let engine: Engine<u64> = Arc::new(PipelineEngine::new(fanout(n)).checkpointer(store));
    group.bench_function(BenchmarkId::new("file_sync", n), |b| {
        b.to_async(&rt).iter(|| run(&engine))
    });
    group.finish();
}

/// Bytes and fsyncs per node, from the stores' own counters; written next to criterion's results
/// for `scripts/bench`.
fn store_stats(_: &mut Criterion) {
    let rt = runtime();
    let dir = scratch_dir();
    let mut lines = Vec::new();
    for n in [100usize, 1_000, 10_000] {
        let store = FileCheckpointer::new(dir.path().join(format!("bytes-{n}")))
            .durability(Durability::Async);
        let engine: Engine<String> =
            Arc::new(PipelineEngine::new(text_chain(n, 1_024)).checkpointer(store.clone()));
        rt.block_on(run(&engine));
        let stats = store.stats();
        lines.push(format!(
            "checkpoint_bytes_per_node_{n} {:.1}",
            stats.bytes as f64 / n as f64
        ));
    }
    for n in [1_000usize, 10_000, 100_000] {
        let store = FileCheckpointer::new(dir.path().join(format!("items-{n}")))
            .durability(Durability::Async);
        let engine: Engine<usize> =
            Arc::new(PipelineEngine::new(text_mapped(n, 1_024)).checkpointer(store.clone()));
        rt.block_on(run(&engine));
        let stats = store.stats();
        lines.push(format!(
            "checkpoint_bytes_per_item_{n} {:.1}",
            stats.bytes as f64 / n as f64
        ));
    }
    for (name, graph) in [
        ("chain", text_chain(1_000, 1_024)),
        ("fanout", text_fanout(1_000)),
    ] {
        let store = FileCheckpointer::new(dir.path().join(format!("sync-{name}")))
            .durability(Durability::Sync);
        let engine: Engine<String> =
            Arc::new(PipelineEngine::new(graph).checkpointer(store.clone()));
        rt.block_on(run(&engine));
        let stats = store.stats();
        lines.push(format!(
            "fsyncs_per_node_{name} {:.3}",
            stats.fsyncs as f64 / stats.records as f64
        ));
    }
    sync_at_the_disk(&rt, dir.path(), &mut lines);
    let path = target_dir().join("criterion").join("pipeline-stats.txt");
    let _ = std::fs::create_dir_all(path.parent().expect("a parent"));
    std::fs::write(&path, lines.join("\n") + "\n").expect("stats written");
    println!("{}", lines.join("\n"));
}

/// `Durability::Sync` against the disk it runs on, with a checkpointer and its audit log (a
/// record and its entry written together): the machine's `fsync` (a 1 KB append and
/// `fdatasync`, median of 200), a 200-node chain's time per node against it, the fsyncs per node
/// of a 1,000-node fan-out, and 1,000 runs of a 10-node chain at once, in nodes per second.
fn sync_at_the_disk(rt: &Runtime, dir: &std::path::Path, lines: &mut Vec<String>) {
    use std::io::Write;
    use std::time::Instant;
    let mut file = std::fs::File::create(dir.join("fsync-probe")).expect("a probe file");
    let mut fsyncs: Vec<Duration> = (0..200)
        .map(|_| {
            let start = Instant::now();
            file.write_all(&[7u8; 1024]).expect("a write");
            file.sync_data().expect("an fsync");
            start.elapsed()
        })
        .collect();
    fsyncs.sort();
    let fsync = fsyncs[fsyncs.len() / 2].as_secs_f64() * 1e6;
    lines.push(format!("fsync_us {fsync:.1}"));
    let joint = |name: &str| {
        let checkpointer =
            FileCheckpointer::new(dir.join(format!("joint-{name}"))).durability(Durability::Sync);
        let audit = checkpointer.audit_log();
        (checkpointer, audit)
    };
    let n = 200;
    let mut per_node: Vec<f64> = (0..3)
        .map(|round| {
            let (checkpointer, audit) = joint(&format!("chain-{round}"));
            let engine: Engine<u64> = Arc::new(
                PipelineEngine::new(chain(n))
                    .checkpointer(checkpointer)
                    .audit_log(audit),
            );
            let start = Instant::now();
            rt.block_on(run(&engine));
            start.elapsed().as_secs_f64() * 1e6 / n as f64
        })
        .collect();
    per_node.sort_by(f64::total_cmp);
    lines.push(format!("sync_chain_per_node_us {:.1}", per_node[1]));
    lines.push(format!("sync_chain_of_fsync {:.2}", per_node[1] / fsync));
    let (checkpointer, audit) = joint("fanout");
    let engine: Engine<u64> = Arc::new(
        PipelineEngine::new(fanout(1_000))
            .checkpointer(checkpointer.clone())
            .audit_log(audit.clone()),
    );
    rt.block_on(run(&engine));
    let (records, entries) = (checkpointer.stats(), audit.stats());
    lines.push(format!(
        "sync_fanout_fsyncs_per_node {:.3}",
        (records.fsyncs + entries.fsyncs) as f64 / records.records as f64
    ));
    let (checkpointer, audit) = joint("runs");
    let engine: Engine<u64> = Arc::new(
        PipelineEngine::new(chain(10))
            .checkpointer(checkpointer)
            .audit_log(audit),
    );
    let start = Instant::now();
    rt.block_on(async {
        let runs: Vec<_> = (0..1_000u64)
            .map(|x| {
                let engine = Arc::clone(&engine);
                tokio::spawn(async move { engine.run(x).await.expect("the run starts") })
            })
            .collect();
        for run in runs {
            run.await.expect("the run's task");
        }
    });
    let rate = 10_000.0 / start.elapsed().as_secs_f64();
    lines.push(format!("sync_runs_1000x10_nodes_per_s {rate:.0}"));
    lines.push(format!("sync_fsync_limit_nodes_per_s {:.0}", 1e6 / fsync));
}

/// The fan-out of `fanout` with a string output, for the stats run.
fn text_fanout(n: usize) -> Graph<u64, String> {
    let mut g = pipeline::GraphBuilder::<u64>::new("text_fanout");
    let x = g.input("x", |x: &u64| *x);
    let parts: Vec<_> = (0..n)
        .map(|i| {
            g.node(format!("n{i}")).run(x, |x, _| async move {
                Ok::<_, std::convert::Infallible>(noop(x).await)
            })
        })
        .collect();
    let sink = g.node("sink").run(parts, |xs: Vec<u64>, _| async move {
        Ok::<_, std::convert::Infallible>(xs.len().to_string())
    });
    g.build(sink).expect("valid graph")
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"))
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = benches;
    config = config();
    targets = chain_benches, limit_benches, fanout_benches, each_benches, checkpoint_benches, resume_benches,
        fanout_durable_benches, store_stats, audit_benches
}
criterion_main!(benches);
