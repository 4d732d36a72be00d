//! Peak resident memory, read from `/proc/self/status` (each measurement in a process of its own,
//! since the peak only grows):
//! - `rss` (no argument): one run of the 10,000-node fan-out;
//! - `rss chain-run DIR`: a 2,000-node chain with 1 MB outputs over a file store in `DIR`, whose
//!   last node fails;
//! - `rss chain-resume DIR`: the resume of that run (only the last node runs again);
//! - `rss map [DIR]`: a node mapped over 100,000 items of 1 KB outputs, without stores or over
//!   file stores in `DIR`;
//! - `rss viewer DIR` (feature `web`, after `chain-run DIR`): the run viewer on that 2,000 x 1 MB
//!   run: the median of 20 `/status` answers, then peak RSS while serving 20 concurrent `/status`
//!   and 5 page loads;
//! - `rss map-million DIR`: a node mapped over 1,000,000 no-op items with the default settings
//!   (`Stores::open(DIR)`: `Durability::Sync`, no `max_in_flight`), with its wall time.

mod common;

use std::path::Path;
use std::sync::Arc;

use pipeline::{Durability, FileAuditLog, FileCheckpointer, GraphBuilder, PipelineEngine, RunId};

fn peak_rss_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

fn report(name: &str, before: Option<u64>) {
    match (before, peak_rss_kb()) {
        (Some(before), Some(after)) => println!(
            "{name} {:.1} (before {:.1})",
            after as f64 / 1024.0,
            before as f64 / 1024.0
        ),
        _ => println!("{name} unavailable (no /proc/self/status)"),
    }
}

const NODES: usize = 2_000;
const OUTPUT: usize = 1 << 20;

/// A chain of 2,000 nodes, each producing a fresh 1 MB string from its input; the last fails
/// while `fail_last` is set.
fn big_chain(fail_last: bool) -> pipeline::Graph<u64, usize> {
    let mut g = GraphBuilder::<u64>::new("big_chain");
    let x = g.input("x", |x: &u64| *x);
    let mut last = g.node("n0").run(x, |x, _| async move {
        // (A format width this large panics: widths are limited to 16 bits.)
        let digits = x.to_string();
        Ok::<_, std::io::Error>("0".repeat(OUTPUT - digits.len()) + &digits)
    });
    for i in 1..NODES {
        last = g
            .node(format!("n{i}"))
            .run(last, move |s: String, _| async move {
                if fail_last && i == NODES - 1 {
                    return Err(std::io::Error::other("the last node is down"));
                }
                let mut bytes = s.into_bytes();
                bytes.rotate_left(1);
                Ok(String::from_utf8(bytes).unwrap_or_default())
            });
    }
    let len = g.node("len").run(last, |s: String, _| async move {
        Ok::<_, std::io::Error>(s.len())
    });
    g.build(len).expect("valid graph")
}

