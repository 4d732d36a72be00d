//! The subcommands, one module each with its clap `Args` and an `exec`; this module only
//! dispatches.

mod audit;
mod cache;
mod gc;
mod graph;
mod list;
mod repair;
mod resume;
mod resume_due;
mod run;
mod runs;
mod schedules;
#[cfg(feature = "web")]
mod serve;
mod show;
mod signal;
#[cfg(feature = "postgres")]
mod submit;
#[cfg(feature = "postgres")]
mod worker;

use clap::Subcommand;

use super::error::CliError;
use crate::engine::EngineSettings;
use crate::store::{Durability, StoreSpec, Stores};

/// What every command runs with: the store spec, the engines' settings, the stores' durability.
pub(super) struct Context {
    pub store: StoreSpec,
    pub settings: EngineSettings,
    pub durability: Durability,
}

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
    /// Continue every run that waits on something due: a timer whose time came, or a signal
    /// whose timeout passed (run it from cron or a systemd timer).
    ResumeDue,
    /// Send a signal (JSON) to a run's wait; the run continues if it waits on it.
    Signal(signal::Args),
    /// List the pipelines' schedules, each with its next tick.
    Schedules,
    /// Fire the pipelines' schedules until Ctrl-C: each tick's run starts once however many
    /// schedulers (and workers) run, in this process, or on the fleet for a PostgreSQL store.
    Scheduler(schedules::RunArgs),
    /// Start the runs of a pipeline's schedule's ticks from --from to --to (a tick that has a run
    /// is not run again: the same command again resumes a stopped backfill).
    Backfill(schedules::BackfillArgs),
    /// Delete old runs by age and status (lists them only, unless --delete).
    Gc(gc::Args),
    /// The result cache (`#[node(cache)]`): list entries, clear them, keep them within an age
    /// and a size.
    Cache(cache::Args),
    /// Say why a run's cached node missed: which part of its key (code, a helper, the version,
    /// an input and its fields) differed from the nearest entry of the same node fn.
    WhyMiss(cache::WhyMissArgs),
    /// Keep the valid prefix of a run whose files are damaged (the damaged file is copied aside;
    /// the nodes whose records are dropped run again on resume).
    Repair(repair::Args),
    /// Show the runs in the browser: each run's graph coloured live, its timeline and attempts;
    /// resume, cancel and signal runs from the page.
    #[cfg(feature = "web")]
    Serve(serve::Args),
    /// Submit a run to the fleet's workers (PostgreSQL store) and print its id.
    #[cfg(feature = "postgres")]
    Submit(submit::Args),
    /// Run nodes of the fleet's runs (PostgreSQL store) until Ctrl-C.
    #[cfg(feature = "postgres")]
    Worker(worker::Args),
}

impl Command {
    /// Whether the command runs until stopped, and logs on stderr what happens meanwhile.
    pub(super) fn long_running(&self) -> bool {
        match self {
            Command::Scheduler(_) => true,
            #[cfg(feature = "postgres")]
            Command::Worker(_) => true,
            _ => false,
        }
    }

    /// Runs the command against the store the context names (opened only by the commands that
    /// need it); returns the exit code.
    pub(super) async fn exec(self, context: &Context) -> Result<i32, CliError> {
        let (store, settings) = (&context.store, &context.settings);
        // Commands that read runs never create a store; `run` makes a directory store only
        // inside a directory that exists.
        let stores = || -> Result<Stores, CliError> {
            store.check_exists()?;
            Ok(store.open(context.durability)?)
        };
        let writable = || -> Result<Stores, CliError> {
            store.check_writable()?;
            Ok(store.open(context.durability)?)
        };
        match self {
            Command::List => list::exec(),
            Command::Graph(args) => graph::exec(args, stores).await,
            Command::Runs(args) => runs::exec(args, &stores()?, store).await,
            Command::Show(args) => show::exec(args, &stores()?).await,
            Command::Audit(args) => audit::exec(args, &stores()?).await,
            Command::Run(args) => run::exec(args, writable, settings).await,
            Command::Resume(args) => resume::exec(args, stores()?, store, settings).await,
            Command::Signal(args) => signal::exec(args, stores()?, settings).await,
            Command::ResumeDue => resume_due::exec(stores()?, settings).await,
            Command::Gc(args) => gc::exec(args, &stores()?).await,
            Command::Cache(args) => cache::exec(args, &stores()?).await,
            Command::WhyMiss(args) => cache::why_miss(args, &stores()?).await,
            Command::Schedules => schedules::list(settings),
            Command::Scheduler(args) => schedules::run(args, store, writable()?, settings).await,
            Command::Backfill(args) => {
                schedules::backfill(args, store, writable()?, settings).await
            }
            Command::Repair(args) => {
                store.check_exists()?;
                repair::exec(args, store)
            }
            #[cfg(feature = "web")]
            Command::Serve(args) => serve::exec(args, stores()?, store, settings).await,
            #[cfg(feature = "postgres")]
            Command::Submit(args) => submit::exec(args, postgres("submit", store)?, settings).await,
            #[cfg(feature = "postgres")]
            Command::Worker(args) => worker::exec(args, postgres("worker", store)?, settings).await,
        }
    }
}

/// The PostgreSQL store `store` names, for the fleet's commands.
#[cfg(feature = "postgres")]
fn postgres(
    command: &'static str,
    store: &StoreSpec,
) -> Result<crate::store::PostgresStore, CliError> {
    match store {
        StoreSpec::Postgres(url) => Ok(crate::store::PostgresStore::open(url)?),
        _ => Err(CliError::NeedsPostgres {
            command,
            store: store.to_string(),
        }),
    }
}
