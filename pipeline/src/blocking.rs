//! The one place work moves to tokio's blocking pool: sync node bodies and store I/O both go
//! through [`on_blocking_pool`], each deciding what a panic in the work means for it.

use tokio::task::JoinError;

/// Runs `work` on tokio's blocking pool. `Err` when the work panicked (the payload is in the
/// error) or the runtime shut down before it ran.
pub(crate) async fn on_blocking_pool<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, JoinError> {
    tokio::task::spawn_blocking(work).await
}
