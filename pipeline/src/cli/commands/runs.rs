//! `runs`: the runs in the store, one line each, filtered by pipeline or status.

use clap::ValueEnum;

use crate::cli::error::CliError;
use crate::cli::output::out;
use crate::cli::stored::{load_run, status_text};
use crate::cli::table::{Table, format_ms, format_time};
use crate::result::{NodeStatus, RunStatus};
use crate::run_id::RunId;
use crate::store::{RunSummary, StoreSpec, Stores};

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// Only runs of this pipeline.
    #[arg(long)]
    pipeline: Option<String>,
    /// Only runs with this status.
    #[arg(long, value_enum)]
    status: Option<StatusFilter>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum StatusFilter {
    Completed,
    Failed,
    Cancelled,
    /// Stopped because another engine took the run over.
    TakenOver,
    /// Running, or interrupted (its process died).
    Running,
}

impl StatusFilter {
    fn admits(self, status: Option<RunStatus>) -> bool {
        match self {
            StatusFilter::Running => status.is_none(),
            StatusFilter::Completed => status == Some(RunStatus::Completed),
            StatusFilter::Failed => status == Some(RunStatus::Failed),
            StatusFilter::Cancelled => status == Some(RunStatus::Cancelled),
            StatusFilter::TakenOver => status == Some(RunStatus::TakenOver),
        }
    }
}

impl Args {
    fn admits(&self, summary: &RunSummary) -> bool {
        self.pipeline
            .as_ref()
            .is_none_or(|p| *p == summary.pipeline)
            && self.status.is_none_or(|s| s.admits(summary.status))
    }
}

/// The fleet runs in a PostgreSQL store that no live worker can run, with why.
async fn unserved(spec: &StoreSpec) -> Result<std::collections::BTreeMap<RunId, String>, CliError> {
    match spec {
        #[cfg(feature = "postgres")]
        StoreSpec::Postgres(url) => {
            let store = crate::store::PostgresStore::open(url)?;
            Ok(crate::fleet::unserved_runs(&store).await?)
        }
        _ => Ok(Default::default()),
    }
}

pub(super) async fn exec(args: Args, stores: &Stores, spec: &StoreSpec) -> Result<i32, CliError> {
    let unserved = unserved(spec).await?;
    let mut notes = Vec::new();
    let mut table = Table::new([
        "RUN ID", "PIPELINE", "STATUS", "STARTED", "DURATION", "DONE", "FAILED", "SKIPPED",
    ]);
    for id in stores.checkpointer.list_runs().await? {
        let summary = match stores.audit.summary(&id).await? {
            Some(summary) => summary,
            None => load_run(stores, &id).await?.summary,
        };
        if !args.admits(&summary) {
            continue;
        }
        let status = match unserved.get(&summary.run_id) {
            Some(why) => {
                notes.push(format!("{}: {why}", summary.run_id));
                "waiting for a worker".to_owned()
            }
            None => status_text(summary.status),
        };
        table.row([
            summary.run_id.to_string(),
            summary.pipeline.clone(),
            status,
            format_time(summary.started_at_ms),
            format_ms(summary.updated_at_ms.saturating_sub(summary.started_at_ms)),
            summary.count(NodeStatus::Completed).to_string(),
            summary.count(NodeStatus::Failed).to_string(),
            summary.count(NodeStatus::Skipped).to_string(),
        ]);
    }
    out!("{table}");
    for note in notes {
        crate::cli::output::outln!("{note}");
    }
    Ok(0)
}
