//! Whether a type reads a missing JSON field as a value: serde's own rule for a struct field
//! without `#[serde(default)]`, asked of the type itself rather than guessed from its name.

use serde::de::value::Error;
use serde::de::{DeserializeOwned, Deserializer, Visitor};

/// Whether `T` reads a field that is not there as a value (its "none"): true for `Option<T>`
/// under any name (an alias, a path), false for every type that needs the field. It is what
/// serde's derive does for a missing field: deserialize the type from a deserializer that has
/// only a none to give.
pub(crate) fn absent_is_none<T: DeserializeOwned>() -> bool {
    T::deserialize(Absent).is_ok()
}

/// A deserializer with nothing in it but a none.
struct Absent;

impl<'de> Deserializer<'de> for Absent {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Error> {
        Err(serde::de::Error::custom("the field is missing"))
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_none()
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        unit unit_struct newtype_struct seq tuple tuple_struct map struct enum identifier
        ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::absent_is_none;

    type Maybe = Option<u32>;

    #[test]
    fn options_under_any_name_may_be_absent_and_nothing_else() {
        assert!(absent_is_none::<Option<String>>());
        assert!(absent_is_none::<Maybe>());
        assert!(absent_is_none::<std::option::Option<Vec<u8>>>());
        assert!(!absent_is_none::<String>());
        assert!(!absent_is_none::<u64>());
        assert!(!absent_is_none::<()>());
        assert!(!absent_is_none::<Vec<u8>>());
        assert!(!absent_is_none::<std::collections::BTreeMap<String, u8>>());
    }
}
