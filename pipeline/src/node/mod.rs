//! What a node is to the engine: the [`Node`] trait `#[node]` implements, what a node sees while it
//! runs ([`NodeContext`]), how it is configured ([`NodeOptions`]), and how its errors are boxed.

mod cache;
mod rate;

pub use cache::NodeCache;
#[doc(hidden)]
pub use cache::{Hashed, helper_code, node_cache};
pub use rate::{Rate, RateError};

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};

use crate::run_id::RunId;

/// The error a node returns. Any `std::error::Error + Send + Sync` converts into it with `?` or
/// `.into()`, so `std::io::Error`, `thiserror` enums and `anyhow::Error` all work.
pub type NodeError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The boxed future of one node call.
pub type NodeFuture<T> = BoxFuture<'static, Result<T, NodeError>>;

/// Where a node runs: handed to a node that asks for it.
///
/// A node runs at least once: a retry runs it again, and so does a fleet worker that takes over
/// the node of a worker that died (or froze past its lease) after the body started. To make its
/// own side effects (a payment, an e-mail, a row in another system) happen once, a node passes
/// [`idempotency_key`](NodeContext::idempotency_key) to the system it calls, or fences its writes
/// with [`claim`](NodeContext::claim).
///
/// ```
/// use pipeline::NodeContext;
///
/// async fn charge(order: u64, ctx: NodeContext) -> Result<String, std::io::Error> {
///     // Every attempt, on any worker, sends the same key: the payment service charges once.
///     let key = ctx.idempotency_key();
///     Ok(format!("charged order {order} with key {key}"))
/// }
/// ```
#[derive(Clone, Debug)]
pub struct NodeContext {
    pub(crate) run_id: RunId,
    pub(crate) node_id: Arc<str>,
    pub(crate) attempt: u32,
    pub(crate) item: Option<MapItem>,
    pub(crate) claim: Option<u64>,
}

impl NodeContext {
    /// The run this node belongs to.
    pub fn run_id(&self) -> &RunId {
        &self.run_id
    }

    /// The node's id in its pipeline (the binding name).
    pub fn node_id(&self) -> &str {
        &self.node_id
    }

    /// Which attempt this is: 1 for the first, 2 for the first retry, and so on. Numbers go on
    /// across the starts of a run: a node that failed attempts 1 and 2 before its run was resumed
    /// is attempt 3 in the resumed run (which may retry it as often as the first start could).
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// For a node mapped over a list (`each`), the item this call runs on; `None` otherwise.
    pub fn item(&self) -> Option<MapItem> {
        self.item
    }

    /// On a worker fleet, the token of the claim this attempt runs under: a number no other
    /// claim of any node ever had, growing with each claim, so a system that keeps the highest
    /// token it saw can refuse the writes of an older claim (a worker that lost its lease). `None`
    /// in one process, where one engine holds the whole run.
    pub fn claim(&self) -> Option<u64> {
        self.claim
    }

    /// A key for this node's side effects, the same for every attempt of it in this run on any
    /// worker (and for a resume of the run): `RUN/NODE`, or `RUN/NODE/INDEX` for an item of a
    /// mapped node. An item's key names its place in the list, which a resume keeps unless the
    /// list itself is computed again (its record was lost) in another order.
    pub fn idempotency_key(&self) -> String {
        match self.item {
            Some(item) => format!("{}/{}/{}", self.run_id, self.node_id, item.index),
            None => format!("{}/{}", self.run_id, self.node_id),
        }
    }
}

/// Which item of a mapped node (`each`) a record or an audit entry is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MapItem {
    /// The item's index in the list the node is mapped over (0 for the first).
    pub index: u32,
    /// How many items the list has.
    pub of: u32,
}

impl fmt::Display for MapItem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "item {} of {}", self.index, self.of)
    }
}

/// What the engine does when a node fails after all its retries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OnError {
    /// Stop scheduling new nodes, let running ones finish, and end the run `Failed`.
    #[default]
    FailFast,
    /// Skip every node downstream of the failed one; independent branches keep running. The run
    /// ends `Failed` because a node failed.
    SkipDownstream,
}

/// How many items of a mapped node (`each`) run at once when the node does not say
/// ([`NodeOptions::max_in_flight`](NodeOptions::max_in_flight())): a window that starts the next item as one ends. A million
/// items started at once would hold a million tasks (and their records' writes) in memory;
/// 1,024 keep every core and a group commit busy. Give `max_in_flight` to change it.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 1_024;

/// Exponential backoff between retries: `initial`, then doubled each retry up to `max`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// The wait before the first retry.
    pub initial: Duration,
    /// The longest wait between two attempts.
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(30),
        }
    }
}

