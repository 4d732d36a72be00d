//! Ownership epochs (fencing tokens): taking a run (creating or resuming it) yields an [`Epoch`]
//! that grows with every takeover and is stored with the run; every write carries it, and a store
//! refuses a write whose epoch is not the run's current one. A writer that lost its run (its
//! future was dropped and another engine resumed the run) can then never write into the new
//! owner's run. The local lock and a fleet's lease are two ways to hand out the same epoch.

use serde::{Deserialize, Serialize};

/// Which takeover of a run a writer holds: 1 when the run was created, one more on every resume.
///
/// ```
/// use pipeline::store::Epoch;
///
/// let first = Epoch::FIRST;
/// assert_eq!(first.get(), 1);
/// assert!(first.next() > first);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Epoch(u64);

impl Epoch {
    /// The epoch of a newly created run.
    pub const FIRST: Epoch = Epoch(1);

    /// The epoch numbered `n` (for stores that keep epochs as numbers).
    pub const fn new(n: u64) -> Epoch {
        Epoch(n)
    }

    /// The epoch's number.
    pub const fn get(self) -> u64 {
        self.0
    }

    /// The epoch of the next takeover.
    pub const fn next(self) -> Epoch {
        Epoch(self.0.saturating_add(1))
    }
}

impl std::fmt::Display for Epoch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}
