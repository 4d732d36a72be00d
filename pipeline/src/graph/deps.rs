//! Typed lists of upstream values: what a node (or a condition, or the pipeline output) reads.

use std::marker::PhantomData;

use super::tuples::all_tuples;
use crate::data::{Data, Value};

/// Where a value lives while a run is in flight: a pipeline input or a node output.
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Slot {
    Input(u32),
    Node(u32),
}

/// A typed reference to a pipeline input or a node's output, returned by
/// [`GraphBuilder::input`](super::GraphBuilder::input) and
/// [`NodeBuilder::run`](super::NodeBuilder::run). It is `Copy`: pass it to every node that reads it.
pub struct Handle<T> {
    pub(crate) graph: u64,
    pub(crate) slot: Slot,
    _type: PhantomData<fn() -> T>,
}

impl<T> Handle<T> {
    pub(crate) fn new(graph: u64, slot: Slot) -> Self {
        Handle {
            graph,
            slot,
            _type: PhantomData,
        }
    }
}

impl<T> Clone for Handle<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Handle<T> {}

impl<T> std::fmt::Debug for Handle<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Handle<{}>({:?})", std::any::type_name::<T>(), self.slot)
    }
}

/// A list of [`Handle`]s whose values are gathered, cloned, into [`Deps::Values`].
///
/// Implemented for `()`, a single `Handle<T>` (values: `T`), `Vec<Handle<T>>` (values: `Vec<T>`,
/// for fan-in over a number of nodes known only at run time) and tuples of up to sixteen of these
/// (values: the tuple of their values), nested as deep as needed.
pub trait Deps: sealed::Sealed + Send + Sync + 'static {
    /// The owned values a consumer receives.
    type Values: Send + 'static;

    /// Appends the slot of each handle, in order; `false` if a handle belongs to another graph
    /// than `graph`.
    #[doc(hidden)]
    fn slots(&self, graph: u64, out: &mut Vec<Slot>) -> bool;

    /// How many handles the list has.
    #[doc(hidden)]
    fn count(&self) -> usize;

    /// Clones this list's values off the front of `values` (one entry per slot, in order). `None`
    /// only when a value has another type than its handle says, which the builder rules out.
    #[doc(hidden)]
    fn extract(&self, values: &mut &[&Value]) -> Option<Self::Values>;
}

mod sealed {
    pub trait Sealed {}
    impl<T> Sealed for super::Handle<T> {}
    impl<T> Sealed for Vec<super::Handle<T>> {}
    macro_rules! sealed_tuple {
        ($($name:ident $idx:tt),*) => { impl<$($name: Sealed),*> Sealed for ($($name,)*) {} };
    }
    super::all_tuples!(sealed_tuple);
}

fn take<'v, 'a>(values: &mut &'v [&'a Value], n: usize) -> Option<&'v [&'a Value]> {
    let (head, rest) = values.split_at_checked(n)?;
    *values = rest;
    Some(head)
}

impl<T: Data> Deps for Handle<T> {
    type Values = T;
    fn slots(&self, graph: u64, out: &mut Vec<Slot>) -> bool {
        out.push(self.slot);
        self.graph == graph
    }
    fn count(&self) -> usize {
        1
    }
    fn extract(&self, values: &mut &[&Value]) -> Option<T> {
        take(values, 1)?[0].downcast_ref::<T>().cloned()
    }
}

impl<T: Data> Deps for Vec<Handle<T>> {
    type Values = Vec<T>;
    fn slots(&self, graph: u64, out: &mut Vec<Slot>) -> bool {
        out.extend(self.iter().map(|h| h.slot));
        self.iter().all(|h| h.graph == graph)
    }
    fn count(&self) -> usize {
        Vec::len(self)
    }
    fn extract(&self, values: &mut &[&Value]) -> Option<Vec<T>> {
        take(values, self.len())?
            .iter()
            .map(|v| v.downcast_ref::<T>().cloned())
            .collect()
    }
}

macro_rules! tuple_deps {
    ($($name:ident $idx:tt),*) => {
        impl<$($name: Deps),*> Deps for ($($name,)*) {
            type Values = ($($name::Values,)*);
            #[allow(unused_variables)]
            fn slots(&self, graph: u64, out: &mut Vec<Slot>) -> bool {
                true $(& self.$idx.slots(graph, out))*
            }
            fn count(&self) -> usize {
                0 $(+ self.$idx.count())*
            }
            #[allow(unused_variables)]
            fn extract(&self, values: &mut &[&Value]) -> Option<Self::Values> {
                Some(($(self.$idx.extract(values)?,)*))
            }
        }
    };
}

all_tuples!(tuple_deps);
