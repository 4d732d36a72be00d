//! Live progress of a run: a redrawn status line on a terminal, plain timestamped lines
//! otherwise; both name the run, show retries and their backoff, and use one duration format.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::event::EventHandler;
use crate::node::MapItem;
use crate::run_id::RunId;
use crate::text::{format_ms, format_time, format_us};

pub struct Progress {
    tty: bool,
    total: usize,
    started: Instant,
    state: Mutex<State>,
}

struct State {
    done: usize,
    running: BTreeSet<String>,
    /// Items ended so far, of how many, per mapped node running.
    items: BTreeMap<String, (u32, u32)>,
    /// The last retry's backoff, shown until a node starts again.
    retrying: Option<String>,
    /// When the status line was last drawn for an item (items redraw it at most every 50 ms).
    drawn: Instant,
    /// Nodes restored from the cache, or how many of their items were, until they end.
    cached: BTreeMap<String, Cached>,
}

/// What of a node came from the cache.
enum Cached {
    /// The whole node's output, computed by this run.
    Whole(RunId),
    /// This many of its items.
    Items(u32),
}

impl Progress {
    /// Progress of a run of `total` nodes, `done` of them restored from a checkpoint.
    pub fn new(total: usize, done: usize) -> Arc<Progress> {
        Arc::new(Progress {
            tty: std::io::stderr().is_terminal(),
            total,
            started: Instant::now(),
            state: Mutex::new(State {
                done,
                running: BTreeSet::new(),
                retrying: None,
                items: BTreeMap::new(),
                drawn: Instant::now(),
                cached: BTreeMap::new(),
            }),
        })
    }

    /// Says which run this is and how to resume it, before its first node starts (and on a
    /// terminal above the status line, where it stays).
    fn announce(&self, run_id: &RunId, what: &str) {
        let program = crate::cli::output::again();
        let line = format!("run {run_id} {what}; resume it with: {program} resume {run_id}");
        let mut err = std::io::stderr().lock();
        let _ = match self.tty {
            true => writeln!(err, "{line}"),
            false => writeln!(err, "{} {line}", now()),
        };
    }

    fn update(&self, change: impl FnOnce(&mut State), line: impl FnOnce() -> String) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        change(&mut state);
        let mut err = std::io::stderr().lock();
        if self.tty {
            let running: Vec<String> = state
                .running
                .iter()
                .map(|node| match state.items.get(node) {
                    Some((ended, of)) => format!("{node} {ended}/{of} items"),
                    None => node.clone(),
                })
                .collect();
            let doing = match (&state.retrying, running.is_empty()) {
                (Some(retry), true) => retry.clone(),
                (Some(retry), false) => format!("running: {}; {retry}", running.join(", ")),
                (None, _) => format!("running: {}", running.join(", ")),
            };
            let _ = write!(
                err,
                "\r\x1b[2K[{}/{}] {} {doing}",
                state.done,
                self.total,
                format_ms(self.started.elapsed().as_millis() as u64),
            );
        } else {
            let _ = writeln!(err, "{} [{}/{}] {}", now(), state.done, self.total, line());
        }
    }

    /// Clears the status line on a terminal (what the run did is printed next).
    pub fn finish(&self) {
        if self.tty {
            let _ = write!(std::io::stderr(), "\r\x1b[2K");
        }
    }
}

impl EventHandler for Progress {
    fn on_pipeline_start(&self, _: &str, run_id: &RunId, resumed: bool) {
        self.announce(run_id, if resumed { "resumed" } else { "started" });
    }

    fn on_node_start(&self, _: &RunId, node: &str, attempt: u32) {
        self.update(
            |s| {
                s.running.insert(node.to_owned());
                s.retrying = None;
            },
            || format!("{node} started (attempt {attempt})"),
        );
    }

    fn on_node_complete(&self, _: &RunId, node: &str, _: u32, duration: Duration) {
        let cached = {
            let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
            state.cached.remove(node)
        };
        let took = format_us(duration.as_micros() as u64);
        let line = match cached {
            Some(Cached::Whole(from)) => format!("{node} restored from the cache (run {from})"),
            Some(Cached::Items(n)) => {
                format!("{node} completed in {took} ({n} items from the cache)")
            }
            None => format!("{node} completed in {took}"),
        };
        self.update(
            |s| {
                s.running.remove(node);
                s.done += 1;
            },
            || line,
        );
    }

    /// Remembers a node (or a count of items) restored from the cache, said at its end.
    fn on_node_cached(&self, _: &RunId, node: &str, item: Option<MapItem>, from: &RunId) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let cached = state.cached.entry(node.to_owned());
        match item {
            None => {
                cached.insert_entry(Cached::Whole(from.clone()));
            }
            Some(_) => {
                let count = cached.or_insert(Cached::Items(0));
                if let Cached::Items(n) = count {
                    *n += 1;
                }
            }
        }
    }

    fn on_node_fail(&self, _: &RunId, node: &str, attempt: u32, error: &str) {
        self.update(
            |s| {
                s.running.remove(node);
                s.done += 1;
            },
            || format!("{node} failed after {attempt} attempts: {error}"),
        );
    }

    fn on_node_retry(&self, _: &RunId, node: &str, attempt: u32, error: &str, delay: Duration) {
        let delay = format_ms(delay.as_millis() as u64);
        self.update(
            |s| {
                s.running.remove(node);
                s.retrying = Some(format!(
                    "{node} attempt {attempt} failed, retrying in {delay}"
                ));
            },
            || format!("{node} attempt {attempt} failed ({error}); retrying in {delay}"),
        );
    }

    fn on_node_skip(&self, _: &RunId, node: &str) {
        self.update(|s| s.done += 1, || format!("{node} skipped"));
    }

    /// Counts the items of a mapped node: on a terminal in its status line, otherwise as a line
    /// per failed item (not one per item: a map may have a million).
    fn on_item_end(&self, _: &RunId, node: &str, item: MapItem, attempt: u32, error: Option<&str>) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let ended = state.items.entry(node.to_owned()).or_insert((0, item.of));
        ended.0 += 1;
        let last = ended.0 == ended.1;
        let redraw = self.tty && (last || state.drawn.elapsed() >= Duration::from_millis(50));
        if !redraw && (self.tty || error.is_none()) {
            return;
        }
        state.drawn = Instant::now();
        drop(state);
        let line = || match error {
            Some(error) => format!("{node} {item} failed after {attempt} attempts: {error}"),
            None => String::new(),
        };
        self.update(|_| {}, line);
    }
}

/// The time now, as plain progress lines start with it.
fn now() -> String {
    format_time(crate::store::now_ms())
}
