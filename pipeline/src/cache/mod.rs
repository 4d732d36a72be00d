//! Results reused across runs: `#[node(cache)]`.
//!
//! A cached node's output is stored with a key made of
//! - the node's code: a digest of its signature and body as tokens, computed by `#[node]`, so
//!   whitespace and comments do not count;
//! - its `version`;
//! - the code of each helper it lists in `uses = [..]`, each marked [`#[hashed]`](crate::hashed);
//! - a canonical digest of each input value (object keys in any order give one digest).
//!
//! A later run whose call of the node has the same key restores that output instead of running
//! the node: the node is [`NodeStatus::Cached`](crate::NodeStatus::Cached), and its audit entry
//! names the run the output came from. Entries live in the store (files, SQLite, PostgreSQL),
//! so every run that uses the store shares them. An output is cached only if it reads back as
//! the value downstream saw (the checkpoints' rule); an entry that expired or no longer decodes
//! is replaced by the next output computed for its key.
//!
//! Runs that miss one key at once both run the node; the first to store its output keeps the
//! entry, and the other's store is a no-op (both computed it from the same code and inputs).
//!
//! **What the key cannot see:** code neither in the node's body nor in a listed helper (other
//! crates, helpers not listed, the definitions of the types it uses), statics, the environment,
//! files and the clock. A node that reads the outside world should not be cached, or should take
//! what it reads as an input.
//!
//! ```
//! use pipeline::prelude::*;
//! use pipeline::hashed;
//!
//! #[hashed]
//! fn parse_line(line: &str) -> Option<i64> {
//!     line.trim().parse().ok()
//! }
//!
//! #[node(cache, uses = [parse_line])]
//! fn total(lines: Vec<String>) -> i64 {
//!     lines.iter().filter_map(|l| parse_line(l)).sum()
//! }
//!
//! pipeline! {
//!     pub Sum(lines: Vec<String>) -> i64 {
//!         sum = total(lines);
//!         sum
//!     }
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
//! let engine = PipelineEngine::new(Sum).checkpointer(InMemoryCheckpointer::new());
//! let lines = vec!["1".to_string(), "2".to_string()];
//! let first = engine.run(SumInputs { lines: lines.clone() }).await?;
//! let second = engine.run(SumInputs { lines }).await?;
//! assert_eq!(second.output, Some(3));
//! assert_eq!(second.nodes.get("sum"), Some(NodeStatus::Cached));
//! assert_eq!(second.cached.get("sum"), Some(&first.run_id));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub(crate) mod key;
pub(crate) mod lookup;
mod manage;

pub use crate::node::NodeCache;
pub use crate::store::{CacheEntry, CacheFilter, CacheHit, InputDigest, ResultCache};
pub use manage::{CacheLimits, Collected, KeyDifference, Missed, collect, differences, why_missed};
