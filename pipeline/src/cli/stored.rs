//! What several commands share: parsing a run id, finding a pipeline (with the engine settings
//! of the command line), and loading a stored run with its summary.

use super::error::CliError;
use crate::engine::EngineSettings;
use crate::registry::{self, PipelineInfo};
use crate::result::RunStatus;
use crate::run_id::RunId;
use crate::store::{Checkpoint, RunSummary, Stores};

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

/// A stored run: its checkpoint and its summary (or the one its checkpoint implies).
pub(super) struct StoredRun {
    pub checkpoint: Checkpoint,
    pub summary: RunSummary,
}

pub(super) async fn load_run(stores: &Stores, run_id: &RunId) -> Result<StoredRun, CliError> {
    let checkpoint = stores
        .checkpointer
        .load(run_id)
        .await?
        .ok_or_else(|| CliError::UnknownRun(run_id.clone()))?;
    let summary = match stores.audit.summary(run_id).await? {
        Some(summary) => summary,
        None => checkpoint.summary(),
    };
    Ok(StoredRun {
        checkpoint,
        summary,
    })
}

pub(super) fn status_text(status: Option<RunStatus>) -> String {
    status.map_or_else(|| "running or interrupted".to_owned(), |s| s.to_string())
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
