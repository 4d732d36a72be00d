//! The result cache (`#[node(cache)]`), printed as rows for `scripts/bench`:
//! - a run whose every node hits the cache against a resume that restores the same nodes from
//!   the run's checkpoint, per node, with the in-memory stores and the directory store (`Async`),
//!   beside a run of the same chain uncached and a run whose every node misses (and stores);
//! - one lookup in a directory store's cache of 10,000 entries (p50, p99), the same lookup
//!   again (the entry decoded before), and the first of a process, which reads the whole log;
//! - a map over 10,000 items of which 10 are new, against the full run, directory store;
//! - with feature `postgres` and a server: one hit's lookup (p50, p99), and a one-node run that
//!   hits against one that runs (p50).
//!
//! Medians of rounds that alternate the variants, so that a machine's drift touches them alike.
//! `PIPELINE_BENCH_POSTGRES` names a database to create the bench's own database from (default
//! `postgres://postgres@127.0.0.1:5432/postgres`).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pipeline::cache::NodeCache;
use pipeline::{
    AuditLog, Checkpointer, Durability, FileAuditLog, FileCheckpointer, Graph, GraphBuilder,
    InMemoryAuditLog, InMemoryCheckpointer, PipelineEngine, RunId, Stores,
};

const CHAIN: usize = 1_000;
const ROUNDS: usize = 9;

/// `n` no-op nodes in a line, the last of which fails; `cached`: every node is cached.
fn chain(n: usize, cached: bool) -> Graph<u64, u64> {
    let mut g = GraphBuilder::<u64>::new(format!("chain_{cached}"));
    let mut last = g.input("x", |x: &u64| *x);
    for i in 0..n - 1 {
        let mut node = g.node(format!("n{i}"));
        if cached {
            node = node.cache(NodeCache::new(format!("bench::n{i}"), "v1"));
        }
        last = node.run(last, |x: u64, _| async move {
            Ok::<_, Infallible>(std::hint::black_box(x).wrapping_add(1))
        });
    }
    let last = g.node("last").run(last, |_: u64, _| async move {
        Err::<u64, _>(std::io::Error::other("down"))
    });
    g.build(last).expect("a valid graph")
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn per_node_us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6 / (CHAIN - 1) as f64
}

/// The chain's four variants on `stores` (made fresh by `open` for each engine).
async fn chain_rows(name: &str, open: impl Fn() -> Stores) {
    let cached = Arc::new(PipelineEngine::new(chain(CHAIN, true)).stores(open()));
    let plain = Arc::new(PipelineEngine::new(chain(CHAIN, false)).stores(open()));
    // The entries every hit run reuses, and the failed run every resume restores.
    let _ = cached.run(0).await.expect("the first run");
    let failed = RunId::new(format!("bench-{name}")).expect("an id");
    let _ = plain
        .run(0)
        .id(failed.clone())
        .await
        .expect("the run to resume");
    let (mut hit, mut resume, mut run, mut miss) = (vec![], vec![], vec![], vec![]);
    for round in 0..ROUNDS {
        let started = Instant::now();
        let result = cached.run(0).await.expect("a hit run");
        hit.push(started.elapsed());
        assert_eq!(result.cached.len(), CHAIN - 1, "every node hits");
        let started = Instant::now();
        let result = plain.resume(&failed).await.expect("a resume");
        resume.push(started.elapsed());
        assert_eq!(result.restored.len(), CHAIN - 1, "every node is restored");
        let started = Instant::now();
        let _ = plain.run(0).await.expect("a plain run");
        run.push(started.elapsed());
        let started = Instant::now();
        let result = cached.run(1_000 + round as u64).await.expect("a miss run");
        miss.push(started.elapsed());
        assert!(result.cached.is_empty(), "every node misses");
    }
    let (hit, resume, run, miss) = (median(hit), median(resume), median(run), median(miss));
    println!("cache_{name}_hit_per_node_us {:.3}", per_node_us(hit));
    println!("cache_{name}_resume_per_node_us {:.3}", per_node_us(resume));
    println!(
        "cache_{name}_hit_over_resume_per_node_us {:.3}",
        per_node_us(hit) - per_node_us(resume)
    );
    println!(
        "cache_{name}_uncached_run_per_node_us {:.3}",
        per_node_us(run)
    );
    println!("cache_{name}_miss_per_node_us {:.3}", per_node_us(miss));
}

