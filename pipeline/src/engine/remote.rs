//! Where a run goes back to when it is resumed, if another executor ran it: a fleet (feature
//! `postgres`, set by `PipelineEngine::fleet`) is asked first, so a fleet run is resumed on the
//! fleet. The engine knows the executor only through this trait: the fleet uses the engine, never
//! the other way round.

use async_trait::async_trait;

use super::PipelineEngine;
use crate::definition::Pipeline;
use crate::error::PipelineError;
use crate::result::PipelineResult;
use crate::run_id::RunId;

/// An executor other than this process.
#[async_trait]
pub(crate) trait Remote<P: Pipeline>: Send + Sync {
    /// Resumes run `run_id` where it ran and returns its result once it ended; `None` when this
    /// executor never had the run (the engine then resumes it in this process).
    async fn resume(
        &self,
        engine: &PipelineEngine<P>,
        run_id: &RunId,
    ) -> Option<Result<PipelineResult<P::Output>, PipelineError>>;
}
