//! The process's metrics: every family, by name, help and labels, in one static registry.

use super::family::{Counter, Family, Gauge, Histogram, NodeSeries};

/// The process's metrics. A node's three series are one metric of `nodes`, which the text
/// writes as three families (`render::nodes`).
pub(super) struct Registry {
    pub(super) runs_started: Family<Counter>,
    pub(super) runs_ended: Family<Counter>,
    /// Each node's attempts, retries and cache hits, by pipeline and node.
    pub(super) nodes: Family<NodeSeries>,
    pub(super) store_writes: Family<Histogram>,
    pub(super) fleet_ready: Family<Gauge>,
    pub(super) fleet_leases_lost: Family<Counter>,
    pub(super) fleet_taken_over: Family<Counter>,
    pub(super) fleet_commits_refused: Family<Counter>,
}

pub(super) static REGISTRY: Registry = Registry {
    runs_started: Family::new(
        "pipeline_runs_started_total",
        "Runs started (and resumed) by this process.",
        &["pipeline"],
    ),
    runs_ended: Family::new(
        "pipeline_runs_ended_total",
        "Runs that ended in this process, by status.",
        &["pipeline", "status"],
    ),
    nodes: Family::new("pipeline_node", "", &["pipeline", "node"]),
    store_writes: Family::new(
        "pipeline_store_write_duration_seconds",
        "How long a run's writes to its stores took, by record (one write in 16, sampled).",
        &["record"],
    ),
    fleet_ready: Family::new(
        "pipeline_fleet_ready_nodes",
        "Nodes and items of the fleet ready to run but not claimed, as of this worker's last \
         heartbeat.",
        &[],
    ),
    fleet_leases_lost: Family::new(
        "pipeline_fleet_leases_lost_total",
        "Claims this worker lost before resolving them (their lease lapsed, or their run was \
         cancelled).",
        &[],
    ),
    fleet_taken_over: Family::new(
        "pipeline_fleet_leases_taken_over_total",
        "Nodes this worker claimed whose lease another worker had let lapse.",
        &[],
    ),
    fleet_commits_refused: Family::new(
        "pipeline_fleet_commits_refused_total",
        "Resolutions this worker committed that were refused: their claim was no longer \
         current.",
        &[],
    ),
};