impl Backoff {
    /// The wait after failed attempt `attempt` (1-based) before the next one.
    pub fn delay(&self, attempt: u32) -> Duration {
        let factor = 1u32
            .checked_shl(attempt.saturating_sub(1))
            .unwrap_or(u32::MAX);
        self.initial.saturating_mul(factor).min(self.max)
    }
}

/// Per-node settings: retries, timeout, backoff and failure policy.
///
/// ```
/// use std::time::Duration;
/// use pipeline::{NodeOptions, OnError};
///
/// let options = NodeOptions::default()
///     .retries(3)
///     .timeout(Duration::from_secs(30))
///     .on_error(OnError::SkipDownstream);
/// assert_eq!(options.max_attempts(), 4);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct NodeOptions {
    /// How many times a failed attempt is retried (0: run once).
    pub retries: u32,
    /// The longest one attempt may take; a slower attempt fails with a timeout error.
    pub timeout: Option<Duration>,
    /// The wait between attempts.
    pub backoff: Backoff,
    /// Overrides the pipeline's failure policy for this node.
    pub on_error: Option<OnError>,
    /// For a node mapped over a list (`each`), the most items that run at once; `None`:
    /// [`DEFAULT_MAX_IN_FLIGHT`] (a window that moves on as items end). The engine's
    /// `max_concurrency` bounds them too.
    pub max_in_flight: Option<usize>,
    /// The most executions of this node (attempts; for a mapped node, item attempts) that run at
    /// once across every run of its pipeline: in one process, every engine of the pipeline; on a
    /// fleet, every worker. The others wait for one to end, in order. `None`: no limit.
    pub limit: Option<u32>,
    /// How often executions of this node may start, across every run of its pipeline (in one
    /// process, and on a fleet across every worker): starts are spaced evenly, the others wait
    /// for their turn. `None`: no cap.
    pub rate: Option<Rate>,
    /// Whether a new run reuses the output an earlier run stored for the same key (code,
    /// helpers, version, inputs) instead of running the node. `None`: never.
    pub cache: Option<NodeCache>,
}

impl NodeOptions {
    /// Sets how many times a failed attempt is retried.
    pub fn retries(mut self, retries: u32) -> Self {
        self.retries = retries;
        self
    }

    /// Sets the time limit of one attempt.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Sets the backoff between attempts.
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Overrides the pipeline's failure policy for this node.
    pub fn on_error(mut self, on_error: OnError) -> Self {
        self.on_error = Some(on_error);
        self
    }

    /// Bounds how many items of a mapped node (`each`) run at once (at least 1).
    pub fn max_in_flight(mut self, items: usize) -> Self {
        self.max_in_flight = Some(items.max(1));
        self
    }

    /// Runs at most `executions` of this node at once across every run of its pipeline (at least
    /// 1; see [`limit`](NodeOptions::limit)).
    pub fn limit(mut self, executions: u32) -> Self {
        self.limit = Some(executions.max(1));
        self
    }

    /// Caps how often executions of this node start (see [`rate`](NodeOptions::rate)).
    pub fn rate(mut self, rate: Rate) -> Self {
        self.rate = Some(rate);
        self
    }

    /// Caches the node's results across runs (see [`NodeCache`]).
    pub fn cache(mut self, cache: NodeCache) -> Self {
        self.cache = Some(cache);
        self
    }

    /// Attempts in all: the first plus the retries.
    pub fn max_attempts(&self) -> u32 {
        self.retries.saturating_add(1)
    }
}

