//! Peak resident memory of one run of the 10,000-node fan-out, read from `/proc/self/status`.

mod common;

fn peak_rss_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let before = peak_rss_kb();
    let engine = std::sync::Arc::new(pipeline::PipelineEngine::new(common::fanout(10_000)));
    let output = rt.block_on(async move {
        tokio::spawn(async move { engine.run(0).await.expect("runs").output })
            .await
            .expect("the run task")
    });
    assert_eq!(output, Some(20_000));
    match (before, peak_rss_kb()) {
        (Some(before), Some(after)) => println!(
            "peak_rss_mb {:.1} (before the run {:.1})",
            after as f64 / 1024.0,
            before as f64 / 1024.0
        ),
        _ => println!("peak_rss_mb unavailable (no /proc/self/status)"),
    }
}
