//! `resume`: restores a stored run's completed nodes and runs the rest, with live progress.

use super::run::report;
use crate::cli::error::CliError;
use crate::cli::interrupt::cancel_on_ctrl_c;
use crate::cli::progress::Progress;
use crate::cli::stored::{configured, find_pipeline, load_run, parse_id};
use crate::engine::EngineSettings;
use crate::store::Stores;

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// The run id.
    run_id: String,
}

pub(super) async fn exec(
    args: Args,
    stores: Stores,
    settings: &EngineSettings,
) -> Result<i32, CliError> {
    let run_id = parse_id(&args.run_id)?;
    let stored = load_run(&stores, &run_id).await?;
    let info = find_pipeline(&stored.summary.pipeline)?;
    let pipeline = configured(info, settings);
    let done = stored.checkpoint.completed().count();
    let progress = Progress::new(pipeline.signature().nodes.len(), done);
    let cancel = cancel_on_ctrl_c(&run_id);
    let result = pipeline
        .resume_cancellable(stores, &run_id, progress.clone(), &cancel)
        .await;
    progress.finish();
    Ok(report(&result?))
}
