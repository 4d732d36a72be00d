//! `submit`: records a run of a pipeline for the fleet's workers and prints its id (and, with
//! `--wait`, waits for it and reports how it ended).

use super::run::report;
use crate::cli::error::CliError;
use crate::cli::output::outln;
use crate::cli::stored::{configured, find_pipeline};
use crate::engine::{EngineSettings, RunOptions};
use crate::store::PostgresStore;

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// The pipeline's name.
    pipeline: String,
    /// The inputs, as a JSON object with one field per pipeline input.
    #[arg(long, default_value = "{}")]
    input: String,
    /// Wait for the run to end and report it, as `run` does.
    #[arg(long)]
    wait: bool,
    /// An idempotency key: when a run of the pipeline holds it, print that run's id and submit
    /// nothing.
    #[arg(long)]
    key: Option<String>,
    /// The run's priority (0 unless given; higher goes first, each point worth a second of
    /// waiting where its work waits: a limited node's places, a fleet's workers).
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    priority: i32,
}

pub(super) async fn exec(
    args: Args,
    store: PostgresStore,
    settings: &EngineSettings,
) -> Result<i32, CliError> {
    let info = find_pipeline(&args.pipeline)?;
    let pipeline = configured(info, settings);
    let mut options = RunOptions::new();
    if let Some(key) = &args.key {
        options = options.idempotency_key(key);
    }
    options = options.priority(args.priority);
    if let Some(parent) = crate::cli::log::caller_trace()? {
        options = options.traceparent(parent);
    }
    let run_id = pipeline.submit(store.clone(), &args.input, options).await?;
    outln!("submitted {run_id}");
    if !args.wait {
        return Ok(0);
    }
    let result = pipeline.wait(store, &run_id).await?;
    Ok(report(&result))
}
