//! Runs the 10,000-node no-op chain repeatedly, for profiling the engine's per-node overhead:
//! `cargo build --release -p pipeline --example profile_chain && perf record target/release/examples/profile_chain`.

use std::convert::Infallible;
use std::sync::Arc;

use pipeline::{GraphBuilder, PipelineEngine};

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000);
    let runs: usize = std::env::args()
        .nth(2)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20);
    let mut g = GraphBuilder::<u64>::new("chain");
    let mut last = g.input("x", |x: &u64| *x);
    for i in 0..n {
        last = g
            .node(format!("n{i}"))
            .run(last, |x, _| async move { Ok::<_, Infallible>(x + 1) });
    }
    let engine = Arc::new(PipelineEngine::new(g.build(last).expect("valid graph")));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .expect("runtime");
    let start = std::time::Instant::now();
    for _ in 0..runs {
        let engine = Arc::clone(&engine);
        let out =
            rt.block_on(async move { tokio::spawn(async move { engine.run(0).await }).await });
        assert_eq!(
            out.ok().and_then(|r| r.ok()).and_then(|r| r.output),
            Some(n as u64)
        );
    }
    println!(
        "{:.2} µs/node",
        start.elapsed().as_secs_f64() * 1e6 / (n * runs) as f64
    );
}
