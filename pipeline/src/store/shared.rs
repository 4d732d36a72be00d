//! What every store implementation shares: moving blocking work off the async threads, and the
//! table of runs this process holds at which epoch.

use std::collections::HashMap;
use std::sync::Mutex;

use super::epoch::Epoch;
use super::error::{StoreError, StoreResult};
use crate::run_id::RunId;
pub(crate) use crate::sync::lock;
use crate::sync::on_blocking_pool;

/// Runs blocking store work (file or database I/O) on tokio's blocking pool; a panic in it is a
/// [`StoreError::Backend`], which the engine reports as a persistence warning.
pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> StoreResult<T> {
    on_blocking_pool(work)
        .await
        .map_err(|e| StoreError::Backend(Box::new(e)))?
}

/// The runs this process holds, each at the epoch it was taken with.
#[derive(Debug, Default)]
pub(crate) struct Holders(Mutex<HashMap<RunId, Epoch>>);

impl Holders {
    /// Records that this process holds `run_id` at `epoch`; [`StoreError::Locked`] when it
    /// already holds the run.
    pub fn take(&self, run_id: &RunId, epoch: Epoch) -> StoreResult<()> {
        let mut held = lock(&self.0);
        if held.contains_key(run_id) {
            return Err(StoreError::Locked(run_id.clone()));
        }
        held.insert(run_id.clone(), epoch);
        Ok(())
    }

    /// `Ok` when `epoch` is the epoch `run_id` is held at; [`StoreError::Fenced`] otherwise.
    pub fn check(&self, run_id: &RunId, epoch: Epoch) -> StoreResult<()> {
        match lock(&self.0).get(run_id) {
            Some(&current) if current == epoch => Ok(()),
            current => Err(StoreError::Fenced {
                run_id: run_id.clone(),
                epoch,
                current: current.copied(),
            }),
        }
    }

    /// Releases `run_id` if it is held at `epoch` (a stale holder releases nothing).
    pub fn release(&self, run_id: &RunId, epoch: Epoch) -> bool {
        let mut held = lock(&self.0);
        if held.get(run_id) == Some(&epoch) {
            held.remove(run_id);
            return true;
        }
        false
    }
}
