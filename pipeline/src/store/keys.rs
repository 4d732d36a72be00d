//! Idempotency keys: a pipeline's key claimed for one run until it expires, so that a second
//! start with the same key finds the first run instead of starting another
//! ([`Checkpointer::claim_key`](super::Checkpointer::claim_key)).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::run_id::RunId;

/// How long an idempotency key is held by the run that took it, unless
/// [`EngineSettings::key_retention`](crate::EngineSettings::key_retention) says otherwise: a day.
pub const DEFAULT_KEY_RETENTION: Duration = Duration::from_secs(24 * 60 * 60);

/// A claim of idempotency key `key` of pipeline `pipeline` for run `run_id`, held until
/// `expires_at_ms` (milliseconds since the Unix epoch).
///
/// ```
/// use pipeline::RunId;
/// use pipeline::store::KeyClaim;
///
/// let claim = KeyClaim {
///     pipeline: "Nightly".into(),
///     key: r#"["acme","2026-12-06"]"#.into(),
///     run_id: RunId::new("nightly-acme")?,
///     expires_at_ms: 1_800_000_000_000,
/// };
/// assert!(claim.holds_at(1_700_000_000_000));
/// assert!(!claim.holds_at(1_800_000_000_000), "expired at its expiry");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyClaim {
    /// The pipeline's name: the same key of two pipelines is two keys.
    pub pipeline: String,
    /// The key, as text.
    pub key: String,
    /// The run that holds it.
    pub run_id: RunId,
    /// When the claim expires: from then on, a start with this key starts a new run.
    pub expires_at_ms: u64,
}

impl KeyClaim {
    /// Whether the claim still holds its key at `now_ms`.
    pub fn holds_at(&self, now_ms: u64) -> bool {
        now_ms < self.expires_at_ms
    }

    /// The claim kept when `self` comes for a key `held` holds, at `now_ms`: `held` while it
    /// holds, `self` otherwise. The one rule every store applies.
    pub(crate) fn against<'a>(&'a self, held: Option<&'a KeyClaim>, now_ms: u64) -> &'a KeyClaim {
        match held {
            Some(held) if held.holds_at(now_ms) => held,
            _ => self,
        }
    }
}

/// Where a queued run waits: behind runs of its key under its pipeline's per-key run limit
/// ([`Checkpointer::queue_place`](super::Checkpointer::queue_place)).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueuePlace {
    /// The run's key, as JSON text.
    pub key: String,
    /// How many runs of one key may run at once.
    pub runs: u32,
    /// Its place in the queue of its key: 1 for the next to start.
    pub position: u32,
    /// How many runs of its key are queued.
    pub queued: u32,
}

impl std::fmt::Display for QueuePlace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} of {} queued runs of key {}, which runs at most {} at once",
            self.position, self.queued, self.key, self.runs
        )
    }
}
