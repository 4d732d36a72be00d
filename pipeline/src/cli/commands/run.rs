//! `run`: starts a run of a pipeline on JSON inputs, with live progress, and reports how it ended.

use crate::cli::error::CliError;
use crate::cli::interrupt::cancel_on_ctrl_c;
use crate::cli::output::outln;
use crate::cli::progress::Progress;
use crate::cli::stored::{configured, find_pipeline, parse_id};
use crate::data::Json;
use crate::engine::{EngineSettings, RunOptions};
use crate::result::{NodeStatus, PipelineResult, RunStatus, WarningSource};
use crate::run_id::RunId;
use crate::store::Stores;
use crate::text::format_time;

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// The pipeline's name (`list` shows each pipeline's inputs and their types).
    pipeline: String,
    /// The inputs: a JSON object with one field per pipeline input, `@FILE` to read it from a
    /// file, or `-` to read it from standard input.
    #[arg(long, default_value = "{}")]
    input: String,
    /// The run's id (default: a new UUID v7); refused when the store has it already.
    #[arg(long)]
    run_id: Option<String>,
    /// An idempotency key: when a run of the pipeline holds it (it took it within the key
    /// retention, a day), report that run instead of starting another.
    #[arg(long)]
    key: Option<String>,
    /// The run's priority (0 unless given; higher goes first, each point worth a second of
    /// waiting where its work waits: a limited node's places, a fleet's workers).
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    priority: i32,
}

/// Runs the command; `stores` is opened (and a new directory store made) only once the
/// pipeline, its inputs and the run id are known to be good.
pub(super) async fn exec(
    args: Args,
    stores: impl FnOnce() -> Result<Stores, CliError>,
    settings: &EngineSettings,
) -> Result<i32, CliError> {
    let info = find_pipeline(&args.pipeline)?;
    let pipeline = configured(info, settings);
    let inputs = read_input(&args.input)?;
    let run_id = match &args.run_id {
        Some(id) => parse_id(id)?,
        None => RunId::generate(),
    };
    let stores = stores()?;
    // A run is only worth starting where it can be stored: an unreachable database, or a schema
    // of a newer version, is a one-line error before anything runs.
    stores.checkpointer.check().await?;
    let progress = Progress::new(pipeline.signature().nodes.len(), 0);
    let cancel = cancel_on_ctrl_c(&run_id);
    let mut options = RunOptions::new().id(run_id.clone());
    if let Some(key) = &args.key {
        options = options.idempotency_key(key);
    }
    options = options.priority(args.priority);
    if let Some(parent) = crate::cli::log::caller_trace()? {
        options = options.traceparent(parent);
    }
    let result = pipeline
        .run(stores, &inputs, options, progress.clone(), &cancel)
        .await;
    progress.finish();
    let result = result?;
    if let Some(key) = args.key.as_ref().filter(|_| result.run_id != run_id) {
        eprintln!(
            "key {key:?} is held by run {}: its result, nothing ran",
            result.run_id
        );
    }
    Ok(report(&result))
}

/// The `--input` text: as given, from a file (`@FILE`), or from standard input (`-`).
fn read_input(input: &str) -> Result<String, CliError> {
    let read = |what: String, result: std::io::Result<String>| {
        result.map_err(|source| CliError::Input { what, source })
    };
    match input {
        "-" => {
            let mut text = String::new();
            let result = std::io::Read::read_to_string(&mut std::io::stdin(), &mut text);
            read("standard input".into(), result.map(|_| text))
        }
        _ => match input.strip_prefix('@') {
            Some(path) => read(format!("`{path}`"), std::fs::read_to_string(path)),
            None => Ok(input.to_owned()),
        },
    }
}

/// Node `node` as a message names it: its binding, and the fn it runs when that has another
/// name (`text (read)`).
fn named(result: &PipelineResult<Json>, node: &str) -> String {
    match result.nodes.kind(node) {
        Some(kind) if kind != node => format!("{node} ({kind})"),
        _ => node.to_owned(),
    }
}

/// Exit code of a run that ended, but whose store failed: it is stored nowhere, or some of its
/// records were lost (the report lists them).
pub(super) const STORE_FAILED: i32 = 3;

/// Prints how a run ended; the exit code is 0 only for a completed run whose every write was
/// stored, [`STORE_FAILED`] for a completed run whose store failed.
pub(super) fn report(result: &PipelineResult<Json>) -> i32 {
    outln!("run {} {}", result.run_id, result.status);
    for (node, failure) in &result.failures {
        outln!(
            "  {} failed after {} attempts: {}",
            named(result, node),
            failure.attempts,
            failure.error
        );
    }
    for warning in &result.warnings {
        outln!("  warning: {warning}");
    }
    let lost: Vec<&str> = result
        .warnings
        .iter()
        .filter(|w| w.lost && w.source == WarningSource::Checkpoint)
        .filter_map(|w| w.node.as_deref())
        .collect();
    if !result.stored {
        outln!("  the run is stored nowhere (see above): it cannot be resumed, signalled or shown");
    } else if !lost.is_empty() {
        outln!(
            "  lost: the checkpoint records of {} were not written (the run's checkpoint does not hold \
             them)",
            lost.iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    for waiting in result.waiting.iter().filter(|_| result.stored) {
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
        // Text as it is, not as a JSON string; anything else as its exact JSON.
        match serde_json::from_str::<String>(output.get()) {
            Ok(text) => outln!("output {text}"),
            Err(_) => outln!("output {}", output.get()),
        }
    } else if result.status == RunStatus::Completed {
        // Every node resolved, so a value the output reads is missing only because its node
        // was skipped (its gate was false, or a node it reads failed or was skipped).
        let skipped: Vec<String> = result
            .nodes
            .iter()
            .filter(|&(_, status)| status == NodeStatus::Skipped)
            .map(|(node, _)| format!("`{}`", named(result, node)))
            .collect();
        outln!(
            "no output: the output reads a node that was skipped (skipped: {})",
            skipped.join(", ")
        );
    }
    if result.stored && matches!(result.status, RunStatus::Failed | RunStatus::Cancelled) {
        let (program, id) = (crate::cli::output::again(), &result.run_id);
        outln!("resume it with: {program} resume {id}");
    }
    let store_failed = !result.stored || result.warnings.iter().any(|w| w.lost);
    match result.status {
        RunStatus::Completed if store_failed => STORE_FAILED,
        RunStatus::Completed => 0,
        // Not an error: the run is sound and holds nothing until its signal comes.
        RunStatus::Waiting => 2,
        _ => 1,
    }
}
