//! A pipeline's graph as a worker serves it: its inputs decoded from a run's stored JSON, and its
//! nodes, whatever the pipeline's input and output types.

use std::collections::HashMap;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde_json::value::RawValue;

use crate::data::Value;
use crate::graph::{Graph, GraphInner, NodeDef, Slot};
use crate::machine::Shape;

/// A graph with its types erased, as a worker runs its nodes.
pub(crate) trait ServedGraph: Shape + Send + Sync {
    fn name(&self) -> &str;
    fn fingerprint(&self) -> &str;
    fn nodes(&self) -> &[NodeDef];
    /// Node `node`'s arguments.
    fn args(&self, node: u32) -> &[Slot];
    /// The name of pipeline input `i`.
    fn input_name(&self, i: usize) -> Option<&str>;
    /// The pipeline input values of a run, from the inputs JSON of its header.
    fn inputs(&self, json: &RawValue) -> Result<Vec<Value>, serde_json::Error>;
}

impl<I, O> ServedGraph for GraphInner<I, O>
where
    I: DeserializeOwned + Send + Sync + 'static,
    O: Send + 'static,
{
    fn name(&self) -> &str {
        &self.name
    }
    fn fingerprint(&self) -> &str {
        GraphInner::fingerprint(self)
    }
    fn nodes(&self) -> &[NodeDef] {
        &self.nodes
    }
    fn args(&self, node: u32) -> &[Slot] {
        self.args.of(node)
    }
    fn input_name(&self, i: usize) -> Option<&str> {
        self.inputs.get(i).map(|input| &*input.name)
    }
    fn inputs(&self, json: &RawValue) -> Result<Vec<Value>, serde_json::Error> {
        let inputs: I = serde_json::from_str(json.get())?;
        Ok(self.inputs.iter().map(|i| (i.extract)(&inputs)).collect())
    }
}

/// The graphs a worker serves, by fingerprint.
#[derive(Clone, Default)]
pub(crate) struct Served {
    graphs: HashMap<String, Arc<dyn ServedGraph>>,
}

impl Served {
    pub fn add<I, O>(&mut self, graph: &Graph<I, O>)
    where
        I: DeserializeOwned + Send + Sync + 'static,
        O: Send + 'static,
    {
        self.insert(graph.inner.clone());
    }

    pub fn insert(&mut self, graph: Arc<dyn ServedGraph>) {
        self.graphs.insert(graph.fingerprint().to_owned(), graph);
    }

    pub fn get(&self, fingerprint: &str) -> Option<&Arc<dyn ServedGraph>> {
        self.graphs.get(fingerprint)
    }

    pub fn fingerprints(&self) -> Vec<String> {
        self.graphs.keys().cloned().collect()
    }

    /// The pipelines' names and fingerprints, pairwise.
    pub fn served(&self) -> (Vec<String>, Vec<String>) {
        self.graphs
            .iter()
            .map(|(fingerprint, graph)| (graph.name().to_owned(), fingerprint.clone()))
            .unzip()
    }

    /// The names of the pipelines served, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.graphs.values().map(|g| g.name().to_owned()).collect();
        names.sort();
        names.dedup();
        names
    }

    pub fn is_empty(&self) -> bool {
        self.graphs.is_empty()
    }
}

/// A registered pipeline's graph as a worker serves it (see `DynPipeline::fleet_graph`).
#[doc(hidden)]
pub struct FleetGraph(pub(crate) Arc<dyn ServedGraph>);

impl FleetGraph {
    pub(crate) fn of<I, O>(graph: &Graph<I, O>) -> FleetGraph
    where
        I: DeserializeOwned + Send + Sync + 'static,
        O: Send + 'static,
    {
        FleetGraph(graph.inner.clone())
    }
}
