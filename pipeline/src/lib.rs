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
//! # What it does
//!
//! - **Fan-out over a list**: `scores = score(each articles)` in [`pipeline!`] (or
//!   [`NodeBuilder::each`](graph::NodeBuilder::each)) runs a node once per item, at most
//!   `max_in_flight` at once, with a checkpoint record and retries per item: a resume runs only
//!   the items that did not complete.
//! - **Durable waits**: a node may wait for a typed signal or a timer
//!   (`approval = signal::<Approval>(plan, timeout = "48h")`); the run suspends, its process may
//!   exit, and [`PipelineEngine::signal`] (or the CLI's `signal`) continues it, in this process
//!   or another.
//! - **A cache keyed by the code**: `#[node(cache, uses = [parse_line])]` lets a new run restore
//!   what an earlier run computed from equal inputs with the same code (its tokens, its
//!   [`#[hashed]`](hashed) helpers' and its `version`), per item for a mapped node; the CLI's
//!   `why-miss` says which part of the key differed (see [`cache`]).
//! - **Stores**: in memory, files ([`Stores::open`]`("DIR")`), SQLite (feature `sqlite`) and
//!   PostgreSQL (feature `postgres`), each fenced by ownership epochs so that two processes never
//!   both write one run.
//! - **A command line** (feature `cli`, on by default): `cli::main()` gives a binary `run`,
//!   `resume`, `runs`, `show`, `audit`, `graph`, `signal` and more over every pipeline compiled
//!   into it.
//! - **A worker fleet** (feature `postgres`): the module `fleet` runs the nodes of submitted runs
//!   on many worker processes sharing one PostgreSQL database, with leases, takeover and cancel.
//! - **Schedules** (feature `schedules`): `#[schedule(cron = "0 3 * * *", tz = "Europe/Paris",
//!   inputs = nightly)]` starts a run per tick, each tick once however many schedulers run
//!   (`worker`, `serve`, or a `schedule::Scheduler` in your program); `backfill` starts the runs
//!   of past ticks.
//! - **A run viewer** (feature `web`): `serve` (or `web::Viewer` in your own server) shows runs,
//!   their graphs, audit trails and waits in a browser, and resumes or signals them.
//!
//! # Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `cli` | yes | `cli::main` and `cli::Cli`: a command line over every pipeline in the binary |
//! | `sqlite` | no | `SqliteCheckpointer` and `SqliteAuditLog` (SQLite compiled in), `--store sqlite://FILE` |
//! | `postgres` | no | `store::PostgresStore` and the worker fleet (`fleet`), `--store postgres://...` |
//! | `web` | no | the run viewer: `serve` on the command line, and `web::Viewer` (implies `cli`) |
//! | `schedules` | yes (with `cli`) | `schedule`: cron schedules in time zones, `#[schedule]` in `pipeline!`, backfills |
//!
//! Your crate also needs `serde` with its `derive` feature (the types that cross edges derive
//! `Serialize` and `Deserialize`, which the prelude re-exports) and `tokio` with `macros` and
//! `rt-multi-thread` for `#[tokio::main]`.
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
// docs.rs (nightly, `--cfg docsrs`) marks each item with the feature it needs.
#![cfg_attr(docsrs, feature(doc_cfg))]

extern crate self as pipeline;

pub mod cache;
mod call;
#[cfg(feature = "cli")]
pub mod cli;
#[cfg(feature = "schedules")]
mod cron;
mod data;
mod definition;
mod engine;
mod error;
mod event;
#[cfg(feature = "postgres")]
pub mod fleet;
pub mod graph;
mod machine;
pub mod metrics;
mod node;
pub mod registry;
mod result;
mod run_id;
#[cfg(feature = "schedules")]
#[cfg_attr(docsrs, doc(cfg(feature = "schedules")))]
pub mod schedule;
pub mod store;
mod sync;
#[cfg(feature = "cli")]
mod text;
pub mod trace;
#[cfg(feature = "web")]
pub mod web;

