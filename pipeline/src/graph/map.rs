//! Nodes mapped over a list (`each`): one call per item of a `Vec<T>` argument, the output the
//! `Vec` of the calls' outputs in item order. [`MapDef`] is what the engine runs per item; the
//! typed `NodeBuilder::each` (in `each.rs`) and the erased wiring of `pipeline!` both build one.

use std::sync::Arc;

use futures_util::future::BoxFuture;

use crate::data::{Codec, Data, Json, Value, to_json};
use crate::node::{NodeContext, NodeError};

/// One item's call: the node's erased argument values (the mapped one whole), the item's index.
pub(crate) type ItemRunFn = Arc<
    dyn Fn(&[&Value], u32, NodeContext) -> BoxFuture<'static, Result<Value, NodeError>>
        + Send
        + Sync,
>;

/// How a mapped node runs: which argument it is mapped over, how long that list is, one call per
/// item, and how the items' outputs become the node's `Vec`.
pub(crate) struct MapDef {
    /// The index of the argument the node is mapped over (a `Vec<T>`).
    pub each: usize,
    /// The length of the mapped argument (given with its index, `each`); `None` if it is not
    /// the `Vec` the node expects.
    pub len: fn(&Value, usize) -> Option<usize>,
    /// One item's call.
    pub run: ItemRunFn,
    /// The node's output from its items' outputs, in item order; `None` if one has another type.
    pub collect: fn(Vec<Value>) -> Option<Value>,
    /// How one item's output is written to its checkpoint record.
    pub item_codec: Codec,
    /// One item of the mapped argument (given with its index, `each`) as JSON, for audit
    /// entries that copy their inputs.
    pub item_input: fn(&Value, usize, u32) -> Option<Json>,
}

impl MapDef {
    /// A map over argument `each`, whose list holds `T`s and whose calls return `O`s.
    pub(crate) fn new<T: Data, O: Data>(each: usize, run: ItemRunFn, item_codec: Codec) -> Self {
        MapDef {
            each,
            len: |list, _| list_len::<T>(list),
            run,
            collect: collect::<O>,
            item_codec,
            item_input: |list, _, index| item_json::<T>(list, index),
        }
    }
}

/// The length of `list`, a `Vec<T>`.
pub(crate) fn list_len<T: Data>(list: &Value) -> Option<usize> {
    list.downcast_ref::<Vec<T>>().map(Vec::len)
}

/// Item `index` of `list`, a `Vec<T>`, as JSON.
pub(crate) fn item_json<T: Data>(list: &Value, index: u32) -> Option<Json> {
    let item = list.downcast_ref::<Vec<T>>()?.get(index as usize)?;
    to_json(item).ok()
}

/// Item `index` of `list`, a `Vec<T>`, cloned.
pub(crate) fn item_of<T: Data>(list: &Value, index: u32) -> Option<T> {
    list.downcast_ref::<Vec<T>>()?.get(index as usize).cloned()
}

/// The `Vec<O>` of the items' outputs; each is moved out of its `Arc` when nothing else holds it.
pub(crate) fn collect<O: Data>(items: Vec<Value>) -> Option<Value> {
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let item = item.downcast::<O>().ok()?;
        out.push(Arc::try_unwrap(item).unwrap_or_else(|shared| (*shared).clone()));
    }
    Some(Arc::new(out))
}

/// What `each` maps over: a `Vec`. `pipeline!`'s shadow code calls [`each_shadow`] with the
/// user's token, so mapping over anything else is a compile error at that token.
#[diagnostic::on_unimplemented(
    message = "`each` maps over a `Vec`, and `{Self}` is not one",
    label = "`each` needs a `Vec<T>` here",
    note = "the node runs once per item of the `Vec`; its parameter takes one item, a `T`"
)]
pub trait EachList {
    /// One item.
    type Item;
    /// The items, in order.
    fn items(self) -> std::vec::IntoIter<Self::Item>;
}

impl<T> EachList for Vec<T> {
    type Item = T;
    fn items(self) -> std::vec::IntoIter<T> {
        self.into_iter()
    }
}

/// The shadow of a mapped call: `call` per item of `list`, the outputs in a `Vec`.
#[doc(hidden)]
pub fn each_shadow<L: EachList, O>(list: L, call: impl FnMut(L::Item) -> O) -> Vec<O> {
    list.items().map(call).collect()
}

/// `value.__pipeline_copy()`: a value of the same type, where the shadow passes a binding on to
/// a node. The shadow only has its types checked and never runs, so no `Clone` is asked of the
/// type here (a type without it is reported once per node that takes it, at the node's
/// signature); a method, like `clone`, so that a mismatch is told as the value's type against
/// the parameter's.
#[doc(hidden)]
pub trait ShadowCopy {
    /// Never called: the shadow never runs.
    fn __pipeline_copy(&self) -> Self;
}

impl<T> ShadowCopy for T {
    fn __pipeline_copy(&self) -> T {
        unreachable!("the shadow of a pipeline is never run")
    }
}

pub(crate) const MISTYPED: &str =
    "internal error: an upstream value has another type than the node takes";
