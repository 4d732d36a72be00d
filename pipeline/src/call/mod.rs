//! A node's body and condition gate applied to its values, with their panics caught and the
//! node's timeout applied: for the scheduler's node tasks and for a fleet worker's nodes alike.
//! `args.rs` is how the values reach the body (references gathered on the stack); `guard.rs` is
//! the one place panics in user code are caught, and the event handler that reports its own.

pub(crate) mod args;
pub(crate) mod guard;

use std::future::Future;

#[cfg(feature = "postgres")]
use crate::data::Json;
use crate::data::Value;
use crate::graph::NodeDef;
use crate::graph::map::MISTYPED;
use crate::node::{NodeContext, NodeError, TimeoutError};
use args::Values;
use guard::{catching, caught_sync};

/// Evaluates a node's condition gate over its values; a panicking or mistyped gate is an error
/// that fails the node.
pub(crate) fn gate(node: &NodeDef, gate_args: &Values<'_>) -> Result<bool, String> {
    let Some(gate) = &node.gate else {
        return Ok(true);
    };
    match caught_sync(|| gate_args.with_refs(|values| (gate.pred)(values))) {
        Ok(Some(open)) => Ok(open),
        Ok(None) => Err("internal error: a condition input has an unexpected type".into()),
        Err(panic) => Err(format!("condition {panic}")),
    }
}

/// One call of a node fn, with its panics caught and its timeout applied. The call starts here
/// (the arguments are cloned out of `args`); the future it returns borrows nothing.
pub(crate) fn call(
    node: &NodeDef,
    args: &Values<'_>,
    ctx: NodeContext,
) -> impl Future<Output = Result<Value, NodeError>> + Send + 'static {
    let started = caught_sync(|| {
        args.with_refs(|values| match (&node.map, ctx.item) {
            (None, _) => (node.run)(values, ctx),
            (Some(map), Some(item)) => (map.run)(values, item.index, ctx),
            // A mapped node runs whole only over an empty list (or to fail its gate).
            (Some(map), None) => {
                let empty = (map.collect)(Vec::new()).ok_or_else(|| MISTYPED.into());
                Box::pin(std::future::ready(empty))
            }
        })
    });
    let timeout = node.options.timeout;
    async move {
        let future = catching(started?);
        let result = match timeout {
            // Boxed: a `Timeout` is large, and only nodes with a timeout need one.
            Some(limit) => Box::pin(tokio::time::timeout(limit, future))
                .await
                .map_err(|_| Box::new(TimeoutError(limit)) as NodeError)?,
            None => future.await,
        };
        result.map_err(NodeError::from)?
    }
}

/// A node's output (an item's, with its map's item codec) as JSON that reads back as the same
/// value, for a store that hands it to other processes (a worker fleet): `Err` says why it cannot
/// be stored, which fails the attempt.
#[cfg(feature = "postgres")]
pub(crate) fn stored_output(codec: &crate::data::Codec, value: &Value) -> Result<Json, String> {
    let json = match caught_sync(|| (codec.encode)(value)) {
        Ok(Ok(json)) => json,
        Ok(Err(e)) => return Err(format!("cannot serialize the output: {e}")),
        Err(panic) => return Err(format!("serializing the output {panic}")),
    };
    match caught_sync(|| (codec.verify)(value, &json)) {
        Ok(Ok(())) => Ok(json),
        Ok(Err(reason)) => Err(format!(
            "the output cannot be stored, and a fleet passes outputs through the store: {reason}"
        )),
        Err(panic) => Err(format!("reading the output back {panic}")),
    }
}
