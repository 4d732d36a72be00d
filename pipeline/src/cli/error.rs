//! [`CliError`]: why a command failed, typed, with the library's errors chained as sources. The
//! command line prints its one-line `Display`.

use crate::error::PipelineError;
use crate::run_id::{InvalidRunId, RunId};
use crate::store::StoreError;

/// Why a command of [`main`](super::main) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CliError {
    /// The tokio runtime could not start.
    #[error("cannot start the tokio runtime: {0}")]
    Runtime(#[source] std::io::Error),
    /// A store could not be opened, read or written.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A run could not start or resume.
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    /// A schedule could not be made, found or fired (a time zone unknown here, a schedule not
    /// named, a time that is not one).
    #[error(transparent)]
    Schedule(#[from] crate::cron::ScheduleError),
    /// A run id on the command line is malformed.
    #[error(transparent)]
    InvalidRunId(#[from] InvalidRunId),
    /// No pipeline of this name is compiled into the program.
    #[error("unknown pipeline `{name}`; the pipelines are: {}", known.join(", "))]
    UnknownPipeline {
        /// The name given.
        name: String,
        /// The pipelines compiled in.
        known: Vec<String>,
    },
    /// `--input @FILE` or `--input -` could not be read.
    #[error("cannot read the inputs from {what}: {source}")]
    Input {
        /// Where they were read from.
        what: String,
        /// Why not.
        #[source]
        source: std::io::Error,
    },
    /// The store has no run with this id.
    #[error("unknown run `{0}`: the store has no run with this id")]
    UnknownRun(RunId),
    /// The run has a checkpoint but no audit trail: it ran without an audit log.
    #[error(
        "run `{0}` has no audit trail: it ran with a checkpointer and no audit log (give the \
         engine both, e.g. `.stores(Stores::open(dir)?)`, so the command line can show attempts \
         and how runs ended)"
    )]
    RanWithoutAuditLog(RunId),
    /// `graph` was given neither a pipeline name nor a stored run.
    #[error("no pipeline or run named `{0}`")]
    NoPipelineOrRun(String),
    /// A command-line option has a value it cannot take.
    #[error("{option}: {reason}")]
    InvalidOption {
        /// The option.
        option: String,
        /// Why its value is refused.
        reason: String,
    },
    /// The command needs a PostgreSQL store (a fleet command given another store).
    #[error(
        "`{command}` needs a PostgreSQL store: give --store postgres://USER@HOST/DB \
         (or PIPELINE_STORE); `{store}` is not one"
    )]
    NeedsPostgres {
        /// The command.
        command: &'static str,
        /// The store given.
        store: String,
    },
    /// A signal's `--value` is not JSON.
    #[error("the value for `{wait}` is not JSON: {source}")]
    BadValue {
        /// The wait.
        wait: String,
        /// Why it does not parse.
        #[source]
        source: serde_json::Error,
    },
    /// An audit entry could not be written as JSON.
    #[error("cannot write an audit entry as JSON: {0}")]
    Json(#[source] serde_json::Error),
    /// `serve` could not listen on its address.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: String,
        /// Why not.
        #[source]
        source: std::io::Error,
    },
}
