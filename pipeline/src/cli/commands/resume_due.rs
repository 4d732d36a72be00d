//! `resume-due`: continues every run of the store that waits on something due (a timer whose
//! time came, or a signal whose timeout passed). Run it from cron or a systemd timer.

use super::run::report;
use crate::cli::error::CliError;
use crate::cli::output::outln;
use crate::cli::stored::stored_pipeline;
use crate::engine::{CancelHandle, EngineSettings};
use crate::error::PipelineError;
use crate::store::Stores;

pub(super) async fn exec(stores: Stores, settings: &EngineSettings) -> Result<i32, CliError> {
    let now = settings.the_clock().now_ms();
    let mut continued = 0;
    for run_id in stores.checkpointer.list_runs().await? {
        let waits = stores.checkpointer.waits(&run_id).await?;
        if !waits
            .waiting
            .iter()
            .any(|w| w.deadline_ms.is_some_and(|d| d <= now))
        {
            continue;
        }
        let (pipeline, progress) = stored_pipeline(&stores, &run_id, settings).await?;
        let result = pipeline
            .resume(
                stores.clone(),
                &run_id,
                progress.clone(),
                &CancelHandle::new(),
            )
            .await;
        progress.finish();
        match result {
            Ok(result) => {
                report(&result);
                continued += 1;
            }
            Err(PipelineError::RunLocked(_)) => outln!("run {run_id} is held by another process"),
            Err(e) => return Err(e.into()),
        }
    }
    outln!("{continued} due run(s) continued");
    Ok(0)
}
