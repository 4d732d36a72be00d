// The statuses will grow (issue 26: `TakenOver` and `Waiting` broke exhaustive matches when they
// came): they are `#[non_exhaustive]`, so a match on one needs a wildcard arm from the start.
use pipeline::{NodeStatus, RunStatus};

fn run_word(status: RunStatus) -> &'static str {
    match status {
        RunStatus::Completed => "done",
        RunStatus::Failed => "failed",
        RunStatus::Cancelled => "cancelled",
        RunStatus::TakenOver => "taken over",
        RunStatus::Waiting => "waiting",
    }
}

fn node_word(status: NodeStatus) -> &'static str {
    match status {
        NodeStatus::Completed => "done",
        NodeStatus::Failed => "failed",
        NodeStatus::Skipped => "skipped",
        NodeStatus::NotRun => "not run",
        NodeStatus::Waiting => "waiting",
    }
}

fn main() {
    let _ = (run_word(RunStatus::Completed), node_word(NodeStatus::Completed));
}
