//! `signal`: sends a signal to a run's wait, as JSON checked against the wait's type; the run
//! continues here if it waits on it. `--remove` takes a stored signal back (an operator's repair
//! of one that does not fit the run).

use super::run::report;
use crate::cli::error::CliError;
use crate::cli::output::outln;
use crate::cli::stored::{parse_id, stored_pipeline};
use crate::engine::EngineSettings;
use crate::engine::Signal;
use crate::error::PipelineError;
use crate::run_id::RunId;
use crate::store::{SignalSent, Stores};

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// The run id.
    run_id: String,
    /// The wait (its binding's name).
    wait: String,
    /// The payload, as JSON of the wait's type, e.g. '{"by": "finance", "ok": true}'.
    #[arg(long, required_unless_present = "remove")]
    value: Option<String>,
    /// The idempotency key: sending the same key and payload again is one signal (by default the
    /// payload itself is the key).
    #[arg(long, conflicts_with = "remove")]
    key: Option<String>,
    /// Removes the signal stored for the wait instead of sending one: for a signal that does not
    /// fit the run (one sent before signals were checked, or by hand), so that the right one can
    /// be sent.
    #[arg(long, conflicts_with = "value")]
    remove: bool,
}

pub(super) async fn exec(
    args: Args,
    stores: Stores,
    settings: &EngineSettings,
) -> Result<i32, CliError> {
    let run_id = parse_id(&args.run_id)?;
    let value = match (args.remove, &args.value) {
        (false, Some(value)) => value,
        _ => return remove(&stores, &run_id, &args.wait).await,
    };
    let (pipeline, progress) = stored_pipeline(&stores, &run_id, settings).await?;
    let mut signal = Signal::from_json(&args.wait, value).map_err(|source| CliError::BadValue {
        wait: args.wait.clone(),
        source,
    })?;
    if let Some(key) = args.key {
        signal = signal.key(key);
    }
    let outcome = pipeline
        .signal(stores, &run_id, signal, progress.clone())
        .await;
    progress.finish();
    let outcome = outcome?;
    match outcome.sent {
        SignalSent::Stored => outln!("signal for `{}` stored", args.wait),
        SignalSent::Duplicate => outln!("signal for `{}` was stored already", args.wait),
    }
    match &outcome.run {
        Some(result) => Ok(report(result)),
        None => {
            outln!(
                "run {run_id} does not wait on `{}` here: the signal is kept, and consumed when \
                 the wait begins, by the process or the fleet worker that runs it",
                args.wait
            );
            Ok(0)
        }
    }
}

/// `signal RUN WAIT --remove`.
async fn remove(stores: &Stores, run_id: &RunId, wait: &str) -> Result<i32, CliError> {
    let removed = stores
        .checkpointer
        .remove_signal(run_id, wait)
        .await
        .map_err(|e| PipelineError::from_store(run_id, e))?;
    match removed {
        true => outln!("signal for `{wait}` of run {run_id} removed"),
        false => outln!("run {run_id} has no signal stored for `{wait}`: nothing removed"),
    }
    Ok(0)
}
