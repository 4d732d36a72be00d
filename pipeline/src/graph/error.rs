//! The mistakes a graph under construction can hold, reported when it is built.

/// A mistake in a graph under construction, reported by [`GraphBuilder::build`](super::GraphBuilder::build).
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
