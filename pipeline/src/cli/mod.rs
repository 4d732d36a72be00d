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
//! ```
//!
//! The store is `--store DIR` or `--store sqlite://FILE` (with the `sqlite` feature), or the
//! `PIPELINE_STORE` environment variable; `./.pipeline` by default.

mod progress;
mod table;

use std::collections::BTreeMap;
use std::sync::Arc;

use clap::{Parser, Subcommand, ValueEnum};

use crate::graph::GraphSignature;
use crate::registry::{self, PipelineInfo, Stores};
use crate::store::{AuditEntry, AuditStatus, Checkpoint, RunSummary};
use crate::{FileAuditLog, FileCheckpointer, NodeStatus, PipelineResult, RunId, RunStatus};
use table::{Table, format_ms, format_time, format_us};

/// Operate the pipelines compiled into this program: list them, draw them, start, inspect and
/// resume their runs.
#[derive(Parser, Debug)]
#[command(version, about, long_about = None)]
struct Cli {
    /// Where runs are kept: a directory, or sqlite://FILE.
    #[arg(
        long,
        global = true,
        env = "PIPELINE_STORE",
        default_value = "./.pipeline"
    )]
    store: String,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// List the pipelines and nodes compiled into this program.
    List,
    /// Draw a pipeline's graph, or a run's graph coloured by node status.
    Graph {
        /// A pipeline name or a run id.
        target: String,
        /// The picture's language.
        #[arg(long, value_enum, default_value_t = Format::Mermaid)]
        format: Format,
    },
    /// List the runs in the store, newest last.
    Runs {
        /// Only runs of this pipeline.
        #[arg(long)]
        pipeline: Option<String>,
        /// Only runs with this status.
        #[arg(long, value_enum)]
        status: Option<StatusFilter>,
    },
    /// Show one run: each node's status, attempts, duration and error.
    Show {
        /// The run id.
        run_id: String,
    },
    /// Print a run's audit trail.
    Audit {
        /// The run id.
        run_id: String,
        /// Only this node's attempts.
        #[arg(long)]
        node: Option<String>,
        /// One JSON object per line, for `jq`.
        #[arg(long)]
        json: bool,
    },
    /// Start a run of a pipeline.
    Run {
        /// The pipeline's name.
        pipeline: String,
        /// The inputs, as a JSON object with one field per pipeline input.
        #[arg(long, default_value = "{}")]
        input: String,
    },
    /// Resume a run: restore its completed nodes and run the rest.
    Resume {
        /// The run id.
        run_id: String,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Format {
    Mermaid,
    Dot,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum StatusFilter {
    Completed,
    Failed,
    Cancelled,
    /// Running, or interrupted (its process died).
    Running,
}

/// Writes to standard output; a closed pipe (`ops runs | head`) ends the program quietly.
fn emit(text: &str) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: cannot write to standard output: {e}");
        std::process::exit(1);
    }
}

macro_rules! out {
    ($($arg:tt)*) => { emit(&format!($($arg)*)) };
}

macro_rules! outln {
    ($($arg:tt)*) => { emit(&format!("{}\n", format_args!($($arg)*))) };
}

/// A one-line error for the user.
type CliResult<T> = Result<T, String>;

/// Runs the command line and exits: 0 on success, 1 on an error or a run that did not complete,
/// 2 on a usage error.
pub fn main() -> ! {
    let cli = Cli::parse();
    let code = match execute(cli) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            1
        }
    };
    std::process::exit(code)
}

fn execute(cli: Cli) -> CliResult<i32> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the tokio runtime: {e}"))?;
    // `list` needs no store: open it only for the commands that do.
    let stores = || open_store(&cli.store);
    runtime.block_on(async {
        match cli.command {
            Command::List => list().map(|()| 0),
            Command::Graph { target, format } => graph(&stores()?, &target, format).await,
            Command::Runs { pipeline, status } => runs(&stores()?, pipeline, status).await,
            Command::Show { run_id } => show(&stores()?, &parse_id(&run_id)?).await,
            Command::Audit { run_id, node, json } => {
                audit(&stores()?, &parse_id(&run_id)?, node, json).await
            }
            Command::Run { pipeline, input } => run(stores()?, &pipeline, &input).await,
            Command::Resume { run_id } => resume(stores()?, &parse_id(&run_id)?).await,
        }
    })
}

