//! What the engine runs: the [`Pipeline`] trait, and the decoding of a stored checkpoint into a
//! pipeline's typed checkpoint struct.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;

use crate::data::{Data, Json};
use crate::graph::Graph;
use crate::node::Node;
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
    // Joined as text, never through `serde_json::Value`: its numbers are `f64` beyond `u64`, so
    // a `u128` output would not read back.
    let mut fields: BTreeMap<&str, &RawValue> =
        serde_json::from_str(checkpoint.header.inputs.get())?;
    let stored: Vec<(&str, Json)> = checkpoint
        .stored()
        .into_iter()
        .filter_map(|(id, stored)| Some((id, stored.output()?)))
        .collect();
    for (id, output) in &stored {
        fields.insert(id, &**output);
    }
    serde_json::from_str(&serde_json::to_string(&fields)?)
}

/// Serializes a typed checkpoint's field of node `N` (`pipeline!` names it in the field's
/// `serialize_with`): the bound `N::Output: Data` comes with `N: Node`, so a non-serializable
/// output is reported once, at the node's return type, and not again by the checkpoint's derive.
#[doc(hidden)]
pub fn serialize_output<N: Node, S: Serializer>(
    output: &Option<N::Output>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    output.serialize(serializer)
}

/// [`serialize_output`] for a node mapped with `each`.
#[doc(hidden)]
pub fn serialize_outputs<N: Node, S: Serializer>(
    outputs: &Option<Vec<N::Output>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    outputs.serialize(serializer)
}

/// Clones a typed checkpoint's field of node `N`: through `N`'s `Node` impl, which carries the
/// `Data` bound (so `Clone`), so that an output type without `Clone` is reported once, at the
/// node's return type, and not again by the checkpoint's `Clone`.
#[doc(hidden)]
pub fn clone_output<N: Node>(output: &Option<N::Output>) -> Option<N::Output> {
    output.clone()
}

/// [`clone_output`] for a node mapped with `each`.
#[doc(hidden)]
pub fn clone_outputs<N: Node>(outputs: &Option<Vec<N::Output>>) -> Option<Vec<N::Output>> {
    outputs.clone()
}

/// Deserializes a typed checkpoint's field of node `N` (see [`serialize_output`]).
#[doc(hidden)]
pub fn deserialize_output<'de, N: Node, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<N::Output>, D::Error> {
    Option::deserialize(deserializer)
}

/// [`deserialize_output`] for a node mapped with `each`.
#[doc(hidden)]
pub fn deserialize_outputs<'de, N: Node, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Vec<N::Output>>, D::Error> {
    Option::deserialize(deserializer)
}
