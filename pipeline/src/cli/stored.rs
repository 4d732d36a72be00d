//! What several commands share: parsing a run id, finding a pipeline (with the engine settings
//! of the command line), and loading a stored run with its summary.

use std::sync::Arc;

use super::error::CliError;
use super::progress::Progress;
use crate::engine::EngineSettings;
use crate::registry::{self, PipelineInfo};
use crate::run_id::RunId;
use crate::store::{RunView, Stores};

pub(super) fn parse_id(text: &str) -> Result<RunId, CliError> {
    Ok(RunId::new(text)?)
}

pub(super) fn find_pipeline(name: &str) -> Result<&'static PipelineInfo, CliError> {
    registry::pipeline(name).ok_or_else(|| CliError::UnknownPipeline {
        name: name.to_owned(),
        known: registry::pipelines()
            .iter()
            .map(|p| p.name.to_owned())
            .collect(),
    })
}

/// A stored run as its stores tell it: how it ended, or whether it runs or was interrupted,
/// and each node's state.
pub(super) async fn load_run(stores: &Stores, run_id: &RunId) -> Result<RunView, CliError> {
    stores
        .view(run_id)
        .await?
        .ok_or_else(|| CliError::UnknownRun(run_id.clone()))
}

/// The registered pipeline that wrote stored run `run_id` (building its engines with
/// `settings`), and a progress display that starts from the run's completed nodes: what the
/// commands that continue a run (`resume`, `signal`, `resume-due`) need. Reads the checkpoint
/// alone.
pub(super) async fn stored_pipeline(
    stores: &Stores,
    run_id: &RunId,
    settings: &EngineSettings,
) -> Result<(Box<dyn crate::registry::DynPipeline>, Arc<Progress>), CliError> {
    let checkpoint = stores
        .checkpointer
        .load(run_id)
        .await?
        .ok_or_else(|| CliError::UnknownRun(run_id.clone()))?;
    let pipeline = configured(find_pipeline(&checkpoint.header.pipeline)?, settings);
    let done = checkpoint.completed().count();
    let progress = Progress::new(pipeline.signature().nodes.len(), done);
    Ok((pipeline, progress))
}

/// The registered pipeline of `info`, building its engines with `settings`.
pub(super) fn configured(
    info: &PipelineInfo,
    settings: &EngineSettings,
) -> Box<dyn crate::registry::DynPipeline> {
    let mut pipeline = (info.pipeline)();
    pipeline.configure(settings.clone());
    pipeline
}
