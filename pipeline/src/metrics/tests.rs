//! The registry and its text, through the functions the executors call (each test with names
//! of its own: the registry is the process's).

use std::time::Duration;

use super::family::{Family, Histogram};
use super::*;

/// The lines of `text` that begin with `prefix`.
fn lines(text: &str, prefix: &str) -> Vec<String> {
    text.lines()
        .filter(|l| l.starts_with(prefix))
        .map(str::to_owned)
        .collect()
}

#[test]
fn counters_count_by_their_labels() {
    run_started("metrics_test_counters");
    run_started("metrics_test_counters");
    run_ended("metrics_test_counters", "completed");
    run_ended("metrics_test_counters", "failed");
    run_ended("metrics_test_counters", "failed");
    let text = text();
    assert_eq!(
        lines(
            &text,
            "pipeline_runs_started_total{pipeline=\"metrics_test_counters\"}"
        ),
        ["pipeline_runs_started_total{pipeline=\"metrics_test_counters\"} 2"]
    );
    assert_eq!(
        lines(
            &text,
            "pipeline_runs_ended_total{pipeline=\"metrics_test_counters\""
        ),
        [
            "pipeline_runs_ended_total{pipeline=\"metrics_test_counters\",status=\"completed\"} 1",
            "pipeline_runs_ended_total{pipeline=\"metrics_test_counters\",status=\"failed\"} 2",
        ]
    );
    assert!(
        text.contains("# TYPE pipeline_runs_ended_total counter\n"),
        "{text}"
    );
}

#[test]
fn a_histogram_has_cumulative_buckets_a_sum_and_a_count() {
    let node = NodeMetrics::new("metrics_test_histogram", "parse");
    for ms in [0.05, 3.0, 3.0, 700.0] {
        node.attempt(Duration::from_secs_f64(ms / 1e3));
    }
    node.attempt(Duration::from_secs(3_600)); // beyond the last bound: only in +Inf
    let text = text();
    let series = "pipeline_node_attempt_duration_seconds";
    let labels = "pipeline=\"metrics_test_histogram\",node=\"parse\"";
    let bucket = |le: &str| format!("{series}_bucket{{{labels},le=\"{le}\"}} ");
    for (le, n) in [
        ("0.0001", 1),
        ("0.0025", 1),
        ("0.005", 3),
        ("0.5", 3),
        ("1", 4),
        ("300", 4),
    ] {
        assert!(
            text.contains(&format!("{}{n}\n", bucket(le))),
            "{le}: {text}"
        );
    }
    assert!(text.contains(&format!("{}5\n", bucket("+Inf"))), "{text}");
    assert!(
        text.contains(&format!("{series}_count{{{labels}}} 5\n")),
        "{text}"
    );
    let sum = lines(&text, &format!("{series}_sum{{{labels}}} "));
    let sum: f64 = sum[0].rsplit(' ').next().unwrap().parse().unwrap();
    assert!((sum - 3_600.706_05).abs() < 1e-6, "{sum}");
}

#[test]
fn label_values_are_escaped() {
    let family: Family<Histogram> = Family::new("t_seconds", "A test.", &["node"]);
    family
        .with(&["a \"quoted\"\\ name\nnext"])
        .observe(Duration::ZERO);
    let mut out = String::new();
    render::histograms(&mut out, &family);
    assert!(
        out.contains("t_seconds_count{node=\"a \\\"quoted\\\"\\\\ name\\nnext\"} 1\n"),
        "{out}"
    );
}

#[test]
fn one_metric_per_set_of_values() {
    let a = NodeMetrics::new("metrics_test_same", "n");
    let b = NodeMetrics::new("metrics_test_same", "n");
    a.retry();
    b.retry();
    b.cache_hit();
    let text = text();
    let labels = "{pipeline=\"metrics_test_same\",node=\"n\"}";
    assert!(
        text.contains(&format!("pipeline_node_retries_total{labels} 2\n")),
        "{text}"
    );
    assert!(
        text.contains(&format!("pipeline_node_cache_hits_total{labels} 1\n")),
        "{text}"
    );
}

/// `serve` answers `GET /metrics` with the text, 404 elsewhere, 405 to other methods, and
/// closes a connection whose head is too long.
#[cfg(any(feature = "postgres", feature = "web"))]
#[tokio::test]
async fn the_endpoint_answers_get_metrics_only() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    run_started("metrics_test_endpoint");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let at = listener.local_addr().unwrap();
    tokio::spawn(serve(listener));
    let ask = |request: Vec<u8>| async move {
        let mut stream = tokio::net::TcpStream::connect(at).await.unwrap();
        stream.write_all(&request).await.unwrap();
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer).await;
        answer
    };
    let ok = ask(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n".to_vec()).await;
    assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
    assert!(
        ok.contains(&format!("Content-Type: {CONTENT_TYPE}\r\n")),
        "{ok}"
    );
    assert!(
        ok.contains("pipeline_runs_started_total{pipeline=\"metrics_test_endpoint\"} 1\n"),
        "{ok}"
    );
    let length: usize = ok
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .and_then(|n| n.parse().ok())
        .expect("a length");
    assert_eq!(ok.split_once("\r\n\r\n").unwrap().1.len(), length);
    let elsewhere = ask(b"GET /other HTTP/1.1\r\n\r\n".to_vec()).await;
    assert!(elsewhere.starts_with("HTTP/1.1 404 "), "{elsewhere}");
    let post = ask(b"POST /metrics HTTP/1.1\r\n\r\n".to_vec()).await;
    assert!(post.starts_with("HTTP/1.1 405 "), "{post}");
    let mut long = b"GET /metrics HTTP/1.1\r\nX: ".to_vec();
    long.extend(std::iter::repeat_n(b'a', 10_000));
    assert_eq!(ask(long).await, "", "a head over 8 KiB is not answered");
}
