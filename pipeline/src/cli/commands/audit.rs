//! `audit`: a run's audit trail as a table, or as JSON lines for `jq`.

use crate::cli::error::CliError;
use crate::cli::output::{out, outln};
use crate::cli::stored::parse_id;
use crate::cli::table::{self, Table, format_time, format_us};
use crate::data::Json;
use crate::store::{AuditEntry, AuditStatus, Checkpoint, Stores};

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
    // Entries refer to values the run's header and checkpoint hold: show them in place.
    let stored = stores.checkpointer.load(&run_id).await.ok().flatten();
    let entries = trail
        .iter()
        .filter(|e| args.node.as_ref().is_none_or(|n| *n == e.node))
        .map(|e| resolved(e, stored.as_ref()));
    if args.json {
        for entry in entries {
            outln!("{}", serde_json::to_string(&entry).map_err(CliError::Json)?);
        }
        return Ok(0);
    }
    let header = [
        "STARTED",
        "NODE",
        "ATTEMPT",
        "STATUS",
        "DURATION",
        "INPUTS",
        "OUTPUT / ERROR",
    ];
    // Runs done by a fleet say which worker ran each attempt.
    let fleet = trail.iter().any(|e| e.worker.is_some());
    let mut table = match fleet {
        true => Table::new(["WORKER"]).with(header),
        false => Table::new(header),
    };
    for entry in entries {
        let cells = row(&entry);
        match fleet {
            true => table.row_with([entry.worker.clone().unwrap_or_default()], cells),
            false => table.row(cells),
        }
    }
    out!("{table}");
    Ok(0)
}

/// The stored value an entry refers to by `name`: a pipeline input (in the header) or a node
/// output (in its checkpoint record).
fn referred(stored: Option<&Checkpoint>, name: &str) -> Option<Json> {
    let checkpoint = stored?;
    if let Some(record) = checkpoint.node(name) {
        return Some(record.output.clone());
    }
    let inputs: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(checkpoint.header.inputs.get()).ok()?;
    let value = inputs.get(name)?;
    serde_json::value::to_raw_value(value).ok().map(Json::from)
}

/// The entry with the values it refers to copied in, where the store still has them.
fn resolved(entry: &AuditEntry, stored: Option<&Checkpoint>) -> AuditEntry {
    let mut entry = entry.clone();
    let refs = std::mem::take(&mut entry.input_refs);
    for name in refs {
        match referred(stored, &name) {
            Some(value) => {
                entry.inputs.insert(name, value);
            }
            None => entry.input_refs.push(name),
        }
    }
    if entry.output.is_none() && entry.output_in_checkpoint {
        entry.output = referred(stored, &entry.node);
    }
    entry
}

fn row(entry: &AuditEntry) -> [String; 7] {
    let copies = entry.inputs.iter().map(|(k, v)| format!("{k}={}", v.get()));
    // A reference the store could not resolve: a pipeline input of a graph built at run time
    // (its header holds the inputs whole, not by name), or a record since repaired away.
    let refs = entry
        .input_refs
        .iter()
        .map(|k| format!("{k}=(stored with the run)"));
    let inputs: Vec<String> = copies.chain(refs).collect();
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
