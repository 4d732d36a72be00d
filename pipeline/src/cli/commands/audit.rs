//! `audit`: a run's audit trail as a table, or as JSON lines for `jq`.

use std::cell::RefCell;
use std::collections::HashMap;

use crate::cli::error::CliError;
use crate::cli::output::{out, outln};
use crate::cli::stored::parse_id;
use crate::cli::table::Table;
use crate::data::Json;
use crate::store::{AuditEntry, AuditStatus, Checkpoint, LastAttempts, NodeState, Stores};
use crate::text::{self, format_time, format_us};

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
    /// Also print what each attempt logged (the `tracing` events its body emitted).
    #[arg(long)]
    logs: bool,
}

pub(super) async fn exec(args: Args, stores: &Stores) -> Result<i32, CliError> {
    let run_id = parse_id(&args.run_id)?;
    let Some(trail) = stores.audit.entries(&run_id).await? else {
        // A run with a checkpoint and no trail ran without an audit log.
        return Err(match stores.checkpointer.load(&run_id).await? {
            Some(_) => CliError::RanWithoutAuditLog(run_id),
            None => CliError::UnknownRun(run_id),
        });
    };
    // Entries refer to values the run's header and checkpoint hold: show them in place.
    let stored = stores.checkpointer.load(&run_id).await.ok().flatten();
    let lookup = Lookup::new(stored.as_ref());
    let entries: Vec<AuditEntry> = trail
        .iter()
        .filter(|e| args.node.as_ref().is_none_or(|n| *n == e.node))
        .map(|e| lookup.resolved(e))
        .collect();
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
    for entry in &entries {
        let cells = row(entry);
        match fleet {
            true => table.row_with([entry.worker.clone().unwrap_or_default()], cells),
            false => table.row(cells),
        }
    }
    // An attempt that has not ended left no entry: one running now, or the one a process that
    // died was running (`show` says "started, no outcome"). Name it, after those that ended.
    if let Some(view) = stores.view(&run_id).await? {
        let last = LastAttempts::of_entries(&trail);
        for (node, state) in &view.nodes {
            if !matches!(state, NodeState::Running | NodeState::NoOutcome)
                || args.node.as_ref().is_some_and(|n| n != node)
            {
                continue;
            }
            // Numbers go on from the last that ended, across the run's starts.
            let attempt = last.last(node, None) + 1;
            let what = match state {
                NodeState::Running => "in progress: no outcome yet",
                _ => "its process ended during it: `resume` runs it again",
            };
            let cells = [
                "-".to_owned(),
                node.clone(),
                attempt.to_string(),
                state.to_string(),
                "-".to_owned(),
                String::new(),
                what.to_owned(),
            ];
            match fleet {
                true => table.row_with([String::new()], cells),
                false => table.row(cells),
            }
        }
    }
    out!("{table}");
    print_logs(&entries, args.logs, &args.run_id);
    Ok(0)
}

/// With `--logs`, each attempt's log after the table; without, a line saying there are some.
fn print_logs(entries: &[AuditEntry], show: bool, run_id: &str) {
    let logged: Vec<&AuditEntry> = entries
        .iter()
        .filter(|e| !e.logs.is_empty() || e.logs_dropped > 0)
        .collect();
    if logged.is_empty() {
        return;
    }
    if !show {
        let n = logged.len();
        let attempts = if n == 1 { "attempt" } else { "attempts" };
        outln!("{n} {attempts} logged: `audit {run_id} --logs` shows what");
        return;
    }
    for entry in logged {
        let item = entry
            .item
            .map(|i| format!("[{}]", i.index))
            .unwrap_or_default();
        let dropped = match entry.logs_dropped {
            0 => String::new(),
            n => format!(" ({n} more not kept: over the limits)"),
        };
        outln!("\n{}{item} attempt {}{dropped}:", entry.node, entry.attempt);
        for line in &entry.logs {
            let at = format_time(line.at_ms);
            let message = printable(&line.message);
            outln!(
                "  {at} {:<5} {}: {message}",
                line.level,
                printable(&line.target)
            );
        }
    }
}

/// `text` with control characters (a newline, a terminal escape) written as escapes: one log
/// line stays one line, and cannot drive the terminal.
fn printable(text: &str) -> String {
    text.chars()
        .map(|c| match c.is_control() {
            true => c.escape_default().to_string(),
            false => c.to_string(),
        })
        .collect()
}

