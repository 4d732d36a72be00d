//! A built graph: the immutable definitions of inputs and nodes that the engine runs.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use futures_util::future::BoxFuture;

use super::deps::Slot;
use super::map::MapDef;
use super::signature::{GraphSignature, InputSignature, NodeSignature};
use crate::data::{Codec, Value};
use crate::machine::Shape;
use crate::node::{NodeContext, NodeError, NodeOptions};
use crate::result::NodeNames;

/// A node's body as the engine calls it: erased input values in, an erased output out.
pub(crate) type RunFn = Arc<
    dyn Fn(&[&Value], NodeContext) -> BoxFuture<'static, Result<Value, NodeError>> + Send + Sync,
>;
/// A condition gate over erased values; `None` when a value has an unexpected type.
pub(crate) type GateFn = Arc<dyn Fn(&[&Value]) -> Option<bool> + Send + Sync>;
pub(crate) type ExtractInputFn<I> = Box<dyn Fn(&I) -> Value + Send + Sync>;
pub(crate) type OutputFn<O> = Box<dyn Fn(&[&Value]) -> Option<O> + Send + Sync>;
/// A pipeline's idempotency key from its inputs, as JSON text.
pub(crate) type KeyFn<I> = Box<dyn Fn(&I) -> Result<String, serde_json::Error> + Send + Sync>;

/// At most `runs` runs of the pipeline at once per key (the JSON of `key` of a run's inputs).
pub(crate) struct RunLimit<I> {
    pub key: KeyFn<I>,
    pub runs: u32,
}

pub(crate) struct InputDef<I> {
    pub name: Arc<str>,
    pub extract: ExtractInputFn<I>,
    pub codec: Codec,
    /// Whether the input reads a missing JSON field as its none (an `Option` under any name).
    pub may_be_absent: bool,
}

/// What a [`GraphBuilder`](super::GraphBuilder) hands over to assemble a graph.
pub(crate) struct Parts<I> {
    pub name: Arc<str>,
    pub inputs: Vec<InputDef<I>>,
    pub nodes: Vec<NodeDef>,
    pub args: Flat<Slot>,
    pub upstream: Edges,
    pub names: HashMap<Arc<str>, Slot, FastHash>,
    pub key: Option<KeyFn<I>>,
    pub run_limit: Option<RunLimit<I>>,
    pub fair: Option<KeyFn<I>>,
    #[cfg(feature = "schedules")]
    pub schedules: crate::cron::Schedules<I>,
}

pub(crate) struct GateDef {
    pub args: Vec<Slot>,
    pub pred: GateFn,
}

/// What a wait waits for (see `NodeBuilder::signal`).
#[derive(Clone, Copy, Debug)]
pub(crate) enum WaitDef {
    /// A signal whose payload is the binding's output; the payload's template (see
    /// `data::template`), for a form to start from.
    Signal(fn() -> Option<String>),
    /// A durable timer: the binding completes (with `()`) this long after the wait began.
    Timer(std::time::Duration),
}

pub(crate) struct NodeDef {
    pub id: Arc<str>,
    pub kind: Arc<str>,
    /// The version of what it runs (`#[node(version = "..")]`), if one is given.
    pub version: Option<Arc<str>>,
    pub gate: Option<GateDef>,
    pub options: NodeOptions,
    pub run: RunFn,
    pub codec: Codec,
    /// How the node runs per item, when it is mapped over a list (`each`).
    pub map: Option<MapDef>,
    /// What the node waits for, when it is a wait.
    pub wait: Option<WaitDef>,
    /// Its metrics, looked up by its first attempt (see [`NodeDef::metrics`]).
    pub metrics: std::sync::OnceLock<crate::metrics::NodeMetrics>,
}

impl NodeDef {
    /// The node's metrics as a node of `pipeline` (its graph's name, the same for every run).
    pub fn metrics(&self, pipeline: &str) -> &crate::metrics::NodeMetrics {
        (self.metrics).get_or_init(|| crate::metrics::NodeMetrics::new(pipeline, &self.id))
    }
}

/// A list per node, all in one flat list (no allocation per node): node `i`'s items are
/// `items[start[i]..start[i + 1]]`. Items pushed since the last [`close`](Flat::close) belong
/// to the next node.
#[derive(Clone, Debug)]
pub(crate) struct Flat<T> {
    start: Vec<u32>,
    items: Vec<T>,
}

