//! The status codes the viewer's pages, styles and JSON use for runs and nodes.

use crate::store::{NodeState, RunState};

/// A run's status code: `completed`, `failed`, `cancelled`, `taken_over`, `waiting`, `running`,
/// `interrupted`, `stopped` or `unknown` ([`RunState::code`]).
pub fn run_code(state: RunState) -> &'static str {
    state.code()
}

/// How long a run with status `code` took is counted as [`Took`](crate::text::Took) says.
pub(crate) fn took(code: &str) -> crate::text::Took {
    RunState::from_code(code).map_or(crate::text::Took::Ended, crate::text::Took::of)
}

/// Every run status code, in the order the filter offers them.
pub const RUN_CODES: [&str; 9] = {
    let mut codes = [""; 9];
    let mut i = 0;
    while i < codes.len() {
        codes[i] = RunState::ALL[i].code();
        i += 1;
    }
    codes
};

/// Whether a run with this code can change no more ([`RunState::is_final`]).
pub fn is_final(code: &str) -> bool {
    RunState::from_code(code).is_some_and(RunState::is_final)
}

/// Whether a run with this code can be resumed from the viewer ([`RunState::is_resumable`]).
pub fn is_resumable(code: &str) -> bool {
    RunState::from_code(code).is_some_and(RunState::is_resumable)
}

/// A node's status code: `completed`, `failed`, `skipped`, `not_run`, `waiting`, `running`,
/// `no_outcome` (its attempt was in flight when its process died) or `cached`
/// ([`NodeState::code`]).
pub fn node_code(state: NodeState) -> &'static str {
    state.code()
}

/// The viewer's own node code, beside [`NodeState::code`]'s: a node completed in an earlier run
/// whose output this run restored.
const RESTORED: &str = "restored";

/// Every node status code, in the order the legend shows them.
pub const NODE_CODES: [&str; 9] = [
    NodeState::Completed.code(),
    RESTORED,
    NodeState::Cached.code(),
    NodeState::Failed.code(),
    NodeState::Skipped.code(),
    NodeState::NotRun.code(),
    NodeState::Waiting.code(),
    NodeState::Running.code(),
    NodeState::NoOutcome.code(),
];

/// How a node's status code reads on a page ([`NodeState::label`]; `restored`; `not run` for a
/// code it does not know).
pub fn node_label(code: &str) -> &'static str {
    match NodeState::ALL
        .into_iter()
        .find(|state| state.code() == code)
    {
        Some(state) => state.label(),
        None if code == RESTORED => RESTORED,
        None => NodeState::NotRun.label(),
    }
}