/// The values a run's checkpoint holds, found by the names audit entries refer to them by; each
/// list an item's entry reads one element of is parsed once.
struct Lookup<'a> {
    checkpoint: Option<&'a Checkpoint>,
    /// Each node's output (a mapped node's assembled from its items).
    outputs: HashMap<&'a str, Json>,
    /// Each item record's output, by node and item.
    items: HashMap<(&'a str, u32), &'a Json>,
    /// The lists parsed so far, by name.
    lists: RefCell<HashMap<String, Option<Vec<Json>>>>,
}

impl<'a> Lookup<'a> {
    fn new(checkpoint: Option<&'a Checkpoint>) -> Self {
        let stored = checkpoint.map(Checkpoint::stored).unwrap_or_default();
        let outputs = stored
            .into_iter()
            .filter_map(|(id, node)| Some((id, node.output()?)))
            .collect();
        let items = checkpoint
            .iter()
            .flat_map(|c| &c.nodes)
            .filter_map(|r| Some(((r.node.as_str(), r.item?.index), &r.output)))
            .collect();
        Lookup {
            checkpoint,
            outputs,
            items,
            lists: RefCell::default(),
        }
    }

    /// The stored value an entry refers to by `name`: a pipeline input (in the header) or a
    /// node output (in its checkpoint records).
    fn referred(&self, name: &str) -> Option<Json> {
        if let Some(output) = self.outputs.get(name) {
            return Some(output.clone());
        }
        let mut inputs: HashMap<String, Box<serde_json::value::RawValue>> =
            serde_json::from_str(self.checkpoint?.header.inputs.get()).ok()?;
        inputs.remove(name).map(Json::from)
    }

    /// Item `index` of what `name` refers to: a mapped node's item record, or an element of a
    /// stored list.
    fn referred_item(&self, name: &str, index: u32) -> Option<Json> {
        if let Some(output) = self.items.get(&(name, index)) {
            return Some(Json::clone(output));
        }
        let mut lists = self.lists.borrow_mut();
        let list = lists.entry(name.to_owned()).or_insert_with(|| {
            let list: Vec<Box<serde_json::value::RawValue>> =
                serde_json::from_str(self.referred(name)?.get()).ok()?;
            Some(list.into_iter().map(Json::from).collect())
        });
        list.as_ref()?.get(index as usize).cloned()
    }

    /// The entry with the values it refers to copied in, where the store still has them. An
    /// item's entry gets its item of the mapped argument, and its item's output.
    fn resolved(&self, entry: &AuditEntry) -> AuditEntry {
        let mut entry = entry.clone();
        // The argument an item's entry read one item of.
        let mapped = self.checkpoint.zip(entry.item).and_then(|(checkpoint, _)| {
            let graph = &checkpoint.header.graph;
            let node = graph.nodes.iter().find(|n| n.id == entry.node)?;
            node.inputs.get(node.each?).cloned()
        });
        let refs = std::mem::take(&mut entry.input_refs);
        for name in refs {
            let value = match entry.item {
                Some(item) if mapped.as_ref() == Some(&name) => {
                    self.referred_item(&name, item.index)
                }
                _ => self.referred(&name),
            };
            match value {
                Some(value) => {
                    entry.inputs.insert(name, value);
                }
                None => entry.input_refs.push(name),
            }
        }
        if entry.output.is_none() && entry.output_in_checkpoint {
            entry.output = match entry.item {
                Some(item) => self.referred_item(&entry.node, item.index),
                None => self.referred(&entry.node),
            };
        }
        entry
    }
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
        match entry.item {
            Some(item) => format!("{}[{}]", entry.node, item.index),
            None => entry.node.clone(),
        },
        entry.attempt.to_string(),
        match entry.status {
            AuditStatus::Completed => "completed".into(),
            AuditStatus::Failed => "failed".into(),
            AuditStatus::Cached => match &entry.cached_from {
                Some(run) => format!("cached (from {run})"),
                None => "cached".into(),
            },
        },
        format_us(entry.duration_us),
        text::clip(&inputs.join(" "), 60),
        text::clip(&result, 80),
    ]
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_logged_line_stays_one_line_and_cannot_drive_the_terminal() {
        assert_eq!(
            super::printable("ok\nfake line \u{1b}[31mred\u{1b}[0m é"),
            "ok\\nfake line \\u{1b}[31mred\\u{1b}[0m é"
        );
    }
}