fn parse_id(text: &str) -> CliResult<RunId> {
    RunId::new(text).map_err(|e| e.to_string())
}

fn open_store(spec: &str) -> CliResult<Stores> {
    if let Some(path) = spec.strip_prefix("sqlite://") {
        return open_sqlite(path);
    }
    if std::path::Path::new(spec).is_file() {
        return Err(format!(
            "the store `{spec}` is a file; give a directory or sqlite://FILE"
        ));
    }
    Ok(Stores {
        checkpointer: Arc::new(FileCheckpointer::new(spec)),
        audit: Arc::new(FileAuditLog::new(spec)),
    })
}

#[cfg(feature = "sqlite")]
fn open_sqlite(path: &str) -> CliResult<Stores> {
    let checkpointer = crate::store::SqliteCheckpointer::open(path).map_err(|e| e.to_string())?;
    let audit = checkpointer.audit_log();
    Ok(Stores {
        checkpointer: Arc::new(checkpointer),
        audit: Arc::new(audit),
    })
}

#[cfg(not(feature = "sqlite"))]
fn open_sqlite(_: &str) -> CliResult<Stores> {
    Err(
        "this program was built without the `sqlite` feature of `pipeline`; use a directory store"
            .into(),
    )
}

fn find_pipeline(name: &str) -> CliResult<&'static PipelineInfo> {
    registry::pipeline(name).ok_or_else(|| {
        let known: Vec<&str> = registry::pipelines().iter().map(|p| p.name).collect();
        format!(
            "unknown pipeline `{name}`; the pipelines are: {}",
            known.join(", ")
        )
    })
}

fn first_line(doc: &str) -> &str {
    doc.lines().next().unwrap_or_default()
}

fn list() -> CliResult<()> {
    outln!("pipelines:");
    for p in registry::pipelines() {
        outln!(
            "  {}  ({}:{})  {}",
            p.name,
            p.file,
            p.line,
            first_line(p.doc)
        );
        let inputs: Vec<String> = p
            .inputs
            .iter()
            .map(|i| format!("{}: {}", i.name, i.type_name))
            .collect();
        outln!("    inputs: {}", inputs.join(", "));
        for node in (p.pipeline)().signature().nodes {
            outln!(
                "    {} = {}({}) -> {}",
                node.id,
                node.kind,
                node.inputs.join(", "),
                node.output_type
            );
        }
        outln!("    output: {}", p.output_type);
    }
    outln!("nodes:");
    for n in registry::nodes() {
        let inputs: Vec<String> = n
            .inputs
            .iter()
            .map(|i| format!("{}: {}", i.name, i.type_name))
            .collect();
        let doc = first_line(n.doc);
        outln!(
            "  {}({}) -> {}  ({}:{}){}{doc}",
            n.name,
            inputs.join(", "),
            n.output_type,
            n.file,
            n.line,
            if doc.is_empty() { "" } else { "  " }
        );
    }
    Ok(())
}

/// A stored run: its checkpoint and its summary (or one derived from the checkpoint).
struct StoredRun {
    checkpoint: Checkpoint,
    summary: RunSummary,
}

async fn load_run(stores: &Stores, run_id: &RunId) -> CliResult<StoredRun> {
    let checkpoint = stores
        .checkpointer
        .load(run_id)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("unknown run `{run_id}`: the store has no run with this id"))?;
    let summary = match stores
        .audit
        .summary(run_id)
        .await
        .map_err(|e| e.to_string())?
    {
        Some(summary) => summary,
        None => derived_summary(&checkpoint),
    };
    Ok(StoredRun {
        checkpoint,
        summary,
    })
}

