//! The subcommands, one module each (`cli()`-style clap args and an `exec`), and what several of
//! them share: finding a pipeline, and loading a stored run with its summary.

mod audit;
mod graph;
mod list;
mod resume;
mod run;
mod runs;
mod show;

use clap::Subcommand;

use super::error::CliError;
use crate::registry::{self, PipelineInfo};
use crate::result::RunStatus;
use crate::run_id::RunId;
use crate::store::{Checkpoint, RunSummary, Stores};

#[derive(Subcommand, Debug)]
pub(super) enum Command {
    /// List the pipelines and nodes compiled into this program.
    List,
    /// Draw a pipeline's graph, or a run's graph coloured by node status.
    Graph(graph::Args),
    /// List the runs in the store, newest last.
    Runs(runs::Args),
    /// Show one run: each node's status, attempts, duration and error.
    Show(show::Args),
    /// Print a run's audit trail.
    Audit(audit::Args),
    /// Start a run of a pipeline.
    Run(run::Args),
    /// Resume a run: restore its completed nodes and run the rest.
    Resume(resume::Args),
}

impl Command {
    /// Runs the command against the store `store` names (opened only by the commands that need
    /// it); returns the exit code.
    pub(super) async fn exec(self, store: &str) -> Result<i32, CliError> {
        let stores = || Stores::open(store);
        match self {
            Command::List => list::exec(),
            Command::Graph(args) => graph::exec(args, &stores()?).await,
            Command::Runs(args) => runs::exec(args, &stores()?).await,
            Command::Show(args) => show::exec(args, &stores()?).await,
            Command::Audit(args) => audit::exec(args, &stores()?).await,
            Command::Run(args) => run::exec(args, stores()?).await,
            Command::Resume(args) => resume::exec(args, stores()?).await,
        }
    }
}

fn parse_id(text: &str) -> Result<RunId, CliError> {
    Ok(RunId::new(text)?)
}

fn find_pipeline(name: &str) -> Result<&'static PipelineInfo, CliError> {
    registry::pipeline(name).ok_or_else(|| CliError::UnknownPipeline {
        name: name.to_owned(),
        known: registry::pipelines()
            .iter()
            .map(|p| p.name.to_owned())
            .collect(),
    })
}

/// A stored run: its checkpoint and its summary (or the one its checkpoint implies).
struct StoredRun {
    checkpoint: Checkpoint,
    summary: RunSummary,
}

async fn load_run(stores: &Stores, run_id: &RunId) -> Result<StoredRun, CliError> {
    let checkpoint = stores
        .checkpointer
        .load(run_id)
        .await?
        .ok_or_else(|| CliError::UnknownRun(run_id.clone()))?;
    let summary = match stores.audit.summary(run_id).await? {
        Some(summary) => summary,
        None => checkpoint.summary(),
    };
    Ok(StoredRun {
        checkpoint,
        summary,
    })
}

fn status_text(status: Option<RunStatus>) -> String {
    status.map_or_else(|| "running or interrupted".to_owned(), |s| s.to_string())
}