/// A `#[node]` fn as the engine sees it. `#[node]` implements it on a hidden type named like the
/// fn (the fn itself stays an ordinary fn); `pipeline!` reads the node's types from it.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a `#[node]` fn",
    label = "pipeline statements must call a `#[node]` fn",
    note = "add `#[node]` above the fn's definition"
)]
pub trait Node: 'static {
    /// The inputs, as a tuple in parameter order (a `NodeContext` parameter is not an input).
    #[doc(hidden)]
    type Inputs: Send + 'static;
    /// The output: the return type, or its `Ok` type when it returns a `Result`. It is checked
    /// to be [`Data`](crate::Data) here, once, so that generic code over nodes needs no bound of
    /// its own (a non-serializable output is then one error, at the fn's return type).
    type Output: crate::data::Data;
    /// The fn's name.
    const NAME: &'static str;
    /// The output type as written in the fn's signature (the `Ok` type of a `Result`).
    const OUTPUT_TYPE: &'static str;
    /// The version `#[node(version = "..")]` gives (empty without one): part of the graph's
    /// fingerprint, so a checkpoint of another version of the node is not resumed.
    const VERSION: &'static str = "";
    /// The options given in `#[node(...)]`.
    fn options() -> NodeOptions;
    /// The inputs from the engine's values, one per parameter; `None` if one has another type.
    /// `#[node]` generates it with a `Data` check per parameter, spanned at its type.
    #[doc(hidden)]
    fn from_values(values: &[&crate::data::Value]) -> Option<Self::Inputs>;
    /// Calls the fn (a sync fn runs on tokio's blocking pool).
    #[doc(hidden)]
    fn call(inputs: Self::Inputs, ctx: NodeContext) -> NodeFuture<Self::Output>;

    /// How an output read back from its checkpoint is compared with the one downstream saw:
    /// `Some` (its `PartialEq`) where the output type has one. `#[node]` generates it, so that no
    /// bound is asked of other types; `None` compares the JSON canonically (see
    /// [`RoundTrip`](crate::RoundTrip)).
    #[doc(hidden)]
    fn output_eq() -> Option<crate::data::ValueEq<Self::Output>> {
        None
    }

    /// [`call`](Node::call) with the output erased as the engine keeps it, in one boxed future
    /// (`#[node]` generates it; this default boxes `call`'s future a second time).
    #[doc(hidden)]
    fn call_erased(inputs: Self::Inputs, ctx: NodeContext) -> ErasedFuture {
        Box::pin(async move { Self::call(inputs, ctx).await.map(erase) })
    }
}

/// A node's future with its output erased, as the engine runs it.
#[doc(hidden)]
pub type ErasedFuture = BoxFuture<'static, Result<crate::data::Value, NodeError>>;

/// A node's output as the engine keeps it.
#[doc(hidden)]
pub fn erase<T: Send + Sync + 'static>(output: T) -> crate::data::Value {
    Arc::new(output)
}

/// Options of a node with the given settings (used by `#[node(...)]`).
#[doc(hidden)]
pub fn node_options(
    retries: u32,
    timeout: Option<Duration>,
    backoff: Option<Duration>,
    on_error: Option<OnError>,
) -> NodeOptions {
    let mut options = NodeOptions::default().retries(retries);
    options.timeout = timeout;
    if let Some(initial) = backoff {
        options.backoff.initial = initial;
    }
    options.on_error = on_error;
    options
}

/// The rate `#[node(rate = "..")]` checked at compile time: `count` starts per `per_nanos`.
#[doc(hidden)]
pub fn rate(count: u32, per_nanos: u64) -> Rate {
    Rate {
        count: count.max(1),
        per: Duration::from_nanos(per_nanos.max(1)),
    }
}

/// A `#[node]` fn's return type whose last path segment is `Result`.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a `std::result::Result`",
    label = "`#[node]` reads a return type named `Result` as `Result<Output, Error>`",
    note = "use `std::result::Result<T, E>` (or an alias of it such as `anyhow::Result<T>`)"
)]
pub trait Fallible {
    /// The `Ok` type: the node's output.
    type Ok;
    /// The error type.
    type Error;
    /// The value as a `Result`.
    fn into_result(self) -> Result<Self::Ok, Self::Error>;
}

impl<T, E> Fallible for Result<T, E> {
    type Ok = T;
    type Error = E;
    fn into_result(self) -> Result<T, E> {
        self
    }
}

/// An error type a node may return.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be the error type of a node",
    label = "the error type must convert into `Box<dyn std::error::Error + Send + Sync>`",
    note = "failed attempts are recorded in the audit trail by their error text; return \
            `std::io::Error`, a `thiserror` enum, `anyhow::Error`, or any type implementing \
            `std::error::Error + Send + Sync + 'static`"
)]
pub trait IntoNodeError {
    /// Boxes the error.
    fn into_node_error(self) -> NodeError;
}

impl<E: Into<NodeError>> IntoNodeError for E {
    fn into_node_error(self) -> NodeError {
        self.into()
    }
}

/// The result of a fallible node, with its error boxed.
#[doc(hidden)]
pub fn node_result<R: Fallible>(result: R) -> Result<R::Ok, NodeError>
where
    R::Error: IntoNodeError,
{
    result.into_result().map_err(IntoNodeError::into_node_error)
}

/// The error of an attempt that ran longer than its node's timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeoutError(pub Duration);

impl fmt::Display for TimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "timed out after {:?}", self.0)
    }
}

impl std::error::Error for TimeoutError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let b = Backoff {
            initial: Duration::from_millis(10),
            max: Duration::from_millis(50),
        };
        assert_eq!(b.delay(1), Duration::from_millis(10));
        assert_eq!(b.delay(2), Duration::from_millis(20));
        assert_eq!(b.delay(3), Duration::from_millis(40));
        assert_eq!(b.delay(4), Duration::from_millis(50));
        assert_eq!(b.delay(100), Duration::from_millis(50));
    }
}
