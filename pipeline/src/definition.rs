//! What the engine runs: the [`Pipeline`] trait, and the decoding of a stored checkpoint into a
//! pipeline's typed checkpoint struct.

use serde::de::DeserializeOwned;

use crate::data::Data;
use crate::graph::Graph;
use crate::store::Checkpoint;

/// A pipeline definition: a name and a graph of typed nodes, with typed inputs and output.
///
/// `pipeline!` implements it for the unit struct it generates; a [`Graph`] built at run time
/// implements it too, so both run on the same [`PipelineEngine`](crate::PipelineEngine).
pub trait Pipeline: Send + Sync + 'static {
    /// The pipeline's inputs.
    type Inputs: Data;
    /// What a completed run returns.
    type Output: Send + 'static;
    /// The typed form of a run's checkpoint (`pipeline!` generates one; a [`Graph`] uses the raw
    /// [`Checkpoint`]).
    type Checkpoint: FromCheckpoint;

    /// The graph to run. Called once, when an engine is built.
    fn graph(&self) -> Graph<Self::Inputs, Self::Output>;
}

impl<I: Data, O: Send + 'static> Pipeline for Graph<I, O> {
    type Inputs = I;
    type Output = O;
    type Checkpoint = Checkpoint;

    fn graph(&self) -> Graph<I, O> {
        self.clone()
    }
}

/// Decodes a stored [`Checkpoint`] into a typed one.
pub trait FromCheckpoint: Sized {
    /// Decodes `checkpoint`.
    fn from_checkpoint(checkpoint: &Checkpoint) -> Result<Self, serde_json::Error>;
}

impl FromCheckpoint for Checkpoint {
    fn from_checkpoint(checkpoint: &Checkpoint) -> Result<Self, serde_json::Error> {
        Ok(checkpoint.clone())
    }
}

/// Decodes a stored checkpoint into a `pipeline!`'s typed checkpoint struct: the inputs, and one
/// field per completed node (the first record of a node wins, as on resume; a mapped node's
/// field is set only when every item has a record).
#[doc(hidden)]
pub fn typed_checkpoint<T: DeserializeOwned>(
    checkpoint: &Checkpoint,
) -> Result<T, serde_json::Error> {
    let mut fields: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(checkpoint.header.inputs.get())?;
    for (id, stored) in checkpoint.stored() {
        if let Some(output) = stored.output() {
            fields.insert(id.to_owned(), serde_json::from_str(output.get())?);
        }
    }
    serde_json::from_value(serde_json::Value::Object(fields))
}
