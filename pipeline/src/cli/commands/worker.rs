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
    /// Do not fire the served pipelines' schedules (by default every worker fires them: each
    /// tick's run starts once however many workers run).
    #[arg(long)]
    no_schedules: bool,
    /// Answer `GET /metrics` (Prometheus' text format) at this address, e.g. 127.0.0.1:9464.
    #[arg(long, value_name = "ADDR")]
    metrics: Option<std::net::SocketAddr>,
}

fn seconds(name: &str, value: f64) -> Result<Duration, CliError> {
    Duration::try_from_secs_f64(value).map_err(|_| CliError::InvalidOption {
        option: name.to_owned(),
        reason: format!("{value} is not a number of seconds"),
    })
}

pub(super) async fn exec(
    args: Args,
    store: PostgresStore,
    settings: &crate::engine::EngineSettings,
) -> Result<i32, CliError> {
    if let Some(addr) = args.metrics {
        let listener =
            tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| CliError::InvalidOption {
                    option: "--metrics".to_owned(),
                    reason: format!("cannot listen on {addr}: {e}"),
                })?;
        let bound = listener.local_addr().unwrap_or(addr);
        outln!("metrics at http://{bound}/metrics");
        tokio::spawn(async move {
            if let Err(e) = crate::metrics::serve(listener).await {
                tracing::error!(error = %e, "the metrics endpoint stopped");
            }
        });
    }
    let mut worker = Worker::new(store.clone());
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
    let scheduler = match args.no_schedules {
        true => None,
        false => {
            let fleet = || crate::registry::ScheduleWith::Fleet(store.clone());
            Some(super::schedules::scheduler(
                &args.pipelines,
                settings,
                fleet,
            )?)
        }
    };
    let shutdown = Shutdown::on_ctrl_c();
    let schedules = scheduler.as_ref().map_or(0, |s| s.schedules().len());
    outln!(
        "worker {} serving {} (concurrency {}{}); Ctrl-C to stop",
        worker.worker_id(),
        worker.pipelines().join(", "),
        args.concurrency,
        match schedules {
            0 => String::new(),
            n => format!(", firing {n} schedule{}", if n == 1 { "" } else { "s" }),
        }
    );
    // The scheduler fires ticks for as long as the worker runs.
    let firing = scheduler.map(|s| tokio::spawn(s.run(std::future::pending())));
    let report = worker.run(shutdown).await;
    if let Some(firing) = firing {
        firing.abort();
    }
    let report = report?;
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
