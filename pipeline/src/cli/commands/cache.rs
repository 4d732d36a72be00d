//! `cache ls`, `cache clear`, `cache gc` and `why-miss`: the result cache of the store
//! (`#[node(cache)]`), listed, cleared by filters, kept within an age and a size, and a run's
//! miss explained.

use std::time::Duration;

use crate::cache::{CacheFilter, CacheLimits, collect, why_missed};
use crate::cli::amounts::{age_ms_of, size_bytes};
use crate::cli::error::CliError;
use crate::cli::output::{out, outln};
use crate::cli::table::Table;
use crate::run_id::RunId;
use crate::store::{AuditStatus, CacheEntry, ResultCache, Stores, now_ms};
use crate::text::{format_ms, format_time};

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(clap::Subcommand, Debug)]
enum Action {
    /// List the cached outputs: node, pipeline, size, age and the run that computed each.
    Ls(Filter),
    /// Remove the cached outputs the filters take (`--all` for every one).
    Clear {
        #[command(flatten)]
        filter: Filter,
        /// Remove every entry (without a filter, `clear` refuses).
        #[arg(long)]
        all: bool,
    },
    /// Remove entries past their time to live, older than --max-age, and the oldest beyond
    /// --max-size. Without --delete it only lists what it would remove.
    Gc {
        /// Remove entries stored longer ago than this: `30d`, `12h`, `90m` or `45s`.
        #[arg(long, value_name = "AGE")]
        max_age: Option<String>,
        /// Keep at most this many bytes of outputs, the newest: `500MB`, `2GB`, `64KB`, `1000`.
        #[arg(long, value_name = "SIZE")]
        max_size: Option<String>,
        /// Remove them; without it, only list what would be removed.
        #[arg(long)]
        delete: bool,
    },
}

#[derive(clap::Args, Debug)]
struct Filter {
    /// Only entries stored by runs of this pipeline.
    #[arg(long)]
    pipeline: Option<String>,
    /// Only entries of this node: a binding, a fn, or a fn's path (`module::fn`).
    #[arg(long)]
    node: Option<String>,
    /// Only entries stored longer ago than this: `30d`, `12h`, `90m` or `45s`.
    #[arg(long, value_name = "AGE")]
    older_than: Option<String>,
}

impl Filter {
    fn filter(&self) -> Result<CacheFilter, CliError> {
        let mut filter = CacheFilter::all();
        if let Some(pipeline) = &self.pipeline {
            filter = filter.pipeline(pipeline);
        }
        if let Some(node) = &self.node {
            filter = filter.node(node);
        }
        if let Some(age) = &self.older_than {
            filter = filter.before_ms(now_ms().saturating_sub(age_ms_of("--older-than", age)?));
        }
        Ok(filter)
    }

    fn is_empty(&self) -> bool {
        self.pipeline.is_none() && self.node.is_none() && self.older_than.is_none()
    }
}

/// The store's cache, or why there is none.
fn cache(stores: &Stores) -> Result<&dyn ResultCache, CliError> {
    stores
        .checkpointer
        .cache()
        .ok_or_else(|| CliError::InvalidOption {
            option: "--store".to_owned(),
            reason: "this store keeps no result cache".to_owned(),
        })
}

pub(super) async fn exec(args: Args, stores: &Stores) -> Result<i32, CliError> {
    let cache = cache(stores)?;
    match args.action {
        Action::Ls(filter) => {
            let entries = cache.cache_list(&filter.filter()?).await?;
            if !entries.is_empty() {
                out!("{}", table(&entries));
            }
            let bytes: u64 = entries.iter().map(|e| e.size).sum();
            outln!("{} entries, {}", entries.len(), size_text(bytes));
            Ok(0)
        }
        Action::Clear { filter, all } => {
            if filter.is_empty() && !all {
                return Err(CliError::InvalidOption {
                    option: "clear".to_owned(),
                    reason: "give --pipeline, --node or --older-than, or --all for every entry"
                        .to_owned(),
                });
            }
            let entries = cache.cache_list(&filter.filter()?).await?;
            let keys: Vec<String> = entries.iter().map(|e| e.key.clone()).collect();
            let removed = match keys.is_empty() {
                true => 0,
                false => cache.cache_remove(&keys).await?,
            };
            outln!("removed {removed} entries");
            Ok(0)
        }
        Action::Gc {
            max_age,
            max_size,
            delete,
        } => {
            let limits = limits("", max_age.as_deref(), max_size.as_deref())?;
            gc(stores, &limits, delete, false).await?;
            Ok(0)
        }
    }
}

