//! Threads and locks shared by the whole crate: the one place work moves to tokio's blocking pool
//! (sync node bodies and store I/O both go through [`on_blocking_pool`], each deciding what a
//! panic in the work means for it), and a mutex lock that survives a panic elsewhere.

use std::sync::{Mutex, MutexGuard};

use tokio::task::JoinError;

/// Locks `mutex`, recovering it if a panic poisoned it: every critical section in this crate is a
/// single map operation, push, write or statement, so a panic inside one leaves nothing half-done
/// that a later caller could misread.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Runs `work` on tokio's blocking pool. `Err` when the work panicked (the payload is in the
/// error) or the runtime shut down before it ran.
pub(crate) async fn on_blocking_pool<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, JoinError> {
    tokio::task::spawn_blocking(work).await
}
