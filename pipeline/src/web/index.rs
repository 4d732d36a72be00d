//! The run list the viewer pages through: every run's line (pipeline, state, times, counts),
//! kept in memory and refreshed from the stores on each request. A completed run never changes
//! (a failed, cancelled or interrupted one can be resumed), so only the others are read again:
//! the first page of 10,000 completed runs costs a listing and a sort, not 10,000 reads.

use std::collections::{HashMap, HashSet};

use serde::Serialize;
use tokio::sync::Mutex;

use super::codes::{is_final, run_code};
use crate::run_id::RunId;
use crate::store::{RunOverview, StoreResult, Stores};

/// One run as the run list shows it.
#[derive(Clone, Debug, Serialize)]
pub struct RunLine {
    /// The run's id.
    pub run_id: String,
    /// Its pipeline.
    pub pipeline: String,
    /// Where it is: `completed`, `failed`, `cancelled`, `taken_over`, `waiting`, `running`,
    /// `interrupted`, `stopped` or `unknown`.
    pub status: &'static str,
    /// When it first started (ms since the Unix epoch).
    pub started_at_ms: u64,
    /// When its latest start resumed it, if it was resumed (ms since the Unix epoch): how long
    /// it took counts from here.
    pub resumed_at_ms: Option<u64>,
    /// When it was last written (ms since the Unix epoch).
    pub updated_at_ms: u64,
    /// Its completed nodes.
    pub completed: usize,
    /// Its failed nodes.
    pub failed: usize,
    /// Its skipped nodes.
    pub skipped: usize,
    /// Its nodes in all.
    pub nodes: usize,
}

impl RunLine {
    /// The line of a run in brief.
    pub fn of(run: &RunOverview) -> RunLine {
        RunLine {
            run_id: run.summary.run_id.to_string(),
            pipeline: run.summary.pipeline.clone(),
            status: run_code(run.state),
            started_at_ms: run.summary.started_at_ms,
            resumed_at_ms: run.summary.resumed_at_ms,
            updated_at_ms: run.summary.updated_at_ms,
            completed: run.completed,
            failed: run.failed,
            skipped: run.skipped,
            nodes: run.nodes,
        }
    }
}

/// Which runs a page lists.
#[derive(Clone, Debug, Default)]
pub struct RunFilter {
    /// Only runs of this pipeline.
    pub pipeline: Option<String>,
    /// Only runs with this status code (see [`RunLine::status`]).
    pub status: Option<String>,
    /// Only runs whose id contains this text (any case).
    pub search: Option<String>,
    /// Only runs older than this one (the page after the one that ended with it).
    pub before: Option<String>,
    /// At most this many.
    pub limit: usize,
}

/// One page of the run list, newest first.
#[derive(Clone, Debug, Serialize)]
pub struct RunPage {
    /// The runs.
    pub runs: Vec<RunLine>,
    /// The `before` of the next page, if there is one.
    pub next: Option<String>,
    /// Runs that could not be read, with why.
    pub unreadable: Vec<String>,
}

#[derive(Default)]
pub(super) struct RunIndex {
    lines: Mutex<HashMap<RunId, RunLine>>,
}

impl RunIndex {
    /// The page `filter` asks for, after reading what changed since the last call.
    pub async fn page(&self, stores: &Stores, filter: &RunFilter) -> StoreResult<RunPage> {
        let ids = stores.checkpointer.list_runs().await?;
        let mut lines = self.lines.lock().await;
        let mut unreadable = Vec::new();
        let listed: HashSet<&RunId> = ids.iter().collect();
        lines.retain(|id, _| listed.contains(id));
        for id in &ids {
            if lines.get(id).is_some_and(|l| is_final(l.status)) {
                continue;
            }
            match stores.overview(id).await {
                Ok(Some(run)) => {
                    lines.insert(id.clone(), RunLine::of(&run));
                }
                Ok(None) => {}
                Err(e) => unreadable.push(format!("{id}: {e}")),
            }
        }
        let search = filter.search.as_ref().map(|s| s.trim().to_lowercase());
        let mut matching: Vec<&RunLine> = lines
            .values()
            .filter(|l| filter.pipeline.as_ref().is_none_or(|p| *p == l.pipeline))
            .filter(|l| filter.status.as_ref().is_none_or(|s| s == l.status))
            .filter(|l| {
                search
                    .as_ref()
                    .is_none_or(|s| l.run_id.to_lowercase().contains(s))
            })
            .collect();
        // Newest first; the id breaks ties so that paging is stable.
        matching.sort_unstable_by(|a, b| {
            (b.started_at_ms, &b.run_id).cmp(&(a.started_at_ms, &a.run_id))
        });
        let start = match &filter.before {
            Some(before) => match matching.iter().position(|l| l.run_id == *before) {
                Some(at) => at + 1,
                None => matching.len(),
            },
            None => 0,
        };
        let limit = filter.limit.max(1);
        let runs: Vec<RunLine> = matching
            .iter()
            .skip(start)
            .take(limit)
            .map(|l| (*l).clone())
            .collect();
        let next = match start + runs.len() < matching.len() {
            true => runs.last().map(|l| l.run_id.clone()),
            false => None,
        };
        unreadable.sort();
        Ok(RunPage {
            runs,
            next,
            unreadable,
        })
    }

    /// The pipelines of the runs seen so far, sorted.
    pub async fn pipelines(&self) -> Vec<String> {
        let lines = self.lines.lock().await;
        let mut names: Vec<String> = lines.values().map(|l| l.pipeline.clone()).collect();
        names.sort();
        names.dedup();
        names
    }
}
