//! [`ItemCounts`]: how far a mapped node got in a run, as pictures and the command line say it.

use std::fmt::Write as _;

/// How far a node mapped over a list (`each`) got in a run: drawn once, with these counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ItemCounts {
    /// How many items the list has.
    pub of: u32,
    /// Items with a checkpoint record.
    pub completed: u32,
    /// Items whose last attempt failed, with no record, and none was to follow.
    pub failed: u32,
    /// Items whose last attempt failed with retries left: waiting to try again (in backoff), or,
    /// in a run that was interrupted, to be tried again on resume.
    pub retrying: u32,
    /// Of the completed items, those whose output came from the cache (`#[node(cache)]`).
    pub cached: u32,
}

impl ItemCounts {
    /// `996 completed (990 from the cache), 4 failed, 2 retrying` (cached items, failures and
    /// retries only when there are some).
    pub fn outcomes(&self) -> String {
        let mut text = format!("{} completed", self.completed);
        if self.cached > 0 {
            let _ = write!(text, " ({} from the cache)", self.cached);
        }
        if self.failed > 0 {
            let _ = write!(text, ", {} failed", self.failed);
        }
        if self.retrying > 0 {
            let _ = write!(text, ", {} retrying", self.retrying);
        }
        text
    }
}

impl std::fmt::Display for ItemCounts {
    /// `×1000: 996 completed, 4 failed`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "×{}: {}", self.of, self.outcomes())
    }
}
