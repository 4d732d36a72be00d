//! The wiring `pipeline!` generates: handles and inputs with their types erased. The shadow code
//! `pipeline!` emits has the compiler check every edge's type, so this path need not; it ends in
//! the same [`NodeBuilder`](super::NodeBuilder) and run closure as the typed API.

use std::sync::Arc;

use super::builder::GraphBuilder;
use super::built::{GateDef, GateFn, Graph, WaitDef};
use super::deps::{Handle, Slot};
use super::map::{ItemRunFn, MISTYPED, MapDef, collect, item_json, item_of, list_len};
use super::node_builder::NodeBuilder;
use super::node_fn::erased_run_fn;
use super::tuples::all_tuples;
use serde_json::value::RawValue;

use crate::data::{Codec, Data, Json, Value, ValueEq, round_trips};
use crate::node::Node;

/// A handle with its type erased.
#[derive(Clone, Copy, Debug)]
pub struct AnyHandle {
    graph: u64,
    slot: Slot,
}

impl<T> From<Handle<T>> for AnyHandle {
    fn from(handle: Handle<T>) -> Self {
        AnyHandle {
            graph: handle.graph,
            slot: handle.slot,
        }
    }
}

/// A node's inputs, gathered from the engine's erased values: a tuple of `Data` types.
pub trait NodeInputs: Sized + Send + 'static {
    /// Clones the values, one per tuple element; `None` if one has another type.
    fn from_values(values: &[&Value]) -> Option<Self>;

    /// Like [`from_values`](NodeInputs::from_values) for one item of a node mapped over its
    /// argument `each`: that value is a `Vec` of the element's type, and item `index` of it is
    /// cloned; the others are cloned whole.
    #[doc(hidden)]
    fn from_item(values: &[&Value], each: usize, index: u32) -> Option<Self>;

    /// The length of `list` when it is a `Vec` of element `each`'s type.
    #[doc(hidden)]
    fn list_len(list: &Value, each: usize) -> Option<usize>;

    /// Item `index` of `list`, a `Vec` of element `each`'s type, as JSON.
    #[doc(hidden)]
    fn item_json(list: &Value, each: usize, index: u32) -> Option<Json>;
}

macro_rules! node_inputs {
    ($($name:ident $idx:tt),*) => {
        impl<$($name: Data),*> NodeInputs for ($($name,)*) {
            #[allow(unused_variables)]
            fn from_values(values: &[&Value]) -> Option<Self> {
                Some(($(values.get($idx)?.downcast_ref::<$name>()?.clone(),)*))
            }
            #[allow(unused_variables)]
            fn from_item(values: &[&Value], each: usize, index: u32) -> Option<Self> {
                Some(($(
                    match each == $idx {
                        true => item_of::<$name>(values.get($idx)?, index)?,
                        false => values.get($idx)?.downcast_ref::<$name>()?.clone(),
                    },
                )*))
            }
            #[allow(unused_variables)]
            fn list_len(list: &Value, each: usize) -> Option<usize> {
                $(if each == $idx {
                    return list_len::<$name>(list);
                })*
                None
            }
            #[allow(unused_variables)]
            fn item_json(list: &Value, each: usize, index: u32) -> Option<Json> {
                $(if each == $idx {
                    return item_json::<$name>(list, index);
                })*
                None
            }
        }
    };
}

all_tuples!(node_inputs);

/// The single value of a one-binding pipeline output.
pub fn single<T: Data>(values: &[&Value]) -> Option<T> {
    values.first()?.downcast_ref::<T>().cloned()
}

/// A condition gate from a closure over the erased values of the names it reads.
pub fn gate(condition: impl Fn(&[&Value]) -> Option<bool> + Send + Sync + 'static) -> GateFn {
    Arc::new(condition)
}

/// Declares a pipeline input whose type is recorded as written (`type_name`).
pub fn add_input<I: Data, T: Data>(
    builder: &mut GraphBuilder<I>,
    name: &str,
    type_name: &'static str,
    extract: impl Fn(&I) -> T + Send + Sync + 'static,
) -> AnyHandle {
    let handle = builder.input(name, extract);
    builder.set_input_type_name(type_name);
    handle.into()
}

/// Names the pipeline's idempotency key as `pipeline!`'s `#[idempotent(key = ...)]` makes it:
/// the JSON of the key's parts.
pub fn idempotent<I: Data>(
    builder: &mut GraphBuilder<I>,
    key: impl Fn(&I) -> Result<String, serde_json::Error> + Send + Sync + 'static,
) {
    builder.set_key(Box::new(key));
}

