//! The typed way to map a node over a list: [`NodeBuilder::each`] and
//! [`NodeBuilder::each_blocking`].

use std::future::Future;
use std::sync::Arc;

use super::deps::{Deps, Handle};
use super::map::{ItemRunFn, MISTYPED, MapDef, item_of};
use super::node_builder::NodeBuilder;
use super::node_fn::blocking;
use crate::data::{Codec, Data, Value};
use crate::node::{NodeContext, NodeError};

impl<I: Data> NodeBuilder<'_, I> {
    /// Adds a node mapped over the list `items`: `f` runs once per item, with the item, the
    /// values of `deps` (whole, for every item) and a [`NodeContext`] (whose
    /// [`item`](NodeContext::item) says which). Each item is its own attempt series (retries and
    /// timeout apply per item) and gets its own checkpoint record, so a resumed run re-runs only
    /// the items that have none. Returns the handle of the `Vec` of outputs, in item order.
    ///
    /// ```
    /// use pipeline::{GraphBuilder, PipelineEngine};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let mut g = GraphBuilder::<(Vec<String>, usize)>::new("crawl");
    /// let urls = g.input("urls", |i: &(Vec<String>, usize)| i.0.clone());
    /// let limit = g.input("limit", |i: &(Vec<String>, usize)| i.1);
    /// let sizes = g.node("fetch").max_in_flight(8).each(urls, limit, |url, limit, _ctx| async move {
    ///     Ok::<_, std::io::Error>(url.len().min(limit))
    /// });
    /// let graph = g.build(sizes)?;
    /// let urls = vec!["a.example".to_owned(), "bb.example".to_owned()];
    /// let result = PipelineEngine::new(graph).run((urls, 9)).await?;
    /// assert_eq!(result.output, Some(vec![9, 9]));
    /// # Ok(())
    /// # }
    /// ```
    pub fn each<T, D, F, Fut, O, E>(self, items: Handle<Vec<T>>, deps: D, f: F) -> Handle<Vec<O>>
    where
        T: Data,
        D: Deps,
        F: Fn(T, D::Values, NodeContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<O, E>> + Send + 'static,
        O: Data,
        E: Into<NodeError>,
    {
        self.add_each(items, deps, move |item, args, ctx| {
            let call = f(item, args, ctx);
            async move { call.await.map_err(Into::into) }
        })
    }

    /// [`each`](NodeBuilder::each) with a blocking (sync) body, run on tokio's blocking pool.
    pub fn each_blocking<T, D, F, O, E>(
        self,
        items: Handle<Vec<T>>,
        deps: D,
        f: F,
    ) -> Handle<Vec<O>>
    where
        T: Data,
        D: Deps,
        F: Fn(T, D::Values, NodeContext) -> Result<O, E> + Send + Sync + 'static,
        O: Data,
        E: Into<NodeError>,
    {
        let f = Arc::new(f);
        self.add_each(items, deps, move |item, args, ctx| {
            let f = Arc::clone(&f);
            blocking(move || f(item, args, ctx).map_err(Into::into))
        })
    }

    fn add_each<T, D, O, Fut>(
        self,
        items: Handle<Vec<T>>,
        deps: D,
        call: impl Fn(T, D::Values, NodeContext) -> Fut + Send + Sync + 'static,
    ) -> Handle<Vec<O>>
    where
        T: Data,
        D: Deps,
        O: Data,
        Fut: Future<Output = Result<O, NodeError>> + Send + 'static,
    {
        self.builder.resolve_args(&self.id, &items);
        self.builder.resolve_args(&self.id, &deps);
        let run: ItemRunFn = Arc::new(move |values, index, ctx| {
            let item = values.first().and_then(|list| item_of::<T>(list, index));
            let rest = &mut values.get(1..).unwrap_or_default();
            match (item, deps.extract(rest)) {
                (Some(item), Some(args)) => {
                    let call = call(item, args, ctx);
                    Box::pin(async move { call.await.map(|v| Arc::new(v) as Value) })
                }
                _ => Box::pin(std::future::ready(Err(MISTYPED.into()))),
            }
        });
        let map = MapDef::new::<T, O>(0, run, Codec::of::<O>());
        self.add_map(map, Codec::of::<Vec<O>>())
    }
}
