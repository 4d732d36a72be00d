//! `worker`: runs nodes of the fleet's runs of every pipeline compiled in (or those named) until
//! Ctrl-C: the first finishes the nodes in flight, the second stops at once.

use std::time::Duration;

use crate::cli::error::CliError;
use crate::cli::output::outln;
use crate::fleet::{Shutdown, Worker};
use crate::store::PostgresStore;

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// How many nodes to run at once.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// Serve only this pipeline (repeat for several); all compiled in by default.
    #[arg(long = "pipeline")]
    pipelines: Vec<String>,
    /// How long a claim holds a node without a heartbeat, in seconds.
    #[arg(long, default_value_t = 30.0)]
    lease: f64,
    /// How often to renew the leases of the nodes in flight, in seconds.
    #[arg(long, default_value_t = 10.0)]
    heartbeat: f64,
    /// How long Ctrl-C waits for the nodes in flight before giving them back, in seconds.
    #[arg(long, default_value_t = 30.0)]
    drain: f64,
    /// The worker's name in leases, audit entries and logs (default: host, pid, random digits).
    #[arg(long)]
    id: Option<String>,
}

fn seconds(name: &str, value: f64) -> Result<Duration, CliError> {
    Duration::try_from_secs_f64(value).map_err(|_| CliError::InvalidOption {
        option: name.to_owned(),
        reason: format!("{value} is not a number of seconds"),
    })
}

/// Logs the worker's `tracing` events on stderr (claims lost, commits refused, connection errors,
/// runs ended): `pipeline=info` unless `RUST_LOG` names other targets and levels
/// (`pipeline=debug`, `pipeline::fleet=warn`). A program that embeds the CLI and installed its
/// own subscriber keeps it.
fn log_to_stderr() {
    use tracing_subscriber::filter::{LevelFilter, Targets};
    use tracing_subscriber::layer::SubscriberExt;
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|spec| spec.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_target("pipeline", LevelFilter::INFO));
    let subscriber = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .finish()
        .with(filter);
    let _ = tracing::subscriber::set_global_default(subscriber);
}

pub(super) async fn exec(args: Args, store: PostgresStore) -> Result<i32, CliError> {
    log_to_stderr();
    let mut worker = Worker::new(store);
    worker = match args.pipelines.is_empty() {
        true => worker.serve_registered(),
        false => {
            for name in &args.pipelines {
                crate::cli::stored::find_pipeline(name)?;
            }
            worker.serve_registered_named(&args.pipelines)?
        }
    };
    if let Some(id) = args.id {
        worker = worker.id(id);
    }
    let worker = worker
        .concurrency(args.concurrency)
        .lease(
            seconds("--lease", args.lease)?,
            seconds("--heartbeat", args.heartbeat)?,
        )
        .drain_deadline(seconds("--drain", args.drain)?);
    let shutdown = Shutdown::on_ctrl_c();
    outln!(
        "worker {} serving {} (concurrency {}); Ctrl-C to stop",
        worker.worker_id(),
        worker.pipelines().join(", "),
        args.concurrency
    );
    let report = worker.run(shutdown).await?;
    outln!(
        "worker stopped: {} completed, {} failed attempts, {} skipped, {} waits begun, {} lost, \
         {} given back",
        report.completed,
        report.failed_attempts,
        report.skipped,
        report.waits_begun,
        report.lost,
        report.released
    );
    Ok(0)
}