impl<T> Default for Flat<T> {
    fn default() -> Self {
        Flat {
            start: vec![0],
            items: Vec::new(),
        }
    }
}

impl<T: Copy> Flat<T> {
    /// Where the next node's items are pushed.
    pub fn open(&mut self) -> &mut Vec<T> {
        &mut self.items
    }

    /// The items pushed since the last close.
    pub fn pending(&self) -> &[T] {
        let last = self.start.last().copied().unwrap_or(0);
        &self.items[last as usize..]
    }

    /// Ends the next node's list.
    pub fn close(&mut self) {
        self.start.push(self.items.len() as u32);
    }

    /// Appends the next node's list.
    pub fn push(&mut self, items: impl IntoIterator<Item = T>) {
        self.items.extend(items);
        self.close();
    }

    /// Node `node`'s items.
    pub fn of(&self, node: u32) -> &[T] {
        let i = node as usize;
        &self.items[self.start[i] as usize..self.start[i + 1] as usize]
    }
}

/// Each node's neighbours on one side.
pub(crate) type Edges = Flat<u32>;

impl Edges {
    /// The reverse edges of `self`, over `nodes` nodes.
    fn reversed(&self, nodes: usize) -> Edges {
        let mut count = vec![0u32; nodes + 1];
        for &t in &self.items {
            count[t as usize + 1] += 1;
        }
        for i in 0..nodes {
            count[i + 1] += count[i];
        }
        let mut items = vec![0; self.items.len()];
        let mut next = count.clone();
        for from in 0..nodes as u32 {
            for &t in self.of(from) {
                items[next[t as usize] as usize] = from;
                next[t as usize] += 1;
            }
        }
        Edges {
            start: count,
            items,
        }
    }
}

pub(crate) struct GraphInner<I, O> {
    pub name: Arc<str>,
    pub inputs: Vec<InputDef<I>>,
    pub nodes: Vec<NodeDef>,
    /// Each node's arguments, in order.
    pub args: Flat<Slot>,
    /// Each node's distinct upstream nodes (arguments and gate), in index order.
    pub upstream: Edges,
    /// Each node's dependents, in index order.
    pub downstream: Edges,
    /// Every input and node by name.
    pub names: HashMap<Arc<str>, Slot, FastHash>,
    pub output_slots: Vec<Slot>,
    pub output: OutputFn<O>,
    /// The idempotency key its inputs give, if it names one.
    pub key: Option<KeyFn<I>>,
    /// How many of its runs may run at once per key, if it limits them.
    pub run_limit: Option<RunLimit<I>>,
    /// The key its runs take turns by, if it names one.
    pub fair: Option<KeyFn<I>>,
    /// Its schedules.
    #[cfg(feature = "schedules")]
    pub schedules: crate::cron::Schedules<I>,
    /// Derived on first use: a run without stores never needs them.
    signature: OnceLock<Arc<GraphSignature>>,
    fingerprint: OnceLock<String>,
}

impl<I, O> Shape for GraphInner<I, O> {
    fn node_count(&self) -> usize {
        self.nodes.len()
    }
    fn upstream_of(&self, node: u32) -> &[u32] {
        self.upstream.of(node)
    }
    fn downstream_of(&self, node: u32) -> &[u32] {
        self.downstream.of(node)
    }
}

impl<I, O> GraphInner<I, O> {
    /// Whether the graph has a wait (a signal or a timer).
    pub fn has_waits(&self) -> bool {
        self.nodes.iter().any(|n| n.wait.is_some())
    }

    /// The graph's shape, derived on first use.
    pub fn signature(&self) -> &Arc<GraphSignature> {
        self.signature
            .get_or_init(|| Arc::new(signature(&self.inputs, &self.nodes, &self.args)))
    }

    /// The fingerprint of the graph's shape, derived on first use.
    pub fn fingerprint(&self) -> &str {
        self.fingerprint
            .get_or_init(|| self.signature().fingerprint())
    }

    /// The index of node `id`.
    pub fn node_index(&self, id: &str) -> Option<u32> {
        match self.names.get(id) {
            Some(&Slot::Node(i)) => Some(i),
            _ => None,
        }
    }
}

impl<I, O> NodeNames for GraphInner<I, O> {
    fn id(&self, index: u32) -> &str {
        &self.nodes[index as usize].id
    }
    fn index(&self, id: &str) -> Option<u32> {
        self.node_index(id)
    }
    fn kind(&self, index: u32) -> &str {
        &self.nodes[index as usize].kind
    }
}

