//! A serializer that produces nothing and fails on a non-finite float: JSON has no `NaN` or
//! infinity, and `serde_json` writes them as `null`, which reads back as `None` (or not at all).
//! Walking a value with it tells whether its JSON would lose a float.

use std::fmt;

use serde::ser::{self, Serialize};

/// Why a value cannot be checkpointed as it is.
#[derive(Debug)]
pub(crate) struct NotFinite(String);

impl fmt::Display for NotFinite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NotFinite {}

impl ser::Error for NotFinite {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        NotFinite(msg.to_string())
    }
}

/// `Ok` when every float in `value` is finite.
pub(crate) fn check<T: Serialize + ?Sized>(value: &T) -> Result<(), NotFinite> {
    value.serialize(Finite)
}

struct Finite;

type Done = Result<(), NotFinite>;
type Compound = Result<Finite, NotFinite>;
/// A type, field or variant name.
type Name = &'static str;

fn float(v: f64) -> Done {
    if v.is_finite() {
        Ok(())
    } else {
        Err(NotFinite(format!(
            "it holds the float {v}, which JSON cannot represent (it would be stored as null)"
        )))
    }
}

impl ser::Serializer for Finite {
    type Ok = ();
    type Error = NotFinite;
    type SerializeSeq = Finite;
    type SerializeTuple = Finite;
    type SerializeTupleStruct = Finite;
    type SerializeTupleVariant = Finite;
    type SerializeMap = Finite;
    type SerializeStruct = Finite;
    type SerializeStructVariant = Finite;

    fn serialize_f32(self, v: f32) -> Done {
        float(f64::from(v))
    }
    fn serialize_f64(self, v: f64) -> Done {
        float(v)
    }
    fn serialize_bool(self, _: bool) -> Done {
        Ok(())
    }
    fn serialize_i8(self, _: i8) -> Done {
        Ok(())
    }
    fn serialize_i16(self, _: i16) -> Done {
        Ok(())
    }
    fn serialize_i32(self, _: i32) -> Done {
        Ok(())
    }
    fn serialize_i64(self, _: i64) -> Done {
        Ok(())
    }
    fn serialize_i128(self, _: i128) -> Done {
        Ok(())
    }
    fn serialize_u8(self, _: u8) -> Done {
        Ok(())
    }
    fn serialize_u16(self, _: u16) -> Done {
        Ok(())
    }
    fn serialize_u32(self, _: u32) -> Done {
        Ok(())
    }
    fn serialize_u64(self, _: u64) -> Done {
        Ok(())
    }
    fn serialize_u128(self, _: u128) -> Done {
        Ok(())
    }
    fn serialize_char(self, _: char) -> Done {
        Ok(())
    }
    fn serialize_str(self, _: &str) -> Done {
        Ok(())
    }
    fn serialize_bytes(self, _: &[u8]) -> Done {
        Ok(())
    }
    fn serialize_none(self) -> Done {
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Done {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Done {
        Ok(())
    }
    fn serialize_unit_struct(self, _: Name) -> Done {
        Ok(())
    }
    fn serialize_unit_variant(self, _: Name, _: u32, _: Name) -> Done {
        Ok(())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: Name, value: &T) -> Done {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: Name,
        _: u32,
        _: Name,
        value: &T,
    ) -> Done {
        value.serialize(self)
    }
    fn serialize_seq(self, _: Option<usize>) -> Compound {
        Ok(Finite)
    }
    fn serialize_tuple(self, _: usize) -> Compound {
        Ok(Finite)
    }
    fn serialize_tuple_struct(self, _: Name, _: usize) -> Compound {
        Ok(Finite)
    }
    fn serialize_tuple_variant(self, _: Name, _: u32, _: Name, _: usize) -> Compound {
        Ok(Finite)
    }
    fn serialize_map(self, _: Option<usize>) -> Compound {
        Ok(Finite)
    }
    fn serialize_struct(self, _: Name, _: usize) -> Compound {
        Ok(Finite)
    }
    fn serialize_struct_variant(self, _: Name, _: u32, _: Name, _: usize) -> Compound {
        Ok(Finite)
    }
}

/// One impl for every compound: each element is walked in turn.
macro_rules! compound {
    ($($trait:ident :: $method:ident ($($key:ident),*)),*) => {$(
        impl ser::$trait for Finite {
            type Ok = ();
            type Error = NotFinite;
            fn $method<T: Serialize + ?Sized>(&mut self, $($key: &'static str,)* value: &T) -> Done {
                $(let _ = $key;)*
                value.serialize(Finite)
            }
            fn end(self) -> Done {
                Ok(())
            }
        }
    )*};
}

compound!(
    SerializeSeq::serialize_element(),
    SerializeTuple::serialize_element(),
    SerializeTupleStruct::serialize_field(),
    SerializeTupleVariant::serialize_field(),
    SerializeStruct::serialize_field(key),
    SerializeStructVariant::serialize_field(key)
);

impl ser::SerializeMap for Finite {
    type Ok = ();
    type Error = NotFinite;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Done {
        key.serialize(Finite)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Done {
        value.serialize(Finite)
    }
    fn end(self) -> Done {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn finds_non_finite_floats_anywhere() {
        assert!(check(&1.5f64).is_ok());
        assert!(check(&f64::NAN).is_err());
        assert!(check(&Some(f32::INFINITY)).is_err());
        assert!(check(&vec![(1u8, -f64::INFINITY)]).is_err());
        let map: std::collections::BTreeMap<String, f64> = [("x".to_owned(), 2.0)].into();
        assert!(check(&map).is_ok());
    }
}
