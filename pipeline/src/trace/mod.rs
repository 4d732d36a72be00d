//! A run's place in a distributed trace: the W3C [`TraceParent`] a caller hands in, and the
//! [`RunTrace`] stored in the run's header, so that every process that runs a part of the run
//! (a resume, a fleet's workers) puts its spans in the same trace, under the same run span.
//!
//! The spans themselves are `tracing` spans (`pipeline.run`, `pipeline.node`,
//! `pipeline.attempt`); with the feature `otel`, `pipeline::otel` exports them over OTLP.
//! Without it, a run's trace is never made, and nothing here costs anything.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub(crate) mod logs;
#[cfg(feature = "otel")]
#[cfg_attr(docsrs, doc(cfg(feature = "otel")))]
pub mod otel;
mod spans;

pub use logs::{LogLimits, LogLine, NodeLogs};
pub(crate) use spans::*;

/// A W3C Trace Context `traceparent`: a trace id, the id of the span that is the parent, and
/// whether the trace is sampled.
///
/// Written and read as the header's text, `00-<32 hex digits>-<16 hex digits>-<2 hex digits>`.
///
/// ```
/// use pipeline::trace::TraceParent;
///
/// let parent: TraceParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".parse()?;
/// assert_eq!(parent.trace_id(), 0x4bf92f3577b34da6a3ce929d0e0e4736);
/// assert_eq!(parent.span_id(), 0x00f067aa0ba902b7);
/// assert!(parent.sampled());
/// assert_eq!(parent.to_string(), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
/// assert!("00-00000000000000000000000000000000-00f067aa0ba902b7-01".parse::<TraceParent>().is_err());
/// # Ok::<(), pipeline::trace::TraceParentError>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceParent {
    trace_id: u128,
    span_id: u64,
    sampled: bool,
}

impl TraceParent {
    /// A parent in trace `trace_id`, span `span_id`; `None` if either is zero (W3C: invalid).
    pub fn new(trace_id: u128, span_id: u64, sampled: bool) -> Option<TraceParent> {
        (trace_id != 0 && span_id != 0).then_some(TraceParent {
            trace_id,
            span_id,
            sampled,
        })
    }

    /// The trace's id.
    pub fn trace_id(&self) -> u128 {
        self.trace_id
    }

    /// The parent span's id.
    pub fn span_id(&self) -> u64 {
        self.span_id
    }

    /// Whether the caller sampled the trace (the `sampled` flag).
    pub fn sampled(&self) -> bool {
        self.sampled
    }
}

impl fmt::Display for TraceParent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let flags = u8::from(self.sampled);
        write!(
            f,
            "00-{:032x}-{:016x}-{flags:02x}",
            self.trace_id, self.span_id
        )
    }
}

impl fmt::Debug for TraceParent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceParent({self})")
    }
}

/// A `traceparent` that is not one: what was given, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not a W3C traceparent: {reason}")]
pub struct TraceParentError {
    /// The text given (at most 100 characters of it).
    pub value: String,
    /// What is wrong.
    pub reason: &'static str,
}

impl FromStr for TraceParent {
    type Err = TraceParentError;

    fn from_str(text: &str) -> Result<TraceParent, TraceParentError> {
        let error = |reason| TraceParentError {
            value: text.chars().take(100).collect(),
            reason,
        };
        let lower_hex = |part: &str| part.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        let mut parts = text.trim().split('-');
        let (Some(version), Some(trace), Some(span), Some(flags)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(error("it has not four parts separated by `-`"));
        };
        if version.len() != 2 || !lower_hex(version) || version == "ff" {
            return Err(error(
                "the version is not two lowercase hex digits other than `ff`",
            ));
        }
        // Version 00 has exactly four parts; a later version may add some, which are ignored.
        if version == "00" && parts.next().is_some() {
            return Err(error("version 00 has four parts"));
        }
        if trace.len() != 32 || !lower_hex(trace) {
            return Err(error("the trace id is not 32 lowercase hex digits"));
        }
        if span.len() != 16 || !lower_hex(span) {
            return Err(error("the parent id is not 16 lowercase hex digits"));
        }
        if flags.len() != 2 || !lower_hex(flags) {
            return Err(error("the flags are not two lowercase hex digits"));
        }
        // The digits were checked above: these parse.
        let (Ok(trace_id), Ok(span_id), Ok(flags)) = (
            u128::from_str_radix(trace, 16),
            u64::from_str_radix(span, 16),
            u8::from_str_radix(flags, 16),
        ) else {
            return Err(error("its hex digits do not parse"));
        };
        TraceParent::new(trace_id, span_id, flags & 1 == 1)
            .ok_or_else(|| error("the trace id or the parent id is all zeros"))
    }
}

impl Serialize for TraceParent {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for TraceParent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<TraceParent, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// A run's trace, kept in its header ([`RunHeader::trace`](crate::store::RunHeader::trace)):
/// the run span's own context, and the caller's span it hangs under, if any.
///
/// Made when the run starts or is submitted, and only when traces are exported (see
/// `pipeline::otel`, feature `otel`); a run started without is never traced, resumed or not.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunTrace {
    /// The run span: its trace and its own id. Nodes' spans, on any worker, are its children.
    pub run: TraceParent,
    /// The caller's span, the run span's parent (same trace); `None` for a run that starts a
    /// trace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<TraceParent>,
}

#[cfg(test)]
mod tests;
