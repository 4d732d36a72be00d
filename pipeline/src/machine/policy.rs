//! The rules an executor applies to one node or to the run as a whole: whether a failure stops
//! the run, whether a failed attempt is tried again and when, how a mapped node ends from its
//! items, and the status a run ends with.

use std::time::Duration;

use super::{Outcome, Phase};
use crate::node::{NodeOptions, OnError};
use crate::result::RunStatus;

/// Whether a failure of a node with `options` stops the run: its own policy, or the run's.
pub(crate) fn stops_run(options: &NodeOptions, run: OnError) -> bool {
    options.on_error.unwrap_or(run) == OnError::FailFast
}

/// When a failed attempt `attempt` (counted from 1) of a node with `options` is tried again:
/// after its backoff, while attempts are left and the failure is one to retry; `None` when the
/// node has failed.
pub(crate) fn retry_after(
    options: &NodeOptions,
    attempt: u32,
    retryable: bool,
) -> Option<Duration> {
    (retryable && attempt < options.max_attempts()).then(|| options.backoff.delay(attempt))
}

/// The status of a run whose nodes ended in `phases`, unless it was cancelled or taken over: it
/// failed when a node failed, waits while a wait is suspended, and completed otherwise.
pub(crate) fn run_status(phases: impl IntoIterator<Item = Phase>) -> RunStatus {
    let mut status = RunStatus::Completed;
    for phase in phases {
        match phase {
            Phase::Failed => return RunStatus::Failed,
            Phase::Suspended => status = RunStatus::Waiting,
            _ => {}
        }
    }
    status
}

/// How a mapped node ends once none of its items runs or will start: failed when an item failed
/// (`stops` as for any failure, [`stops_run`]); otherwise completed when no item was left unrun
/// (`unrun`: items that never started because the run stopped), and not run when some were.
pub(crate) fn map_outcome(failed: usize, unrun: usize, stops: bool) -> Outcome {
    match (failed, unrun) {
        (0, 0) => Outcome::Completed,
        (0, _) => Outcome::Stopped,
        _ => Outcome::Failed { stops },
    }
}