/// What code generated by `#[node]` and `pipeline!` calls, and nothing else: re-exports only.
/// Not a public API: names and signatures here change without notice.
#[doc(hidden)]
pub mod __private {
    pub use crate::data::{EqByCanonical, EqByValue, EqProbe, Value, input, key_part};
    pub use crate::definition::{
        FromCheckpoint, Pipeline, clone_output, clone_outputs, deserialize_output,
        deserialize_outputs, serialize_output, serialize_outputs, typed_checkpoint,
    };
    pub use crate::engine::{IntoSignal, Signal};
    #[cfg(not(feature = "schedules"))]
    pub use crate::graph::erased::SchedulesFeature;
    pub use crate::graph::erased::{
        AnyHandle, NodeInputs, NodeWiring, add_input, add_signal, add_timer, build, fair, gate,
        idempotent, limit_runs, schedule, signal_shadow, single,
    };
    pub use crate::graph::map::{EachList, ShadowCopy, each_shadow};
    pub use crate::graph::node_fn::blocking;
    pub use crate::graph::{Fingerprint, Graph, GraphBuilder};
    pub use crate::node::{
        ErasedFuture, Fallible, Hashed, IntoNodeError, Node, NodeContext, NodeError, NodeFuture,
        NodeOptions, OnError, erase, helper_code, node_cache, node_options, node_result, rate,
    };
    pub use crate::registry::{Binding, NodeInfo, Param, PipelineInfo, dyn_pipeline};
    pub use crate::store::Checkpoint;
    pub use inventory;
    pub use serde;
    pub use serde_json;
    pub use std::sync::OnceLock;
    pub use std::time::Duration;
}

pub use data::{Data, Json, KeyPart, RoundTrip};
pub use definition::{FromCheckpoint, Pipeline};
pub use engine::rank::PRIORITY_STEP;
pub use engine::{
    CancelHandle, Clock, DEFAULT_KEY_RETENTION, EngineSettings, IntoSignal, ManualClock,
    PipelineEngine, Rerun, Resume, RunOptions, Signal, SignalOutcome, Start, SystemClock,
};
pub use error::PipelineError;
pub use event::EventHandler;
pub use graph::{Graph, GraphBuilder, GraphError, Handle};
pub use node::{
    Backoff, DEFAULT_MAX_IN_FLIGHT, MapItem, Node, NodeContext, NodeError, NodeOptions, OnError,
    Rate, RateError, TimeoutError,
};
pub use pipeline_macros::{hashed, node, pipeline};
pub use result::{
    ItemFailure, NodeFailure, NodeIdIter, NodeList, NodeStatus, NodeStatusIter, NodeStatuses,
    PersistenceWarning, PipelineResult, RunStatus, WaitingOn, WarningSource,
};
pub use run_id::{InvalidRunId, MAX_RUN_ID_LEN, RunId};
#[cfg(feature = "postgres")]
pub use store::PostgresStore;
pub use store::{
    AuditDetail, AuditEntry, AuditLog, AuditStatus, Checkpoint, Checkpointer, Durability,
    FileAuditLog, FileCheckpointer, InMemoryAuditLog, InMemoryCheckpointer, NodeRecord, RunHeader,
    StoreError, Stores,
};
#[cfg(feature = "sqlite")]
pub use store::{SqliteAuditLog, SqliteCheckpointer};
#[cfg(feature = "otel")]
#[cfg_attr(docsrs, doc(cfg(feature = "otel")))]
pub use trace::otel;

/// Everything a pipeline author needs, in one `use`.
pub mod prelude {
    pub use crate::{
        CancelHandle, Durability, EngineSettings, FileAuditLog, FileCheckpointer, GraphBuilder,
        InMemoryAuditLog, InMemoryCheckpointer, NodeContext, NodeError, NodeStatus, OnError,
        Pipeline, PipelineEngine, PipelineError, PipelineResult, RunId, RunOptions, RunStatus,
        Stores, hashed, node, pipeline,
    };
    pub use serde::{Deserialize, Serialize};
}