/// A map over `files` names whose item body does some work (parses 200 lines), cached.
fn files(work_lines: usize) -> Graph<Vec<String>, u64> {
    let mut g = GraphBuilder::<Vec<String>>::new("files");
    let names = g.input("files", |f: &Vec<String>| f.clone());
    let sizes = g
        .node("parse")
        .cache(NodeCache::new("bench::parse", "v1"))
        .each(names, (), move |name: String, (), _| async move {
            let mut total = 0u64;
            for line in 0..work_lines {
                let text = format!("{name},{line},{}", line * 7);
                total += text
                    .rsplit(',')
                    .next()
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(0);
            }
            Ok::<_, Infallible>(total)
        });
    let total = g.node("total").run(sizes, |s: Vec<u64>, _| async move {
        Ok::<_, Infallible>(s.iter().sum::<u64>())
    });
    g.build(total).expect("a valid graph")
}

/// 10,000 items of which 10 are new, against the full run of 10,000 (each on a fresh store).
async fn incremental_rows(dir: &std::path::Path) {
    let names = |n: usize| {
        (0..n)
            .map(|i| format!("file-{i:05}.csv"))
            .collect::<Vec<_>>()
    };
    let (mut full, mut incremental) = (vec![], vec![]);
    for round in 0..3 {
        let store = dir.join(format!("incremental-{round}"));
        let stores = Stores {
            checkpointer: Arc::new(FileCheckpointer::new(&store).durability(Durability::Async)),
            audit: Arc::new(FileAuditLog::new(&store).durability(Durability::Async)),
        };
        let engine = PipelineEngine::new(files(200)).stores(stores);
        let mut first = names(10_010);
        let new: Vec<String> = first.split_off(10_000);
        let started = Instant::now();
        let _ = engine.run(first.clone()).await.expect("the full run");
        full.push(started.elapsed());
        first.extend(new);
        let started = Instant::now();
        let _ = engine.run(first).await.expect("the incremental run");
        incremental.push(started.elapsed());
    }
    let (full, incremental) = (median(full), median(incremental));
    println!("cache_map_10000_full_ms {:.1}", full.as_secs_f64() * 1e3);
    println!(
        "cache_map_10000_with_10_new_ms {:.1}",
        incremental.as_secs_f64() * 1e3
    );
    println!(
        "cache_map_10000_with_10_new_of_full {:.3}",
        incremental.as_secs_f64() / full.as_secs_f64()
    );
}

/// How long each of `keys` took to find in `cache`, shortest first.
async fn timed_lookups(cache: &dyn pipeline::cache::ResultCache, keys: &[String]) -> Vec<Duration> {
    let mut took = Vec::with_capacity(keys.len());
    for key in keys {
        let started = Instant::now();
        let found = cache.cache_get(key).await.expect("a lookup");
        took.push(started.elapsed());
        assert!(found.is_some());
    }
    took.sort();
    took
}

/// Lookups in a directory store's cache of 10,000 entries: each key once, with this process's
/// index up to date (p50, p99), and the first lookup of a process that has not read the log yet.
async fn directory_lookup_rows(dir: &std::path::Path) {
    let store = dir.join("lookups");
    let open = || FileCheckpointer::new(&store).durability(Durability::Async);
    let writer = open();
    let engine = PipelineEngine::new(chain(CHAIN, true)).stores(Stores {
        checkpointer: Arc::new(writer.clone()),
        audit: Arc::new(FileAuditLog::new(&store).durability(Durability::Async)),
    });
    for x in 0..10 {
        let _ = engine.run(x).await.expect("a run that stores entries");
    }
    let cache = writer.cache().expect("a directory store keeps a cache");
    let mut keys: Vec<String> = cache
        .cache_list(&pipeline::cache::CacheFilter::all())
        .await
        .expect("the entries")
        .into_iter()
        .map(|e| e.key)
        .collect();
    keys.sort(); // digests: an order unrelated to where the entries are in the log
    let lookups = timed_lookups(cache, &keys).await;
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    println!("cache_file_entries {}", keys.len());
    println!(
        "cache_file_lookup_p50_us {:.2}",
        us(lookups[lookups.len() / 2])
    );
    println!(
        "cache_file_lookup_p99_us {:.2}",
        us(lookups[lookups.len() * 99 / 100])
    );
    // The same keys again: each entry is now one this process decoded.
    let again = timed_lookups(cache, &keys).await;
    println!(
        "cache_file_lookup_again_p50_us {:.2}",
        us(again[again.len() / 2])
    );
    let mut cold = Vec::new();
    for key in keys.iter().take(ROUNDS) {
        let fresh = open();
        let cache = fresh.cache().expect("a cache");
        let started = Instant::now();
        let found = cache.cache_get(key).await.expect("a lookup");
        cold.push(started.elapsed());
        assert!(found.is_some());
    }
    println!(
        "cache_file_first_lookup_of_a_process_ms {:.2}",
        median(cold).as_secs_f64() * 1e3
    );
}