/// What the checkpoint alone says: completed nodes, the rest not run, no final status.
fn derived_summary(checkpoint: &Checkpoint) -> RunSummary {
    let header = &checkpoint.header;
    let mut nodes: BTreeMap<String, NodeStatus> = header
        .graph
        .nodes
        .iter()
        .map(|n| (n.id.clone(), NodeStatus::NotRun))
        .collect();
    for id in checkpoint.completed() {
        nodes.insert(id.to_owned(), NodeStatus::Completed);
    }
    RunSummary {
        run_id: header.run_id.clone(),
        pipeline: header.pipeline.clone(),
        status: None,
        started_at_ms: header.started_at_ms,
        updated_at_ms: checkpoint
            .nodes
            .iter()
            .map(|n| n.finished_at_ms)
            .max()
            .unwrap_or(header.started_at_ms),
        nodes,
    }
}

fn status_text(status: Option<RunStatus>) -> String {
    status.map_or_else(|| "running or interrupted".to_owned(), |s| s.to_string())
}

async fn graph(stores: &Stores, target: &str, format: Format) -> CliResult<i32> {
    let draw = |signature: &GraphSignature,
                name: &str,
                statuses: Option<&BTreeMap<String, NodeStatus>>| {
        match (format, statuses) {
            (Format::Mermaid, None) => signature.to_mermaid(),
            (Format::Mermaid, Some(s)) => signature.to_mermaid_with_status(s),
            (Format::Dot, None) => signature.to_dot(name),
            (Format::Dot, Some(s)) => signature.to_dot_with_status(name, s),
        }
    };
    if let Some(info) = registry::pipeline(target) {
        out!("{}", draw(&(info.pipeline)().signature(), info.name, None));
        return Ok(0);
    }
    let run_id = RunId::new(target).map_err(|_| format!("no pipeline or run named `{target}`"))?;
    let run = load_run(stores, &run_id)
        .await
        .map_err(|_| format!("no pipeline or run named `{target}`"))?;
    let header = &run.checkpoint.header;
    out!(
        "{}",
        draw(&header.graph, &header.pipeline, Some(&run.summary.nodes))
    );
    Ok(0)
}

async fn runs(
    stores: &Stores,
    pipeline: Option<String>,
    status: Option<StatusFilter>,
) -> CliResult<i32> {
    let ids = stores
        .checkpointer
        .list_runs()
        .await
        .map_err(|e| e.to_string())?;
    let mut table = Table::new([
        "RUN ID", "PIPELINE", "STATUS", "STARTED", "DURATION", "DONE", "FAILED", "SKIPPED",
    ]);
    for id in ids {
        let summary = match stores.audit.summary(&id).await.map_err(|e| e.to_string())? {
            Some(summary) => summary,
            None => load_run(stores, &id).await?.summary,
        };
        if pipeline.as_ref().is_some_and(|p| *p != summary.pipeline) {
            continue;
        }
        let wanted = match (status, summary.status) {
            (None, _) => true,
            (Some(StatusFilter::Running), s) => s.is_none(),
            (Some(StatusFilter::Completed), s) => s == Some(RunStatus::Completed),
            (Some(StatusFilter::Failed), s) => s == Some(RunStatus::Failed),
            (Some(StatusFilter::Cancelled), s) => s == Some(RunStatus::Cancelled),
        };
        if !wanted {
            continue;
        }
        table.row([
            summary.run_id.to_string(),
            summary.pipeline.clone(),
            status_text(summary.status),
            format_time(summary.started_at_ms),
            format_ms(summary.updated_at_ms.saturating_sub(summary.started_at_ms)),
            summary.count(NodeStatus::Completed).to_string(),
            summary.count(NodeStatus::Failed).to_string(),
            summary.count(NodeStatus::Skipped).to_string(),
        ]);
    }
    out!("{table}");
    Ok(0)
}