/// A fast hash for the names of a graph (the FxHash function), which the program defines: not
/// untrusted input, so a collision-resistant hash would only slow every build down.
#[derive(Clone, Copy, Default)]
pub(crate) struct FastHash;

impl std::hash::BuildHasher for FastHash {
    type Hasher = FastHasher;
    fn build_hasher(&self) -> FastHasher {
        FastHasher(0)
    }
}

pub(crate) struct FastHasher(u64);

impl FastHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl std::hash::Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word));
        }
    }

    fn write_u8(&mut self, byte: u8) {
        self.add(u64::from(byte));
    }

    fn finish(&self) -> u64 {
        self.0
    }
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
            .field("fingerprint", &self.fingerprint())
            .field("nodes", &self.inner.nodes.len())
            .finish()
    }
}

impl<I, O> Graph<I, O> {
    /// Assembles a graph from checked definitions: derives the downstream lists. The signature
    /// and its fingerprint are derived when first asked for.
    pub(crate) fn assemble(parts: Parts<I>, output_slots: Vec<Slot>, output: OutputFn<O>) -> Self {
        let downstream = parts.upstream.reversed(parts.nodes.len());
        Graph {
            inner: Arc::new(GraphInner {
                name: parts.name,
                inputs: parts.inputs,
                nodes: parts.nodes,
                args: parts.args,
                upstream: parts.upstream,
                downstream,
                names: parts.names,
                output_slots,
                output,
                key: parts.key,
                run_limit: parts.run_limit,
                fair: parts.fair,
                #[cfg(feature = "schedules")]
                schedules: parts.schedules,
                signature: OnceLock::new(),
                fingerprint: OnceLock::new(),
            }),
        }
    }

    /// The nodes whose outputs the pipeline's output reads: kept until the run ends.
    pub(crate) fn output_nodes(&self) -> Vec<u32> {
        self.inner
            .output_slots
            .iter()
            .filter_map(|slot| match *slot {
                Slot::Node(i) => Some(i),
                Slot::Input(_) => None,
            })
            .collect()
    }

    /// The pipeline's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The fingerprint of the graph's shape (see [`GraphSignature::fingerprint`]).
    pub fn fingerprint(&self) -> &str {
        self.inner.fingerprint()
    }

    /// The graph's shape: inputs, nodes, edges, types.
    pub fn signature(&self) -> &GraphSignature {
        self.inner.signature()
    }

    /// The node ids in declaration (topological) order.
    pub fn node_ids(&self) -> impl Iterator<Item = &str> {
        self.inner.nodes.iter().map(|n| &*n.id)
    }

    /// The options of node `id` (retries, timeout, limit, ...), as `#[node(...)]` or the
    /// [`GraphBuilder`](crate::GraphBuilder) gave them; `None` for an unknown node.
    pub fn node_options(&self, id: &str) -> Option<&crate::node::NodeOptions> {
        let index = self.inner.node_index(id)?;
        Some(&self.inner.nodes[index as usize].options)
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

fn signature<I>(inputs: &[InputDef<I>], nodes: &[NodeDef], args: &Flat<Slot>) -> GraphSignature {
    let name = |slot: &Slot| match *slot {
        Slot::Input(i) => inputs[i as usize].name.as_ref().to_owned(),
        Slot::Node(i) => nodes[i as usize].id.as_ref().to_owned(),
    };
    GraphSignature {
        inputs: inputs
            .iter()
            .map(|i| InputSignature {
                name: String::from(&*i.name),
                type_name: i.codec.type_name.to_owned(),
            })
            .collect(),
        nodes: nodes
            .iter()
            .zip(0..)
            .map(|(n, i)| NodeSignature {
                id: n.id.as_ref().to_owned(),
                kind: n.kind.as_ref().to_owned(),
                version: n.version.as_deref().map(str::to_owned),
                output_type: match &n.map {
                    Some(map) => format!("Vec<{}>", map.item_codec.type_name),
                    None => n.codec.type_name.to_owned(),
                },
                each: n.map.as_ref().map(|map| map.each),
                inputs: args.of(i).iter().map(name).collect(),
                condition_inputs: n
                    .gate
                    .as_ref()
                    .map(|g| g.args.iter().map(name).collect())
                    .unwrap_or_default(),
            })
            .collect(),
    }
}
