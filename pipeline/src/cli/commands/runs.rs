//! `runs`: the runs in the store, one line each, filtered by pipeline or status.

use clap::ValueEnum;

use crate::cli::error::CliError;
use crate::cli::output::{out, outln};
use crate::cli::table::Table;
use crate::result::RunStatus;
use crate::run_id::RunId;
use crate::store::now_ms;
use crate::store::{RunOverview, RunState, RunSummary, StoreSpec, Stores};
use crate::text::{Took, format_time, format_took};

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
pub(super) enum StatusFilter {
    Completed,
    Failed,
    Cancelled,
    /// Stopped because another engine took the run over.
    TakenOver,
    /// Suspended until a signal or a timer.
    Waiting,
    /// Running now (a process holds it).
    Running,
    /// Not ended, and no process holds it (its process died or was stopped).
    Interrupted,
}

impl StatusFilter {
    pub fn admits(self, state: RunState) -> bool {
        let ended = |status| state == RunState::Ended(status);
        match self {
            StatusFilter::Running => state == RunState::Running || state == RunState::Unknown,
            StatusFilter::Interrupted => matches!(state, RunState::Interrupted | RunState::Stopped),
            StatusFilter::Waiting => ended(RunStatus::Waiting),
            StatusFilter::Completed => ended(RunStatus::Completed),
            StatusFilter::Failed => ended(RunStatus::Failed),
            StatusFilter::Cancelled => ended(RunStatus::Cancelled),
            StatusFilter::TakenOver => ended(RunStatus::TakenOver),
        }
    }
}

impl Args {
    fn admits(&self, summary: &RunSummary, state: RunState) -> bool {
        self.pipeline
            .as_ref()
            .is_none_or(|p| *p == summary.pipeline)
            && self.status.is_none_or(|s| s.admits(state))
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
    let mut unreadable = Vec::new();
    for id in stores.checkpointer.list_runs().await? {
        let line = match overview(stores, &id).await {
            Ok(line) => line,
            Err(e) => {
                unreadable.push(format!("{id}: {e}"));
                continue;
            }
        };
        let summary = &line.summary;
        if !args.admits(summary, line.state) {
            continue;
        }
        // A fleet run over its key's run limit waits its turn: say where.
        let queued = match line.state {
            RunState::Running => stores.checkpointer.queue_place(&summary.run_id).await?,
            _ => None,
        };
        let status = match (unserved.get(&summary.run_id), queued) {
            (_, Some(place)) => {
                notes.push(format!("{}: queued, {place}", summary.run_id));
                "queued".to_owned()
            }
            (Some(why), None) => {
                notes.push(format!("{}: {why}", summary.run_id));
                "waiting for a worker".to_owned()
            }
            (None, None) => line.state.to_string(),
        };
        table.row([
            summary.run_id.to_string(),
            summary.pipeline.clone(),
            status,
            format_time(summary.started_at_ms),
            {
                let took = format_took(
                    Took::of(line.state),
                    summary.latest_start_ms(),
                    summary.updated_at_ms,
                    now_ms(),
                );
                // A resumed run's time is its latest start's: say so, as its start is older.
                match summary.resumed_at_ms {
                    Some(_) => format!("{took} (resumed)"),
                    None => took,
                }
            },
            line.completed.to_string(),
            line.failed.to_string(),
            line.skipped.to_string(),
        ]);
    }
    out!("{table}");
    for note in notes {
        outln!("{note}");
    }
    if !unreadable.is_empty() {
        outln!("{} run(s) could not be read:", unreadable.len());
        for line in unreadable {
            outln!("  {line}");
        }
    }
    Ok(0)
}

/// Run `id` in brief; an error for a run the store lists but cannot find.
pub(super) async fn overview(stores: &Stores, id: &RunId) -> Result<RunOverview, CliError> {
    stores
        .overview(id)
        .await?
        .ok_or_else(|| CliError::UnknownRun(id.clone()))
}
