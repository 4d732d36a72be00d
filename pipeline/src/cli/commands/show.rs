//! `show`: one run's nodes with their status, attempts, duration and last error.

use crate::cli::error::CliError;
use crate::cli::output::{out, outln};
use crate::cli::stored::{load_run, parse_id};
use crate::cli::table::Table;
use crate::store::{AuditEntry, AuditStatus, NodeState, Stores};
use crate::text::{format_time, format_us};

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// The run id.
    run_id: String,
}

pub(super) async fn exec(args: Args, stores: &Stores) -> Result<i32, CliError> {
    let run_id = parse_id(&args.run_id)?;
    let run = load_run(stores, &run_id).await?;
    let trail = run.trail.clone().unwrap_or_default();
    let summary = &run.summary;
    outln!("run {run_id}");
    outln!("pipeline {}", summary.pipeline);
    outln!("status   {}", run.state);
    // A fleet run over its key's run limit: why it does not run yet.
    if let Some(place) = stores.checkpointer.queue_place(&run_id).await? {
        outln!("queued   {place}");
    }
    outln!("started  {}", format_time(summary.started_at_ms));
    if let Some(resumed) = summary.resumed_at_ms {
        outln!("resumed  {}", format_time(resumed));
    }
    let header = ["NODE", "STATUS", "ATTEMPTS", "DURATION", "ERROR"];
    // Runs done by a fleet say which worker ran each node's last attempt.
    let fleet = trail.iter().any(|e| e.worker.is_some());
    let mut table = match fleet {
        true => Table::new(header).with(["WORKER"]),
        false => Table::new(header),
    };
    let items = run.checkpoint.item_counts(&trail);
    for node in &run.checkpoint.header.graph.nodes {
        let attempts: Vec<&AuditEntry> = trail.iter().filter(|e| e.node == node.id).collect();
        let duration = match node.each {
            // A mapped node's items overlap: from its first start to its last end.
            Some(_) => span_us(&attempts),
            None => run
                .checkpoint
                .node(&node.id)
                .map(|r| r.duration_us)
                .or_else(|| attempts.last().map(|e| e.duration_us)),
        };
        // A mapped node's last failed item, or any node's last attempt if it failed.
        let failed = match node.each {
            Some(_) => attempts
                .iter()
                .rev()
                .find(|e| e.status == AuditStatus::Failed),
            None => attempts.last().filter(|e| e.status == AuditStatus::Failed),
        };
        let error = failed
            .and_then(|e| match (e.item, &e.error) {
                (Some(item), Some(error)) => Some(format!("item {}: {error}", item.index)),
                (_, error) => error.clone(),
            })
            .unwrap_or_default();
        let status = run
            .nodes
            .get(&node.id)
            .copied()
            .unwrap_or(NodeState::NotRun);
        let worker = attempts.last().and_then(|e| e.worker.clone());
        let (name, status) = match items.get(&node.id) {
            Some(counts) => (
                format!("{} ×{}", node.id, counts.of),
                format!("{status}: {}", counts.outcomes()),
            ),
            // A whole node restored from the cache names the run that computed it.
            None => match attempts.last().and_then(|e| e.cached_from.as_ref()) {
                Some(from) if status == NodeState::Cached => {
                    (node.id.clone(), format!("{status} (from {from})"))
                }
                _ => (node.id.clone(), status.to_string()),
            },
        };
        // Attempts that ran (an output restored from the cache is none).
        let ran = attempts
            .iter()
            .filter(|e| e.status != AuditStatus::Cached)
            .count();
        let cells = [
            name,
            status,
            ran.to_string(),
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

/// From the first attempt's start to the last one's end, in microseconds.
fn span_us(attempts: &[&AuditEntry]) -> Option<u64> {
    let start = attempts.iter().map(|e| e.started_at_ms).min()?;
    let end = attempts.iter().map(|e| e.finished_at_ms).max()?;
    Some(end.saturating_sub(start) * 1000)
}
