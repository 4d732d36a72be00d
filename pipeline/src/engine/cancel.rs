//! Stopping a run from outside.

use tokio_util::sync::CancellationToken;

/// Cancels the runs it was given to: they stop scheduling, abandon the nodes in flight, and end
/// [`RunStatus::Cancelled`](crate::RunStatus::Cancelled) with a checkpoint that
/// [`resume`](crate::PipelineEngine::resume) continues from. Clones cancel the same runs.
///
/// Dropping a run's future has the same effect on the store: what completed stays checkpointed.
#[derive(Clone, Debug, Default)]
pub struct CancelHandle {
    token: CancellationToken,
}

impl CancelHandle {
    /// A handle that has not been cancelled.
    pub fn new() -> Self {
        Self::default()
    }

    /// Cancels every run started with this handle, now and later.
    pub fn cancel(&self) {
        self.token.cancel();
    }

    /// Whether [`cancel`](CancelHandle::cancel) was called.
    pub fn is_cancelled(&self) -> bool {
        self.token.is_cancelled()
    }

    /// A token cancelled with this handle, which a run may also cancel on its own (a cancel
    /// asked for by another process) without cancelling the handle's other runs.
    pub(crate) fn child_token(&self) -> CancellationToken {
        self.token.child_token()
    }
}
