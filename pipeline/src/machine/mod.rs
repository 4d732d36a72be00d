//! The one place that decides how a run proceeds: a run's state machine, a pure function of the
//! graph's edges, its nodes' states and an event. Both executors apply its decisions: the
//! in-process scheduler (`engine::scheduler`) to the states it keeps in memory, the fleet
//! (`fleet::commit`) to the rows of its commit transaction, reading first the rows a decision
//! needs ([`Missing`] says which) and writing back the ones it changed. The rules of a run's
//! semantics (readiness, skip-downstream, fail-fast, retries, a wait beginning, cancel, how a run
//! ends) are written here and nowhere else.
//!
//! ```text
//!            ┌── Started ──▶ Running ── Ended(completed | failed | skipped) ──▶ resolved
//! Waiting ─▶ Ready                │ └── Retry(after) ──▶ Ready (not before `after`)
//!   │        └── (a wait) Began ──▶ Suspended ── Started (its signal or its time came)
//!   └── an upstream node failed or was skipped, none unresolved ──▶ Skipped
//! Stop: every node not resolved and not running (for a cancel, running too) ──▶ NotRun
//! ```

mod decide;
mod policy;
#[cfg(test)]
mod tests;

use std::time::Duration;

#[cfg(any(test, feature = "postgres"))]
pub(crate) use decide::decide;
pub(crate) use decide::{Scratch, decide_in_place};
pub(crate) use policy::{map_outcome, retry_after, run_status, stops_run};

use crate::result::NodeStatus;

/// A graph's edges, as the machine reads them.
pub(crate) trait Shape {
    /// How many nodes the graph has.
    fn node_count(&self) -> usize;
    /// Node `node`'s distinct upstream nodes.
    fn upstream_of(&self, node: u32) -> &[u32];
    /// Node `node`'s distinct dependents.
    fn downstream_of(&self, node: u32) -> &[u32];
}

/// Where a node is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Phase {
    /// An upstream node is not resolved yet.
    Waiting,
    /// It may start (at once, or after the not-before time its decision gave).
    Ready,
    /// An executor started it (or, for a mapped node, its items).
    Running,
    /// A wait that began and has neither its signal nor its due time yet.
    Suspended,
    Completed,
    Failed,
    /// Its gate was false, or an upstream node failed or was skipped.
    Skipped,
    /// The run stopped (fail-fast or cancel) before it started.
    NotRun,
}

impl Phase {
    /// Whether the node is resolved: it will not run (again) in this run.
    pub fn resolved(self) -> bool {
        matches!(
            self,
            Phase::Completed | Phase::Failed | Phase::Skipped | Phase::NotRun
        )
    }

    /// The status a run's result reports for a node in this phase.
    pub fn status(self) -> NodeStatus {
        match self {
            Phase::Completed => NodeStatus::Completed,
            Phase::Failed => NodeStatus::Failed,
            Phase::Skipped => NodeStatus::Skipped,
            Phase::Suspended => NodeStatus::Waiting,
            Phase::Waiting | Phase::Ready | Phase::Running | Phase::NotRun => NodeStatus::NotRun,
        }
    }
}

/// A run's nodes without their edges: enough for a decision that follows none (a cancel, a
/// signal), made by an executor that does not hold the graph.
#[cfg(feature = "postgres")]
pub(crate) struct Unconnected(pub usize);

#[cfg(feature = "postgres")]
impl Shape for Unconnected {
    fn node_count(&self) -> usize {
        self.0
    }
    fn upstream_of(&self, _: u32) -> &[u32] {
        &[]
    }
    fn downstream_of(&self, _: u32) -> &[u32] {
        &[]
    }
}

/// One node's state: its phase, how many of its upstream nodes are not resolved, and whether one
/// of them failed or was skipped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct NodeState {
    pub phase: Phase,
    pub unresolved: u32,
    pub blocked: bool,
}

impl NodeState {
    pub const fn new(phase: Phase) -> Self {
        NodeState {
            phase,
            unresolved: 0,
            blocked: false,
        }
    }
}

/// The states of a run's nodes as an executor has them.
pub(crate) trait States {
    /// Node `node`'s state; `None` when the executor has not read it (the decision then asks for
    /// it with [`Missing`]).
    fn state(&self, node: u32) -> Option<NodeState>;
}