/// Adds a schedule as `pipeline!`'s `#[schedule(...)]` makes it: `missed` is `None` for the
/// default policy, `Some(0)` to skip missed ticks, `Some(n)` to catch up `n`.
#[cfg(feature = "schedules")]
pub fn schedule<I: Data>(
    builder: &mut GraphBuilder<I>,
    (name, cron, zone, missed): (&str, &str, &str, Option<u32>),
    inputs: impl Fn(&crate::cron::Tick) -> I + Send + Sync + 'static,
) {
    use crate::cron::{Missed, Schedule};
    let schedule = Schedule::new(name, cron, zone, inputs).map(|s| match missed {
        None => s,
        Some(0) => s.missed(Missed::Skip),
        Some(n) => s.missed(Missed::CatchUp(n)),
    });
    builder.add_schedule(name, schedule);
}

/// Without feature `schedules`, `#[schedule]` is reported by this trait's message.
#[cfg(not(feature = "schedules"))]
#[diagnostic::on_unimplemented(
    message = "`#[schedule]` needs feature `schedules` of `pipeline` (turned on by its default feature `cli`)",
    label = "a pipeline with a schedule"
)]
pub trait SchedulesFeature {}

/// Without feature `schedules`: reports `#[schedule]` (see [`SchedulesFeature`]).
#[cfg(not(feature = "schedules"))]
pub fn schedule<I: Data, S, F: SchedulesFeature>(_: &mut GraphBuilder<I>, _: S, _: F) {}

/// Takes the pipeline's runs in turns per key as `pipeline!`'s `#[fair(key = ...)]` makes it:
/// the JSON of the key's parts.
pub fn fair<I: Data>(
    builder: &mut GraphBuilder<I>,
    key: impl Fn(&I) -> Result<String, serde_json::Error> + Send + Sync + 'static,
) {
    builder.set_fair(Box::new(key));
}

/// Limits the pipeline's runs per key as `pipeline!`'s `#[limit(key = ..., runs = N)]` makes it:
/// the JSON of the key's parts.
pub fn limit_runs<I: Data>(
    builder: &mut GraphBuilder<I>,
    key: impl Fn(&I) -> Result<String, serde_json::Error> + Send + Sync + 'static,
    runs: u32,
) {
    builder.set_run_limit(Box::new(key), runs);
}

/// How `pipeline!` adds a call of a `#[node]` fn to a graph. Implemented for every [`Node`] and
/// called as `<load as NodeWiring>::add_to(..)`, which keeps the fn's name in a type position: a
/// plain fn there is one clear error ("expected type, found function").
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a `#[node]` fn",
    label = "pipeline statements must call a `#[node]` fn",
    note = "add `#[node]` above the fn's definition"
)]
pub trait NodeWiring: Node {
    /// Adds node `id`, a call of this node on `args`, gated by `gate` if given.
    fn add_to<I: Data>(
        builder: &mut GraphBuilder<I>,
        id: &str,
        args: &[AnyHandle],
        gate: Option<(&[AnyHandle], GateFn)>,
    ) -> AnyHandle {
        let run = erased_run_fn(Self::from_values, Self::call_erased);
        let codec = output_codec::<Self>();
        wire::<Self, I>(builder, id, args, gate)
            .add::<Self::Output>(run, codec)
            .into()
    }

    /// Adds node `id`, a call of this node per item of its argument `each` (a `Vec` of that
    /// parameter's type), gated by `gate` if given; its output is the `Vec` of the calls'.
    fn add_each_to<I: Data>(
        builder: &mut GraphBuilder<I>,
        id: &str,
        args: &[AnyHandle],
        each: usize,
        gate: Option<(&[AnyHandle], GateFn)>,
    ) -> AnyHandle
    where
        Self::Inputs: NodeInputs,
    {
        let run: ItemRunFn = Arc::new(move |values, index, ctx| {
            match Self::Inputs::from_item(values, each, index) {
                Some(inputs) => Self::call_erased(inputs, ctx),
                None => Box::pin(std::future::ready(Err(MISTYPED.into()))),
            }
        });
        let map = MapDef {
            each,
            len: Self::Inputs::list_len,
            run,
            collect: collect::<Self::Output>,
            item_codec: output_codec::<Self>(),
            item_input: Self::Inputs::item_json,
        };
        wire::<Self, I>(builder, id, args, gate)
            .add_map::<Vec<Self::Output>>(map, outputs_codec::<Self>())
            .into()
    }
}

impl<N: Node> NodeWiring for N {}

/// The codec of one call's output, named by its type as written in the fn's signature, and
/// compared by value where the type allows it.
fn output_codec<N: Node + ?Sized>() -> Codec {
    Codec {
        type_name: N::OUTPUT_TYPE,
        verify: verify_output::<N>,
        ..Codec::of::<N::Output>()
    }
}

