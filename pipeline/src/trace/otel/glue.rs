//! Where the engine's spans meet OpenTelemetry: a run span given the ids its header holds, a
//! node's span put under a run span another process made, statuses, and a fleet run's span made
//! when the run ends.

use std::fmt;

use opentelemetry::Context;
use opentelemetry::trace::{
    SpanContext, SpanId, Status, TraceContextExt, TraceFlags, TraceId, TraceState,
};
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::ids::{installed, random, with_ids};
use crate::node::MapItem;
use crate::run_id::RunId;
use crate::trace::{RunTrace, TraceParent};

/// A context whose span is `parent`, made by another process (or by this one, earlier).
pub(super) fn remote(parent: TraceParent) -> Context {
    let flags = match parent.sampled() {
        true => TraceFlags::SAMPLED,
        false => TraceFlags::default(),
    };
    let span = SpanContext::new(
        TraceId::from(parent.trace_id()),
        SpanId::from(parent.span_id()),
        flags,
        true,
        TraceState::default(),
    );
    Context::new().with_remote_span_context(span)
}

/// The caller's current span, as a parent, when it is in a trace.
fn current() -> Option<TraceParent> {
    let cx = Span::current().context();
    let span = cx.span();
    let span = span.span_context();
    if !span.is_valid() {
        return None;
    }
    TraceParent::new(
        u128::from_be_bytes(span.trace_id().to_bytes()),
        u64::from_be_bytes(span.span_id().to_bytes()),
        span.is_sampled(),
    )
}

pub(crate) fn begin(caller: Option<TraceParent>) -> Option<RunTrace> {
    let parent = caller.or_else(current);
    if parent.is_none() && !installed() {
        return None;
    }
    let (trace_id, span_id) = random();
    let run = match parent {
        Some(parent) => TraceParent::new(parent.trace_id(), span_id, parent.sampled()),
        None => TraceParent::new(trace_id, span_id, true),
    }?;
    Some(RunTrace { run, parent })
}

pub(crate) fn name(span: &Span, name: fmt::Arguments<'_>) {
    span.record("otel.name", tracing::field::display(name));
}

pub(crate) fn place_run(
    span: &Span,
    pipeline: &str,
    run_id: &RunId,
    trace: &RunTrace,
    resumed: bool,
) {
    name(span, format_args!("run {pipeline}"));
    span.set_attribute("pipeline.name", pipeline.to_owned());
    span.set_attribute("pipeline.run_id", run_id.to_string());
    if resumed {
        // A later execution: a new span, a child of the run's first.
        let _ = span.set_parent(remote(trace.run));
        return;
    }
    let _ = span.set_parent(trace.parent.map_or_else(Context::new, remote));
    // Started now, with the ids the header holds.
    with_ids(trace.run, || span.context());
}

pub(crate) fn place_node(
    span: &Span,
    run_id: &RunId,
    node: &str,
    item: Option<MapItem>,
    trace: Option<&RunTrace>,
) {
    match item {
        Some(item) => name(span, format_args!("node {node}[{}]", item.index)),
        None => name(span, format_args!("node {node}")),
    }
    span.set_attribute("pipeline.run_id", run_id.to_string());
    span.set_attribute("pipeline.node", node.to_owned());
    if let Some(item) = item {
        span.set_attribute("pipeline.item", i64::from(item.index));
    }
    if let Some(trace) = trace {
        let _ = span.set_parent(remote(trace.run));
    }
}

pub(crate) fn status(span: &Span, status: &str) {
    span.set_attribute("pipeline.status", status.to_owned());
}

pub(crate) fn failed(span: &Span, error: &str) {
    span.set_status(Status::error(error.to_owned()));
}
