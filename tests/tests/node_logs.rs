//! Node logs (issue 29, item 3): the `tracing` events a node's attempt emits are kept in its
//! audit entry, bounded, on every executor; a sync body's too; a retry's attempts each keep
//! their own. In a test binary of its own: it installs the process's subscriber (the
//! `NodeLogs` layer), as a program does.

use std::sync::Once;
use std::time::Duration;

use pipeline::store::AuditEntry;
use pipeline::trace::{LogLimits, NodeLogs};
use pipeline::*;
use tracing_subscriber::layer::SubscriberExt;

fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let subscriber = tracing_subscriber::registry().with(NodeLogs);
        tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");
    });
}

/// `chatty` fails its first attempt (after a warning), then logs 250 lines and completes;
/// `sync` logs from a blocking body; `quiet` logs nothing.
fn graph() -> Graph<u64, u64> {
    let mut g = GraphBuilder::<u64>::new("logs");
    let x = g.input("x", |x: &u64| *x);
    let chatty = g
        .node("chatty")
        .retries(1)
        .backoff(Backoff {
            initial: Duration::ZERO,
            max: Duration::ZERO,
        })
        .run(x, |x, ctx| async move {
            tracing::info!(x, "starting");
            tracing::debug!("below INFO: not kept");
            if ctx.attempt() == 1 {
                tracing::warn!(reason = "flaky", "giving up on this attempt");
                return Err("the first attempt fails".to_owned());
            }
            for i in 0..250 {
                tracing::info!(i, "line");
            }
            Ok::<_, String>(x * 2)
        });
    let sync = g.node("sync").run_blocking(chatty, |v, _| {
        tracing::error!(v, "from the blocking pool");
        tests::ok(v + 1)
    });
    let quiet = g
        .node("quiet")
        .run(sync, |v, _| async move { tests::ok(v) });
    g.build(quiet).unwrap()
}

fn of<'a>(trail: &'a [AuditEntry], node: &str, attempt: u32) -> &'a AuditEntry {
    trail
        .iter()
        .find(|e| e.node == node && e.attempt == attempt)
        .unwrap_or_else(|| panic!("{node} attempt {attempt} in {trail:#?}"))
}

tests::on_every_executor! {
    async fn each_attempt_keeps_what_it_logged_within_the_limits(on: Executor) {
        install();
        let on = on.engine(graph(), |e| e).await;
        let result = on.run(21).await.unwrap();
        assert_eq!(result.output, Some(43));
        let trail = on.engine.audit_trail(&result.run_id).await.unwrap().unwrap();
        // The failed attempt: its info and warning, not the debug line.
        let first = of(&trail, "chatty", 1);
        let lines: Vec<(&str, &str)> = first
            .logs
            .iter()
            .map(|l| (l.level.as_str(), l.message.as_str()))
            .collect();
        assert_eq!(
            lines,
            [("INFO", "starting x=21"), ("WARN", "giving up on this attempt reason=\"flaky\"")]
        );
        assert_eq!(first.logs[0].target, "node_logs");
        assert_eq!(first.logs_dropped, 0);
        // The second: 200 lines kept (the default limit), the rest counted.
        let second = of(&trail, "chatty", 2);
        assert_eq!(second.logs.len(), 200);
        assert_eq!(second.logs[1].message, "line i=0");
        assert_eq!(second.logs_dropped, 51);
        assert!(second.logs.windows(2).all(|w| w[0].at_ms <= w[1].at_ms));
        // A sync body on the blocking pool logs into its own attempt.
        let sync = of(&trail, "sync", 1);
        assert_eq!(sync.logs.len(), 1, "{sync:#?}");
        assert_eq!((sync.logs[0].level.as_str(), sync.logs[0].message.as_str()), ("ERROR", "from the blocking pool v=42"));
        assert!(of(&trail, "quiet", 1).logs.is_empty());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_limits_bound_lines_bytes_and_level_and_off_keeps_nothing() {
    install();
    let run = |limits: LogLimits| async move {
        let engine = PipelineEngine::new(graph())
            .checkpointer(store::InMemoryCheckpointer::new())
            .audit_log(store::InMemoryAuditLog::new())
            .settings(EngineSettings::new().node_logs(limits));
        let result = engine.run(1).await.unwrap();
        engine.audit_trail(&result.run_id).await.unwrap().unwrap()
    };
    // At most 100 bytes of message and target: "node_logs" (9) + "line i=N" (8) per line.
    let trail = run(LogLimits::default().bytes(100).level(tracing::Level::DEBUG)).await;
    let first = of(&trail, "chatty", 1);
    // DEBUG and above: the debug line is kept now.
    assert_eq!(first.logs[1].message, "below INFO: not kept");
    let second = of(&trail, "chatty", 2);
    let bytes: usize = second
        .logs
        .iter()
        .map(|l| l.message.len() + l.target.len())
        .sum();
    assert!(bytes <= 100, "{bytes}");
    assert_eq!(second.logs.len() as u32 + second.logs_dropped, 252);
    let trail = run(LogLimits::off()).await;
    assert!(
        trail
            .iter()
            .all(|e| e.logs.is_empty() && e.logs_dropped == 0),
        "{trail:#?}"
    );
    let trail = run(LogLimits::default().lines(3)).await;
    assert_eq!(
        (
            of(&trail, "chatty", 2).logs.len(),
            of(&trail, "chatty", 2).logs_dropped
        ),
        (3, 248)
    );
}

/// The viewer's node answer gives each attempt's log (the node panel shows it); the run's
/// answer, which has every node, does not carry them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_viewer_gives_a_nodes_attempts_with_their_logs() {
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt;
    install();
    let dir = tempfile::tempdir().unwrap();
    let stores = store::Stores::open(dir.path().join("runs")).unwrap();
    let engine = PipelineEngine::new(graph()).stores(stores.clone());
    let run_id = engine.run(1).await.unwrap().run_id;
    let viewer = pipeline::web::Viewer::new(stores).router();
    let get = |uri: String| {
        let viewer = viewer.clone();
        async move {
            let request = Request::get(uri).body(Body::empty()).unwrap();
            let response = viewer.oneshot(request).await.unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            let body = axum::body::to_bytes(response.into_body(), 1 << 24)
                .await
                .unwrap();
            serde_json::from_slice::<serde_json::Value>(&body).unwrap()
        }
    };
    let node = get(format!("/api/runs/{run_id}/nodes/chatty")).await;
    let attempts = node["node"]["attempts"].as_array().unwrap();
    assert_eq!(attempts[0]["logs"][1]["level"], "WARN");
    assert_eq!(
        attempts[0]["logs"][1]["message"],
        "giving up on this attempt reason=\"flaky\""
    );
    assert_eq!(attempts[1]["logs"].as_array().unwrap().len(), 200);
    assert_eq!(attempts[1]["logs_dropped"], 51);
    let run = get(format!("/api/runs/{run_id}")).await;
    let nodes = run["nodes"].as_array().unwrap();
    let attempts = nodes.iter().flat_map(|n| n["attempts"].as_array().unwrap());
    assert!(
        attempts.clone().count() > 0 && attempts.clone().all(|a| a.get("logs").is_none()),
        "{run}"
    );
}
