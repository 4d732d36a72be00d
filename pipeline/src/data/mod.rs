//! The bound every value that crosses an edge must meet, the erased forms the engine moves, and
//! how one type is written to a checkpoint and checked to read back as the same value.

mod absent;
mod compare;
mod finite;
mod template;

pub(crate) use absent::absent_is_none;
pub use compare::ValueEq;
#[doc(hidden)]
pub use compare::{EqByCanonical, EqByValue, EqProbe};
pub(crate) use compare::{canonical_digest, field_digests, hex, text_digest};
pub(crate) use template::template;

use std::any::Any;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;

/// What a node input, node output or pipeline input must be.
///
/// Values are checkpointed (so they serialize and deserialize), handed to every consumer by clone,
/// and moved between tokio tasks. It is implemented for every type that meets the bounds; put big
/// data in an `Arc<T>` to make the clone cheap.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot flow along a pipeline edge",
    label = "`{Self}` must be `Serialize + DeserializeOwned + Clone + Send + Sync + 'static`",
    note = "node inputs and outputs are checkpointed, so they must serialize and deserialize; each consumer gets its own clone; nodes run on tokio tasks, so values must be `Send + Sync + 'static`"
)]
pub trait Data: Serialize + DeserializeOwned + Clone + Send + Sync + 'static {}

impl<T> Data for T where T: Serialize + DeserializeOwned + Clone + Send + Sync + 'static {}

/// What a part of a pipeline's idempotency key (`#[idempotent(key = (customer, day))]`) must be:
/// serializable (the key is stored as JSON) and compared by value. Implemented for every such
/// type. A type that misses several of these bounds is told once per bound it misses, each at
/// the part's name.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be part of an idempotency key",
    label = "a key part must be `Serialize + Hash + Eq`",
    note = "the key is stored as the JSON of its parts, and two starts with equal parts share one run: a float, for one, has no `Eq`"
)]
pub trait KeyPart: Serialize + std::hash::Hash + Eq {}

impl<T: Serialize + std::hash::Hash + Eq + ?Sized> KeyPart for T {}

/// `part`, checked to be a [`KeyPart`]: `pipeline!` calls it once per part of the key, spanned at
/// its name.
#[doc(hidden)]
#[inline]
pub fn key_part<T: KeyPart + ?Sized>(part: &T) -> &T {
    part
}

/// Argument `index` of a node from the engine's values: a clone, or `None` if it has another type.
/// `#[node]` calls it once per parameter, spanned at the parameter's type, so that its `Data`
/// bound is the one check (and the one error) of that type.
#[doc(hidden)]
#[inline]
pub fn input<T: Data>(values: &[&Value], index: usize) -> Option<T> {
    values.get(index)?.downcast_ref::<T>().cloned()
}

/// A type-erased value held by the engine between nodes.
#[doc(hidden)]
pub type Value = Arc<dyn Any + Send + Sync>;

/// A serialized JSON value, shared without copying between a checkpoint record, the audit entry of the
/// node that produced it and the input snapshots of the nodes that consume it.
pub type Json = Arc<RawValue>;

pub(crate) fn to_json<T: Serialize + ?Sized>(value: &T) -> Result<Json, serde_json::Error> {
    Ok(Arc::from(serde_json::value::to_raw_value(value)?))
}

/// The JSON list of `items`, in order; `None` only if an item is not valid JSON.
pub(crate) fn json_list<'a>(items: impl IntoIterator<Item = &'a RawValue>) -> Option<Json> {
    let mut text = String::from("[");
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            text.push(',');
        }
        text.push_str(item.get());
    }
    text.push(']');
    RawValue::from_string(text).ok().map(Arc::from)
}

/// Serializes an erased value of type `T`; a value of another type is reported, never a panic.
pub(crate) fn erased_to_json<T: Data>(value: &Value) -> Result<Json, serde_json::Error> {
    match value.downcast_ref::<T>() {
        Some(v) => to_json(v),
        None => Err(serde::ser::Error::custom(format_args!(
            "internal error: value is not a `{}`",
            std::any::type_name::<T>()
        ))),
    }
}

pub(crate) fn erased_from_json<T: Data>(json: &RawValue) -> Result<Value, serde_json::Error> {
    let value: T = serde_json::from_str(json.get())?;
    Ok(Arc::new(value))
}

