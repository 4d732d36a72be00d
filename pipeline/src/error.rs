//! Why a run could not start or resume.

use crate::graph::GraphError;
use crate::run_id::RunId;
use crate::store::StoreError;

/// A run that could not start or resume. A run whose nodes fail is not an error: it returns
/// `Ok(PipelineResult)` with [`RunStatus::Failed`](crate::RunStatus::Failed).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PipelineError {
    /// A run of a pipeline with waits could not be written to its checkpoint store as it started:
    /// it would wait with nothing to continue it from, so it did not start.
    #[error(
        "run `{run_id}` was not started: its pipeline waits for signals or timers, which continue \
         it from its checkpoint, and the checkpoint store cannot take it: {reason}"
    )]
    WaitsNeedCheckpoint {
        /// The run.
        run_id: RunId,
        /// Why the store cannot take it.
        reason: String,
    },
    /// `resume` (or `checkpoint`) needs a checkpointer.
    #[error(
        "cannot resume run `{0}`: the engine has no checkpointer; \
         configure one with `.checkpointer(..)` before running and resuming"
    )]
    NoCheckpointer(RunId),
    /// `submit`, `wait` or `cancel` was called on an engine without a fleet store.
    #[error(
        "run `{0}`: submitting, waiting for and cancelling fleet runs needs a fleet store; \
         configure one with `.fleet(PostgresStore::open(url)?)`"
    )]
    NoFleet(RunId),
    /// The checkpointer has no run with this id.
    #[error("unknown run `{0}`: the checkpointer has no run with this id")]
    UnknownRun(RunId),
    /// A run was started with an id that is already taken ([`RunOptions::id`](crate::RunOptions::id)).
    #[error("run `{0}` already exists; resume it with `resume`, or choose another id")]
    RunExists(RunId),
    /// Another engine, in this process or another, is running or resuming this run.
    #[error(
        "run `{0}` is in use by another engine (in this or another process); \
         wait for it to finish, then resume"
    )]
    RunLocked(RunId),
    /// The checkpoint was written by another pipeline.
    #[error("run `{run_id}` belongs to pipeline `{found}`, not `{expected}`")]
    PipelineMismatch {
        /// The run.
        run_id: RunId,
        /// This engine's pipeline.
        expected: String,
        /// The pipeline that wrote the checkpoint.
        found: String,
    },
    /// The checkpoint was written by this pipeline before its graph changed.
    #[error(
        "run `{run_id}` of pipeline `{pipeline}` was written by a different version of the graph \
         (fingerprint {stored}, now {current}): {}; start a new run",
        changes.join("; ")
    )]
    GraphChanged {
        /// The run.
        run_id: RunId,
        /// The pipeline.
        pipeline: String,
        /// The fingerprint in the checkpoint.
        stored: String,
        /// The fingerprint of this engine's graph.
        current: String,
        /// What changed, one line per difference.
        changes: Vec<String>,
    },
    /// A stored value could not be decoded into its current Rust type.
    #[error("run `{run_id}`: cannot decode the stored {what}: {source}")]
    Decode {
        /// The run.
        run_id: RunId,
        /// "inputs" or "output of node `x`".
        what: String,
        /// The serde error.
        #[source]
        source: serde_json::Error,
    },
    /// The run was cancelled while it waited: no signal continues it.
    #[error("run `{0}` was cancelled while it waited; it takes no signal")]
    RunCancelled(RunId),
    /// A signal names no wait of the pipeline.
    #[error("run `{run_id}`: the pipeline has no wait named `{wait}`; its waits: {}", waits_text(.waits))]
    UnknownWait {
        /// The run.
        run_id: RunId,
        /// The name the signal gave.
        wait: String,
        /// The pipeline's waits.
        waits: Vec<String>,
    },
    /// A signal's payload is not a value of its wait's type.
    #[error("run `{run_id}`: the signal for `{wait}` is not a `{type_name}`: {source}")]
    BadSignal {
        /// The run.
        run_id: RunId,
        /// The wait.
        wait: String,
        /// The wait's payload type.
        type_name: &'static str,
        /// Why the payload does not decode.
        #[source]
        source: serde_json::Error,
    },
    /// Inputs given as JSON do not match the pipeline's inputs.
    #[error("invalid inputs for pipeline `{pipeline}`: {source}")]
    InvalidInputs {
        /// The pipeline.
        pipeline: String,
        /// What serde said (the missing or mistyped field, and where).
        #[source]
        source: serde_json::Error,
    },
    /// Inputs given as a JSON object miss a field, or have one the pipeline does not take.
    #[error(
        "invalid inputs for pipeline `{pipeline}`: {problems}; its inputs are {expected}",
        problems = problems.join("; ")
    )]
    InputFields {
        /// The pipeline.
        pipeline: String,
        /// Each problem: ``missing `path` (String)``, ``unknown `extra` ``.
        problems: Vec<String>,
        /// The pipeline's inputs with their types: `` `path`: String ``.
        expected: String,
    },
    /// A node named to run again is not a node of the pipeline.
    #[error(
        "run `{run_id}`: the pipeline has no node `{node}`; its nodes: {}",
        nodes.join(", ")
    )]
    UnknownNode {
        /// The run.
        run_id: RunId,
        /// The name given.
        node: String,
        /// The pipeline's nodes.
        nodes: Vec<String>,
    },
    /// The store could not be read or written.
    #[error("run `{run_id}`: {source}")]
    Store {
        /// The run.
        run_id: RunId,
        /// What the store said.
        #[source]
        source: StoreError,
    },
    /// User code outside any node panicked (a pipeline input's extractor, or a `Clone` of the
    /// output); the run's stores hold what was written before.
    #[error("run `{run_id}`: user code outside any node {message}")]
    Panicked {
        /// The run.
        run_id: RunId,
        /// The panic.
        message: String,
    },
    /// The graph is malformed.
    #[error(transparent)]
    Graph(#[from] GraphError),
}

impl PipelineError {
    /// The error a store's failure is to the caller of run `run_id`. A store that refuses to hand
    /// the run over (its id is taken, or another engine holds it) gets its own variant, so the
    /// caller can tell "choose another id" and "wait" from a broken store.
    pub(crate) fn from_store(run_id: &RunId, source: StoreError) -> PipelineError {
        match source {
            StoreError::RunExists(id) => PipelineError::RunExists(id),
            StoreError::Locked(id) => PipelineError::RunLocked(id),
            StoreError::UnknownRun(id) => PipelineError::UnknownRun(id),
            source => PipelineError::Store {
                run_id: run_id.clone(),
                source,
            },
        }
    }
}

fn waits_text(waits: &[String]) -> String {
    match waits.is_empty() {
        true => "none".to_owned(),
        false => waits
            .iter()
            .map(|w| format!("`{w}`"))
            .collect::<Vec<_>>()
            .join(", "),
    }
}
