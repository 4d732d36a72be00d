//! The run viewer's server time: the page and the live status of a 10,000-node run, and the
//! first page of a store with 10,000 runs (warm: the server's index is filled by the first
//! request, which is reported too). `scripts/bench` runs it.

mod common;

use std::time::Instant;

use axum::body::Body;
use axum::http::Request;
use common::*;
use criterion::{Criterion, criterion_group, criterion_main};
use pipeline::store::Stores;
use pipeline::web::Viewer;
use pipeline::{PipelineEngine, RunId};
use tower::ServiceExt;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// GETs `uri` and returns the body's length.
async fn get(router: &axum::Router, uri: &str) -> usize {
    let request = Request::get(uri).body(Body::empty()).expect("request");
    let response = router.clone().oneshot(request).await.expect("infallible");
    assert!(
        response.status().is_success(),
        "{uri}: {}",
        response.status()
    );
    axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body")
        .len()
}

fn large_run(c: &mut Criterion) {
    let rt = runtime();
    let dir = tempfile::tempdir().expect("tempdir");
    let stores = Stores::open(dir.path()).unwrap();
    let engine = PipelineEngine::new(fanout(10_000)).stores(stores.clone());
    let run_id: RunId = rt.block_on(async { engine.run(0).await.expect("run").run_id });
    let router = Viewer::new(stores).router();
    let page = format!("/runs/{run_id}");
    let status = format!("/api/runs/{run_id}/status");
    let bytes = rt.block_on(get(&router, &page));
    println!("web_run_page_10k_nodes_bytes {bytes}");
    let mut group = c.benchmark_group("web");
    group.sample_size(10);
    group.bench_function("run_page_10k_nodes", |b| {
        b.to_async(&rt).iter(|| get(&router, &page))
    });
    group.bench_function("run_status_10k_nodes", |b| {
        b.to_async(&rt).iter(|| get(&router, &status))
    });
    group.finish();
}

fn many_runs(c: &mut Criterion) {
    let rt = runtime();
    let dir = tempfile::tempdir().expect("tempdir");
    let stores = Stores::open(dir.path()).unwrap();
    let engine = PipelineEngine::new(chain(3)).stores(stores.clone());
    rt.block_on(async {
        for _ in 0..10_000 {
            engine.run(0).await.expect("run");
        }
    });
    let router = Viewer::new(stores).router();
    let started = Instant::now();
    rt.block_on(get(&router, "/api/runs?limit=50"));
    println!(
        "web_run_list_10k_runs_cold_ms {:.1}",
        started.elapsed().as_secs_f64() * 1000.0
    );
    let mut group = c.benchmark_group("web");
    group.sample_size(10);
    group.bench_function("run_list_first_page_10k_runs", |b| {
        b.to_async(&rt).iter(|| get(&router, "/api/runs?limit=50"))
    });
    group.bench_function("runs_page_10k_runs", |b| {
        b.to_async(&rt).iter(|| get(&router, "/"))
    });
    group.finish();
}

criterion_group!(benches, large_run, many_runs);
criterion_main!(benches);
