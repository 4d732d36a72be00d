//! What every store implementation shares: a mutex that survives a panic elsewhere, and moving
//! blocking work off the async threads.

use std::sync::{Mutex, MutexGuard};

use super::error::StoreError;
use crate::blocking::on_blocking_pool;

/// Locks `mutex`, recovering it if a panic poisoned it: every critical section in the stores is a
/// single map operation, write or statement, so a panic inside one leaves nothing half-done that
/// a later caller could misread.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Runs blocking store work (file or database I/O) on tokio's blocking pool; a panic in it is a
/// [`StoreError::Backend`], which the engine reports as a persistence warning.
pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    on_blocking_pool(work)
        .await
        .map_err(|e| StoreError::Backend(Box::new(e)))?
}
