//! `pipeline::metrics` (issue 29): what runs record, in one process and on a fleet, read as
//! Prometheus reads it (the text at `/metrics`). Each test's pipeline has a name of its own:
//! the metrics are the process's.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use pipeline::cache::NodeCache;
use pipeline::{Graph, GraphBuilder, NodeStatus};
use tests::executor::Executor;

/// x -> flaky (fails its first attempt, retried) -> doubled (cached).
fn metered(name: &str) -> Graph<u64, u64> {
    let failures = Arc::new(AtomicUsize::new(1));
    let mut g = GraphBuilder::<u64>::new(name);
    let x = g.input("x", |x: &u64| *x);
    let flaky = g.node("flaky").retries(1).run(x, move |x: u64, _| {
        let failed = failures
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        async move {
            match failed {
                true => Err(std::io::Error::other("the first attempt fails")),
                false => Ok(x + 1),
            }
        }
    });
    let doubled = g
        .node("doubled")
        .cache(NodeCache::new(format!("metrics::{name}"), "v1"))
        .run(
            flaky,
            |x: u64, _| async move { Ok::<_, std::io::Error>(x * 2) },
        );
    g.build(doubled).expect("a valid graph")
}

/// The value of the one line of `text` that starts with `series` and a space.
fn value(text: &str, series: &str) -> f64 {
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| {
            l.strip_prefix(series)
                .is_some_and(|rest| rest.starts_with(' '))
        })
        .collect();
    assert_eq!(lines.len(), 1, "{series} in:\n{text}");
    lines[0]
        .rsplit(' ')
        .next()
        .unwrap()
        .parse()
        .expect("a number")
}

/// Two runs of `metered` on `on`: the first retries `flaky` and computes `doubled`; the second
/// retries nothing (flaky failed once in all) and restores `doubled` from the cache.
async fn two_runs_are_counted(on: Executor) {
    let name = format!("metered_{on:?}").to_lowercase();
    let engine = on.engine(metered(&name), |e| e).await;
    let first = engine.run(1).await.expect("the first run");
    assert_eq!(first.output, Some(4));
    let second = engine.run(1).await.expect("the second run");
    assert_eq!(second.node("doubled"), Some(NodeStatus::Cached));
    let text = pipeline::metrics::text();
    let p = format!("pipeline=\"{name}\"");
    assert_eq!(
        value(&text, &format!("pipeline_runs_started_total{{{p}}}")),
        2.0
    );
    assert_eq!(
        value(
            &text,
            &format!("pipeline_runs_ended_total{{{p},status=\"completed\"}}")
        ),
        2.0
    );
    let attempts = |node: &str| {
        let series = format!("pipeline_node_attempt_duration_seconds_count{{{p},node=\"{node}\"}}");
        value(&text, &series)
    };
    assert_eq!(
        attempts("flaky"),
        3.0,
        "a failed and a good attempt, then one"
    );
    assert_eq!(attempts("doubled"), 1.0, "the second came from the cache");
    let node = |metric: &str, node: &str| {
        value(
            &text,
            &format!("pipeline_node_{metric}_total{{{p},node=\"{node}\"}}"),
        )
    };
    assert_eq!(node("retries", "flaky"), 1.0);
    assert_eq!(node("cache_hits", "doubled"), 1.0);
    let le =
        format!("pipeline_node_attempt_duration_seconds_bucket{{{p},node=\"flaky\",le=\"+Inf\"}}");
    assert_eq!(value(&text, &le), 3.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_in_one_process_are_counted() {
    two_runs_are_counted(Executor::Files).await;
    // One write in 16 of each kind is timed: 16 more runs write more than 16 of each. A node's
    // record and its entry go in one write to these stores; a failed attempt's entry alone.
    let engine = Executor::Files
        .engine(metered("metered_writes"), |e| e)
        .await;
    for x in 0..16 {
        engine.run(x).await.expect("a run");
    }
    let text = pipeline::metrics::text();
    for record in ["checkpoint_and_audit", "audit"] {
        let series = format!("pipeline_store_write_duration_seconds_count{{record=\"{record}\"}}");
        assert!(value(&text, &series) >= 1.0, "{record}: {text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    no_postgres,
    ignore = "needs PostgreSQL, which did not answer when the tests were built: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
)]
async fn runs_on_a_fleet_are_counted() {
    two_runs_are_counted(Executor::Fleet).await;
}

/// The viewer answers `/metrics` in Prometheus' format, with the runs of this process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_viewer_serves_metrics() {
    use tower::ServiceExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let stores = pipeline::store::Stores::open(dir.path()).expect("a directory store");
    let engine = pipeline::PipelineEngine::new(metered("metered_viewer")).stores(stores.clone());
    engine.run(5).await.expect("a run");
    let viewer = pipeline::web::Viewer::new(stores).router();
    let request = axum::http::Request::get("/metrics")
        .header("host", "127.0.0.1")
        .body(axum::body::Body::empty())
        .unwrap();
    let response = viewer.oneshot(request).await.expect("an answer");
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let body = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    let text = String::from_utf8(body.to_vec()).unwrap();
    let ended = "pipeline_runs_ended_total{pipeline=\"metered_viewer\",status=\"completed\"}";
    assert_eq!(value(&text, ended), 1.0);
}
