//! How a claim ends: the [`Resolution`] a worker hands to its committer, what the commit did
//! with it ([`Resolved`]), and what the worker's event handler hears of it once committed
//! ([`Heard`]).

use std::sync::Arc;
use std::time::Duration;

use super::apply::ClaimEnd;
use super::claim::Claimed;
use crate::event::EventHandler;
use crate::graph::ServedGraph;
use crate::machine::{Event, Outcome};
use crate::node::MapItem;
use crate::run_id::RunId;
use crate::store::{AuditEntry, NodeRecord};

/// How a claimed node ends this claim.
pub(crate) enum Resolution {
    Completed {
        record: NodeRecord,
        entry: AuditEntry,
    },
    /// A failed attempt with attempts left: the node is ready again after `delay`.
    Retry {
        entry: AuditEntry,
        delay: Duration,
    },
    Failed {
        entry: AuditEntry,
    },
    Skipped,
    /// A wait whose gate let it through begins: it is due after `after` (a timer's duration, a
    /// signal's timeout; never when `None`), or at once when a signal for it is stored.
    Begin {
        after: Option<Duration>,
    },
    /// A mapped node whose gate let it through opens on its list: one item per digest (the
    /// canonical digest of the item, `None` for one that does not serialize), at most `limit`
    /// in flight.
    Open {
        digests: Vec<Option<String>>,
        limit: u32,
    },
}

impl Resolution {
    pub(super) fn entry(&self) -> Option<&AuditEntry> {
        match self {
            Resolution::Completed { entry, .. }
            | Resolution::Retry { entry, .. }
            | Resolution::Failed { entry } => Some(entry),
            Resolution::Skipped | Resolution::Begin { .. } | Resolution::Open { .. } => None,
        }
    }

    /// The audit entry it writes, to add to.
    pub(super) fn entry_mut(&mut self) -> Option<&mut AuditEntry> {
        match self {
            Resolution::Completed { entry, .. }
            | Resolution::Retry { entry, .. }
            | Resolution::Failed { entry } => Some(entry),
            Resolution::Skipped | Resolution::Begin { .. } | Resolution::Open { .. } => None,
        }
    }

    /// Whether the node stays unresolved: it is ready again later, or its items run.
    pub(super) fn again(&self) -> bool {
        matches!(
            self,
            Resolution::Retry { .. } | Resolution::Begin { .. } | Resolution::Open { .. }
        )
    }

    /// The run's event this resolution is, for node `node` whose row says `signalled`.
    pub(super) fn event(&self, node: u32, fail_fast: bool, signalled: bool) -> Event {
        let ended = |outcome| Event::Ended { node, outcome };
        match self {
            Resolution::Completed { .. } => ended(Outcome::Completed),
            Resolution::Failed { .. } => ended(Outcome::Failed { stops: fail_fast }),
            Resolution::Skipped => ended(Outcome::Skipped),
            Resolution::Retry { delay, .. } => Event::Retry {
                node,
                after: *delay,
            },
            Resolution::Begin { .. } => Event::Began { node, signalled },
            // An opened map stays running (it is not decided as an event).
            Resolution::Open { .. } => Event::Started { node },
        }
    }

    /// How the claim's own row ends, beside its new state.
    pub(super) fn claim_end(&self) -> ClaimEnd {
        ClaimEnd {
            error: self.entry().and_then(|e| e.error.clone()),
            retry: matches!(self, Resolution::Retry { .. }),
            began: match self {
                Resolution::Begin { after } => Some(*after),
                _ => None,
            },
        }
    }
}

/// What resolving a node did.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Resolved {
    /// The claim was no longer current (its lease lapsed and another worker claimed the node, or
    /// the run was cancelled): nothing was written.
    Fenced,
    /// Written; `ended` when it was the run's last node.
    Done { ended: bool },
}

/// One claimed node to resolve, with what its run's summary needs should it be the last.
pub(crate) struct Item {
    pub claimed: Claimed,
    pub resolution: Resolution,
    /// What the worker's event handler hears of it once it is committed.
    pub heard: Heard,
    /// The graph of the node's pipeline.
    pub graph: Arc<dyn ServedGraph>,
    pub pipeline: String,
    pub started_at_ms: u64,
    /// The run's trace: the worker that ends the run makes its span.
    pub trace: Option<crate::trace::RunTrace>,
}

impl Item {
    /// Counts the attempt (or the cache hit) this item resolved, once committed: the metrics a
    /// node in one process records as it runs (`pipeline::metrics`).
    pub fn record_metrics(&self) {
        let Some(node) = self.graph.nodes().get(self.claimed.node as usize) else {
            return;
        };
        let metrics = node.metrics(&self.pipeline);
        let took = |entry: &AuditEntry| Duration::from_micros(entry.duration_us);
        match &self.resolution {
            Resolution::Completed { entry, .. } if entry.cached_from.is_some() => {
                metrics.cache_hit()
            }
            Resolution::Completed { entry, .. } | Resolution::Failed { entry } => {
                metrics.attempt(took(entry))
            }
            Resolution::Retry { entry, .. } => {
                metrics.attempt(took(entry));
                metrics.retry();
            }
            Resolution::Skipped | Resolution::Begin { .. } | Resolution::Open { .. } => {}
        }
    }
}

/// What a worker's event handler hears of a node it ran, once its outcome is committed.
pub(crate) enum Heard {
    /// A map opened (its items start).
    Start,
    Complete(u32, Duration),
    Fail(u32, String),
    Retry(u32, String, Duration),
    /// An item ended after `attempt`, failed when with an error.
    Item(MapItem, u32, Option<String>),
    Skip,
    Nothing,
}

impl Heard {
    pub fn of(resolution: &Resolution, claimed: &Claimed) -> Heard {
        let error = |e: &AuditEntry| e.error.clone().unwrap_or_default();
        let attempt = claimed.attempt;
        match (resolution, claimed.item) {
            (Resolution::Completed { .. }, Some(item)) => Heard::Item(item, attempt, None),
            (Resolution::Failed { entry }, Some(item)) => {
                Heard::Item(item, attempt, Some(error(entry)))
            }
            (Resolution::Completed { entry, .. }, None) => {
                Heard::Complete(attempt, Duration::from_micros(entry.duration_us))
            }
            (Resolution::Failed { entry }, None) => Heard::Fail(attempt, error(entry)),
            (Resolution::Retry { entry, delay }, _) => Heard::Retry(attempt, error(entry), *delay),
            (Resolution::Skipped, _) => Heard::Skip,
            (Resolution::Open { .. }, _) => Heard::Start,
            (Resolution::Begin { .. }, _) => Heard::Nothing,
        }
    }

    pub fn tell(&self, events: &dyn EventHandler, run_id: &RunId, node: &str) {
        match *self {
            Heard::Start => events.on_node_start(run_id, node, 1),
            Heard::Item(item, attempt, ref error) => {
                events.on_item_end(run_id, node, item, attempt, error.as_deref())
            }
            Heard::Complete(attempt, took) => events.on_node_complete(run_id, node, attempt, took),
            Heard::Fail(attempt, ref error) => events.on_node_fail(run_id, node, attempt, error),
            Heard::Retry(attempt, ref error, delay) => {
                events.on_node_retry(run_id, node, attempt, error, delay)
            }
            Heard::Skip => events.on_node_skip(run_id, node),
            Heard::Nothing => {}
        }
    }
}
