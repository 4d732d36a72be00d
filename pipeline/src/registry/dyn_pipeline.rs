//! [`DynPipeline`]: a registered pipeline behind a trait object, run with JSON inputs; and
//! [`ScheduleWith`], where its scheduled runs start.

use std::sync::Arc;

use async_trait::async_trait;

use crate::data::Json;
use crate::engine::{CancelHandle, EngineSettings, RunOptions, Signal, SignalOutcome};
use crate::error::PipelineError;
use crate::event::EventHandler;
use crate::graph::GraphSignature;
use crate::result::PipelineResult;
use crate::run_id::RunId;
use crate::store::{RunView, Stores};

/// A registered pipeline behind a trait object: run it with JSON inputs, or resume one of its runs.
/// Its output comes back as JSON.
#[async_trait]
pub trait DynPipeline: Send + Sync {
    /// The pipeline's graph.
    fn signature(&self) -> GraphSignature;

    /// A template of the payload wait `wait` takes (pretty JSON: every field with its smallest
    /// value), for a form to start from; `None` when `wait` is not a signal of this pipeline, or
    /// its type refuses the smallest values.
    fn signal_template(&self, wait: &str) -> Option<String> {
        let _ = wait;
        None
    }

    /// The output of the stored run `view` as JSON, read from `stores`: `None` unless it
    /// completed with one (its output node was skipped, say), or when it does not serialize.
    async fn stored_output(
        &self,
        stores: Stores,
        view: &RunView,
    ) -> Result<Option<Json>, PipelineError> {
        let _ = (stores, view);
        Ok(None)
    }

    /// Sets the options of the engines it builds from here on (for every method below).
    fn configure(&mut self, settings: EngineSettings);

    /// Runs the pipeline on `inputs`, a JSON object with one field per pipeline input, with
    /// `options` (see [`PipelineEngine::run`](crate::PipelineEngine::run)); `cancel` can stop it (the command line cancels
    /// on Ctrl-C). [`PipelineError::InvalidInputs`] when `inputs` is not JSON,
    /// [`PipelineError::InputFields`] when a field is missing or unknown.
    async fn run(
        &self,
        stores: Stores,
        inputs: &str,
        options: RunOptions,
        events: Arc<dyn EventHandler>,
        cancel: &CancelHandle,
    ) -> Result<PipelineResult<Json>, PipelineError>;

    /// Resumes run `run_id` (see [`PipelineEngine::resume`](crate::PipelineEngine::resume)); `cancel` can stop it.
    async fn resume(
        &self,
        stores: Stores,
        run_id: &RunId,
        events: Arc<dyn EventHandler>,
        cancel: &CancelHandle,
    ) -> Result<PipelineResult<Json>, PipelineError>;

    /// Runs `nodes` of run `run_id` again, with everything downstream of them, as a new run
    /// (see [`PipelineEngine::rerun`](crate::PipelineEngine::rerun)).
    async fn rerun(
        &self,
        stores: Stores,
        run_id: &RunId,
        nodes: &[String],
        events: Arc<dyn EventHandler>,
    ) -> Result<PipelineResult<Json>, PipelineError>;

    /// Sends `signal` to run `run_id` (see [`PipelineEngine::signal`](crate::PipelineEngine::signal)): the payload is checked
    /// against the wait's type, stored, and the run continued if it waits on it.
    async fn signal(
        &self,
        stores: Stores,
        run_id: &RunId,
        signal: Signal,
        events: Arc<dyn EventHandler>,
    ) -> Result<SignalOutcome<Json>, PipelineError>;

    /// Cancels run `run_id`, which waits (see [`PipelineEngine::cancel_waiting`](crate::PipelineEngine::cancel_waiting)): no signal
    /// continues it; it ends cancelled here, or in the process that holds it.
    async fn cancel_waiting(
        &self,
        stores: Stores,
        run_id: &RunId,
    ) -> Result<Option<PipelineResult<Json>>, PipelineError>;

    /// The graph as a fleet worker serves it.
    #[cfg(feature = "postgres")]
    #[doc(hidden)]
    fn fleet_graph(&self) -> crate::graph::FleetGraph;

    /// Submits a run on `inputs` (a JSON object) with `options` to the fleet on `store` (see
    /// [`PipelineEngine::submit`](crate::PipelineEngine::submit)) and returns its id at once.
    #[cfg(feature = "postgres")]
    async fn submit(
        &self,
        store: crate::store::PostgresStore,
        inputs: &str,
        options: RunOptions,
    ) -> Result<RunId, PipelineError>;

    /// Resumes run `run_id` of `store` where it ran: on the fleet's workers for a fleet run (see
    /// [`PipelineEngine::fleet`](crate::PipelineEngine::fleet)), in this process otherwise (with `cancel`).
    #[cfg(feature = "postgres")]
    async fn resume_on_fleet(
        &self,
        store: crate::store::PostgresStore,
        run_id: &RunId,
        events: Arc<dyn EventHandler>,
        cancel: &CancelHandle,
    ) -> Result<PipelineResult<Json>, PipelineError>;

    /// Waits for a fleet run on `store` to end (see [`PipelineEngine::wait`](crate::PipelineEngine::wait)).
    #[cfg(feature = "postgres")]
    async fn wait(
        &self,
        store: crate::store::PostgresStore,
        run_id: &RunId,
    ) -> Result<PipelineResult<Json>, PipelineError>;

    /// Adds the pipeline's schedules to `scheduler`, their runs started `with` those stores (in
    /// this process) or on that fleet. The default has no schedule.
    #[cfg(feature = "schedules")]
    #[cfg_attr(docsrs, doc(cfg(feature = "schedules")))]
    fn schedule(
        &self,
        scheduler: &mut crate::schedule::Scheduler,
        with: ScheduleWith,
    ) -> Result<(), crate::cron::ScheduleError> {
        let _ = (scheduler, with);
        Ok(())
    }
}

/// Where a registered pipeline's scheduled runs start ([`DynPipeline::schedule`]).
#[cfg(feature = "schedules")]
#[cfg_attr(docsrs, doc(cfg(feature = "schedules")))]
#[derive(Clone)]
#[non_exhaustive]
pub enum ScheduleWith {
    /// In this process, with these stores (and this event handler).
    Stores(Stores, Arc<dyn EventHandler>),
    /// On the fleet of this store's workers.
    #[cfg(feature = "postgres")]
    Fleet(crate::store::PostgresStore),
}
