//! Runs and nodes go out as `tracing` spans. In a test binary of its own: `tracing` caches whether a
//! callsite is enabled process-wide, which races with tests that run without a subscriber.

use pipeline::*;
use tests::*;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::{Context, SubscriberExt};

#[derive(Clone, Default)]
struct Spans(Log);

struct Fields(Vec<String>);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.push(format!("{}={:?}", field.name(), value));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.push(format!("{}={value}", field.name()));
    }
}

impl<S: tracing::Subscriber> Layer<S> for Spans {
    fn on_new_span(&self, attrs: &Attributes<'_>, _: &Id, _: Context<'_, S>) {
        let mut fields = Fields(Vec::new());
        attrs.record(&mut fields);
        fields.0.sort();
        self.0.push(format!(
            "{} {}",
            attrs.metadata().name(),
            fields.0.join(" ")
        ));
    }
}

#[test]
fn one_span_per_run_and_per_node_with_run_and_node_ids() {
    let spans = Spans::default();
    let subscriber = tracing_subscriber::registry().with(spans.clone());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _guard = tracing::subscriber::set_default(subscriber);
    let id = RunId::new("traced").unwrap();
    runtime.block_on(async {
        let mut g = GraphBuilder::<u64>::new("diamond");
        let x = g.input("x", |x: &u64| *x);
        let a = g.node("a").run(x, |x, _| async move { ok(x + 1) });
        let b = g.node("b").run(a, |a, _| async move { ok(a * 2) });
        let c = g.node("c").run(a, |a, _| async move { ok(a * 3) });
        let d = g
            .node("d")
            .run((b, c), |(b, c), _| async move { ok(b + c) });
        let _e = g.node("e").run(x, |x, _| async move { ok(x) });
        let engine = PipelineEngine::new(g.build(d).unwrap());
        engine.run(1).id(id).await.unwrap();
    });
    let lines = spans.0.lines();
    let runs: Vec<_> = lines
        .iter()
        .filter(|l| l.starts_with("pipeline.run "))
        .collect();
    assert_eq!(runs.len(), 1, "{lines:?}");
    assert!(
        runs[0].contains("pipeline=diamond") && runs[0].contains("run_id=traced"),
        "{runs:?}"
    );
    for node in ["a", "b", "c", "d", "e"] {
        let span = format!("pipeline.node node={node} run_id=traced");
        assert_eq!(spans.0.count(&span), 1, "{span} in {lines:?}");
    }
    // Each node's body ran in an attempt's span (a child of the node's).
    assert_eq!(spans.0.count("pipeline.attempt attempt=1"), 5, "{lines:?}");
}
