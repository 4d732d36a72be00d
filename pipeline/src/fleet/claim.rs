//! What a worker holds: a claimed node row or item, and its fencing token.

use std::time::Duration;

use crate::node::MapItem;
use crate::run_id::RunId;

/// A node a worker claimed.
#[derive(Clone, Debug)]
pub(crate) struct Claimed {
    pub run_id: RunId,
    pub node: u32,
    pub claim: i64,
    pub attempt: u32,
    pub blocked: bool,
    pub fail_fast: bool,
    pub fingerprint: String,
    /// A wait claimed the second time: it began, and now it is due or signalled.
    pub began: bool,
    /// For an item of a mapped node, which one (the node's row was claimed once, to open it).
    pub item: Option<MapItem>,
    /// The last attempt number of the run's earlier starts: `attempt` goes on from it, and this
    /// start's retry budget counts only the attempts after it.
    pub attempts_before: u32,
    /// For a rated node, the instant its execution may start (its reserved turn): never before
    /// the start time the claim reserved in the store.
    pub start_at: Option<tokio::time::Instant>,
    /// Whether another worker held it and let its lease lapse (this claim took it over).
    pub lapsed: bool,
}

/// A claim a worker holds: run, node, item (for an item of a mapped node), fencing token.
pub(crate) type Hold = (RunId, u32, Option<u32>, i64);

/// A duration in milliseconds, as the queue's SQL takes it.
pub(crate) fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
