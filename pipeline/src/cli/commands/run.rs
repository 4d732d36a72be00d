//! `run`: starts a run of a pipeline on JSON inputs, with live progress, and reports how it ended.

use crate::cli::error::CliError;
use crate::cli::output::outln;
use crate::cli::progress::Progress;
use crate::cli::stored::{configured, find_pipeline};
use crate::cli::table::format_time;
use crate::engine::EngineSettings;
use crate::result::{PipelineResult, RunStatus};
use crate::store::Stores;

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// The pipeline's name.
    pipeline: String,
    /// The inputs, as a JSON object with one field per pipeline input.
    #[arg(long, default_value = "{}")]
    input: String,
}

pub(super) async fn exec(
    args: Args,
    stores: Stores,
    settings: &EngineSettings,
) -> Result<i32, CliError> {
    let info = find_pipeline(&args.pipeline)?;
    let pipeline = configured(info, settings);
    let progress = Progress::new(pipeline.signature().nodes.len(), 0);
    let result = pipeline.run(stores, &args.input, progress.clone()).await;
    progress.finish();
    Ok(report(&result?))
}

/// Prints how a run ended; the exit code is 0 only for a completed run.
pub(super) fn report(result: &PipelineResult<serde_json::Value>) -> i32 {
    outln!("run {} {}", result.run_id, result.status);
    for (node, failure) in &result.failures {
        outln!(
            "  {node} failed after {} attempts: {}",
            failure.attempts,
            failure.error
        );
    }
    for warning in &result.warnings {
        outln!("  warning: {warning}");
    }
    for waiting in &result.waiting {
        let (wait, since) = (&waiting.wait, format_time(waiting.began_at_ms));
        match (waiting.timer, waiting.deadline_ms) {
            (true, Some(due)) => outln!(
                "  timer `{wait}` since {since} is due at {}; continue the run then with: \
                 resume-due",
                format_time(due)
            ),
            _ => {
                let deadline = waiting
                    .deadline_ms
                    .map(|d| format!(", times out at {}", format_time(d)))
                    .unwrap_or_default();
                outln!(
                    "  waits for `{wait}` since {since}{deadline}; send it with: signal {} \
                     {wait} --value JSON",
                    result.run_id
                );
            }
        }
    }
    if let Some(output) = &result.output {
        outln!("output {output}");
    }
    match result.status {
        RunStatus::Completed => 0,
        // Not an error: the run is sound and holds nothing until its signal comes.
        RunStatus::Waiting => 2,
        _ => 1,
    }
}
