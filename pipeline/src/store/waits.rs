//! What a store keeps of a run's waits (a binding that waits for a signal): the signals sent to
//! it, stored before anything else happens with them, and what a suspended run waits on. The one
//! rule every store applies to a new signal, [`accept`].

use serde::{Deserialize, Serialize};

use super::error::{StoreError, StoreResult};
use crate::data::Json;
use crate::result::WaitingOn;
use crate::run_id::RunId;

/// A signal sent to a wait of a run: stored first, then consumed when the wait begins (at once,
/// if the run already waits on it).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SignalRecord {
    /// The wait binding the signal is for.
    pub wait: String,
    /// The idempotency key: sending the same key with the same payload again is one signal.
    pub key: String,
    /// The payload, as JSON of the wait's type.
    pub payload: Json,
    /// When it was sent, in milliseconds since the Unix epoch.
    pub sent_at_ms: u64,
}

/// What [`send_signal`](super::Checkpointer::send_signal) did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignalSent {
    /// The signal is stored.
    Stored,
    /// The same signal (key and payload) was stored already: nothing changed.
    Duplicate,
}

/// What a store keeps of a run's waits.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct RunWaits {
    /// The signals sent to the run, in the order they were stored (one per wait).
    #[serde(default)]
    pub signals: Vec<SignalRecord>,
    /// What the run waited on when it last suspended (empty while it runs or once it ended).
    #[serde(default)]
    pub waiting: Vec<WaitingOn>,
    /// Whether the run was cancelled while it waited: no signal continues it any more.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cancelled: bool,
}

impl RunWaits {
    /// The signal stored for wait `wait`, if any.
    pub fn signal(&self, wait: &str) -> Option<&SignalRecord> {
        self.signals.iter().find(|s| s.wait == wait)
    }
}

/// Whether `signal` may join the `stored` signals of run `run_id`: `Stored` when its wait has
/// none yet, `Duplicate` when the same key and payload are stored, and an error that says so
/// when the wait has another signal.
pub(crate) fn accept(
    run_id: &RunId,
    stored: &[SignalRecord],
    signal: &SignalRecord,
) -> StoreResult<SignalSent> {
    let Some(earlier) = stored.iter().find(|s| s.wait == signal.wait) else {
        return Ok(SignalSent::Stored);
    };
    if earlier.key == signal.key && earlier.payload.get() == signal.payload.get() {
        return Ok(SignalSent::Duplicate);
    }
    let reason = match earlier.key == signal.key {
        true => "the same key was sent with another payload",
        false => "another signal was sent to it first",
    };
    Err(StoreError::SignalConflict {
        run_id: run_id.clone(),
        wait: signal.wait.clone(),
        reason,
        stored: earlier.payload.get().to_owned(),
    })
}

impl RunWaits {
    /// Adds `signal` to the run's signals by the rule of [`accept`]; the answer, and whether the
    /// waits changed (to be written back).
    pub(crate) fn add(
        &mut self,
        run_id: &RunId,
        signal: &SignalRecord,
    ) -> StoreResult<(SignalSent, bool)> {
        let sent = accept(run_id, &self.signals, signal)?;
        if sent == SignalSent::Stored {
            self.signals.push(signal.clone());
        }
        Ok((sent, sent == SignalSent::Stored))
    }

    /// Replaces what the run waits on; whether that changed anything.
    pub(crate) fn replace_waiting(&mut self, waiting: &[WaitingOn]) -> StoreResult<((), bool)> {
        let changed = self.waiting != waiting;
        self.waiting = waiting.to_vec();
        Ok(((), changed))
    }

    /// Removes the signal stored for `wait`; whether there was one (and so a change).
    pub(crate) fn remove(&mut self, wait: &str) -> StoreResult<(bool, bool)> {
        let before = self.signals.len();
        self.signals.retain(|s| s.wait != wait);
        let removed = self.signals.len() != before;
        Ok((removed, removed))
    }

    /// Marks the run cancelled; whether that changed anything.
    pub(crate) fn cancel(&mut self) -> StoreResult<((), bool)> {
        let changed = !self.cancelled;
        self.cancelled = true;
        Ok(((), changed))
    }
}
