//! A built graph: the immutable definitions of inputs and nodes that the engine runs.

use std::collections::HashMap;
use std::sync::Arc;

use futures_util::future::BoxFuture;

use super::deps::Slot;
use super::signature::{GraphSignature, InputSignature, NodeSignature};
use crate::data::{Codec, Value};
use crate::node::{NodeContext, NodeError, NodeOptions};

/// A node's body as the engine calls it: erased input values in, an erased output out.
pub(crate) type RunFn = Arc<
    dyn Fn(&[&Value], NodeContext) -> BoxFuture<'static, Result<Value, NodeError>> + Send + Sync,
>;
/// A condition gate over erased values; `None` when a value has an unexpected type.
pub(crate) type GateFn = Arc<dyn Fn(&[&Value]) -> Option<bool> + Send + Sync>;
pub(crate) type ExtractInputFn<I> = Box<dyn Fn(&I) -> Value + Send + Sync>;
pub(crate) type OutputFn<O> = Box<dyn Fn(&[&Value]) -> Option<O> + Send + Sync>;

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
    /// Assembles a graph from checked definitions: derives the downstream lists, the id index,
    /// the signature and its fingerprint.
    pub(crate) fn assemble(
        name: Arc<str>,
        inputs: Vec<InputDef<I>>,
        nodes: Vec<NodeDef>,
        output_slots: Vec<Slot>,
        output: OutputFn<O>,
    ) -> Self {
        let mut downstream = vec![Vec::new(); nodes.len()];
        for (i, node) in nodes.iter().enumerate() {
            for &up in &node.upstream {
                downstream[up as usize].push(i as u32);
            }
        }
        let signature = signature(&inputs, &nodes);
        let index = nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (Arc::clone(&n.id), i as u32))
            .collect();
        Graph {
            inner: Arc::new(GraphInner {
                fingerprint: signature.fingerprint(),
                signature,
                name,
                inputs,
                nodes,
                downstream,
                index,
                output_slots,
                output,
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
