//! [`NodeBuilder`]: one node's id, kind, options and gate, then its typed body; started by
//! [`GraphBuilder::node`], which is defined here so that the builder does not depend on it.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use super::builder::GraphBuilder;
use super::built::{GateDef, NodeDef, RunFn, WaitDef};
use super::deps::{Deps, Handle};
use super::map::MapDef;
use super::node_fn::{blocking, run_fn};

use crate::data::{Codec, Data};
use crate::node::{Backoff, NodeContext, NodeError, NodeOptions, OnError};

impl<I: Data> GraphBuilder<I> {
    /// Starts a node with id `id`; finish it with [`NodeBuilder::run`] or
    /// [`NodeBuilder::run_blocking`].
    pub fn node(&mut self, id: impl Into<String>) -> NodeBuilder<'_, I> {
        NodeBuilder::new(self, id.into().into())
    }
}

/// A node being added to a [`GraphBuilder`]: set its options, then [`run`](NodeBuilder::run) it.
///
/// ```
/// use std::time::Duration;
/// use pipeline::{GraphBuilder, OnError};
///
/// let mut g = GraphBuilder::<i64>::new("alerts");
/// let sum = g.input("sum", |s: &i64| *s);
/// let alert = g
///     .node("alert")
///     .kind("page_oncall")
///     .retries(3)
///     .timeout(Duration::from_secs(30))
///     .on_error(OnError::SkipDownstream)
///     .when(sum, |sum| sum > 1_000_000)
///     .run(sum, |sum, _ctx| async move { Ok::<_, std::io::Error>(sum > 0) });
/// let graph = g.build(alert).unwrap();
/// assert_eq!(graph.len(), 1);
/// ```
#[must_use = "a node is added only by `.run(..)` or `.run_blocking(..)`"]
pub struct NodeBuilder<'g, I> {
    pub(super) builder: &'g mut GraphBuilder<I>,
    pub(super) id: Arc<str>,
    pub(super) kind: Option<Arc<str>>,
    pub(super) version: Option<Arc<str>>,
    pub(super) options: NodeOptions,
    gate: Option<GateDef>,
}

impl<'g, I: Data> NodeBuilder<'g, I> {
    pub(crate) fn new(builder: &'g mut GraphBuilder<I>, id: Arc<str>) -> Self {
        NodeBuilder {
            builder,
            id,
            kind: None,
            version: None,
            options: NodeOptions::default(),
            gate: None,
        }
    }

    /// Names what the node runs (the `#[node]` fn); defaults to the node id.
    pub fn kind(mut self, kind: impl Into<String>) -> Self {
        self.kind = Some(kind.into().into());
        self
    }

    /// Names the version of what the node runs (`#[node(version = "2")]`): part of the graph's
    /// fingerprint, so a checkpoint written by another version is not resumed. Change it when a
    /// fix changes what the node returns. An empty version is none.
    pub fn version(mut self, version: impl Into<String>) -> Self {
        let version = version.into();
        self.version = (!version.is_empty()).then(|| version.into());
        self
    }

    /// Replaces all options at once.
    pub fn options(mut self, options: NodeOptions) -> Self {
        self.options = options;
        self
    }

    /// Retries a failed attempt up to `retries` times, with exponential backoff.
    pub fn retries(mut self, retries: u32) -> Self {
        self.options.retries = retries;
        self
    }