async fn show(stores: &Stores, run_id: &RunId) -> CliResult<i32> {
    let run = load_run(stores, run_id).await?;
    let trail = stores
        .audit
        .entries(run_id)
        .await
        .map_err(|e| e.to_string())?
        .unwrap_or_default();
    let summary = &run.summary;
    outln!("run {run_id}");
    outln!("pipeline {}", summary.pipeline);
    outln!("status   {}", status_text(summary.status));
    outln!("started  {}", format_time(summary.started_at_ms));
    let mut table = Table::new(["NODE", "STATUS", "ATTEMPTS", "DURATION", "ERROR"]);
    for node in &run.checkpoint.header.graph.nodes {
        let attempts: Vec<&AuditEntry> = trail.iter().filter(|e| e.node == node.id).collect();
        let duration = run
            .checkpoint
            .node(&node.id)
            .map(|r| r.duration_us)
            .or_else(|| attempts.last().map(|e| e.duration_us));
        let error = attempts
            .last()
            .filter(|e| e.status == AuditStatus::Failed)
            .and_then(|e| e.error.clone())
            .unwrap_or_default();
        let status = summary
            .nodes
            .get(&node.id)
            .copied()
            .unwrap_or(NodeStatus::NotRun);
        table.row([
            node.id.clone(),
            status.to_string(),
            attempts.len().to_string(),
            duration.map_or_else(String::new, format_us),
            error,
        ]);
    }
    out!("{table}");
    Ok(0)
}

async fn audit(
    stores: &Stores,
    run_id: &RunId,
    node: Option<String>,
    json: bool,
) -> CliResult<i32> {
    let trail = stores
        .audit
        .entries(run_id)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("unknown run `{run_id}`: the store has no audit trail for it"))?;
    let entries = trail
        .iter()
        .filter(|e| node.as_ref().is_none_or(|n| *n == e.node));
    if json {
        for entry in entries {
            outln!(
                "{}",
                serde_json::to_string(entry).map_err(|e| e.to_string())?
            );
        }
        return Ok(0);
    }
    let mut table = Table::new([
        "STARTED",
        "NODE",
        "ATTEMPT",
        "STATUS",
        "DURATION",
        "INPUTS",
        "OUTPUT / ERROR",
    ]);
    for entry in entries {
        let inputs: Vec<String> = entry
            .inputs
            .iter()
            .map(|(k, v)| format!("{k}={}", v.get()))
            .collect();
        let result = match (&entry.output, &entry.error) {
            (_, Some(error)) => error.clone(),
            (Some(output), None) => output.get().to_owned(),
            (None, None) => String::new(),
        };
        table.row([
            format_time(entry.started_at_ms),
            entry.node.clone(),
            entry.attempt.to_string(),
            match entry.status {
                AuditStatus::Completed => "completed".into(),
                AuditStatus::Failed => "failed".into(),
            },
            format_us(entry.duration_us),
            table::clip(&inputs.join(" "), 60),
            table::clip(&result, 80),
        ]);
    }
    out!("{table}");
    Ok(0)
}

fn report(result: &PipelineResult<serde_json::Value>) -> i32 {
    outln!("run {} {}", result.run_id, result.status);
    for (node, failure) in &result.failures {
        outln!(
            "  {node} failed after {} attempts: {}",
            failure.attempts,
            failure.error
        );
    }
    for warning in &result.warnings {
        outln!("  warning: {warning}");
    }
    if let Some(output) = &result.output {
        outln!("output {output}");
    }
    if result.status == RunStatus::Completed {
        0
    } else {
        1
    }
}

async fn run(stores: Stores, name: &str, input: &str) -> CliResult<i32> {
    let info = find_pipeline(name)?;
    let pipeline = (info.pipeline)();
    let progress = progress::Progress::new(pipeline.signature().nodes.len(), 0);
    let result = pipeline.run(stores, input, progress.clone()).await;
    progress.finish();
    Ok(report(&result.map_err(|e| e.to_string())?))
}

async fn resume(stores: Stores, run_id: &RunId) -> CliResult<i32> {
    let stored = load_run(&stores, run_id).await?;
    let info = find_pipeline(&stored.summary.pipeline)?;
    let pipeline = (info.pipeline)();
    let done = stored.checkpoint.completed().count();
    let progress = progress::Progress::new(pipeline.signature().nodes.len(), done);
    let result = pipeline.resume(stores, run_id, progress.clone()).await;
    progress.finish();
    Ok(report(&result.map_err(|e| e.to_string())?))
}
