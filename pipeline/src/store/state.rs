//! Where a run and its nodes are, as a reader of the stores tells it ([`RunState`],
//! [`NodeState`]): the statuses of an ended run, plus running, interrupted and "started, no
//! outcome" for one that has not ended.

use std::fmt;

use crate::result::{NodeStatus, RunStatus};

/// Where a run is, as its stores tell it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RunState {
    /// It ended (its final summary says how), or every node of it completed.
    Ended(RunStatus),
    /// It has not ended and a process holds it: it is running now.
    Running,
    /// It has not ended and no process holds it: its process died or was stopped; `resume`
    /// continues it.
    Interrupted,
    /// It has not ended, no process holds it, and it has no audit trail, so whether it failed or
    /// was interrupted cannot be told (it ran without an audit log); `resume` continues it.
    Stopped,
    /// It has not ended, and the store cannot tell whether a process holds it.
    Unknown,
}

impl RunState {
    /// Every state, in the order the viewer's filter offers them.
    pub const ALL: [RunState; 9] = [
        RunState::Ended(RunStatus::Completed),
        RunState::Ended(RunStatus::Failed),
        RunState::Running,
        RunState::Ended(RunStatus::Waiting),
        RunState::Interrupted,
        RunState::Stopped,
        RunState::Ended(RunStatus::Cancelled),
        RunState::Ended(RunStatus::TakenOver),
        RunState::Unknown,
    ];

    /// The state as one word, as JSON and the viewer spell it: an ended run's
    /// [`RunStatus::code`], or `running`, `interrupted`, `stopped` or `unknown`.
    pub const fn code(self) -> &'static str {
        match self {
            RunState::Ended(status) => status.code(),
            RunState::Running => "running",
            RunState::Interrupted => "interrupted",
            RunState::Stopped => "stopped",
            RunState::Unknown => "unknown",
        }
    }

    /// The state whose [`code`](RunState::code) is `code`.
    pub fn from_code(code: &str) -> Option<RunState> {
        RunState::ALL.into_iter().find(|state| state.code() == code)
    }

    /// The state as a sentence says it (its `Display`).
    pub const fn label(self) -> &'static str {
        match self {
            RunState::Ended(status) => status.label(),
            RunState::Running => "running",
            RunState::Interrupted => "interrupted",
            RunState::Stopped => "stopped (no audit trail: failed or interrupted)",
            RunState::Unknown => "running or interrupted",
        }
    }

    /// Whether the run can change no more: it completed (a failed, cancelled, waiting or
    /// interrupted run can be continued; one taken over is continued by its new owner).
    pub fn is_final(self) -> bool {
        self == RunState::Ended(RunStatus::Completed)
    }

    /// Whether `resume` continues the run: it failed, was cancelled, or stopped without an end.
    pub fn is_resumable(self) -> bool {
        matches!(
            self,
            RunState::Ended(RunStatus::Failed | RunStatus::Cancelled)
                | RunState::Interrupted
                | RunState::Stopped
        )
    }
}

impl fmt::Display for RunState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// Where a node of a run is, as the run's stores tell it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NodeState {
    /// Its output is in the checkpoint.
    Completed,
    /// Its last attempt failed (for a run that ended: after its retries).
    Failed,
    /// Its gate was false, or a node it depends on failed or was skipped.
    Skipped,
    /// It was not reached.
    NotRun,
    /// A wait that began and has not received its signal or come due.
    Waiting,
    /// Its inputs are complete and the run is running: it is running or about to.
    Running,
    /// Its inputs were complete when the run was interrupted, and no outcome of it is stored:
    /// the attempt in flight when the process died (`resume` runs it again).
    NoOutcome,
    /// Its output is in the checkpoint, restored from the cache (`#[node(cache)]`): it did not run.
    Cached,
}

impl From<NodeStatus> for NodeState {
    fn from(status: NodeStatus) -> NodeState {
        match status {
            NodeStatus::Completed => NodeState::Completed,
            NodeStatus::Failed => NodeState::Failed,
            NodeStatus::Skipped => NodeState::Skipped,
            NodeStatus::NotRun => NodeState::NotRun,
            NodeStatus::Waiting => NodeState::Waiting,
            NodeStatus::Cached => NodeState::Cached,
        }
    }
}

impl NodeState {
    /// The [`NodeStatus`] closest to this state (running and "no outcome" are not run yet).
    pub const fn status(self) -> NodeStatus {
        match self {
            NodeState::Completed => NodeStatus::Completed,
            NodeState::Failed => NodeStatus::Failed,
            NodeState::Skipped => NodeStatus::Skipped,
            NodeState::Waiting => NodeStatus::Waiting,
            NodeState::Cached => NodeStatus::Cached,
            NodeState::NotRun | NodeState::Running | NodeState::NoOutcome => NodeStatus::NotRun,
        }
    }
}

