//! The low-level graph API: build a DAG of typed nodes at run time.
//!
//! The `pipeline!` macro generates calls to this API; it is public so that DAGs whose shape is only
//! known at run time get the same engine, and the same checks on every edge's type, through
//! [`Handle`]s.
//!
//! ```
//! use pipeline::{GraphBuilder, PipelineEngine, RunStatus};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut g = GraphBuilder::<u64>::new("double_then_add");
//! let x = g.input("x", |x: &u64| *x);
//! let doubled = g.node("doubled").run(x, |x, _ctx| async move { Ok::<_, std::convert::Infallible>(x * 2) });
//! let sum = g.node("sum").run((x, doubled), |(x, d), _ctx| async move { Ok::<_, std::convert::Infallible>(x + d) });
//! let graph = g.build(sum)?;
//!
//! let result = PipelineEngine::new(graph).run(5).await?;
//! assert_eq!(result.status, RunStatus::Completed);
//! assert_eq!(result.output, Some(15));
//! # Ok(())
//! # }
//! ```

mod builder;
mod built;
mod counts;
mod deps;
mod each;
pub(crate) mod erased;
mod error;
mod fingerprint;
pub(crate) mod map;
mod node_builder;
pub(crate) mod node_fn;
mod render;
#[cfg(feature = "postgres")]
mod served;
mod signature;
mod tuples;
pub(crate) mod wait;

pub use builder::GraphBuilder;
pub use built::Graph;
pub(crate) use built::{GraphInner, KeyFn, NodeDef, WaitDef};
pub use counts::ItemCounts;
pub(crate) use deps::Slot;
pub use deps::{Deps, Handle};
pub use error::GraphError;
pub use fingerprint::Fingerprint;
pub use node_builder::NodeBuilder;
pub use render::NodeLook;
#[cfg(feature = "postgres")]
#[doc(hidden)]
pub use served::FleetGraph;
#[cfg(feature = "postgres")]
pub(crate) use served::ServedGraph;
pub use signature::{GraphSignature, InputSignature, NodeSignature};