#[cfg(feature = "postgres")]
async fn postgres_rows() {
    use pipeline::store::PostgresStore;
    let server = std::env::var("PIPELINE_BENCH_POSTGRES")
        .unwrap_or("postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let Ok((admin, connection)) = tokio_postgres::connect(&server, tokio_postgres::NoTls).await
    else {
        println!("# PostgreSQL does not answer at {server}: its rows are left out");
        return;
    };
    tokio::spawn(connection);
    let name = "pipeline_bench_cache";
    for sql in [
        format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        format!("CREATE DATABASE {name}"),
    ] {
        admin
            .batch_execute(&sql)
            .await
            .expect("the bench's database");
    }
    let url = format!("{}/{name}", server.rsplit_once('/').map_or("", |s| s.0));
    let store = PostgresStore::open(&url).expect("the bench's database");
    store.migrate().await.expect("the schema");
    let one = |cached: bool| {
        let mut g = GraphBuilder::<u64>::new(format!("one_{cached}"));
        let x = g.input("x", |x: &u64| *x);
        let mut node = g.node("only");
        if cached {
            node = node.cache(NodeCache::new("bench::only", "v1"));
        }
        let only = node.run(x, |x: u64, _| async move { Ok::<_, Infallible>(x + 1) });
        g.build(only).expect("a valid graph")
    };
    let stores = Stores {
        checkpointer: Arc::new(store.clone()),
        audit: Arc::new(store.clone()),
    };
    let cached = PipelineEngine::new(one(true)).stores(stores.clone());
    let plain = PipelineEngine::new(one(false)).stores(stores);
    let _ = cached.run(7).await.expect("the entry");
    let cache = store.cache().expect("PostgreSQL keeps a cache");
    let key = cache
        .cache_list(&pipeline::cache::CacheFilter::all())
        .await
        .expect("the entries")[0]
        .key
        .clone();
    let mut lookups = Vec::new();
    for _ in 0..1_000 {
        let started = Instant::now();
        let found = cache.cache_get(&key).await.expect("a lookup");
        lookups.push(started.elapsed());
        assert!(found.is_some());
    }
    let (mut hits, mut runs) = (vec![], vec![]);
    for _ in 0..200 {
        let started = Instant::now();
        let result = cached.run(7).await.expect("a hit run");
        hits.push(started.elapsed());
        assert_eq!(result.cached.len(), 1);
        let started = Instant::now();
        let _ = plain.run(7).await.expect("a run");
        runs.push(started.elapsed());
    }
    lookups.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "cache_postgres_lookup_p50_ms {:.3}",
        ms(lookups[lookups.len() / 2])
    );
    println!(
        "cache_postgres_lookup_p99_ms {:.3}",
        ms(lookups[lookups.len() * 99 / 100])
    );
    println!("cache_postgres_hit_run_p50_ms {:.3}", ms(median(hits)));
    println!("cache_postgres_uncached_run_p50_ms {:.3}", ms(median(runs)));
    drop(admin);
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    // `PIPELINE_BENCH_ONLY=memory`: the in-memory chain alone (to profile it).
    let only_memory = std::env::var("PIPELINE_BENCH_ONLY").is_ok_and(|o| o == "memory");
    runtime.block_on(async {
        chain_rows("memory", || Stores {
            checkpointer: Arc::new(InMemoryCheckpointer::new()) as Arc<dyn Checkpointer>,
            audit: Arc::new(InMemoryAuditLog::new()) as Arc<dyn AuditLog>,
        })
        .await;
        if only_memory {
            return;
        }
        let dir = tempfile::tempdir().expect("a scratch directory");
        let at = dir.path().to_owned();
        let next = std::sync::atomic::AtomicUsize::new(0);
        chain_rows("file_async", || {
            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let store = at.join(format!("chain-{i}"));
            Stores {
                checkpointer: Arc::new(FileCheckpointer::new(&store).durability(Durability::Async)),
                audit: Arc::new(FileAuditLog::new(&store).durability(Durability::Async)),
            }
        })
        .await;
        directory_lookup_rows(dir.path()).await;
        incremental_rows(dir.path()).await;
        #[cfg(feature = "postgres")]
        postgres_rows().await;
    });
}
