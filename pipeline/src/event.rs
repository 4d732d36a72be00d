//! Hooks into a run's life: start and end, and each node's start, completion, failure, retry and skip.

use std::time::Duration;

use crate::node::MapItem;
use crate::result::{PersistenceWarning, RunStatus};
use crate::run_id::RunId;

/// Receives the events of every run of an engine. Every method does nothing by default: implement
/// the ones you need. Methods are called on the engine's tasks, so keep them quick.
///
/// The same events also go out through `tracing`: one span per run (`pipeline.run`, with
/// `pipeline` and `run_id` fields) and one per node (`pipeline.node`, with `run_id` and `node`).
#[allow(unused_variables)]
pub trait EventHandler: Send + Sync {
    /// A run starts (or resumes).
    fn on_pipeline_start(&self, pipeline: &str, run_id: &RunId, resumed: bool) {}
    /// A run ends.
    fn on_pipeline_end(&self, pipeline: &str, run_id: &RunId, status: RunStatus) {}
    /// An attempt of a node starts.
    fn on_node_start(&self, run_id: &RunId, node: &str, attempt: u32) {}
    /// A node completed (after its checkpoint and audit writes).
    fn on_node_complete(&self, run_id: &RunId, node: &str, attempt: u32, duration: Duration) {}
    /// A node failed for good, after `attempt` attempts.
    fn on_node_fail(&self, run_id: &RunId, node: &str, attempt: u32, error: &str) {}
    /// Attempt `attempt` failed and the node will be retried after `delay`.
    fn on_node_retry(&self, run_id: &RunId, node: &str, attempt: u32, err: &str, delay: Duration) {}
    /// A node was skipped (its gate was false, or an upstream node was skipped or failed).
    fn on_node_skip(&self, run_id: &RunId, node: &str) {}
    /// A checkpoint or audit write failed; the run goes on.
    fn on_persistence_warning(&self, run_id: &RunId, warning: &PersistenceWarning) {}
    /// An item of a mapped node (`each`) ended after `attempt` attempts: completed (`error` is
    /// `None`) or failed for good. The mapped node itself starts once (`on_node_start`, attempt
    /// 1, when its items begin) and completes or fails once, when its last item has ended;
    /// retries of an item are reported by `on_node_retry`.
    fn on_item_end(
        &self,
        run_id: &RunId,
        node: &str,
        item: MapItem,
        attempt: u32,
        error: Option<&str>,
    ) {
    }
    /// A cached node (or, with `item`, an item of a cached mapped node) did not run: its output
    /// was restored from the cache, computed by run `from` (`#[node(cache)]`). Its end follows
    /// as for a node that ran: `on_node_complete` (or `on_item_end`) with attempt 0.
    fn on_node_cached(&self, run_id: &RunId, node: &str, item: Option<MapItem>, from: &RunId) {}
}

impl<E: EventHandler + ?Sized> EventHandler for std::sync::Arc<E> {
    fn on_pipeline_start(&self, pipeline: &str, run_id: &RunId, resumed: bool) {
        (**self).on_pipeline_start(pipeline, run_id, resumed)
    }
    fn on_pipeline_end(&self, pipeline: &str, run_id: &RunId, status: RunStatus) {
        (**self).on_pipeline_end(pipeline, run_id, status)
    }
    fn on_node_start(&self, run_id: &RunId, node: &str, attempt: u32) {
        (**self).on_node_start(run_id, node, attempt)
    }
    fn on_node_complete(&self, run_id: &RunId, node: &str, attempt: u32, duration: Duration) {
        (**self).on_node_complete(run_id, node, attempt, duration)
    }
    fn on_node_fail(&self, run_id: &RunId, node: &str, attempt: u32, error: &str) {
        (**self).on_node_fail(run_id, node, attempt, error)
    }
    fn on_node_retry(&self, run_id: &RunId, node: &str, attempt: u32, err: &str, delay: Duration) {
        (**self).on_node_retry(run_id, node, attempt, err, delay)
    }
    fn on_node_skip(&self, run_id: &RunId, node: &str) {
        (**self).on_node_skip(run_id, node)
    }
    fn on_persistence_warning(&self, run_id: &RunId, warning: &PersistenceWarning) {
        (**self).on_persistence_warning(run_id, warning)
    }
    fn on_item_end(
        &self,
        run_id: &RunId,
        node: &str,
        item: MapItem,
        attempt: u32,
        error: Option<&str>,
    ) {
        (**self).on_item_end(run_id, node, item, attempt, error)
    }
    fn on_node_cached(&self, run_id: &RunId, node: &str, item: Option<MapItem>, from: &RunId) {
        (**self).on_node_cached(run_id, node, item, from)
    }
}

/// A handler that does nothing with the events (for runs nobody watches live).
pub(crate) struct NoEvents;

impl EventHandler for NoEvents {}
