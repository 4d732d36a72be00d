//! The spans both executors make, written once: a run's (`pipeline.run`), a node's or an item's
//! (`pipeline.node`), and an attempt's (`pipeline.attempt`), each made only when a subscriber
//! takes info-level spans. With the feature `otel` and a run's [`RunTrace`], they take their
//! place in the run's trace, whichever process makes them.

use futures_util::future::Either;
use tracing::Span;
use tracing::field::Empty;
use tracing::instrument::{Instrument, Instrumented};

use super::{RunTrace, TraceParent};
use crate::node::MapItem;
use crate::run_id::RunId;

/// Whether any subscriber takes info-level spans: otherwise none is made (creating a span that
/// nobody listens to costs a little on every node).
pub(crate) fn listened() -> bool {
    tracing::level_enabled!(tracing::Level::INFO)
}

/// The trace of a run that starts now: under `caller` (a `traceparent` handed in), else under
/// the caller's current span, else a trace of its own; `None` when no trace is exported.
pub(crate) fn begin(caller: Option<TraceParent>) -> Option<RunTrace> {
    #[cfg(feature = "otel")]
    return super::otel::begin(caller);
    #[cfg(not(feature = "otel"))]
    {
        let _ = caller;
        None
    }
}

/// The span of an execution of run `run_id` in this process: a start, or (`resumed`) a resume,
/// whose span is a child of the run's first span.
pub(crate) fn run_span(
    pipeline: &str,
    run_id: &RunId,
    resumed: bool,
    trace: Option<&RunTrace>,
) -> Span {
    let span = tracing::info_span!(
        "pipeline.run",
        pipeline,
        run_id = %run_id,
        resumed,
        status = Empty,
        otel.name = Empty,
    );
    #[cfg(feature = "otel")]
    if let Some(trace) = trace {
        super::otel::place_run(&span, pipeline, run_id, trace, resumed);
    }
    #[cfg(not(feature = "otel"))]
    let _ = trace;
    span
}

/// Records how the execution of a run ended (`status`, as [`crate::RunStatus::code`] spells
/// it) in its span: `ERROR` when it failed.
pub(crate) fn run_status(span: &Span, status: &str) {
    span.record("status", status);
    #[cfg(feature = "otel")]
    super::otel::status(span, status);
    if status == "failed" {
        failed(Some(span), "the run failed");
    }
}

/// The span of node `node`'s execution (or of one item's) in run `run_id`; `None` when nobody
/// listens. In the fleet, `trace` makes it a child of the run's span, made by another process.
pub(crate) fn node_span(
    run_id: &RunId,
    node: &str,
    item: Option<MapItem>,
    trace: Option<&RunTrace>,
) -> Option<Span> {
    if !listened() {
        return None;
    }
    let span = tracing::info_span!(
        "pipeline.node",
        run_id = %run_id,
        node,
        item = Empty,
        otel.name = Empty,
    );
    if span.is_disabled() {
        return None;
    }
    if let Some(item) = item {
        span.record("item", item.index);
    }
    #[cfg(feature = "otel")]
    super::otel::place_node(&span, run_id, node, item, trace);
    #[cfg(not(feature = "otel"))]
    let _ = trace;
    Some(span)
}

/// The span of attempt `number` of the node whose span is current; `None` when nobody listens.
/// The user's own spans and events inside the node's body are its children.
pub(crate) fn attempt_span(number: u32) -> Option<Span> {
    if !listened() {
        return None;
    }
    let span = tracing::info_span!("pipeline.attempt", attempt = number, otel.name = Empty,);
    if span.is_disabled() {
        return None;
    }
    #[cfg(feature = "otel")]
    super::otel::name(&span, format_args!("attempt {number}"));
    Some(span)
}

/// `future` inside `span`, if any.
pub(crate) fn traced<F: Future>(span: Option<Span>, future: F) -> Either<F, Instrumented<F>> {
    match span {
        Some(span) => Either::Right(future.instrument(span)),
        None => Either::Left(future),
    }
}

/// Marks `span` as failed with `error` (OpenTelemetry's status `ERROR`, with the message).
pub(crate) fn failed(span: Option<&Span>, error: &str) {
    #[cfg(feature = "otel")]
    if let Some(span) = span {
        super::otel::failed(span, error);
    }
    #[cfg(not(feature = "otel"))]
    let _ = (span, error);
}

#[cfg(feature = "postgres")]
/// Run `run_id` of `pipeline`, started at `started_at_ms`, ended in the fleet with `status`: its
/// span, which no process held open, is made now with the id its nodes' spans named as parent.
pub(crate) fn run_ended(
    trace: Option<&RunTrace>,
    pipeline: &str,
    run_id: &RunId,
    started_at_ms: u64,
    status: &str,
) {
    #[cfg(feature = "otel")]
    if let Some(trace) = trace {
        super::otel::run_ended(trace, pipeline, run_id, started_at_ms, status);
    }
    #[cfg(not(feature = "otel"))]
    let _ = (trace, pipeline, run_id, started_at_ms, status);
}