/// The codec of a mapped node's list of outputs.
fn outputs_codec<N: Node + ?Sized>() -> Codec {
    Codec {
        verify: verify_outputs::<N>,
        ..Codec::of::<Vec<N::Output>>()
    }
}

fn verify_output<N: Node + ?Sized>(value: &Value, json: &RawValue) -> Result<(), String> {
    round_trips::<N::Output>(value, json, N::output_eq())
}

fn verify_outputs<N: Node + ?Sized>(value: &Value, json: &RawValue) -> Result<(), String> {
    #[allow(clippy::ptr_arg)] // a `ValueEq<Vec<_>>` takes `&Vec`
    fn all_eq<N: Node + ?Sized>(a: &Vec<N::Output>, b: &Vec<N::Output>) -> bool {
        let Some(eq) = N::output_eq() else {
            return false;
        };
        a.len() == b.len() && a.iter().zip(b).all(|(a, b)| eq(a, b))
    }
    let eq = N::output_eq().map(|_| all_eq::<N> as ValueEq<Vec<N::Output>>);
    round_trips::<Vec<N::Output>>(value, json, eq)
}

/// Node `id` of kind `N` started on `builder`: its argument slots pushed, its gate and options set.
fn wire<'g, N: Node + ?Sized, I: Data>(
    builder: &'g mut GraphBuilder<I>,
    id: &str,
    args: &[AnyHandle],
    gate: Option<(&[AnyHandle], GateFn)>,
) -> NodeBuilder<'g, I> {
    let gate = gate.map(|(handles, pred)| GateDef {
        args: slots(builder, id, handles),
        pred,
    });
    builder.push_args(id, args.iter().map(|h| (h.graph, h.slot)));
    builder
        .node(id)
        .kind(N::NAME)
        .version(N::VERSION)
        .options(N::options())
        .set_gate(gate)
}

/// Adds wait `id` for a signal carrying a `T` (written `type_name`), after the nodes of `after`,
/// gated by `gate` if given, failing after `timeout` if given.
pub fn add_signal<I: Data, T: Data>(
    builder: &mut GraphBuilder<I>,
    id: &str,
    after: &[AnyHandle],
    gate: Option<(&[AnyHandle], GateFn)>,
    timeout: Option<std::time::Duration>,
    type_name: &'static str,
) -> AnyHandle {
    let gate = gate.map(|(handles, pred)| GateDef {
        args: slots(builder, id, handles),
        pred,
    });
    builder.push_args(id, after.iter().map(|h| (h.graph, h.slot)));
    let mut node = builder.node(id).kind("signal").set_gate(gate);
    node.options.timeout = timeout;
    let codec = Codec {
        type_name,
        ..Codec::of::<T>()
    };
    node.add_wait::<T>(WaitDef::Signal(crate::data::template::<T>), codec)
        .into()
}

/// Adds timer `id`, due `duration` after the nodes of `after` completed, gated by `gate` if
/// given.
pub fn add_timer<I: Data>(
    builder: &mut GraphBuilder<I>,
    id: &str,
    after: &[AnyHandle],
    gate: Option<(&[AnyHandle], GateFn)>,
    duration: std::time::Duration,
) -> AnyHandle {
    let gate = gate.map(|(handles, pred)| GateDef {
        args: slots(builder, id, handles),
        pred,
    });
    builder.push_args(id, after.iter().map(|h| (h.graph, h.slot)));
    let codec = Codec {
        type_name: "()",
        ..Codec::of::<()>()
    };
    builder
        .node(id)
        .kind("sleep")
        .set_gate(gate)
        .add_wait::<()>(WaitDef::Timer(duration), codec)
        .into()
}

/// The shadow of a wait in `pipeline!`'s never-run code: its payload type must be `Data`.
pub fn signal_shadow<T: Data>() -> T {
    unreachable!("pipeline! shadow code is never run")
}

/// Finishes a graph whose output is read from `outputs` by `extract`.
pub fn build<I: Data, O: Send + 'static>(
    mut builder: GraphBuilder<I>,
    outputs: &[AnyHandle],
    extract: fn(&[&Value]) -> Option<O>,
) -> Graph<I, O> {
    let slots = slots(&mut builder, "output", outputs);
    match builder.finish(slots, Box::new(extract)) {
        Ok(graph) => graph,
        // `pipeline!` checked names, duplicates and cycles before generating this call.
        Err(e) => panic!("pipeline! generated an invalid graph (a bug in pipeline-macros): {e}"),
    }
}

fn slots<I: Data>(builder: &mut GraphBuilder<I>, reader: &str, handles: &[AnyHandle]) -> Vec<Slot> {
    let mine = handles.iter().all(|h| h.graph == builder.id());
    builder.check_slots(reader, mine);
    handles.iter().map(|h| h.slot).collect()
}
