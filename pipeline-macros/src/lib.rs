//! Procedural macros for the `pipeline` crate: [`node`] and [`pipeline!`].
//!
//! Depend on `pipeline` and `use pipeline::prelude::*;`; the generated code reaches the runtime
//! only through `::pipeline::__private`. The crate has three layers: parsing into a model that
//! keeps every span (`node::parse`, `pipeline::ast`), checks with one function per rule
//! (`pipeline::check`), and code generation (`node::expand`, `pipeline::expand`).
#![deny(missing_docs)]

mod code;
mod ctxt;
mod debug;
mod hashed;
mod node;
mod pipeline;
mod text;

use proc_macro::TokenStream;

/// Turns a fn into a pipeline node.
///
/// The fn stays an ordinary fn (callable in unit tests); `#[node]` adds a hidden type of the same
/// name implementing `pipeline::Node`, and registers the node for `pipeline::registry::nodes()`.
///
/// - `async fn` nodes run on tokio; sync `fn` nodes run on tokio's blocking pool.
/// - Parameters are owned values that are `Serialize + DeserializeOwned + Clone + Send + Sync +
///   'static`; a `NodeContext` parameter (anywhere) is not an input.
/// - A return type whose last segment is `Result` (`Result<T, E>`, `anyhow::Result<T>`,
///   `std::io::Result<T>`) is fallible: `T` is the output and `E` must convert into
///   `Box<dyn Error + Send + Sync>`. Any other return type is the output of an infallible node.
///
/// Options: `retries = 3`, `timeout = "30s"`, `backoff = "200ms"` (the first wait between retries,
/// doubled each time), `on_error = skip_downstream` (or `fail_fast`), `max_in_flight = 8` (when
/// the node is mapped over a list with `each`, how many items run at once). Durations take `ms`,
/// `s`, `m` and `h`, and may be combined: `"1m30s"`. When the node is mapped, retries and the
/// timeout apply to each item.
///
/// ```ignore
/// #[node(retries = 3, timeout = "30s")]
/// async fn count(orders: Vec<Order>, ctx: NodeContext) -> anyhow::Result<usize> {
///     Ok(orders.len())
/// }
/// ```
#[proc_macro_attribute]
pub fn node(attr: TokenStream, item: TokenStream) -> TokenStream {
    node::expand(attr.into(), item.into()).into()
}

/// Marks a helper fn whose code is part of the cache key of every cached node that lists it:
/// `#[node(cache, uses = [parse_line])]`. The fn stays an ordinary fn; `#[hashed]` adds a hidden
/// type of the same name that gives the digest of its signature and body (whitespace and
/// comments do not count). A helper that calls other helpers lists them too:
/// `#[hashed(uses = [split])]`, and a change in any of them changes the key.
///
/// ```ignore
/// #[hashed]
/// fn parse_line(line: &str) -> Option<i64> {
///     line.trim().parse().ok()
/// }
///
/// #[node(cache, uses = [parse_line])]
/// fn total(lines: Vec<String>) -> i64 {
///     lines.iter().filter_map(|l| parse_line(l)).sum()
/// }
/// ```
#[proc_macro_attribute]
pub fn hashed(attr: TokenStream, item: TokenStream) -> TokenStream {
    hashed::expand(attr.into(), item.into()).into()
}

/// Declares a pipeline: typed inputs, `binding = node(args) [if condition];` statements, and an
/// output.
///
/// ```ignore
/// pipeline! {
///     /// Daily sales report.
///     pub Sales(path: String) -> String {
///         orders = load(path);
///         sum    = total(orders);
///         n      = count(orders);
///         alert  = page_oncall(sum) if sum > 1_000_000;
///         report = render(sum, n);
///         report
///     }
/// }
/// ```
///
/// `each` maps a node over a list: `pages = fetch(each urls, cfg);` calls `fetch` once per item
/// of `urls` (a `Vec<T>`; `fetch`'s parameter takes a `T`), passing the other arguments whole to
/// every call, and `pages` is the `Vec` of outputs in item order. Each item is its own attempt
/// series with its own checkpoint record, so a resumed run runs only the items without one.
/// `each` marks one argument (pair lists up in a node of their own to map over two), cannot
/// appear in a condition (a condition gates the whole map), and a node mapped over another
/// mapped node's output starts once that node has completed.
///
/// Generates the unit struct `Sales` (implementing `pipeline::Pipeline`), `SalesInputs` (the
/// inputs, with pub fields) and `SalesCheckpoint` (the inputs and one `Option` per binding), and
/// registers the pipeline for `pipeline::registry::pipelines()`. Every argument's type, every
/// node's arity and the output's type are checked by the compiler at the user's tokens; unknown
/// names, duplicates and cycles are reported together, each at its token.
///
/// Set `PIPELINE_MACROS_DEBUG=<pipeline name>` while building to print the expansion.
#[proc_macro]
pub fn pipeline(input: TokenStream) -> TokenStream {
    pipeline::expand(input.into()).into()
}

#[cfg(test)]
mod snapshot_tests;