impl States for [NodeState] {
    fn state(&self, node: u32) -> Option<NodeState> {
        self.get(node as usize).copied()
    }
}

impl<S: std::hash::BuildHasher> States for std::collections::HashMap<u32, NodeState, S> {
    fn state(&self, node: u32) -> Option<NodeState> {
        self.get(&node).copied()
    }
}

/// How a node that ran (or was let through its gate) ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    Completed,
    /// It failed after its retries; `stops` when its policy is fail-fast ([`stops_run`]).
    Failed {
        stops: bool,
    },
    /// Its gate was false.
    Skipped,
    /// A mapped node the run stopped (fail-fast elsewhere) before all its items started, none
    /// of which failed: it did not run ([`map_outcome`]).
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    Stopped,
}

/// What happened in a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Event {
    /// An executor started a ready node, or a suspended wait whose signal or due time came.
    /// (Executors apply [`started`] in place; the event keeps the machine's tests whole.)
    #[allow(dead_code)]
    Started { node: u32 },
    /// A node ended.
    Ended { node: u32, outcome: Outcome },
    /// An attempt of a running node failed with attempts left ([`retry_after`]): it is ready
    /// again after `after`. (In one process a node task waits out its backoff itself.)
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    Retry { node: u32, after: Duration },
    /// An item of a running mapped node failed after its retries; `stops` as in
    /// [`Outcome::Failed`]. The node itself ends when its last item does.
    ItemFailed { node: u32, stops: bool },
    /// A wait began (its gate let it through): it is suspended, or ready at once when its signal
    /// is already stored.
    Began { node: u32, signalled: bool },
    /// A signal for wait `node` was stored: a suspended wait is ready at once; a wait that has
    /// not begun finds the signal when it begins ([`Event::Began`]).
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    Signalled { node: u32 },
    /// The run is cancelled: nothing more starts, and nothing running is kept.
    Cancel,
}

/// Why a run stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stop {
    FailFast,
    Cancel,
}

/// What an event changes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Decision {
    /// Every node whose state changed, with its new state, each once, in node order. Filled by
    /// [`decide`]; [`decide_in_place`] writes the states instead.
    pub changes: Vec<(u32, NodeState)>,
    /// The nodes that became ready, with how long from now they may start.
    pub ready: Vec<(u32, Duration)>,
    /// The nodes skipped because an upstream node failed or was skipped, in the order decided.
    pub skipped: Vec<u32>,
    /// The nodes that will not run because the run stopped.
    pub not_run: Vec<u32>,
    /// The nodes this event resolved, in the order decided (an executor counts them off the
    /// run's unresolved nodes: the run ends at zero).
    pub resolved: Vec<u32>,
    /// Whether the run stops with this event.
    pub stop: Option<Stop>,
}

impl Decision {
    fn clear(&mut self) {
        self.changes.clear();
        self.ready.clear();
        self.skipped.clear();
        self.not_run.clear();
        self.resolved.clear();
        self.stop = None;
    }
}

/// The nodes whose states a decision needs and the executor did not have, sorted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Missing(pub Vec<u32>);

/// What [`Event::Started`] does to the node that starts, and nothing else: an executor that
/// holds the node's state may apply it alone, without a whole decision (the scheduler does, for
/// every node it starts).
pub(crate) fn started(state: &mut NodeState) {
    state.phase = Phase::Running;
}

/// A run's first states: the nodes `done` says completed (restored from a checkpoint) are
/// completed; every other node is ready when none of its upstream nodes is left, waiting
/// otherwise.
pub(crate) fn initial<G: Shape + ?Sized>(shape: &G, done: impl Fn(u32) -> bool) -> Vec<NodeState> {
    (0..shape.node_count() as u32)
        .map(|node| match done(node) {
            true => NodeState::new(Phase::Completed),
            false => {
                let up = shape.upstream_of(node);
                let unresolved = up.iter().filter(|&&u| !done(u)).count() as u32;
                NodeState {
                    phase: if unresolved == 0 {
                        Phase::Ready
                    } else {
                        Phase::Waiting
                    },
                    unresolved,
                    blocked: false,
                }
            }
        })
        .collect()
}
