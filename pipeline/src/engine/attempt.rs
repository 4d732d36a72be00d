//! One attempt of a node: what it runs on, and, as the stores record it, its number and clock,
//! the arguments its audit entries record, when its own work ended, and its output's encoding.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::call::args::Values;
use crate::data::{Json, Value};
use crate::node::MapItem;
use crate::store::now_ms;

/// What a node's attempts run on.
pub(crate) struct NodeJob<'a> {
    pub args: Values<'a>,
    pub gate_args: Values<'a>,
    /// What the audit entries record of the arguments, when there is an audit log.
    pub inputs: Option<AuditedInputs>,
    /// For a mapped node, the item to run; `None` runs the node whole (for a mapped node: its
    /// gate, and a map over an empty list).
    pub item: Option<MapItem>,
    /// For a wait, what it completes with (its signal's payload) or why it fails; its gate was
    /// checked when it began.
    pub given: Option<Result<Value, String>>,
}

/// An attempt's arguments as the stores record them: for its audit entries, copies and
/// references to values a store already holds; for a cached node, each argument's JSON (by the
/// name of the input or node it comes from), which its cache key is made of.
#[derive(Default)]
pub(crate) struct AuditedInputs {
    pub copies: BTreeMap<String, Json>,
    pub refs: Vec<String>,
    /// A cached node's arguments, in parameter order; `None` when it is not cached (or one of
    /// them does not serialize: it then runs, and is not cached).
    pub keyed: Option<Vec<(Arc<str>, Json)>>,
}

/// A node's output as the stores hold it.
#[derive(Default)]
pub(crate) struct Encoded {
    pub json: Option<Json>,
    /// Whether the JSON reads back as the same value, so it may be checkpointed.
    pub checkpoint: bool,
}

impl Encoded {
    pub fn new(json: Json, checkpoint: bool) -> Self {
        Encoded {
            json: Some(json),
            checkpoint,
        }
    }
}

pub(crate) struct Attempt {
    pub number: u32,
    pub started_at_ms: u64,
    /// `None` when nothing records how long the attempt took (no store, no event handler): the
    /// two clock reads cost more than the rest of a node on some virtual machines. Its metrics
    /// then count no duration either.
    pub clock: Option<Instant>,
    /// The events the attempt's body emitted, and how many more the limits dropped; `None`
    /// when there were none, or no log is kept (no audit log, or `LogLimits::off`).
    pub logs: Option<Box<(Vec<crate::trace::LogLine>, u32)>>,
}

/// When an attempt's own work ended, before anything was persisted.
#[derive(Clone, Copy)]
pub(crate) struct Ended {
    pub finished_at_ms: u64,
    pub duration: Duration,
}

impl Attempt {
    pub fn end(&self, wall_clock: bool) -> Ended {
        Ended {
            finished_at_ms: if wall_clock { now_ms() } else { 0 },
            duration: self.clock.map_or(Duration::ZERO, |clock| clock.elapsed()),
        }
    }
}
