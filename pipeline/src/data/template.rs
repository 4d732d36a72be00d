//! A payload template from a type alone: the type is read from a deserializer that answers
//! every question with the smallest value (`0`, `""`, `false`, `null`, `[]`, an enum's first
//! variant, a struct with all its fields), and the value written back as JSON. The run viewer
//! prefills a signal's form with it, so the user sees the payload's shape and field names.

use std::fmt;

use serde::de::value::StrDeserializer;
use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, Visitor};
use serde::{Deserializer, Serialize};

/// The template of `T` as pretty JSON; `None` for a type that refuses the smallest values (it
/// validates them) or nests deeper than 32 levels (a recursive type).
pub(crate) fn template<T: Serialize + DeserializeOwned>() -> Option<String> {
    let value = T::deserialize(Zero { depth: 0 }).ok()?;
    serde_json::to_string_pretty(&value).ok()
}

/// Why a template could not be made.
#[derive(Debug)]
struct NoTemplate(String);

impl fmt::Display for NoTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NoTemplate {}

impl de::Error for NoTemplate {
    fn custom<M: fmt::Display>(message: M) -> Self {
        NoTemplate(message.to_string())
    }
}

const DEEPEST: u32 = 32;

/// The deserializer of the smallest values.
#[derive(Clone, Copy)]
struct Zero {
    depth: u32,
}

impl Zero {
    fn deeper(self) -> Result<Zero, NoTemplate> {
        match self.depth < DEEPEST {
            true => Ok(Zero {
                depth: self.depth + 1,
            }),
            false => Err(NoTemplate("too deep".into())),
        }
    }
}

macro_rules! zero {
    ($($method:ident => $visit:ident($($value:expr)?);)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, NoTemplate> {
            visitor.$visit($($value)?)
        }
    )*};
}

impl<'de> Deserializer<'de> for Zero {
    type Error = NoTemplate;

