//! The low-level graph API: build a DAG of typed nodes at run time.
//!
//! The `pipeline!` macro generates calls to this API; it is public so that DAGs whose shape is only
//! known at run time get the same engine, and the same checks on every edge's type, through
//! [`Handle`]s.
//!
//! ```
//! use pipeline::{GraphBuilder, PipelineEngine, RunStatus};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut g = GraphBuilder::<u64>::new("double_then_add");
//! let x = g.input("x", |x: &u64| *x);
//! let doubled = g.node("doubled").run(x, |x, _ctx| async move { Ok::<_, std::convert::Infallible>(x * 2) });
//! let sum = g.node("sum").run((x, doubled), |(x, d), _ctx| async move { Ok::<_, std::convert::Infallible>(x + d) });
//! let graph = g.build(sum)?;
//!
//! let result = PipelineEngine::new(graph).run(5).await?;
//! assert_eq!(result.status, RunStatus::Completed);
//! assert_eq!(result.output, Some(15));
//! # Ok(())
//! # }
//! ```

mod deps;
mod render;
mod signature;

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::future::BoxFuture;

pub(crate) use deps::Slot;
pub use deps::{Deps, Handle};
pub(crate) use signature::{FNV_OFFSET, fnv1a64_extend};
pub use signature::{GraphSignature, InputSignature, NodeSignature};

use crate::data::{Codec, Data, Value};
use crate::node::{Backoff, NodeContext, NodeError, NodeOptions, OnError};

pub(crate) type RunFn = Arc<
    dyn Fn(&[&Value], NodeContext) -> BoxFuture<'static, Result<Value, NodeError>> + Send + Sync,
>;
pub(crate) type GateFn = Arc<dyn Fn(&[&Value]) -> Option<bool> + Send + Sync>;
type ExtractInputFn<I> = Box<dyn Fn(&I) -> Value + Send + Sync>;
type OutputFn<O> = Box<dyn Fn(&[&Value]) -> Option<O> + Send + Sync>;

/// A mistake in a graph under construction, reported by [`GraphBuilder::build`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GraphError {
    /// The pipeline name is empty.
    #[error("the pipeline name is empty")]
    EmptyPipelineName,
    /// An input or node id is empty.
    #[error("pipeline `{pipeline}`: an input or node id is empty")]
    EmptyId {
        /// The pipeline.
        pipeline: String,
    },
    /// Two inputs or nodes share an id.
    #[error(
        "pipeline `{pipeline}`: `{id}` is defined twice (ids of inputs and nodes must be unique)"
    )]
    DuplicateId {
        /// The pipeline.
        pipeline: String,
        /// The id given twice.
        id: String,
    },
    /// A handle made by another graph builder was passed to this one.
    #[error("pipeline `{pipeline}`: `{id}` reads a handle that belongs to another graph builder")]
    ForeignHandle {
        /// The pipeline.
        pipeline: String,
        /// The node (or `output`) that read it.
        id: String,
    },
}

pub(crate) struct InputDef<I> {
    pub name: Arc<str>,
    pub extract: ExtractInputFn<I>,
    pub codec: Codec,
}

pub(crate) struct GateDef {
    pub args: Vec<Slot>,
    pub pred: GateFn,
}

pub(crate) struct NodeDef {
    pub id: Arc<str>,
    pub kind: String,
    pub args: Vec<Slot>,
    pub gate: Option<GateDef>,
    /// Distinct upstream nodes (arguments and gate), each counted once.
    pub upstream: Vec<u32>,
    pub options: NodeOptions,
    pub run: RunFn,
    pub codec: Codec,
}

pub(crate) struct GraphInner<I, O> {
    pub name: Arc<str>,
    pub inputs: Vec<InputDef<I>>,
    pub nodes: Vec<NodeDef>,
    pub downstream: Vec<Vec<u32>>,
    pub index: HashMap<Arc<str>, u32>,
    pub output_slots: Vec<Slot>,
    pub output: OutputFn<O>,
    pub signature: GraphSignature,
    pub fingerprint: String,
}

/// A built, immutable pipeline graph: cheap to clone, shareable between engines and threads.
///
/// `I` is the pipeline's inputs type and `O` its output type.
pub struct Graph<I, O> {
    pub(crate) inner: Arc<GraphInner<I, O>>,
}

impl<I, O> Clone for Graph<I, O> {
    fn clone(&self) -> Self {
        Graph {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<I, O> std::fmt::Debug for Graph<I, O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Graph")
            .field("name", &self.inner.name)
            .field("fingerprint", &self.inner.fingerprint)
            .field("nodes", &self.inner.nodes.len())
            .finish()
    }
}

impl<I, O> Graph<I, O> {
    /// The pipeline's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The fingerprint of the graph's shape (see [`GraphSignature::fingerprint`]).
    pub fn fingerprint(&self) -> &str {
        &self.inner.fingerprint
    }

