//! `pipeline::metrics::text()` (what `/metrics` answers), as rows for `scripts/bench`:
//! - with 10,000 runs in the store: 10,000 runs of a 5-node pipeline with the in-memory stores
//!   (every attempt timed), then the text made 21 times, its median;
//! - with 10,000 node series: a 10,000-node fan-out run once, then the same.
//!
//! It reads no store: its cost grows with the series, not with the runs stored.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Instant;

use pipeline::{GraphBuilder, InMemoryAuditLog, InMemoryCheckpointer, PipelineEngine, Stores};

const NODES: usize = 10_000;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let stores = Stores {
        checkpointer: Arc::new(InMemoryCheckpointer::new()),
        audit: Arc::new(InMemoryAuditLog::new()),
    };
    let mut small = GraphBuilder::<u64>::new("metrics_runs");
    let mut at = small.input("x", |x: &u64| *x);
    for i in 0..5 {
        at = small
            .node(format!("s{i}"))
            .run(at, |x: u64, _| async move { Ok::<_, Infallible>(x + 1) });
    }
    let small = PipelineEngine::new(small.build(at).expect("a valid graph")).stores(stores.clone());
    runtime.block_on(async {
        for i in 0..10_000 {
            small.run(i).await.expect("a run");
        }
    });
    let (median, bytes) = measure();
    println!("metrics_text_10000_runs_ms {median:.3}");
    println!("metrics_text_10000_runs_kb {:.1}", bytes as f64 / 1e3);
    let mut g = GraphBuilder::<u64>::new("metrics_bench");
    let x = g.input("x", |x: &u64| *x);
    let mut last = x;
    for i in 0..NODES {
        last = g
            .node(format!("n{i:05}"))
            .run(x, |x: u64, _| async move { Ok::<_, Infallible>(x + 1) });
    }
    let graph = g.build(last).expect("a valid graph");
    let engine = PipelineEngine::new(graph).stores(stores);
    runtime.block_on(async { engine.run(1).await.expect("a run") });
    let (median, bytes) = measure();
    println!("metrics_text_10000_node_series_ms {median:.2}");
    println!(
        "metrics_text_10000_node_series_mb {:.1}",
        bytes as f64 / 1e6
    );
}

/// The text made 21 times: the median time in ms, and its size in bytes.
fn measure() -> (f64, usize) {
    let mut took = Vec::new();
    let mut bytes = 0;
    for _ in 0..21 {
        let started = Instant::now();
        let text = pipeline::metrics::text();
        took.push(started.elapsed());
        bytes = text.len();
    }
    took.sort();
    (took[10].as_secs_f64() * 1e3, bytes)
}