    zero! {
        deserialize_bool => visit_bool(false);
        deserialize_i8 => visit_i8(0);
        deserialize_i16 => visit_i16(0);
        deserialize_i32 => visit_i32(0);
        deserialize_i64 => visit_i64(0);
        deserialize_i128 => visit_i128(0);
        deserialize_u8 => visit_u8(0);
        deserialize_u16 => visit_u16(0);
        deserialize_u32 => visit_u32(0);
        deserialize_u64 => visit_u64(0);
        deserialize_u128 => visit_u128(0);
        deserialize_f32 => visit_f32(0.0);
        deserialize_f64 => visit_f64(0.0);
        deserialize_char => visit_char(' ');
        deserialize_str => visit_str("");
        deserialize_string => visit_str("");
        deserialize_bytes => visit_bytes(&[]);
        deserialize_byte_buf => visit_bytes(&[]);
        deserialize_option => visit_none();
        deserialize_unit => visit_unit();
        deserialize_any => visit_unit();
        deserialize_ignored_any => visit_unit();
        deserialize_identifier => visit_str("");
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, NoTemplate> {
        visitor.visit_unit()
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, NoTemplate> {
        visitor.visit_newtype_struct(self.deeper()?)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, NoTemplate> {
        visitor.visit_seq(Items {
            zero: self.deeper()?,
            left: 0,
        })
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, NoTemplate> {
        visitor.visit_seq(Items {
            zero: self.deeper()?,
            left: len,
        })
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, NoTemplate> {
        self.deserialize_tuple(len, visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, NoTemplate> {
        visitor.visit_map(Fields {
            zero: self.deeper()?,
            names: &[],
        })
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, NoTemplate> {
        visitor.visit_map(Fields {
            zero: self.deeper()?,
            names: fields,
        })
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, NoTemplate> {
        let first = variants
            .first()
            .ok_or_else(|| NoTemplate("an enum without variants".into()))?;
        visitor.visit_enum(Variant {
            zero: self.deeper()?,
            name: first,
        })
    }
}

/// `left` smallest elements (none for a list, as many as a tuple has).
struct Items {
    zero: Zero,
    left: usize,
}

impl<'de> de::SeqAccess<'de> for Items {
    type Error = NoTemplate;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, NoTemplate> {
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        seed.deserialize(self.zero).map(Some)
    }
}

/// Each field of a struct with its smallest value (none for a map).
struct Fields {
    zero: Zero,
    names: &'static [&'static str],
}

impl<'de> de::MapAccess<'de> for Fields {
    type Error = NoTemplate;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, NoTemplate> {
        let Some((name, rest)) = self.names.split_first() else {
            return Ok(None);
        };
        self.names = rest;
        let key: StrDeserializer<'_, NoTemplate> = name.into_deserializer();
        seed.deserialize(key).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, NoTemplate> {
        seed.deserialize(self.zero)
    }
}

/// An enum's first variant, with the smallest contents.
struct Variant {
    zero: Zero,
    name: &'static str,
}

impl<'de> de::EnumAccess<'de> for Variant {
    type Error = NoTemplate;
    type Variant = Self;

    fn variant_seed<S: DeserializeSeed<'de>>(
        self,
        seed: S,
    ) -> Result<(S::Value, Self), NoTemplate> {
        let key: StrDeserializer<'_, NoTemplate> = self.name.into_deserializer();
        Ok((seed.deserialize(key)?, self))
    }
}

impl<'de> de::VariantAccess<'de> for Variant {
    type Error = NoTemplate;

    fn unit_variant(self) -> Result<(), NoTemplate> {
        Ok(())
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(
        self,
        seed: T,
    ) -> Result<T::Value, NoTemplate> {
        seed.deserialize(self.zero)
    }

    fn tuple_variant<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, NoTemplate> {
        self.zero.deserialize_tuple(len, visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, NoTemplate> {
        visitor.visit_map(Fields {
            zero: self.zero,
            names: fields,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Serialize};

    use super::template;

    #[derive(Serialize, Deserialize)]
    struct Approval {
        by: String,
        ok: bool,
        amount: Option<u64>,
        tags: Vec<String>,
        kind: Kind,
        limits: BTreeMap<String, f64>,
        pair: (u8, char),
    }

    #[derive(Serialize, Deserialize)]
    enum Kind {
        Manager,
        Board { quorum: u32 },
    }

    #[derive(Serialize, Deserialize)]
    struct Tree {
        children: Vec<Tree>,
        next: Option<Box<Tree>>,
    }

    #[derive(Serialize, Deserialize)]
    struct Forever {
        next: Box<Forever>,
    }

    /// Refuses the smallest value: it checks what it reads.
    #[derive(Serialize)]
    struct NonEmpty(String);

    impl<'de> Deserialize<'de> for NonEmpty {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            let s = String::deserialize(d)?;
            match s.is_empty() {
                true => Err(serde::de::Error::custom("empty")),
                false => Ok(NonEmpty(s)),
            }
        }
    }

    #[test]
    fn a_template_has_every_field_with_its_smallest_value() {
        let json: serde_json::Value =
            serde_json::from_str(&template::<Approval>().unwrap()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "by": "", "ok": false, "amount": null, "tags": [], "kind": "Manager",
                "limits": {}, "pair": [0, " "]
            })
        );
        assert_eq!(template::<u64>().as_deref(), Some("0"));
        assert_eq!(template::<bool>().as_deref(), Some("false"));
        assert_eq!(template::<()>().as_deref(), Some("null"));
        let tree: serde_json::Value = serde_json::from_str(&template::<Tree>().unwrap()).unwrap();
        assert_eq!(tree, serde_json::json!({"children": [], "next": null}));
    }

    #[test]
    fn a_type_that_refuses_the_smallest_values_or_never_ends_has_none() {
        assert_eq!(template::<NonEmpty>(), None);
        assert_eq!(template::<Forever>(), None);
    }
}
