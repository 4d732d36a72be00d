//! Waits for signals: what 10,000 suspended runs hold, and how long a signal takes to start the
//! node that reads it. Prints `key value` lines for `scripts/bench`.
//! - suspended runs: 10,000 runs of a pipeline that waits for a signal, over file stores; the
//!   process's open file descriptors, threads and resident memory before and after;
//! - latency: from `PipelineEngine::signal` to the dependent node's first line, same process,
//!   the run suspended in the store in between (median and p99 of 300); and from another process
//!   (this program run as `waits signal DIR RUN`), which continues the run itself: measured in
//!   that process, and from its start to its exit (median of 30).

use std::sync::{Arc, Mutex};
use std::time::Instant;

use pipeline::{
    Durability, FileAuditLog, FileCheckpointer, Graph, GraphBuilder, PipelineEngine, RunStatus,
    Signal,
};

fn proc_status(key: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

/// x -> a -> go (a signal) -> b, which notes when it starts.
fn graph(started: Arc<Mutex<Option<Instant>>>) -> Graph<u64, u64> {
    let mut g = GraphBuilder::<u64>::new("waits_bench");
    let x = g.input("x", |x: &u64| *x);
    let a = g
        .node("a")
        .run(x, |x, _| async move { Ok::<_, std::io::Error>(x + 1) });
    let go = g.node("go").signal::<u64, _>(a);
    let b = g.node("b").run((a, go), move |(a, go), _| {
        *started.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
        async move { Ok::<_, std::io::Error>(a + go) }
    });
    g.build(b).expect("valid graph")
}

/// `waits signal DIR RUN`: sends the signal to run `RUN` of the file stores in `DIR` and prints
/// how long it took to start the node that reads it.
fn signal_from_here(rt: &tokio::runtime::Runtime, dir: &str, run: &str) {
    let started = Arc::new(Mutex::new(None));
    let engine = PipelineEngine::new(graph(Arc::clone(&started)))
        .checkpointer(FileCheckpointer::new(dir).durability(Durability::Async))
        .audit_log(FileAuditLog::new(dir).durability(Durability::Async));
    let run_id = pipeline::RunId::new(run).expect("a valid run id");
    let sent_at = Instant::now();
    let sent = rt
        .block_on(engine.signal(&run_id, Signal::new("go", &1u64).expect("a payload")))
        .expect("the signal is taken");
    assert_eq!(sent.run.map(|r| r.status), Some(RunStatus::Completed));
    let start = started.lock().unwrap_or_else(|e| e.into_inner()).take();
    let latency = start.expect("b started").duration_since(sent_at);
    println!("latency_us {:.0}", latency.as_secs_f64() * 1e6);
}

/// Median of `values`.
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    if let [_, mode, dir, run] = &args[..]
        && mode == "signal"
    {
        return signal_from_here(&rt, dir, run);
    }
    let dir = tempfile::tempdir().expect("a temporary directory");
    let started = Arc::new(Mutex::new(None));
    let engine = Arc::new(
        PipelineEngine::new(graph(Arc::clone(&started)))
            .checkpointer(FileCheckpointer::new(dir.path()).durability(Durability::Async))
            .audit_log(FileAuditLog::new(dir.path()).durability(Durability::Async)),
    );
    rt.block_on(async {
        // Warm up the runtime and the stores before counting.
        let warm = Arc::clone(&engine);
        tokio::spawn(async move { warm.run(0).await.expect("runs") })
            .await
            .expect("the run task");
        let (fds, threads, rss) = (open_fds(), proc_status("Threads:"), proc_status("VmRSS:"));
        let runs = 10_000;
        for i in 0..runs {
            let engine = Arc::clone(&engine);
            let result = tokio::spawn(async move { engine.run(i).await.expect("runs") })
                .await
                .expect("the run task");
            assert_eq!(result.status, RunStatus::Waiting);
        }
        println!("suspended_runs {runs}");
        println!("open_fds_before {fds}");
        println!("open_fds_after {}", open_fds());
        println!("threads_before {}", threads.unwrap_or(0));
        println!("threads_after {}", proc_status("Threads:").unwrap_or(0));
        println!("rss_mb_before {:.1}", rss.unwrap_or(0) as f64 / 1024.0);
        println!(
            "rss_mb_after {:.1}",
            proc_status("VmRSS:").unwrap_or(0) as f64 / 1024.0
        );

        let mut latencies = Vec::new();
        for i in 0..300 {
            let engine = Arc::clone(&engine);
            let waiting = engine.run(i).await.expect("runs");
            let sent_at = Instant::now();
            let sent = engine
                .signal(
                    &waiting.run_id,
                    Signal::new("go", &1u64).expect("a payload"),
                )
                .await
                .expect("the signal is taken");
            assert_eq!(sent.run.map(|r| r.status), Some(RunStatus::Completed));
            let start = started.lock().unwrap_or_else(|e| e.into_inner()).take();
            latencies.push(start.expect("b started").duration_since(sent_at));
        }
        latencies.sort();
        let us = |i: usize| latencies[i].as_secs_f64() * 1e6;
        println!("signal_to_start_p50_us {:.0}", us(latencies.len() / 2));
        println!(
            "signal_to_start_p99_us {:.0}",
            us(latencies.len() * 99 / 100)
        );

        let (mut inside, mut whole) = (Vec::new(), Vec::new());
        let me = std::env::current_exe().expect("this program");
        let store = dir.path().display().to_string();
        for i in 0..30 {
            let waiting = engine.run(i).await.expect("runs");
            let spawned = Instant::now();
            let out = std::process::Command::new(&me)
                .args(["signal", store.as_str(), waiting.run_id.as_str()])
                .output()
                .expect("the signalling process runs");
            whole.push(spawned.elapsed().as_secs_f64() * 1e3);
            let text = String::from_utf8_lossy(&out.stdout);
            let latency = text
                .lines()
                .find_map(|l| l.strip_prefix("latency_us "))
                .and_then(|v| v.trim().parse::<f64>().ok())
                .expect("the signalling process reports its latency");
            inside.push(latency);
        }
        println!("other_process_signal_to_start_p50_us {:.0}", median(inside));
        println!("other_process_start_to_exit_p50_ms {:.1}", median(whole));
    });
}