impl NodeState {
    /// Every state, in the order the viewer's legend shows them.
    pub const ALL: [NodeState; 8] = [
        NodeState::Completed,
        NodeState::Cached,
        NodeState::Failed,
        NodeState::Skipped,
        NodeState::NotRun,
        NodeState::Waiting,
        NodeState::Running,
        NodeState::NoOutcome,
    ];

    /// The state as one word, as JSON and the viewer spell it: `completed`, `failed`,
    /// `skipped`, `not_run`, `waiting`, `running`, `no_outcome` or `cached`.
    pub const fn code(self) -> &'static str {
        match self {
            NodeState::Running => "running",
            NodeState::NoOutcome => "no_outcome",
            other => other.status().code(),
        }
    }

    /// The state as a sentence says it (its `Display`): `not run`, `started, no outcome`.
    pub const fn label(self) -> &'static str {
        match self {
            NodeState::Running => "running",
            NodeState::NoOutcome => "started, no outcome",
            other => other.status().label(),
        }
    }
}

/// A node of a run as a picture draws it: a running node and the attempt a dead process left
/// with no outcome are drawn as such, not as `not run`.
impl crate::graph::NodeLook for NodeState {
    fn code(self) -> &'static str {
        NodeState::code(self)
    }
    fn label(self) -> &'static str {
        NodeState::label(self)
    }
    fn colours(self) -> (&'static str, &'static str) {
        match self {
            // The run viewer's colours for them.
            NodeState::Running => ("#d2e3fc", "#1a73e8"),
            NodeState::NoOutcome => ("#feefc3", "#f29900"),
            other => crate::graph::NodeLook::colours(other.status()),
        }
    }
    fn rank(self) -> usize {
        NodeState::ALL
            .iter()
            .position(|s| *s == self)
            .unwrap_or(NodeState::ALL.len())
    }
}

impl fmt::Display for NodeState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The index of `state` in [`RunState::ALL`]: written as a match, so that a new state does
    /// not compile until it is listed.
    fn run_index(state: RunState) -> usize {
        match state {
            RunState::Ended(RunStatus::Completed) => 0,
            RunState::Ended(RunStatus::Failed) => 1,
            RunState::Running => 2,
            RunState::Ended(RunStatus::Waiting) => 3,
            RunState::Interrupted => 4,
            RunState::Stopped => 5,
            RunState::Ended(RunStatus::Cancelled) => 6,
            RunState::Ended(RunStatus::TakenOver) => 7,
            RunState::Unknown => 8,
        }
    }

    fn node_index(state: NodeState) -> usize {
        match state {
            NodeState::Completed => 0,
            NodeState::Cached => 1,
            NodeState::Failed => 2,
            NodeState::Skipped => 3,
            NodeState::NotRun => 4,
            NodeState::Waiting => 5,
            NodeState::Running => 6,
            NodeState::NoOutcome => 7,
        }
    }

    #[test]
    fn every_status_is_spelt_once_and_read_back() -> Result<(), serde_json::Error> {
        for (i, state) in RunState::ALL.into_iter().enumerate() {
            assert_eq!(run_index(state), i, "{state:?} is listed in its place");
            assert_eq!(RunState::from_code(state.code()), Some(state));
            assert_eq!(state.to_string(), state.label());
            if let RunState::Ended(status) = state {
                // JSON (serde) spells an ended run's status as its code.
                let json = serde_json::to_string(&status)?;
                assert_eq!(json, format!("\"{}\"", status.code()));
                assert_eq!(status.to_string(), status.label());
            }
        }
        for (i, state) in NodeState::ALL.into_iter().enumerate() {
            assert_eq!(node_index(state), i, "{state:?} is listed in its place");
            assert_eq!(state.to_string(), state.label());
            let status = state.status();
            let json = serde_json::to_string(&status)?;
            assert_eq!(json, format!("\"{}\"", status.code()));
        }
        let codes = |all: &mut dyn Iterator<Item = &'static str>| {
            let mut codes: Vec<_> = all.collect();
            let n = codes.len();
            codes.sort_unstable();
            codes.dedup();
            assert_eq!(codes.len(), n, "codes are distinct: {codes:?}");
        };
        codes(&mut RunState::ALL.into_iter().map(RunState::code));
        codes(&mut NodeState::ALL.into_iter().map(NodeState::code));
        assert_eq!(
            RunState::from_code("taken over"),
            None,
            "a label is not a code"
        );
        Ok(())
    }

    #[test]
    fn resumable_and_final_runs() {
        let resumable: Vec<_> = RunState::ALL
            .into_iter()
            .filter(|s| s.is_resumable())
            .map(RunState::code)
            .collect();
        assert_eq!(resumable, ["failed", "interrupted", "stopped", "cancelled"]);
        let finals: Vec<_> = RunState::ALL.into_iter().filter(|s| s.is_final()).collect();
        assert_eq!(finals, [RunState::Ended(RunStatus::Completed)]);
    }
}
