//! [`GraphBuilder`]: declares inputs and nodes, checks ids and handles, and builds a [`Graph`].

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::built::{Edges, FastHash, Graph, InputDef, NodeDef, OutputFn, Parts};
use super::deps::{Deps, Handle, Slot};
use super::error::GraphError;
use crate::data::{Codec, Data, Value};

static NEXT_BUILDER_ID: AtomicU64 = AtomicU64::new(1);

/// Builds a [`Graph`] node by node: [`input`](GraphBuilder::input)s, then
/// [`node`](GraphBuilder::node)s, then [`build`](GraphBuilder::build). A node can read only handles that exist when it is added, so a
/// graph built this way is acyclic by construction, and every edge's type is checked by the compiler.
pub struct GraphBuilder<I> {
    id: u64,
    name: Arc<str>,
    inputs: Vec<InputDef<I>>,
    nodes: Vec<NodeDef>,
    upstream: Edges,
    names: HashMap<Arc<str>, Slot, FastHash>,
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
            upstream: Edges::with_capacity(0),
            names: HashMap::default(),
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

    /// Finishes the graph; `output` names what a completed run returns (a handle or a tuple of them).
    pub fn build<D: Deps>(mut self, output: D) -> Result<Graph<I, D::Values>, GraphError> {
        let output_slots = self.resolve("output", &output);
        self.finish(
            output_slots,
            Box::new(move |mut values| output.extract(&mut values)),
        )
    }

    /// Finishes the graph, or reports its first mistake.
    pub(crate) fn finish<O>(
        self,
        output_slots: Vec<Slot>,
        output: OutputFn<O>,
    ) -> Result<Graph<I, O>, GraphError> {
        if let Some(first) = self.errors.into_iter().next() {
            return Err(first);
        }
        let parts = Parts {
            name: self.name,
            inputs: self.inputs,
            nodes: self.nodes,
            upstream: self.upstream,
            names: self.names,
        };
        Ok(Graph::assemble(parts, output_slots, output))
    }

    /// Adds a node whose argument and gate slots were checked by
    /// [`check_slots`](Self::check_slots); its upstream list is derived here.
    pub(crate) fn push_node<T>(&mut self, node: NodeDef) -> Handle<T> {
        let mut upstream = node
            .args
            .iter()
            .chain(node.gate.iter().flat_map(|g| &g.args))
            .filter_map(|slot| match *slot {
                Slot::Node(i) => Some(i),
                Slot::Input(_) => None,
            });
        match node.args.len() + node.gate.as_ref().map_or(0, |g| g.args.len()) {
            // The common cases, without sorting a list.
            0 => self.upstream.push([]),
            1 => self.upstream.push(upstream.next()),
            _ => {
                let mut upstream: Vec<u32> = upstream.collect();
                upstream.sort_unstable();
                upstream.dedup();
                self.upstream.push(upstream);
            }
        }
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

    /// The slots of `deps`, checked to belong to this builder; `reader` names who reads them.
    pub(crate) fn resolve<D: Deps>(&mut self, reader: &str, deps: &D) -> Vec<Slot> {
        let mut slots = Vec::with_capacity(deps.count());
        let mine = deps.slots(self.id, &mut slots);
        self.check_slots(reader, mine);
        slots
    }

    /// Records a [`GraphError::ForeignHandle`] unless every handle `reader` reads is `mine`
    /// (belongs to this builder).
    pub(crate) fn check_slots(&mut self, reader: &str, mine: bool) {
        if !mine {
            self.errors.push(GraphError::ForeignHandle {
                pipeline: self.name.to_string(),
                id: reader.to_owned(),
            });
        }
    }

    /// This builder's id, which its handles carry.
    pub(crate) fn id(&self) -> u64 {
        self.id
    }
}
