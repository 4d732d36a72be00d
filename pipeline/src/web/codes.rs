//! The status codes the viewer's pages, styles and JSON use for runs and nodes.

use crate::result::RunStatus;
use crate::store::{NodeState, RunState};

/// A run's status code: `completed`, `failed`, `cancelled`, `taken_over`, `waiting`, `running`,
/// `interrupted`, `stopped` or `unknown`.
pub fn run_code(state: RunState) -> &'static str {
    match state {
        RunState::Ended(RunStatus::Completed) => "completed",
        RunState::Ended(RunStatus::Failed) => "failed",
        RunState::Ended(RunStatus::Cancelled) => "cancelled",
        RunState::Ended(RunStatus::TakenOver) => "taken_over",
        RunState::Ended(RunStatus::Waiting) => "waiting",
        RunState::Running => "running",
        RunState::Interrupted => "interrupted",
        RunState::Stopped => "stopped",
        RunState::Unknown => "unknown",
    }
}

/// How long a run with status `code` took is counted as [`Took`] says.
pub(crate) fn took(code: &str) -> crate::text::Took {
    use crate::text::Took;
    match code {
        "running" => Took::Running,
        "interrupted" | "stopped" | "unknown" => Took::Unfinished,
        _ => Took::Ended,
    }
}

/// Every run status code, in the order the filter offers them.
pub const RUN_CODES: [&str; 9] = [
    "completed",
    "failed",
    "running",
    "waiting",
    "interrupted",
    "stopped",
    "cancelled",
    "taken_over",
    "unknown",
];

/// Whether a run with this code can change no more (a failed, cancelled, waiting or
/// interrupted run can be continued).
pub fn is_final(code: &str) -> bool {
    code == "completed"
}

/// Whether a run with this code can be resumed from the viewer.
pub fn is_resumable(code: &str) -> bool {
    matches!(code, "failed" | "cancelled" | "interrupted" | "stopped")
}

/// A node's status code: `completed`, `failed`, `skipped`, `not_run`, `waiting`, `running` or
/// `no_outcome` (its attempt was in flight when its process died).
pub fn node_code(state: NodeState) -> &'static str {
    match state {
        NodeState::Completed => "completed",
        NodeState::Failed => "failed",
        NodeState::Skipped => "skipped",
        NodeState::NotRun => "not_run",
        NodeState::Waiting => "waiting",
        NodeState::Running => "running",
        NodeState::NoOutcome => "no_outcome",
    }
}

/// Every node status code, in the order the legend shows them.
pub const NODE_CODES: [&str; 8] = [
    "completed",
    "restored",
    "failed",
    "skipped",
    "not_run",
    "waiting",
    "running",
    "no_outcome",
];

/// How a node's status code reads on a page.
pub fn node_label(code: &str) -> &'static str {
    match code {
        "completed" => "completed",
        "restored" => "restored",
        "failed" => "failed",
        "skipped" => "skipped",
        "waiting" => "waiting",
        "running" => "running",
        "no_outcome" => "started, no outcome",
        _ => "not run",
    }
}
