//! A command line over every pipeline compiled into a program: `fn main() { pipeline::cli::main() }`.
//!
//! ```text
//! ops list                                  pipelines and nodes, with source locations
//! ops graph Sales [--format mermaid|dot]    a pipeline's graph
//! ops graph <run id>                        a run's graph, coloured by node status
//! ops runs [--pipeline P] [--status failed] the runs in the store
//! ops show <run id>                         one run's nodes: status, attempts, duration, error
//! ops audit <run id> [--node N] [--json]    the audit trail (JSON lines with --json)
//! ops run Sales --input '{"path": "..."}'   start a run
//! ops resume <run id>                       resume a run
//! ops repair <run id>                       keep the valid prefix of a damaged run's files
//! ops worker [--concurrency N]              run the fleet's nodes (postgres store) until Ctrl-C
//! ops submit Sales --input '{..}' [--wait]  submit a run to the fleet's workers
//! ```
//!
//! The store is `--store DIR`, `--store sqlite://FILE` (with the `sqlite` feature) or
//! `--store postgres://USER@HOST/DB` (with the `postgres` feature), or the
//! `PIPELINE_STORE` environment variable; `./.pipeline` by default. It is opened by
//! [`Stores::open`](crate::store::Stores::open), which other tools can call too.
//!
//! Each subcommand lives in its own module under `commands/`; the work itself is the library's.

mod commands;
mod error;
mod interrupt;
mod output;
mod progress;
mod stored;
mod table;

use clap::Parser;

pub use error::CliError;

/// Operate the pipelines compiled into this program: list them, draw them, start, inspect and
/// resume their runs.
#[derive(Parser, Debug)]
#[command(version, about, long_about = None)]
struct Cli {
    /// Where runs are kept: a directory, sqlite://FILE, or postgres://USER@HOST/DB.
    #[arg(
        long,
        global = true,
        env = "PIPELINE_STORE",
        default_value = "./.pipeline"
    )]
    store: String,

    /// Timers and signal timeouts due within this many seconds are awaited in this process; a
    /// later one ends the run `waiting` (continue it with `resume-due` once due).
    #[arg(long, global = true, default_value_t = 60.0, value_name = "SECONDS")]
    wait_in_process: f64,

    #[command(subcommand)]
    command: commands::Command,
}

/// Runs the command line and exits: 0 on success, 1 on an error or a run that did not complete,
/// 2 on a usage error.
pub fn main() -> ! {
    let cli = Cli::parse();
    let code = match execute(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error}");
            1
        }
    };
    std::process::exit(code)
}

fn execute(cli: Cli) -> Result<i32, CliError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(CliError::Runtime)?;
    let threshold = std::time::Duration::try_from_secs_f64(cli.wait_in_process).map_err(|_| {
        CliError::InvalidOption {
            option: "--wait-in-process".to_owned(),
            reason: format!("{} is not a number of seconds", cli.wait_in_process),
        }
    })?;
    let settings = crate::engine::EngineSettings::new().wait_in_process(threshold);
    runtime.block_on(cli.command.exec(&cli.store, &settings))
}
