//! [`Cli`]: the command line of an application, with its own name, version and description, and
//! the settings of the engines it builds.

use clap::{CommandFactory, FromArgMatches, Parser};

use super::commands;
use super::error::CliError;
use crate::engine::EngineSettings;
use crate::store::{Durability, StoreError, StoreSpec};

/// The flags every command takes, and the command.
#[derive(Parser, Debug)]
#[command(about = "Operate the pipelines compiled into this program: list them, draw them, \
                   start, inspect and resume their runs.", long_about = None)]
struct Args {
    /// Where runs are kept: a directory, sqlite://FILE, or postgres://USER@HOST/DB.
    #[arg(
        long,
        global = true,
        env = "PIPELINE_STORE",
        default_value = "./.pipeline",
        value_parser = store_spec
    )]
    store: StoreSpec,

    /// Timers and signal timeouts due within this many seconds are awaited in this process; a
    /// later one ends the run `waiting` (continue it with `resume-due` once due). Default: the
    /// application's setting, or 60.
    #[arg(long, global = true, value_name = "SECONDS")]
    wait_in_process: Option<f64>,

    #[command(subcommand)]
    command: commands::Command,
}

/// An application's command line over every pipeline compiled into it (see the
/// [module](crate::cli)): its name, version and description in `--help` and `--version`, the
/// settings of the engines its commands build, and how hard its file stores work for
/// durability.
///
/// ```no_run
/// use pipeline::cli::Cli;
/// use pipeline::store::Durability;
///
/// fn main() {
///     Cli::new()
///         .name("logetl")
///         .version(env!("CARGO_PKG_VERSION"))
///         .about("Turns the web servers' logs into the daily report.")
///         .engine(|e| e.max_concurrency(8))
///         .durability(Durability::Sync)
///         .main()
/// }
/// ```
#[derive(Clone, Debug, Default)]
pub struct Cli {
    name: Option<String>,
    version: Option<String>,
    about: Option<String>,
    settings: EngineSettings,
    durability: Durability,
}

impl Cli {
    /// Named after the program's file, without a version (`--version` is then refused), with
    /// the engines' defaults and [`Durability::Sync`].
    pub fn new() -> Cli {
        Cli::default()
    }

    /// The name `--help` and usage lines show.
    pub fn name(mut self, name: impl Into<String>) -> Cli {
        self.name = Some(name.into());
        self
    }

    /// The version `--version` prints (typically `env!("CARGO_PKG_VERSION")`).
    pub fn version(mut self, version: impl Into<String>) -> Cli {
        self.version = Some(version.into());
        self
    }

    /// The description `--help` shows.
    pub fn about(mut self, about: impl Into<String>) -> Cli {
        self.about = Some(about.into());
        self
    }

    /// The settings of every engine the commands build (`run`, `resume`, `signal`,
    /// `resume-due`, `submit`), changed by `configure`.
    pub fn engine(mut self, configure: impl FnOnce(EngineSettings) -> EngineSettings) -> Cli {
        self.settings = configure(self.settings);
        self
    }

    /// How directory and SQLite stores flush what they write (default [`Durability::Sync`]).
    pub fn durability(mut self, durability: Durability) -> Cli {
        self.durability = durability;
        self
    }

    /// Parses the program's arguments, runs the command, and exits: 0 on success, 1 on an
    /// error or a run that did not complete, 2 on a usage error or a run that waits.
    pub fn main(self) -> ! {
        let code = self.run(std::env::args_os());
        std::process::exit(code)
    }