    /// The graph's shape: inputs, nodes, edges, types.
    pub fn signature(&self) -> &GraphSignature {
        &self.inner.signature
    }

    /// The node ids in declaration (topological) order.
    pub fn node_ids(&self) -> impl Iterator<Item = &str> {
        self.inner.nodes.iter().map(|n| &*n.id)
    }

    /// How many nodes the graph has.
    pub fn len(&self) -> usize {
        self.inner.nodes.len()
    }

    /// Whether the graph has no nodes.
    pub fn is_empty(&self) -> bool {
        self.inner.nodes.is_empty()
    }
}

static NEXT_BUILDER_ID: AtomicU64 = AtomicU64::new(1);

/// Builds a [`Graph`] node by node. A node can read only handles that exist when it is added, so a
/// graph built this way is acyclic by construction, and every edge's type is checked by the compiler.
pub struct GraphBuilder<I> {
    id: u64,
    name: Arc<str>,
    inputs: Vec<InputDef<I>>,
    nodes: Vec<NodeDef>,
    names: HashMap<Arc<str>, Slot>,
    errors: Vec<GraphError>,
}

impl<I: Data> GraphBuilder<I> {
    /// Starts a graph for the pipeline `name`, whose inputs are an `I`.
    pub fn new(name: impl Into<String>) -> Self {
        let name: String = name.into();
        GraphBuilder {
            id: NEXT_BUILDER_ID.fetch_add(1, Ordering::Relaxed),
            errors: if name.is_empty() {
                vec![GraphError::EmptyPipelineName]
            } else {
                Vec::new()
            },
            name: name.into(),
            inputs: Vec::new(),
            nodes: Vec::new(),
            names: HashMap::new(),
        }
    }

    /// Declares a pipeline input named `name`, taken out of the inputs value by `extract`.
    pub fn input<T: Data>(
        &mut self,
        name: impl Into<String>,
        extract: impl Fn(&I) -> T + Send + Sync + 'static,
    ) -> Handle<T> {
        let name: Arc<str> = name.into().into();
        let slot = Slot::Input(self.inputs.len() as u32);
        self.claim(&name, slot);
        self.inputs.push(InputDef {
            name,
            extract: Box::new(move |inputs| Arc::new(extract(inputs)) as Value),
            codec: Codec::of::<T>(),
        });
        Handle::new(self.id, slot)
    }

    /// Starts a node with id `id`; finish it with [`NodeBuilder::run`] or
    /// [`NodeBuilder::run_blocking`].
    pub fn node(&mut self, id: impl Into<String>) -> NodeBuilder<'_, I> {
        NodeBuilder {
            kind: None,
            id: id.into().into(),
            options: NodeOptions::default(),
            gate: None,
            builder: self,
        }
    }

    /// Finishes the graph; `output` names what a completed run returns (a handle or a tuple of them).
    pub fn build<D: Deps>(mut self, output: D) -> Result<Graph<I, D::Values>, GraphError> {
        let output_slots = self.resolve("output", &output);
        self.finish(
            output_slots,
            Box::new(move |mut values| output.extract(&mut values)),
            None,
        )
    }

    /// Finishes the graph; `fingerprint` is the one `pipeline!` computed at compile time (the
    /// signature's own hash otherwise).
    pub(crate) fn finish<O>(
        self,
        output_slots: Vec<Slot>,
        output: OutputFn<O>,
        fingerprint: Option<u64>,
    ) -> Result<Graph<I, O>, GraphError> {
        if let Some(first) = self.errors.into_iter().next() {
            return Err(first);
        }
        let mut downstream = vec![Vec::new(); self.nodes.len()];
        for (i, node) in self.nodes.iter().enumerate() {
            for &up in &node.upstream {
                downstream[up as usize].push(i as u32);
            }
        }
        let signature = signature(&self.inputs, &self.nodes);
        debug_assert!(
            fingerprint.is_none_or(|f| f == signature.fingerprint_hash()),
            "the compile-time fingerprint of `{}` differs from its graph's",
            self.name
        );
        let fingerprint = fingerprint.unwrap_or_else(|| signature.fingerprint_hash());
        let index = self
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (Arc::clone(&n.id), i as u32))
            .collect();
        Ok(Graph {
            inner: Arc::new(GraphInner {
                fingerprint: format!("{fingerprint:016x}"),
                signature,
                name: self.name,
                inputs: self.inputs,
                nodes: self.nodes,
                downstream,
                index,
                output_slots,
                output,
            }),
        })
    }

    /// Adds a node whose argument and gate slots were checked by
    /// [`check_slots`](Self::check_slots); its `upstream` list is derived here.
    pub(crate) fn push_node<T>(&mut self, mut node: NodeDef) -> Handle<T> {
        let mut upstream: Vec<u32> = node
            .args
            .iter()
            .chain(node.gate.iter().flat_map(|g| &g.args))
            .filter_map(|slot| match *slot {
                Slot::Node(i) => Some(i),
                Slot::Input(_) => None,
            })
            .collect();
        upstream.sort_unstable();
        upstream.dedup();
        node.upstream = upstream;
        let slot = Slot::Node(self.nodes.len() as u32);
        self.claim(&node.id, slot);
        self.nodes.push(node);
        Handle::new(self.id, slot)
    }

    /// Records the last input's type as written in a `pipeline!` (instead of its full path).
    pub(crate) fn set_input_type_name(&mut self, type_name: &'static str) {
        if let Some(input) = self.inputs.last_mut() {
            input.codec.type_name = type_name;
        }
    }

    fn claim(&mut self, id: &Arc<str>, slot: Slot) {
        if id.is_empty() {
            self.errors.push(GraphError::EmptyId {
                pipeline: self.name.to_string(),
            });
        } else if self.names.insert(Arc::clone(id), slot).is_some() {
            self.errors.push(GraphError::DuplicateId {
                pipeline: self.name.to_string(),
                id: id.to_string(),
            });
        }
    }

    fn resolve<D: Deps>(&mut self, reader: &str, deps: &D) -> Vec<Slot> {
        let mut raw = Vec::new();
        deps.slots(&mut raw);
        self.check_slots(reader, raw)
    }

    /// Checks that every slot belongs to this builder; `reader` names the node that reads them.
    pub(crate) fn check_slots(&mut self, reader: &str, raw: Vec<(u64, Slot)>) -> Vec<Slot> {
        if raw.iter().any(|&(graph, _)| graph != self.id) {
            self.errors.push(GraphError::ForeignHandle {
                pipeline: self.name.to_string(),
                id: reader.to_owned(),
            });
        }
        raw.into_iter().map(|(_, slot)| slot).collect()
    }
}

