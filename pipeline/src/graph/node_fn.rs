//! How a node's body becomes the engine's erased run closure: the one place for both the typed
//! builder ([`NodeBuilder`](super::NodeBuilder)) and `pipeline!` wiring, and the one place a
//! sync body is moved to tokio's blocking pool.

use std::future::Future;
use std::sync::Arc;

use super::built::RunFn;
use crate::data::{Data, Value};
use crate::node::{NodeContext, NodeError};
use crate::sync::on_blocking_pool;
use crate::trace::logs;

/// Builds a node's run closure: `gather` clones the node's inputs out of the engine's erased
/// values, `call` runs the body on them, and the output is erased for the engine.
pub(crate) fn run_fn<A, T, Fut>(
    gather: impl Fn(&[&Value]) -> Option<A> + Send + Sync + 'static,
    call: impl Fn(A, NodeContext) -> Fut + Send + Sync + 'static,
) -> RunFn
where
    T: Data,
    Fut: Future<Output = Result<T, NodeError>> + Send + 'static,
{
    Arc::new(move |values, ctx| match gather(values) {
        Some(inputs) => {
            let call = call(inputs, ctx);
            Box::pin(async move { call.await.map(|v| Arc::new(v) as Value) })
        }
        None => Box::pin(std::future::ready(Err(MISTYPED.into()))),
    })
}

/// Builds a node's run closure from a body whose future already erases its output (a `#[node]`
/// fn's `call_erased`): one boxed future per call, where [`run_fn`] boxes a second.
pub(crate) fn erased_run_fn<A>(
    gather: impl Fn(&[&Value]) -> Option<A> + Send + Sync + 'static,
    call: impl Fn(A, NodeContext) -> crate::node::ErasedFuture + Send + Sync + 'static,
) -> RunFn {
    Arc::new(move |values, ctx| match gather(values) {
        Some(inputs) => call(inputs, ctx),
        None => Box::pin(std::future::ready(Err(MISTYPED.into()))),
    })
}

const MISTYPED: &str = "internal error: an upstream value has another type than the node takes";

/// Runs a sync node body on tokio's blocking pool, inside the caller's current `tracing` span; a
/// panic in it is re-raised in the calling task, where the engine catches it like any other
/// node panic.
pub async fn blocking<T: Send + 'static>(
    body: impl FnOnce() -> Result<T, NodeError> + Send + 'static,
) -> Result<T, NodeError> {
    // The body runs inside the span that is current here (its attempt's): its own spans and
    // events are that span's children, as an async body's are.
    let span = tracing::Span::current();
    // The attempt's log goes with the body, and comes back with it.
    let log = logs::take_log();
    let body = move || logs::with_log(log, || span.in_scope(body));
    match on_blocking_pool(body).await {
        Ok((result, log)) => {
            logs::put_log(log);
            result
        }
        Err(join) if join.is_panic() => std::panic::resume_unwind(join.into_panic()),
        Err(join) => Err(join.to_string().into()),
    }
}
