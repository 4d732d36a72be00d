//! Many machines (feature `postgres`): workers that share runs through a
//! [`PostgresStore`](crate::store::PostgresStore), spread one run's nodes over many processes,
//! and take over the nodes of a worker that died.
//!
//! ```text
//! engine.submit(inputs) ─▶ run + one row per node (those without upstream nodes: ready)
//!                                  │ NOTIFY
//! Worker ── claim ready nodes (FOR UPDATE SKIP LOCKED, lease) ◀┘
//!        ── run one attempt (heartbeats renew the lease)
//!        ── commit in one transaction: checkpoint record, audit entry, dependents ready
//!           (NOTIFY), and for the last node the run's end (NOTIFY ─▶ engine.wait)
//! ```
//!
//! The semantics are those of a run in one process: condition gates, skip-downstream and
//! fail-fast, retries with backoff (a retry is a node ready again at a later time, not a
//! sleeping worker), timeouts, cancellation from any process. A worker serves the pipelines it
//! was built with and claims only nodes of runs submitted with the same graph fingerprint.
//!
//! A node runs at least once and is checkpointed exactly once: each claim is a lease renewed by
//! heartbeats, a worker that misses them loses the node to the next claim, and the claim number
//! fences its late commit. A node's [`attempt`](crate::NodeContext::attempt) counts failed
//! attempts only, so a worker killed mid-attempt does not use up the node's retries.

mod apply;
mod cached;
mod cancel;
mod claim;
mod claimer;
mod commit;
mod control;
mod due;
mod engine;
mod execute;
mod items;
mod lease;
mod limits;
mod map_rows;
mod maps;
mod order;
mod presence;
mod queue;
mod read;
mod records;
mod reopen;
mod rerun;
mod resolution;
mod running;
mod served;
mod submit;
mod waiting;
mod worker;

#[doc(hidden)]
pub use crate::graph::FleetGraph;
pub use control::{Shutdown, WorkerReport};
pub use submit::Submit;
pub use waiting::unserved_runs;
pub use worker::Worker;

pub(crate) use queue::NewNode;
pub(crate) mod sql {
    //! The queue operations the engine's `submit`, `wait` and `cancel` call.
    pub(crate) use super::cancel::cancel;
    pub(crate) use super::queue::submit;
    pub(crate) use super::read::{RunRow, header, outputs, run_row};
    pub(crate) use super::reopen::reopen;
}