fn signature<I>(inputs: &[InputDef<I>], nodes: &[NodeDef]) -> GraphSignature {
    let name = |slot: &Slot| match *slot {
        Slot::Input(i) => inputs[i as usize].name.to_string(),
        Slot::Node(i) => nodes[i as usize].id.to_string(),
    };
    GraphSignature {
        inputs: inputs
            .iter()
            .map(|i| InputSignature {
                name: i.name.to_string(),
                type_name: i.codec.type_name.to_owned(),
            })
            .collect(),
        nodes: nodes
            .iter()
            .map(|n| NodeSignature {
                id: n.id.to_string(),
                kind: n.kind.clone(),
                output_type: n.codec.type_name.to_owned(),
                inputs: n.args.iter().map(name).collect(),
                condition_inputs: n
                    .gate
                    .as_ref()
                    .map(|g| g.args.iter().map(name).collect())
                    .unwrap_or_default(),
            })
            .collect(),
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
    builder: &'g mut GraphBuilder<I>,
    id: Arc<str>,
    kind: Option<String>,
    options: NodeOptions,
    gate: Option<GateDef>,
}

impl<I: Data> NodeBuilder<'_, I> {
    /// Names what the node runs (the `#[node]` fn); defaults to the node id.
    pub fn kind(mut self, kind: impl Into<String>) -> Self {
        self.kind = Some(kind.into());
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
        let args = self.builder.resolve(&self.id, &deps);
        let run: RunFn = Arc::new(move |mut values, ctx| match deps.extract(&mut values) {
            Some(args) => {
                let fut = f(args, ctx);
                Box::pin(async move {
                    match fut.await {
                        Ok(v) => Ok(Arc::new(v) as Value),
                        Err(e) => Err(e.into()),
                    }
                })
            }
            None => Box::pin(std::future::ready(Err(mismatch()))),
        });
        self.add(args, run, Codec::of::<T>())
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
        let args = self.builder.resolve(&self.id, &deps);
        let run: RunFn = Arc::new(move |mut values, ctx| match deps.extract(&mut values) {
            Some(args) => {
                let f = Arc::clone(&f);
                Box::pin(async move {
                    let call = move || f(args, ctx).map_err(Into::into);
                    match tokio::task::spawn_blocking(call).await {
                        Ok(Ok(v)) => Ok(Arc::new(v) as Value),
                        Ok(Err(e)) => Err(e),
                        Err(join) if join.is_panic() => {
                            std::panic::resume_unwind(join.into_panic())
                        }
                        Err(join) => Err(join.to_string().into()),
                    }
                })
            }
            None => Box::pin(std::future::ready(Err(mismatch()))),
        });
        self.add(args, run, Codec::of::<T>())
    }

    fn add<T>(self, args: Vec<Slot>, run: RunFn, codec: Codec) -> Handle<T> {
        self.builder.push_node(NodeDef {
            kind: self.kind.unwrap_or_else(|| self.id.to_string()),
            id: self.id,
            args,
            gate: self.gate,
            upstream: Vec::new(),
            options: self.options,
            run,
            codec,
        })
    }
}

fn mismatch() -> NodeError {
    "internal error: an upstream value has another type than its handle".into()
}
