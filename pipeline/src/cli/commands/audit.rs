//! `audit`: a run's audit trail as a table, or as JSON lines for `jq`.

use crate::cli::error::CliError;
use crate::cli::output::{out, outln};
use crate::cli::stored::parse_id;
use crate::cli::table::{self, Table, format_time, format_us};
use crate::store::{AuditEntry, AuditStatus, Stores};

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// The run id.
    run_id: String,
    /// Only this node's attempts.
    #[arg(long)]
    node: Option<String>,
    /// One JSON object per line, for `jq`.
    #[arg(long)]
    json: bool,
}

pub(super) async fn exec(args: Args, stores: &Stores) -> Result<i32, CliError> {
    let run_id = parse_id(&args.run_id)?;
    let trail = stores
        .audit
        .entries(&run_id)
        .await?
        .ok_or_else(|| CliError::NoAuditTrail(run_id.clone()))?;
    let entries = trail
        .iter()
        .filter(|e| args.node.as_ref().is_none_or(|n| *n == e.node));
    if args.json {
        for entry in entries {
            outln!("{}", serde_json::to_string(entry).map_err(CliError::Json)?);
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
        table.row(row(entry));
    }
    out!("{table}");
    Ok(0)
}

fn row(entry: &AuditEntry) -> [String; 7] {
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
    [
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
    ]
}