    /// Fails an attempt that runs longer than `timeout`.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.options.timeout = Some(timeout);
        self
    }

    /// Sets the backoff between attempts.
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.options.backoff = backoff;
        self
    }

    /// For a node mapped over a list ([`each`](NodeBuilder::each)), runs at most `items` of its
    /// items at once (at least 1); the engine's `max_concurrency` bounds them too.
    pub fn max_in_flight(mut self, items: usize) -> Self {
        self.options = self.options.max_in_flight(items);
        self
    }

    /// Runs at most `executions` of this node at once across every run of the pipeline, in this
    /// process and on a fleet's workers (see [`NodeOptions::limit`]).
    pub fn limit(mut self, executions: u32) -> Self {
        self.options = self.options.limit(executions);
        self
    }

    /// Caps how often executions of this node start, across every run of the pipeline, in this
    /// process and on a fleet's workers (see [`NodeOptions::rate`]).
    pub fn rate(mut self, rate: crate::node::Rate) -> Self {
        self.options = self.options.rate(rate);
        self
    }

    /// Caches the node's results across runs that use one store (see
    /// [`NodeCache`](crate::cache::NodeCache)): a call with the same code, helpers, version and
    /// inputs as an earlier one restores that call's output instead of running. A graph built by
    /// hand names its code itself; change it whenever what the node computes changes.
    pub fn cache(mut self, cache: crate::node::NodeCache) -> Self {
        self.options = self.options.cache(cache);
        self
    }

    /// Overrides the pipeline's failure policy for this node.
    pub fn on_error(mut self, on_error: OnError) -> Self {
        self.options.on_error = Some(on_error);
        self
    }

    /// Gates the node: it runs only when `condition` returns `true` for the values of `deps`, and is
    /// skipped (with everything downstream of it) otherwise. The gate's inputs become dependencies.
    pub fn when<D: Deps>(
        mut self,
        deps: D,
        condition: impl Fn(D::Values) -> bool + Send + Sync + 'static,
    ) -> Self {
        let args = self.builder.resolve(&self.id, &deps);
        self.gate = Some(GateDef {
            args,
            pred: Arc::new(move |mut values| deps.extract(&mut values).map(&condition)),
        });
        self
    }

    /// Adds the node: an async fn of the values of `deps` (and a [`NodeContext`]) that returns
    /// `Result<T, E>`. Returns the handle of its output.
    pub fn run<D, F, Fut, T, E>(self, deps: D, f: F) -> Handle<T>
    where
        D: Deps,
        F: Fn(D::Values, NodeContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        T: Data,
        E: Into<NodeError>,
    {
        self.add_typed(deps, move |args, ctx| {
            let call = f(args, ctx);
            async move { call.await.map_err(Into::into) }
        })
    }

    /// Adds a node whose body is a blocking (sync) fn; it runs on tokio's blocking thread pool.
    pub fn run_blocking<D, F, T, E>(self, deps: D, f: F) -> Handle<T>
    where
        D: Deps,
        F: Fn(D::Values, NodeContext) -> Result<T, E> + Send + Sync + 'static,
        T: Data,
        E: Into<NodeError>,
    {
        let f = Arc::new(f);
        self.add_typed(deps, move |args, ctx| {
            let f = Arc::clone(&f);
            blocking(move || f(args, ctx).map_err(Into::into))
        })
    }

    fn add_typed<D, T, Fut>(
        self,
        deps: D,
        call: impl Fn(D::Values, NodeContext) -> Fut + Send + Sync + 'static,
    ) -> Handle<T>
    where
        D: Deps,
        T: Data,
        Fut: Future<Output = Result<T, NodeError>> + Send + 'static,
    {
        self.builder.resolve_args(&self.id, &deps);
        let gather = move |mut values: &[&_]| deps.extract(&mut values);
        self.add(run_fn(gather, call), Codec::of::<T>())
    }

    /// Adds the node, whose argument slots were pushed, with its run closure and output codec.
    pub(crate) fn add<T>(self, run: RunFn, codec: Codec) -> Handle<T> {
        self.push(run, codec, None)
    }

    /// Adds a wait, whose argument slots (the nodes it comes after) were pushed; `codec` is its
    /// payload's.
    pub(crate) fn add_wait<T>(self, wait: WaitDef, codec: Codec) -> Handle<T> {
        self.push_def(whole_run_fn(), codec, None, Some(wait))
    }

    /// Adds a node mapped over a list, whose argument slots were pushed; `codec` is the codec of
    /// its whole output (the `Vec`).
    pub(crate) fn add_map<T>(self, map: MapDef, codec: Codec) -> Handle<T> {
        self.push(whole_run_fn(), codec, Some(map))
    }

    fn push<T>(self, run: RunFn, codec: Codec, map: Option<MapDef>) -> Handle<T> {
        self.push_def(run, codec, map, None)
    }

    fn push_def<T>(
        self,
        run: RunFn,
        codec: Codec,
        map: Option<MapDef>,
        wait: Option<WaitDef>,
    ) -> Handle<T> {
        self.builder.push_node(NodeDef {
            kind: self.kind.unwrap_or_else(|| Arc::clone(&self.id)),
            version: self.version,
            id: self.id,
            gate: self.gate,
            options: self.options,
            run,
            codec,
            map,
            wait,
            metrics: std::sync::OnceLock::new(),
        })
    }

    /// Sets the gate from slots already checked.
    pub(crate) fn set_gate(mut self, gate: Option<GateDef>) -> Self {
        self.gate = gate;
        self
    }
}

/// The body of a node that runs no code of its own (a mapped node, which runs its items', or a
/// wait), which the engine never calls.
fn whole_run_fn() -> RunFn {
    Arc::new(|_, _| {
        Box::pin(std::future::ready(Err(
            "internal error: a mapped node or a wait was called as a node".into(),
        )))
    })
}
