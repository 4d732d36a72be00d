//! The bound every value that crosses an edge must meet, and the erased forms the engine moves.

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

/// Asserts at compile time that a node input or output type can cross an edge (used by `#[node]`).
#[doc(hidden)]
pub const fn assert_data<T: Data>() {}

/// A type-erased value held by the engine between nodes.
pub(crate) type Value = Arc<dyn Any + Send + Sync>;

/// A serialized JSON value, shared without copying between a checkpoint record, the audit entry of the
/// node that produced it and the input snapshots of the nodes that consume it.
pub type Json = Arc<RawValue>;

pub(crate) fn to_json<T: Serialize + ?Sized>(value: &T) -> Result<Json, serde_json::Error> {
    Ok(Arc::from(serde_json::value::to_raw_value(value)?))
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

pub(crate) type EncodeFn = fn(&Value) -> Result<Json, serde_json::Error>;
pub(crate) type DecodeFn = fn(&RawValue) -> Result<Value, serde_json::Error>;

/// How values of one type are written to and read back from a checkpoint.
#[derive(Clone, Copy)]
pub(crate) struct Codec {
    pub encode: EncodeFn,
    pub decode: DecodeFn,
    pub type_name: &'static str,
}

impl Codec {
    pub fn of<T: Data>() -> Codec {
        Codec {
            encode: erased_to_json::<T>,
            decode: erased_from_json::<T>,
            type_name: std::any::type_name::<T>(),
        }
    }
}
