//! Span and trace ids: random, except for the run span, whose ids were chosen when the run
//! started and stored in its header (its nodes' spans, in other processes, name it as parent).

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};

use opentelemetry::trace::{SpanId, TraceId};
use opentelemetry_sdk::trace::{IdGenerator, RandomIdGenerator};

use crate::trace::TraceParent;

/// Whether this process exports traces ([`super::Otel::install`] ran): runs then start traces
/// of their own when no caller hands one in.
static INSTALLED: AtomicBool = AtomicBool::new(false);

pub(super) fn set_installed(on: bool) {
    INSTALLED.store(on, Ordering::Relaxed);
}

pub(super) fn installed() -> bool {
    INSTALLED.load(Ordering::Relaxed)
}

thread_local! {
    /// The ids the next span made on this thread takes (set only around that one span's start).
    static CHOSEN: Cell<Option<(TraceId, SpanId)>> = const { Cell::new(None) };
}

/// Runs `start` (which starts one span) with `ids` as the ids the span takes.
pub(super) fn with_ids<T>(ids: TraceParent, start: impl FnOnce() -> T) -> T {
    let ids = (TraceId::from(ids.trace_id()), SpanId::from(ids.span_id()));
    CHOSEN.with(|chosen| chosen.set(Some(ids)));
    let started = start();
    CHOSEN.with(|chosen| chosen.set(None));
    started
}

/// New random ids: a trace id and a span id, neither zero.
pub(super) fn random() -> (u128, u64) {
    let ids = RandomIdGenerator::default();
    loop {
        let (trace, span) = (ids.new_trace_id(), ids.new_span_id());
        let (trace, span) = (
            u128::from_be_bytes(trace.to_bytes()),
            u64::from_be_bytes(span.to_bytes()),
        );
        if trace != 0 && span != 0 {
            return (trace, span);
        }
    }
}

/// The id generator a tracer provider needs for a fleet run's span to keep the id its nodes'
/// spans name as parent: random ids, except where a run span is made. [`super::Otel::install`]
/// uses it; give it to a provider you build yourself ([`super::id_generator`]).
#[derive(Debug, Default)]
pub struct RunIds {
    random: RandomIdGenerator,
}

impl IdGenerator for RunIds {
    fn new_trace_id(&self) -> TraceId {
        match CHOSEN.with(Cell::get) {
            Some((trace, _)) => trace,
            None => self.random.new_trace_id(),
        }
    }

    fn new_span_id(&self) -> SpanId {
        match CHOSEN.with(Cell::get) {
            Some((_, span)) => span,
            None => self.random.new_span_id(),
        }
    }
}
