//! `gc`: deletes old runs by age and status, and cached outputs past their time to live or the
//! cache's limits. Without `--delete` it only lists what it would delete; a run some process
//! holds is never deleted.

use super::runs::{StatusFilter, overview};
use crate::cli::amounts::age_ms_of;
use crate::cli::error::CliError;
use crate::cli::output::{out, outln};
use crate::cli::table::Table;
use crate::store::now_ms;
use crate::store::{RunState, StoreError, Stores};
use crate::text::format_time;

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// Only runs started longer ago than this: `30d`, `12h`, `90m` or `45s`.
    #[arg(long, value_name = "AGE")]
    older_than: Option<String>,
    /// Only runs with this status (repeat for several). Default: the runs that ended
    /// (completed, failed, cancelled, taken over); waiting and interrupted runs only when named.
    #[arg(long, value_enum)]
    status: Vec<StatusFilter>,
    /// Delete them; without it, `gc` only lists what it would delete.
    #[arg(long)]
    delete: bool,
    /// Also remove cached outputs (`#[node(cache)]`) stored longer ago than this (those past
    /// their own time to live always go): `30d`, `12h`, `90m` or `45s`.
    #[arg(long, value_name = "AGE")]
    cache_max_age: Option<String>,
    /// Keep at most this many bytes of cached outputs, the newest: `500MB`, `2GB`, `64KB`.
    #[arg(long, value_name = "SIZE")]
    cache_max_size: Option<String>,
}

/// `30d`, `12h`, `90m`, `45s` in milliseconds.
fn age_ms(text: &str) -> Result<u64, CliError> {
    age_ms_of("--older-than", text)
}

pub(super) async fn exec(args: Args, stores: &Stores) -> Result<i32, CliError> {
    let (age, size) = (
        args.cache_max_age.as_deref(),
        args.cache_max_size.as_deref(),
    );
    let limits = super::cache::limits("cache-", age, size)?;
    let code = runs(&args, stores).await?;
    if stores.checkpointer.cache().is_some() {
        let quiet = age.is_none() && size.is_none();
        super::cache::gc(stores, &limits, args.delete, quiet).await?;
    }
    Ok(code)
}

/// The runs part of `gc`.
async fn runs(args: &Args, stores: &Stores) -> Result<i32, CliError> {
    let cutoff = match &args.older_than {
        Some(age) => Some(now_ms().saturating_sub(age_ms(age)?)),
        None => None,
    };
    let statuses = match args.status.is_empty() {
        true => vec![
            StatusFilter::Completed,
            StatusFilter::Failed,
            StatusFilter::Cancelled,
            StatusFilter::TakenOver,
        ],
        false => args.status.clone(),
    };
    let mut chosen = Vec::new();
    let mut unreadable = 0;
    for id in stores.checkpointer.list_runs().await? {
        let Ok(line) = overview(stores, &id).await else {
            unreadable += 1;
            continue;
        };
        let old = cutoff.is_none_or(|c| line.summary.started_at_ms < c);
        if old && line.state != RunState::Running && statuses.iter().any(|s| s.admits(line.state)) {
            chosen.push(line);
        }
    }
    let mut table = Table::new(["RUN ID", "PIPELINE", "STATUS", "STARTED"]);
    for line in &chosen {
        table.row([
            line.summary.run_id.to_string(),
            line.summary.pipeline.clone(),
            line.state.to_string(),
            format_time(line.summary.started_at_ms),
        ]);
    }
    if !chosen.is_empty() {
        out!("{table}");
    }
    if unreadable > 0 {
        outln!("{unreadable} unreadable run(s) left alone (see `runs`)");
    }
    if !args.delete {
        outln!(
            "{} run(s) would be deleted; run again with --delete to delete them",
            chosen.len()
        );
        return Ok(0);
    }
    let mut deleted = 0;
    for line in &chosen {
        let run_id = &line.summary.run_id;
        match stores.delete_run(run_id).await {
            Ok(_) => deleted += 1,
            // Taken by a process since it was listed: left alone.
            Err(StoreError::Locked(_)) => outln!("run {run_id} is held by a process: left alone"),
            Err(e) => return Err(e.into()),
        }
    }
    outln!("deleted {deleted} run(s)");
    Ok(0)
}
