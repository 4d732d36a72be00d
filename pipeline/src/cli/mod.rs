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

mod amounts;
mod commands;
mod error;
mod interrupt;
mod log;
mod output;
mod progress;
mod stored;
pub(crate) mod table;

mod app;

pub use app::Cli;
pub use error::CliError;

/// The command line with no settings: named after the program's file, and engines with their
/// defaults. Give it your name, version and engine settings with [`Cli`]:
/// `Cli::new().name("logetl").version(env!("CARGO_PKG_VERSION")).main()`.
pub fn main() -> ! {
    Cli::new().main()
}
