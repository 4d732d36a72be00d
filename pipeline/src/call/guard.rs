//! Where user code runs inside the engine and may panic: the one place panics are caught, for
//! node bodies, condition gates, serialization, event handlers and the tasks around them, so
//! that a panic is a failed attempt or a warning and never unwinds into the caller of `run`.

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::FutureExt;
use futures_util::future::Either;

use crate::event::EventHandler;
use crate::node::MapItem;
use crate::result::{PersistenceWarning, RunStatus, WarningSource};
use crate::run_id::RunId;
use crate::sync::lock;

/// Starts a future with `start` and runs it, turning a panic in either into the error text the
/// audit trail records. Not an `async fn`, so the returned future is no bigger than the started
/// one plus a tag.
pub(crate) fn caught<F: Future>(
    start: impl FnOnce() -> F,
) -> impl Future<Output = Result<F::Output, String>> {
    match caught_sync(start) {
        Ok(future) => Either::Left(catching(future)),
        Err(panic) => Either::Right(std::future::ready(Err(panic))),
    }
}

/// Runs `future`, turning a panic in it into its error text.
pub(crate) fn catching<F: Future>(future: F) -> impl Future<Output = Result<F::Output, String>> {
    AssertUnwindSafe(future)
        .catch_unwind()
        .map(|result| result.map_err(panic_text))
}

/// Runs `work`, turning a panic in it into its error text.
pub(crate) fn caught_sync<T>(work: impl FnOnce() -> T) -> Result<T, String> {
    std::panic::catch_unwind(AssertUnwindSafe(work)).map_err(panic_text)
}

fn panic_text(payload: Box<dyn Any + Send>) -> String {
    let text = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-string panic payload".to_owned());
    format!("panicked: {text}")
}

/// The engine's event handler for one run, with its panics caught: a panicking handler is
/// logged and reported as a warning, and never changes a node's status.
pub(crate) struct GuardedEvents {
    /// `None` when the engine has no handler: every event is then a no-op.
    inner: Option<Arc<dyn EventHandler>>,
    panics: Mutex<Vec<PersistenceWarning>>,
}

impl GuardedEvents {
    pub fn new(inner: Option<Arc<dyn EventHandler>>) -> Self {
        GuardedEvents {
            inner,
            panics: Mutex::default(),
        }
    }

    /// The warnings for the handler's panics so far.
    pub fn take_panics(&self) -> Vec<PersistenceWarning> {
        std::mem::take(&mut *lock(&self.panics))
    }

    /// Whether a handler listens (so events are worth timing).
    pub fn active(&self) -> bool {
        self.inner.is_some()
    }

    fn guard(&self, hook: &str, node: Option<&str>, call: impl FnOnce(&dyn EventHandler)) {
        let Some(inner) = &self.inner else {
            return;
        };
        if let Err(panic) = caught_sync(|| call(&**inner)) {
            let warning = PersistenceWarning {
                lost: false,
                source: WarningSource::EventHandler,
                node: node.map(str::to_owned),
                message: format!("`{hook}` {panic}"),
            };
            tracing::error!(%warning, "the event handler panicked");
            lock(&self.panics).push(warning);
        }
    }
}

impl EventHandler for GuardedEvents {
    fn on_pipeline_start(&self, pipeline: &str, run_id: &RunId, resumed: bool) {
        self.guard("on_pipeline_start", None, |h| {
            h.on_pipeline_start(pipeline, run_id, resumed)
        });
    }
    fn on_pipeline_end(&self, pipeline: &str, run_id: &RunId, status: RunStatus) {
        self.guard("on_pipeline_end", None, |h| {
            h.on_pipeline_end(pipeline, run_id, status)
        });
    }
    fn on_node_start(&self, run_id: &RunId, node: &str, attempt: u32) {
        self.guard("on_node_start", Some(node), |h| {
            h.on_node_start(run_id, node, attempt)
        });
    }
    fn on_node_complete(&self, run_id: &RunId, node: &str, attempt: u32, duration: Duration) {
        self.guard("on_node_complete", Some(node), |h| {
            h.on_node_complete(run_id, node, attempt, duration)
        });
    }
    fn on_node_fail(&self, run_id: &RunId, node: &str, attempt: u32, error: &str) {
        self.guard("on_node_fail", Some(node), |h| {
            h.on_node_fail(run_id, node, attempt, error)
        });
    }
    fn on_node_retry(&self, run_id: &RunId, node: &str, attempt: u32, err: &str, delay: Duration) {
        self.guard("on_node_retry", Some(node), |h| {
            h.on_node_retry(run_id, node, attempt, err, delay)
        });
    }
    fn on_node_skip(&self, run_id: &RunId, node: &str) {
        self.guard("on_node_skip", Some(node), |h| h.on_node_skip(run_id, node));
    }
    fn on_persistence_warning(&self, run_id: &RunId, warning: &PersistenceWarning) {
        self.guard("on_persistence_warning", warning.node.as_deref(), |h| {
            h.on_persistence_warning(run_id, warning)
        });
    }
    fn on_item_end(
        &self,
        run_id: &RunId,
        node: &str,
        item: MapItem,
        attempt: u32,
        error: Option<&str>,
    ) {
        self.guard("on_item_end", Some(node), |h| {
            h.on_item_end(run_id, node, item, attempt, error)
        });
    }
    fn on_node_cached(&self, run_id: &RunId, node: &str, item: Option<MapItem>, from: &RunId) {
        self.guard("on_node_cached", Some(node), |h| {
            h.on_node_cached(run_id, node, item, from)
        });
    }
}
