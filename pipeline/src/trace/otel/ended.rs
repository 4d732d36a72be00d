//! A fleet run's span: no process held it open, so the worker that ends the run (or the process
//! that cancels it) makes it whole, from the run's start to now, with the id its nodes' spans
//! named as their parent.

use std::time::{Duration, UNIX_EPOCH};

use opentelemetry::trace::{SpanKind, Status, Tracer, TracerProvider as _};
use opentelemetry::{Context, KeyValue, global};

use super::glue::remote;
use super::ids::with_ids;
use crate::run_id::RunId;
use crate::trace::RunTrace;

pub(crate) fn run_ended(
    trace: &RunTrace,
    pipeline: &str,
    run_id: &RunId,
    started_at_ms: u64,
    status: &str,
) {
    let tracer = global::tracer_provider().tracer("pipeline");
    let builder = tracer
        .span_builder(format!("run {pipeline}"))
        .with_kind(SpanKind::Internal)
        .with_start_time(UNIX_EPOCH + Duration::from_millis(started_at_ms))
        .with_attributes([
            KeyValue::new("pipeline.name", pipeline.to_owned()),
            KeyValue::new("pipeline.run_id", run_id.to_string()),
            KeyValue::new("pipeline.status", status.to_owned()),
        ]);
    let parent = trace.parent.map_or_else(Context::new, remote);
    let mut span = with_ids(trace.run, || tracer.build_with_context(builder, &parent));
    if status == "failed" {
        opentelemetry::trace::Span::set_status(
            &mut span,
            Status::error(format!("the run {status}")),
        );
    }
    opentelemetry::trace::Span::end(&mut span);
}
