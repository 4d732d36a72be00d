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
    let header = ["NODE", "STATUS", "ATTEMPTS", "DURATION", "ERROR"];
    // Runs done by a fleet say which worker ran each node's last attempt.
    let fleet = trail.iter().any(|e| e.worker.is_some());
    let mut table = match fleet {
        true => Table::new(header).with(["WORKER"]),
        false => Table::new(header),
    };
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
        let worker = attempts.last().and_then(|e| e.worker.clone());
        let cells = [
            node.id.clone(),
            status.to_string(),
            attempts.len().to_string(),
            duration.map_or_else(String::new, format_us),
            error,
        ];
        match fleet {
            true => table.row_with(cells, [worker.unwrap_or_default()]),
            false => table.row(cells),
        }
    }
    out!("{table}");
    Ok(0)
}