    /// [`main`](Cli::main) on `args` (the program's name first), returning the exit code
    /// instead of exiting (help, version and usage errors still exit, as clap does).
    pub fn run<I, T>(self, args: I) -> i32
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let matches = match self.command().try_get_matches_from(args) {
            Ok(matches) => matches,
            // A store spec clap could not read is this program's own one-line error, as any
            // other store that cannot be used.
            Err(error) => match store_error(&error) {
                Some(store) => {
                    eprintln!("error: {store}");
                    return 1;
                }
                None => error.exit(),
            },
        };
        super::output::remember_store(&matches);
        let args = match Args::from_arg_matches(&matches) {
            Ok(args) => args,
            Err(error) => error.exit(),
        };
        match self.execute(args) {
            Ok(code) => code,
            Err(error) => {
                eprintln!("error: {error}");
                1
            }
        }
    }

    /// The command line as clap sees it: the flags and commands with this application's name,
    /// version and description, and each pipeline's inputs in the help of `run` (and `submit`,
    /// in a build with the fleet).
    fn command(&self) -> clap::Command {
        let mut command = Args::command();
        let name = self.name.clone().unwrap_or_else(super::output::program);
        command = command.name(name.clone()).bin_name(name);
        if let Some(version) = &self.version {
            command = command.version(version.clone());
        }
        if let Some(about) = &self.about {
            command = command.about(about.clone());
        }
        let inputs = inputs_help();
        for sub in ["run", "submit"] {
            if command.find_subcommand(sub).is_some() {
                command = command.mut_subcommand(sub, |c| c.after_help(inputs.clone()));
            }
        }
        command
    }

    fn execute(self, args: Args) -> Result<i32, CliError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(CliError::Runtime)?;
        let mut settings = self.settings;
        if let Some(seconds) = args.wait_in_process {
            let threshold = std::time::Duration::try_from_secs_f64(seconds).map_err(|_| {
                CliError::InvalidOption {
                    option: "--wait-in-process".to_owned(),
                    reason: format!("{seconds} is not a number of seconds"),
                }
            })?;
            settings = settings.wait_in_process(threshold);
        }
        let service = self.name.clone().unwrap_or_else(super::output::program);
        let _telemetry = super::log::install(args.command.long_running(), &service);
        let context = commands::Context {
            store: args.store,
            settings,
            durability: self.durability,
        };
        runtime.block_on(args.command.exec(&context))
    }
}

/// `--store` as clap reads it: once, for every command.
fn store_spec(spec: &str) -> Result<StoreSpec, StoreError> {
    StoreSpec::parse(spec)
}

/// The store error behind a clap error, when `--store` (or `PIPELINE_STORE`) could not be read.
fn store_error(error: &clap::Error) -> Option<&StoreError> {
    use std::error::Error as _;
    match error.kind() {
        clap::error::ErrorKind::ValueValidation => error.source()?.downcast_ref::<StoreError>(),
        _ => None,
    }
}

/// Each registered pipeline with the JSON its `--input` takes, for `run --help`.
fn inputs_help() -> String {
    let mut help = String::from("Pipelines and their inputs (`--input`, as JSON):\n");
    for info in crate::registry::pipelines() {
        let fields: Vec<String> = info
            .inputs
            .iter()
            .map(|p| format!("\"{}\": {}", p.name, p.type_name))
            .collect();
        help.push_str(&format!("  {}  {{{}}}\n", info.name, fields.join(", ")));
    }
    help
}

#[cfg(test)]
mod tests {
    use super::*;

    /// In every build (with or without the fleet's `submit`), the command line is consistent:
    /// clap's own checks pass, and `run --help` lists the inputs.
    #[test]
    fn the_command_line_is_consistent_in_this_build() {
        let command = Cli::new()
            .name("app")
            .version("1.2.3")
            .about("An app.")
            .command();
        command.clone().debug_assert();
        // Test code: `run` is a subcommand of every build (the builder adds it), so this holds.
        let run = command.find_subcommand("run").expect("run exists");
        let help = run
            .get_after_help()
            .map(|h| h.to_string())
            .unwrap_or_default();
        assert!(help.starts_with("Pipelines and their inputs"), "{help}");
        assert_eq!(command.get_version(), Some("1.2.3"));
    }
}