/// The cache's limits from `--{prefix}max-age` and `--{prefix}max-size` (`cache gc`'s, or
/// `gc`'s `--cache-max-*`).
pub(super) fn limits(
    prefix: &str,
    age: Option<&str>,
    size: Option<&str>,
) -> Result<CacheLimits, CliError> {
    let mut limits = CacheLimits::new();
    if let Some(age) = age {
        let ms = age_ms_of(&format!("--{prefix}max-age"), age)?;
        limits = limits.max_age(Duration::from_millis(ms));
    }
    if let Some(size) = size {
        limits = limits.max_bytes(size_bytes(&format!("--{prefix}max-size"), size)?);
    }
    Ok(limits)
}

/// Lists the entries `limits` (and their times to live) do not keep, and removes them when
/// `delete`; `quiet`: says nothing when there are none.
pub(super) async fn gc(
    stores: &Stores,
    limits: &CacheLimits,
    delete: bool,
    quiet: bool,
) -> Result<(), CliError> {
    let chosen = collect(cache(stores)?, limits, now_ms(), delete).await?;
    if quiet && chosen.entries().next().is_none() {
        return Ok(());
    }
    let entries: Vec<CacheEntry> = chosen.entries().cloned().collect();
    if !entries.is_empty() {
        out!("{}", table(&entries));
    }
    let (count, bytes) = (entries.len(), size_text(chosen.bytes()));
    match delete {
        true => outln!("removed {count} cache entries, {bytes}"),
        false => outln!(
            "{count} cache entries ({bytes}) would be removed; run again with --delete to remove them"
        ),
    }
    Ok(())
}

fn table(entries: &[CacheEntry]) -> Table {
    let now = now_ms();
    let mut table = Table::new(["NODE", "FN", "PIPELINE", "SIZE", "AGE", "EXPIRES", "RUN"]);
    for entry in entries {
        table.row([
            entry.node.clone(),
            entry.owner.clone(),
            entry.pipeline.clone(),
            size_text(entry.size),
            format_ms(now.saturating_sub(entry.created_at_ms)),
            entry
                .expires_at_ms
                .map_or_else(|| "never".to_owned(), format_time),
            entry.run_id.to_string(),
        ]);
    }
    table
}

/// `1.5 MB`, `812 B`.
fn size_text(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KB", "MB", "GB", "TB"];
    if bytes < 1000 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1000.0;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[derive(clap::Args, Debug)]
pub(crate) struct WhyMissArgs {
    /// The run.
    run_id: RunId,
    /// The node (its binding in the pipeline).
    node: String,
}

/// `why-miss RUN NODE`: which part of the key of the run's call differed from the nearest
/// entry of the same node fn.
pub(super) async fn why_miss(args: WhyMissArgs, stores: &Stores) -> Result<i32, CliError> {
    let cache = cache(stores)?;
    let (run_id, node) = (&args.run_id, args.node.as_str());
    let trail = stores.audit.entries(run_id).await?;
    let Some(trail) = trail else {
        return Err(CliError::UnknownRun(run_id.clone()));
    };
    let calls: Vec<_> = trail.iter().filter(|e| e.node == node).collect();
    if calls.is_empty() {
        outln!("run {run_id} has no attempt of node `{node}`: it did not run, or has no such node");
        return Ok(1);
    }
    let hits = calls
        .iter()
        .filter(|e| e.status == AuditStatus::Cached)
        .count();
    if let Some(from) = calls.iter().find_map(|e| e.cached_from.as_ref())
        && hits == calls.len()
    {
        outln!("`{node}` did not miss: its output came from the cache, computed by run {from}");
        return Ok(0);
    }
    if hits > 0 {
        outln!("{hits} of `{node}`'s calls came from the cache");
    }
    let missed = why_missed(cache, run_id, node).await?;
    if missed.is_empty() {
        outln!(
            "run {run_id} stored no cache entry for `{node}`: the node is not cached, its output \
             could not be cached (see the run's warnings), or the entry was removed since"
        );
        return Ok(1);
    }
    for miss in &missed {
        match &miss.nearest {
            None => outln!(
                "`{node}` ({}) missed: the cache holds no earlier entry of this fn (a first run, \
                 or earlier entries expired or were cleared)",
                miss.entry.owner
            ),
            Some(nearest) => {
                outln!(
                    "`{node}` ({}) missed; the nearest entry was stored by run {} at {}:",
                    miss.entry.owner,
                    nearest.run_id,
                    format_time(nearest.created_at_ms)
                );
                for difference in &miss.differences {
                    outln!("  - {difference}");
                }
                if miss.differences.is_empty() {
                    outln!(
                        "  - no part of the key differs: that entry had expired, or no longer decoded"
                    );
                }
            }
        }
    }
    Ok(0)
}