fn engine(dir: &Path, fail_last: bool) -> PipelineEngine<pipeline::Graph<u64, usize>> {
    PipelineEngine::new(big_chain(fail_last))
        .checkpointer(FileCheckpointer::new(dir).durability(Durability::Async))
        .audit_log(FileAuditLog::new(dir).durability(Durability::Async))
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let args: Vec<String> = std::env::args().collect();
    let before = peak_rss_kb();
    match (args.get(1).map(String::as_str), args.get(2)) {
        (Some("chain-run"), Some(dir)) => {
            let engine = Arc::new(engine(Path::new(dir), true));
            let run_id = RunId::new("big").expect("a valid id");
            let result = rt.block_on(async move {
                tokio::spawn(async move { engine.run(0).id(run_id).await.expect("runs") })
                    .await
                    .expect("the run task")
            });
            assert_eq!(result.status, pipeline::RunStatus::Failed);
            report("chain_1mb_run_peak_rss_mb", before);
        }
        (Some("chain-resume"), Some(dir)) => {
            let engine = Arc::new(engine(Path::new(dir), false));
            let run_id = RunId::new("big").expect("a valid id");
            let result = rt.block_on(async move {
                tokio::spawn(async move { engine.resume(&run_id).await.expect("resumes") })
                    .await
                    .expect("the resume task")
            });
            assert_eq!(result.output, Some(OUTPUT));
            report("chain_1mb_resume_peak_rss_mb", before);
        }
        #[cfg(feature = "web")]
        (Some("viewer"), Some(dir)) => {
            rt.block_on(viewer(Path::new(dir)));
            report("viewer_2000x1mb_peak_rss_mb", before);
        }
        (Some("map-million"), Some(dir)) => {
            // What `Stores::open(dir)` opens, kept to read their counts.
            let (checkpointer, audit) = (FileCheckpointer::new(dir), FileAuditLog::new(dir));
            // `MAP_ITEMS` changes the count, to try things quickly.
            let items = std::env::var("MAP_ITEMS")
                .ok()
                .and_then(|n| n.parse().ok())
                .unwrap_or(1_000_000);
            let engine = PipelineEngine::new(common::mapped(items))
                .checkpointer(checkpointer.clone())
                .audit_log(audit.clone());
            let engine = Arc::new(engine);
            let started = std::time::Instant::now();
            let output = rt.block_on(async move {
                tokio::spawn(async move { engine.run(0).await.expect("runs").output })
                    .await
                    .expect("the run task")
            });
            assert!(output.is_some());
            println!(
                "map_1m_default_seconds {:.1}",
                started.elapsed().as_secs_f64()
            );
            let (c, a) = (checkpointer.stats(), audit.stats());
            println!("map_1m_default_records {} {}", c.records, a.records);
            println!("map_1m_default_fsyncs {} {}", c.fsyncs, a.fsyncs);
            report("map_1m_default_peak_rss_mb", before);
        }
        (Some("map"), dir) => {
            let mut engine = PipelineEngine::new(common::text_mapped(100_000, 1_024));
            if let Some(dir) = dir {
                engine = engine
                    .checkpointer(FileCheckpointer::new(dir).durability(Durability::Async))
                    .audit_log(FileAuditLog::new(dir).durability(Durability::Async));
            }
            let engine = Arc::new(engine);
            let output = rt.block_on(async move {
                tokio::spawn(async move { engine.run(0).await.expect("runs").output })
                    .await
                    .expect("the run task")
            });
            assert_eq!(output, Some(100_000 * 1_024));
            let name = match dir {
                Some(_) => "map_100k_1kb_files_peak_rss_mb",
                None => "map_100k_1kb_peak_rss_mb",
            };
            report(name, before);
        }
        _ => {
            let engine = Arc::new(PipelineEngine::new(common::fanout(10_000)));
            let output = rt.block_on(async move {
                tokio::spawn(async move { engine.run(0).await.expect("runs").output })
                    .await
                    .expect("the run task")
            });
            assert_eq!(output, Some(20_000));
            report("peak_rss_mb", before);
        }
    }
}

/// One request to the viewer, in process; its status and how long it took.
#[cfg(feature = "web")]
async fn request(router: &axum::Router, uri: &str) -> (u16, std::time::Duration) {
    use tower::ServiceExt;
    let request = axum::http::Request::get(uri)
        .header("host", "127.0.0.1")
        .body(axum::body::Body::empty())
        .expect("a request");
    let started = std::time::Instant::now();
    let response = router.clone().oneshot(request).await.expect("infallible");
    let status = response.status().as_u16();
    let _ = axum::body::to_bytes(response.into_body(), usize::MAX).await;
    (status, started.elapsed())
}

/// The viewer on run `big` (2,000 x 1 MB, written by `chain-run`): `/status` times, then a burst.
#[cfg(feature = "web")]
async fn viewer(dir: &Path) {
    let stores = pipeline::Stores::open(dir).unwrap();
    let router = pipeline::web::Viewer::new(stores).router();
    let mut times = Vec::new();
    for _ in 0..20 {
        let (status, took) = request(&router, "/api/runs/big/status").await;
        assert_eq!(status, 200);
        times.push(took);
    }
    times.sort();
    println!(
        "viewer_2000x1mb_status_ms {:.1}",
        times[10].as_secs_f64() * 1000.0
    );
    let mut burst = tokio::task::JoinSet::new();
    for i in 0..25 {
        let router = router.clone();
        let uri = match i % 5 {
            0 => "/runs/big",
            _ => "/api/runs/big/status",
        };
        burst.spawn(async move { request(&router, uri).await });
    }
    while let Some(answer) = burst.join_next().await {
        assert_eq!(answer.expect("a request task").0, 200);
    }
}
