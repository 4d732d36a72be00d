//! Typed, durable DAG pipelines of async fns on tokio.
//!
//! A pipeline is a graph of nodes: plain `async fn`s whose inputs are pipeline inputs or other
//! nodes' outputs. The [`PipelineEngine`] runs every node whose dependencies are satisfied,
//! independent nodes concurrently, and after each node appends one record to a [`Checkpointer`]
//! and one entry to an [`AuditLog`], so a failed or killed run [`resume`s](PipelineEngine::resume)
//! without running again what completed.
//!
//! Pipelines are written with [`node`] and [`pipeline!`], which check every edge at compile time:
//!
//! ```
//! use pipeline::prelude::*;
//!
//! #[node]
//! async fn words(text: String) -> Vec<String> {
//!     text.split_whitespace().map(String::from).collect()
//! }
//!
//! #[node(retries = 2)]
//! async fn count(words: Vec<String>) -> Result<usize, std::io::Error> {
//!     Ok(words.len())
//! }
//!
//! #[node]
//! fn shout(words: Vec<String>, n: usize) -> String {
//!     format!("{n} words: {}", words.join(" ").to_uppercase())
//! }
//!
//! pipeline! {
//!     /// Counts and shouts the words of a text.
//!     pub Words(text: String) -> String {
//!         all  = words(text);
//!         n    = count(all);
//!         loud = shout(all, n) if n > 0;
//!         loud
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let engine = PipelineEngine::new(Words).checkpointer(InMemoryCheckpointer::new());
//! let result = engine.run(WordsInputs { text: "resume what failed".into() }).await?;
//! assert_eq!(result.status, RunStatus::Completed);
//! assert_eq!(result.output.as_deref(), Some("3 words: RESUME WHAT FAILED"));
//!
//! let checkpoint: WordsCheckpoint = engine.checkpoint(&result.run_id).await?.unwrap();
//! assert_eq!(checkpoint.n, Some(3));
//! # Ok(())
//! # }
//! ```
//!
//! The macros generate calls to the low-level [`GraphBuilder`], which is public for DAGs whose shape
//! is only known at run time; its edges are typed through [`Handle`]s.
//!
//! # Semantics
//!
//! | situation | checkpoint | audit | node status | dependents |
//! |---|---|---|---|---|
//! | node succeeds | one record, before dependents start | one entry | `Completed` | become ready |
//! | node fails (error, panic, timeout) after its retries | none | one entry per failed attempt | `Failed` | fail-fast: run stops scheduling; skip-downstream: `Skipped` |
//! | condition gate false | none | none | `Skipped` | `Skipped` |
//! | upstream `Skipped` | none | none | `Skipped` | `Skipped` |
//! | never reached (run stopped or cancelled) | none | none | `NotRun` | `NotRun` |
#![deny(missing_docs)]
#![forbid(unsafe_code)]

extern crate self as pipeline;

#[cfg(feature = "cli")]
pub mod cli;
mod data;
mod definition;
mod engine;
mod error;
mod event;
pub mod graph;
#[doc(hidden)]
pub mod macro_support;
mod node;
pub mod registry;
mod result;
mod run_id;
pub mod store;

#[doc(hidden)]
pub use macro_support as __private;

pub use data::{Data, Json};
pub use definition::{FromCheckpoint, Pipeline};
pub use engine::{CancelHandle, PipelineEngine};
pub use error::PipelineError;
pub use event::EventHandler;
pub use graph::{Graph, GraphBuilder, GraphError, Handle};
pub use node::{Backoff, Node, NodeContext, NodeError, NodeOptions, OnError, TimeoutError};
pub use pipeline_macros::{node, pipeline};
pub use result::{NodeFailure, NodeStatus, PersistenceWarning, PipelineResult, RunStatus, Store};
pub use run_id::{InvalidRunId, MAX_RUN_ID_LEN, RunId};
pub use store::{
    AuditEntry, AuditLog, AuditStatus, Checkpoint, Checkpointer, Durability, FileAuditLog,
    FileCheckpointer, InMemoryAuditLog, InMemoryCheckpointer, NodeRecord, RunHeader, StoreError,
};

/// Everything a pipeline author needs, in one `use`.
pub mod prelude {
    pub use crate::{
        CancelHandle, Durability, FileAuditLog, FileCheckpointer, GraphBuilder, InMemoryAuditLog,
        InMemoryCheckpointer, NodeContext, NodeError, NodeStatus, OnError, Pipeline,
        PipelineEngine, PipelineError, PipelineResult, RunId, RunStatus, node, pipeline,
    };
    pub use serde::{Deserialize, Serialize};
}