/// Whether the engine checks that each node output reads back from its JSON as the same value
/// before checkpointing it.
///
/// JSON has no `NaN` or infinity (`serde_json` writes them as `null`), nests at most 128 deep on
/// reading, and some types decode to another value: an untagged enum whose variants share a shape
/// (`Dollars(5)` and `Cents(5)` are both written `5`), `Some(None)` (written `null`, read back as
/// `None`), a lossy custom impl. A checkpoint holding such an output would make resume fail
/// forever, or return a different value than the dependents received. With
/// [`RoundTrip::Verify`] (the default) such an output is not checkpointed: the run goes on with
/// the value itself, a [`PersistenceWarning`](crate::PersistenceWarning) names the node and the
/// reason, and the node runs again on resume.
///
/// How the value read back is compared with the original:
/// - **By value** when the output type of a `#[node]` fn implements `PartialEq` (found at compile
///   time; no bound is asked of other types). This is exact: every case above is caught, and a
///   `HashMap` or `HashSet` compares equal whatever order its entries come back in.
/// - **Canonically** otherwise, and for nodes added through the low-level
///   [`GraphBuilder`](crate::GraphBuilder) API: the JSON of the decoded value must equal the JSON
///   written, up to the order of object keys (so maps, and structs holding maps, pass).
///
/// Every finite float reads back bit for bit (serde_json's `float_roundtrip` parsing is on), and
/// `u128`/`i128` keep every digit: both are checkpointed.
///
/// What a canonical comparison cannot verify, and so never checkpoints or cannot tell apart:
/// - a type without `PartialEq` holding a `HashSet` (a set is a JSON array, whose order counts):
///   not checkpointed, with a warning; derive `PartialEq` to have it checkpointed;
/// - a type without `PartialEq` whose JSON is ambiguous (an untagged enum with variants of one
///   shape, `Option<Option<T>>`): it is checkpointed, and may read back as the other value. Derive
///   `PartialEq` on such types.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RoundTrip {
    /// Decode each output's JSON and encode it again; checkpoint it only if the bytes agree and no
    /// float was lost. Costs about one more decode and encode per node.
    #[default]
    Verify,
    /// Checkpoint every output that serializes, unchecked: for types known to round-trip.
    Trust,
}

/// Whether `json`, the encoding of `value` (a `T`), decodes to the same value: no float lost to
/// `null`, and the decoded value equal to `value`, by `eq` where the type has a `PartialEq`
/// (`#[node]` finds it), canonically otherwise (the JSON of the decoded value equal to `json` up
/// to the order of object keys). `Err` says why not.
pub(crate) fn round_trips<T: Data>(
    value: &Value,
    json: &RawValue,
    eq: Option<ValueEq<T>>,
) -> Result<(), String> {
    let Some(value) = value.downcast_ref::<T>() else {
        return Err(format!(
            "internal error: value is not a `{}`",
            std::any::type_name::<T>()
        ));
    };
    finite::check(value).map_err(|e| e.to_string())?;
    let back: T = serde_json::from_str(json.get())
        .map_err(|e| format!("its JSON does not decode back: {e}"))?;
    if let Some(eq) = eq {
        return match eq(value, &back) {
            true => Ok(()),
            false => Err(format!(
                "its JSON {} decodes to a different value (its `PartialEq` says they differ: \
                 JSON cannot tell them apart)",
                clip(json.get())
            )),
        };
    }
    let again = serde_json::to_string(&back).map_err(|e| e.to_string())?;
    match compare::canonical_eq(json.get(), &again)? {
        true => Ok(()),
        false => Err(format!(
            "its JSON decodes to a different value (written {}, read back as {}); if the type \
             holds a set, derive `PartialEq` so that it is compared by value",
            clip(json.get()),
            clip(&again)
        )),
    }
}

/// [`round_trips`] compared canonically: for types whose `PartialEq` is not known.
fn round_trips_canonically<T: Data>(value: &Value, json: &RawValue) -> Result<(), String> {
    round_trips::<T>(value, json, None)
}

fn clip(text: &str) -> String {
    match text.char_indices().nth(120) {
        Some((at, _)) => format!("{}...", &text[..at]),
        None => text.to_owned(),
    }
}

pub(crate) type EncodeFn = fn(&Value) -> Result<Json, serde_json::Error>;
pub(crate) type DecodeFn = fn(&RawValue) -> Result<Value, serde_json::Error>;
pub(crate) type VerifyFn = fn(&Value, &RawValue) -> Result<(), String>;

/// How values of one type are written to and read back from a checkpoint.
#[derive(Clone, Copy)]
pub(crate) struct Codec {
    pub encode: EncodeFn,
    pub decode: DecodeFn,
    pub verify: VerifyFn,
    pub type_name: &'static str,
}

impl Codec {
    pub fn of<T: Data>() -> Codec {
        Codec {
            encode: erased_to_json::<T>,
            decode: erased_from_json::<T>,
            verify: round_trips_canonically::<T>,
            type_name: std::any::type_name::<T>(),
        }
    }
}
