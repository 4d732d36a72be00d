//! Metrics of this process's runs in Prometheus' text format: what the `serve` command answers
//! at `/metrics` (and `worker --metrics ADDR`), what [`text`] gives a program to answer in its
//! own server, and what `metrics::serve` (features `postgres` or `web`) answers on a listener
//! of its own.
//!
//! Recorded by both executors (a run in one process, and a fleet worker's nodes), always on,
//! each a few atomic additions into a metric the node looked up once. Attempt durations are
//! recorded where attempts are timed: on a fleet, and in a process for a run with a store or an
//! event handler (an engine with neither skips the clock reads, which on some virtual machines
//! cost more than the rest of a node):
//!
//! | metric | kind | labels |
//! |---|---|---|
//! | `pipeline_runs_started_total` | counter | `pipeline` |
//! | `pipeline_runs_ended_total` | counter | `pipeline`, `status` |
//! | `pipeline_node_attempt_duration_seconds` | histogram | `pipeline`, `node` |
//! | `pipeline_node_retries_total` | counter | `pipeline`, `node` |
//! | `pipeline_node_cache_hits_total` | counter | `pipeline`, `node` |
//! | `pipeline_store_write_duration_seconds` | histogram | `record` (`checkpoint`, `audit`, and `checkpoint_and_audit` for a record and its entry in one commit); one write in 16, sampled |
//! | `pipeline_fleet_ready_nodes` | gauge | (a worker: nodes and items ready but not claimed, as of its last heartbeat) |
//! | `pipeline_fleet_leases_lost_total` | counter | (a worker: claims it lost before resolving them) |
//! | `pipeline_fleet_leases_taken_over_total` | counter | (a worker: nodes it claimed whose lease another had let lapse) |
//! | `pipeline_fleet_commits_refused_total` | counter | (a worker: resolutions refused, their claim no longer current) |
//!
//! A run counts as started where it is started or resumed (for a fleet, where it is submitted or
//! resumed), and as ended where it ends (for a fleet, on the worker that resolved its last node).
//!
//! ```
//! // In a program's own server (axum, hyper, actix…): answer GET /metrics with
//! let body: String = pipeline::metrics::text();
//! let content_type = pipeline::metrics::CONTENT_TYPE;
//! # assert!(body.is_empty() || body.starts_with("# HELP"));
//! # assert!(content_type.starts_with("text/plain"));
//! ```

mod family;
mod registry;
mod render;
#[cfg(any(feature = "postgres", feature = "web"))]
mod serve;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use self::family::NodeSeries;
use self::registry::REGISTRY;
#[cfg(any(feature = "postgres", feature = "web"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "postgres", feature = "web"))))]
pub use self::serve::serve;

/// The media type of [`text`]'s answer: Prometheus' text exposition format, version 0.0.4.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Every metric of this process, in Prometheus' text exposition format (version 0.0.4): the
/// body of an answer to `GET /metrics`, with [`CONTENT_TYPE`]. Metrics not yet recorded (no run
/// started) are left out.
pub fn text() -> String {
    render::render(&REGISTRY)
}

/// A run of `pipeline` started (or resumed).
pub(crate) fn run_started(pipeline: &str) {
    REGISTRY.runs_started.with(&[pipeline]).inc();
}

/// A run of `pipeline` ended with `status`.
pub(crate) fn run_ended(pipeline: &str, status: &str) {
    REGISTRY.runs_ended.with(&[pipeline, status]).inc();
}

/// One store write in this many is timed: the clock reads cost more than an in-memory write on
/// some virtual machines, and a sample shows the latency as well.
const STORE_WRITE_SAMPLE: u32 = 16;

/// What a store write writes: each kind is sampled on its own.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Record {
    Checkpoint,
    Audit,
    /// A node's record and its audit entry in one commit.
    Both,
}

/// The start of a store write of `record` to time, for one write in [`STORE_WRITE_SAMPLE`] of
/// that kind; `None` for the others.
pub(crate) fn store_write_timer(record: Record) -> Option<Instant> {
    static WRITES: [AtomicU32; 3] = [const { AtomicU32::new(0) }; 3];
    let n = WRITES[record as usize].fetch_add(1, Ordering::Relaxed);
    n.is_multiple_of(STORE_WRITE_SAMPLE).then(Instant::now)
}

/// A write of `record` to a store ended; it is counted when `timer` timed it.
pub(crate) fn store_write(record: Record, timer: Option<Instant>) {
    let Some(started) = timer else {
        return;
    };
    let name = match record {
        Record::Checkpoint => "checkpoint",
        Record::Audit => "audit",
        Record::Both => "checkpoint_and_audit",
    };
    REGISTRY
        .store_writes
        .with(&[name])
        .observe(started.elapsed());
}

/// The fleet's ready nodes and items, as a worker counted them.
#[cfg(feature = "postgres")]
pub(crate) fn fleet_ready(count: i64) {
    REGISTRY.fleet_ready.with(&[]).set(count);
}

/// A worker lost a claim before resolving it.
#[cfg(feature = "postgres")]
pub(crate) fn fleet_lease_lost() {
    REGISTRY.fleet_leases_lost.with(&[]).inc();
}

/// A worker claimed `count` nodes whose leases had lapsed.
#[cfg(feature = "postgres")]
pub(crate) fn fleet_taken_over(count: u64) {
    REGISTRY.fleet_taken_over.with(&[]).add(count);
}

/// A worker's resolution was refused: its claim was no longer current.
#[cfg(feature = "postgres")]
pub(crate) fn fleet_commit_refused() {
    REGISTRY.fleet_commits_refused.with(&[]).inc();
}

/// One node's metrics, looked up once (a node keeps them for every run of its graph).
#[derive(Debug)]
pub(crate) struct NodeMetrics(Arc<NodeSeries>);

impl NodeMetrics {
    /// The metrics of node `node` of `pipeline`.
    pub fn new(pipeline: &str, node: &str) -> Self {
        NodeMetrics(REGISTRY.nodes.with(&[pipeline, node]))
    }

    /// An attempt took `took`.
    pub fn attempt(&self, took: Duration) {
        self.0.attempts.observe(took);
    }

    /// A failed attempt is retried.
    pub fn retry(&self) {
        self.0.retries.inc();
    }

    /// A call's output was restored from the cache.
    pub fn cache_hit(&self) {
        self.0.cache_hits.inc();
    }
}

#[cfg(test)]
mod tests;
