//! A pipeline's graph as a fleet worker serves it (feature `postgres`): its inputs decoded from a
//! run's stored JSON, and its nodes, whatever the pipeline's input and output types.

use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde_json::value::RawValue;

use super::{Graph, GraphInner, NodeDef, Slot};
use crate::data::{Json, Value};
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
    /// Pipeline input `i`'s `value` as JSON (for a cached node's key); `None` when it does not
    /// serialize.
    fn input_json(&self, i: usize, value: &Value) -> Option<Json>;
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
    fn input_json(&self, i: usize, value: &Value) -> Option<Json> {
        (self.inputs.get(i)?.codec.encode)(value).ok()
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
