//! `show`: one run's nodes with their status, attempts, duration and last error.

use crate::cli::error::CliError;
use crate::cli::output::{out, outln};
use crate::cli::stored::{load_run, parse_id, status_text};
use crate::cli::table::{Table, format_time, format_us};
use crate::result::NodeStatus;
use crate::store::{AuditEntry, AuditStatus, Stores};

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// The run id.
    run_id: String,
}

pub(super) async fn exec(args: Args, stores: &Stores) -> Result<i32, CliError> {
    let run_id = parse_id(&args.run_id)?;
    let run = load_run(stores, &run_id).await?;
    let trail = stores.audit.entries(&run_id).await?.unwrap_or_default();
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
