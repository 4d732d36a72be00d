//! Panics in user code around a node (an output's or an input's `Serialize`, an event handler)
//! never escape `run()`, never mislabel a node, and a panicking `Serialize` of an output is a
//! failed attempt like any other: audited and retried.

use std::sync::atomic::{AtomicUsize, Ordering};

use pipeline::*;
use serde::{Deserialize, Serialize, Serializer};

/// Serializes normally, except the first time, when it panics.
#[derive(Clone, Debug, PartialEq, Deserialize)]
struct Flaky(u64);

static FLAKY_CALLS: AtomicUsize = AtomicUsize::new(0);

impl Serialize for Flaky {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if FLAKY_CALLS.fetch_add(1, Ordering::SeqCst) == 0 {
            panic!("serialize boom");
        }
        self.0.serialize(serializer)
    }
}

/// Finding: a panicking `Serialize` of an output marked the node Failed, wrote no audit entry and
/// skipped its retries.
#[tokio::test]
async fn a_panicking_serialize_of_an_output_is_a_failed_attempt_audited_and_retried() {
    let mut g = GraphBuilder::<u64>::new("flaky_output");
    let x = g.input("x", |x: &u64| *x);
    let f = g
        .node("f")
        .retries(1)
        .backoff(Backoff {
            initial: std::time::Duration::ZERO,
            max: std::time::Duration::ZERO,
        })
        .run(x, |x, _| async move { Ok::<_, std::io::Error>(Flaky(x)) });
    let audit = InMemoryAuditLog::new();
    let engine = PipelineEngine::new(g.build(f).unwrap())
        .checkpointer(InMemoryCheckpointer::new())
        .audit_log(audit.clone());
    let result = engine.run(7).await.unwrap();
    assert_eq!(result.status, RunStatus::Completed, "{:?}", result.failures);
    assert_eq!(result.output, Some(Flaky(7)));
    let trail = audit.entries(&result.run_id).await.unwrap().unwrap();
    let statuses: Vec<(u32, AuditStatus)> = trail.iter().map(|e| (e.attempt, e.status)).collect();
    assert_eq!(
        statuses,
        [(1, AuditStatus::Failed), (2, AuditStatus::Completed)]
    );
    let error = trail[0].error.as_deref().unwrap();
    assert!(error.contains("panicked: serialize boom"), "{error}");
}

/// An event handler that panics in the hooks it names.
struct Panicky(&'static [&'static str]);

impl Panicky {
    fn hook(&self, name: &str) {
        if self.0.contains(&name) {
            panic!("handler boom in {name}");
        }
    }
}

impl EventHandler for Panicky {
    fn on_pipeline_start(&self, _: &str, _: &RunId, _: bool) {
        self.hook("on_pipeline_start");
    }
    fn on_pipeline_end(&self, _: &str, _: &RunId, _: RunStatus) {
        self.hook("on_pipeline_end");
    }
    fn on_node_complete(&self, _: &RunId, _: &str, _: u32, _: std::time::Duration) {
        self.hook("on_node_complete");
    }
    fn on_node_skip(&self, _: &RunId, _: &str) {
        self.hook("on_node_skip");
    }
}

/// x -> a -> b (gated off, so skipped)
fn gated() -> Graph<u64, u64> {
    let mut g = GraphBuilder::<u64>::new("gated");
    let x = g.input("x", |x: &u64| *x);
    let a = g
        .node("a")
        .run(x, |x, _| async move { Ok::<_, std::io::Error>(x + 1) });
    let _b = g
        .node("b")
        .when(a, |a| a > 1_000)
        .run(a, |a, _| async move { Ok::<_, std::io::Error>(a) });
    g.build(a).unwrap()
}

/// Finding: a panic in `on_node_complete` reported a checkpointed node as Failed; panics in
/// `on_pipeline_start`, `on_pipeline_end` and `on_node_skip` came out of `run()` as panics.
#[tokio::test]
async fn a_panicking_event_handler_is_a_warning_and_never_changes_a_status() {
    let hooks: &'static [&'static str] = &[
        "on_pipeline_start",
        "on_pipeline_end",
        "on_node_complete",
        "on_node_skip",
    ];
    let checkpointer = InMemoryCheckpointer::new();
    let engine = PipelineEngine::new(gated())
        .checkpointer(checkpointer.clone())
        .event_handler(Panicky(hooks));
    let result = engine.run(1).await.expect("run() does not unwind");
    assert_eq!(result.status, RunStatus::Completed);
    assert_eq!(result.node("a"), Some(NodeStatus::Completed));
    assert_eq!(result.node("b"), Some(NodeStatus::Skipped));
    assert_eq!(result.output, Some(2));
    let stored = checkpointer.load(&result.run_id).await.unwrap().unwrap();
    assert!(stored.node("a").is_some());
    for hook in hooks {
        assert!(
            result
                .warnings
                .iter()
                .any(|w| w.source == WarningSource::EventHandler
                    && w.message.contains(hook)
                    && w.message.contains("handler boom")),
            "no warning for {hook}: {:?}",
            result.warnings
        );
    }
}

#[derive(Clone, Debug, Deserialize)]
struct PanickyInput(u64);

impl Serialize for PanickyInput {
    fn serialize<S: Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        panic!("input boom");
    }
}

/// Finding: a panic in an input's `Serialize` came out of `run()`. It disables persistence for
/// the run, with a warning, and the run goes on.
#[tokio::test]
async fn a_panicking_serialize_of_the_inputs_disables_persistence_and_the_run_goes_on() {
    let mut g = GraphBuilder::<PanickyInput>::new("panicky_input");
    let x = g.input("x", |x: &PanickyInput| x.0);
    let a = g
        .node("a")
        .run(x, |x, _| async move { Ok::<_, std::io::Error>(x * 2) });
    let checkpointer = InMemoryCheckpointer::new();
    let engine = PipelineEngine::new(g.build(a).unwrap()).checkpointer(checkpointer.clone());
    let result = engine
        .run(PanickyInput(21))
        .await
        .expect("run() does not unwind");
    assert_eq!(result.status, RunStatus::Completed);
    assert_eq!(result.output, Some(42));
    assert!(
        result.warnings[0].message.contains("input boom"),
        "{:?}",
        result.warnings
    );
    assert!(checkpointer.list_runs().await.unwrap().is_empty());
}

/// A panic in user code outside any node (here, an input's extractor) is an error of the call.
#[tokio::test]
async fn a_panic_outside_any_node_is_an_error_not_an_unwind() {
    let mut g = GraphBuilder::<u64>::new("panicky_extract");
    let x = g.input("x", |_: &u64| -> u64 { panic!("extract boom") });
    let a = g
        .node("a")
        .run(x, |x, _| async move { Ok::<_, std::io::Error>(x) });
    let outcome = PipelineEngine::new(g.build(a).unwrap()).run(1).await;
    match outcome {
        Err(PipelineError::Panicked { message, .. }) => assert!(message.contains("extract boom")),
        other => panic!("{other:?}"),
    }
}
