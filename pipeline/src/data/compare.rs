//! How a value read back from its JSON is compared with the value downstream saw.
//!
//! Two ways, the best one the type allows:
//! - **By value**, where the type implements `PartialEq`: `#[node]` picks this at compile time for
//!   its output type (autoref specialisation on [`EqProbe`], so users need no extra bound). It
//!   catches what bytes cannot: an untagged enum whose variants share a shape (`Dollars(5)` and
//!   `Cents(5)` are both `5`), `Some(None)` written as `null` and read back as `None`.
//! - **Canonically** otherwise: the JSON written and the JSON of the decoded value are compared
//!   with every object's keys in order, so a map (a `HashMap`, or a struct holding one) whose
//!   keys come back in another order still compares equal.

use std::marker::PhantomData;

use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

/// Compares two values of one type (its `PartialEq`), where the type has one.
pub type ValueEq<T> = fn(&T, &T) -> bool;

/// The probe `#[node]` generates to learn whether an output type implements `PartialEq`:
/// `(&&EqProbe::<T>::new()).value_eq()` is `Some(<T as PartialEq>::eq)` when it does (through
/// [`EqByValue`]) and `None` otherwise (through [`EqByCanonical`]).
#[doc(hidden)]
pub struct EqProbe<T>(PhantomData<fn() -> T>);

impl<T> EqProbe<T> {
    /// The probe of `T`.
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        EqProbe(PhantomData)
    }
}

/// The probe's answer for a type that implements `PartialEq` (chosen first: it takes `&&EqProbe`).
#[doc(hidden)]
pub trait EqByValue<T> {
    /// `Some`: compare by value.
    fn value_eq(&self) -> Option<ValueEq<T>>;
}

impl<T: PartialEq> EqByValue<T> for &EqProbe<T> {
    fn value_eq(&self) -> Option<ValueEq<T>> {
        Some(<T as PartialEq>::eq)
    }
}

/// The probe's answer for every other type.
#[doc(hidden)]
pub trait EqByCanonical<T> {
    /// `None`: compare canonically.
    fn value_eq(&self) -> Option<ValueEq<T>>;
}

impl<T> EqByCanonical<T> for EqProbe<T> {
    fn value_eq(&self) -> Option<ValueEq<T>> {
        None
    }
}

/// The deepest nesting compared (`serde_json` reads at most 128 levels anyway).
const MAX_DEPTH: usize = 256;

/// Whether two JSON texts hold the same value up to the order of object keys: their canonical
/// texts (see [`canonical_digest`]) are equal. Both texts come from `serde_json`'s writer, so
/// equal numbers and strings have equal text. `Err` only if a text is not JSON, has a key twice
/// (no order makes it one value), or nests deeper than any value can be read back.
pub(crate) fn canonical_eq(written: &str, again: &str) -> Result<bool, String> {
    let canonical = |json: &str| -> Result<Vec<u8>, String> {
        let mut text = Vec::with_capacity(json.len());
        canonical_text(json, 0, &mut |bytes| text.extend_from_slice(bytes))?;
        Ok(text)
    };
    Ok(canonical(written)? == canonical(again)?)
}

/// An object's entries sorted by key; `Err` for a key given twice (no order makes it one value).
fn entries(object: &str) -> Result<Vec<(String, &RawValue)>, String> {
    let Entries(mut entries) = serde_json::from_str(object).map_err(|e| e.to_string())?;
    entries.sort_by(|(a, _), (b, _)| a.cmp(b));
    if let Some(pair) = entries.windows(2).find(|pair| pair[0].0 == pair[1].0) {
        return Err(format!("its JSON has the key {:?} twice", pair[0].0));
    }
    Ok(entries)
}

/// An object's entries in the order written, keys decoded, values kept as text.
struct Entries<'a>(Vec<(String, &'a RawValue)>);

impl<'de: 'a, 'a> Deserialize<'de> for Entries<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EntriesVisitor<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for EntriesVisitor<'a> {
            type Value = Entries<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Entries<'a>, M::Error> {
                let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(0));
                while let Some(entry) = map.next_entry::<String, &'de RawValue>()? {
                    entries.push(entry);
                }
                Ok(Entries(entries))
            }
        }
        deserializer
            .deserialize_map(EntriesVisitor(PhantomData))
            .map_err(de::Error::custom)
    }
}

/// The canonical digest of a JSON value: SHA-256 over its canonical text (object keys sorted,
/// arrays in order, leaves as written), the first 128 bits in hex. Equal values of one type
/// have one digest, whatever order a map's keys were written in. `Err` for text that is not
/// JSON or nests deeper than any value can be read back.
pub(crate) fn canonical_digest(json: &str) -> Result<String, String> {
    use sha2::Digest;
    let mut hasher = sha2::Sha256::new();
    canonical_text(json, 0, &mut |bytes| hasher.update(bytes))?;
    let digest = hasher.finalize();
    Ok(hex(&digest[..16]))
}

/// The canonical digest of each top-level field of a JSON object, by name; `None` when `json`
/// is not an object.
pub(crate) fn field_digests(json: &str) -> Option<Result<Vec<(String, String)>, String>> {
    if !json.trim_start().starts_with('{') {
        return None;
    }
    Some(entries(json).and_then(|entries| {
        entries
            .into_iter()
            .map(|(key, value)| Ok((key, canonical_digest(value.get())?)))
            .collect()
    }))
}

/// `bytes` in lowercase hex, in one allocation.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        text.push(DIGITS[(b >> 4) as usize] as char);
        text.push(DIGITS[(b & 0xf) as usize] as char);
    }
    text
}

/// The SHA-256 digest (32 hex digits) of `text`: how cache keys and code digests are combined.
pub(crate) fn text_digest(text: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(text.as_bytes());
    hex(&digest[..16])
}

/// Feeds the canonical text of `json` to `out`.
fn canonical_text(json: &str, depth: usize, out: &mut dyn FnMut(&[u8])) -> Result<(), String> {
    if depth > MAX_DEPTH {
        return Err(format!("it nests deeper than {MAX_DEPTH} levels"));
    }
    let json = json.trim();
    match json.as_bytes().first() {
        Some(b'{') => {
            out(b"{");
            for (i, (key, value)) in entries(json)?.iter().enumerate() {
                if i > 0 {
                    out(b",");
                }
                let key = serde_json::to_string(key).map_err(|e| e.to_string())?;
                out(key.as_bytes());
                out(b":");
                canonical_text(value.get(), depth + 1, out)?;
            }
            out(b"}");
        }
        Some(b'[') => {
            let items: Vec<&RawValue> = serde_json::from_str(json).map_err(|e| e.to_string())?;
            out(b"[");
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out(b",");
                }
                canonical_text(item.get(), depth + 1, out)?;
            }
            out(b"]");
        }
        _ => out(json.as_bytes()),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_compare_whatever_the_order_of_their_keys() {
        assert_eq!(
            canonical_eq(
                r#"{"a":1,"b":[2,{"c":3,"d":4}]}"#,
                r#"{"b":[2,{"d":4,"c":3}],"a":1}"#
            ),
            Ok(true)
        );
        assert_eq!(canonical_eq(r#"{"a":1}"#, r#"{"a":2}"#), Ok(false));
        assert_eq!(canonical_eq(r#"{"a":1}"#, r#"{"a":1,"b":1}"#), Ok(false));
        assert_eq!(canonical_eq(r#"{"a":1}"#, r#"{"b":1}"#), Ok(false));
    }

    #[test]
    fn arrays_compare_in_order_and_leaves_by_text() {
        assert_eq!(canonical_eq("[1,2]", "[2,1]"), Ok(false));
        assert_eq!(canonical_eq("[1,2]", "[1,2]"), Ok(true));
        assert_eq!(canonical_eq("null", "[]"), Ok(false));
        assert_eq!(
            canonical_eq(
                "340282366920938463463374607431768211455",
                "340282366920938463463374607431768211454"
            ),
            Ok(false)
        );
        assert_eq!(canonical_eq(r#""\u00e9""#, r#""\u00e9""#), Ok(true));
    }

    #[test]
    fn a_digest_is_the_same_whatever_the_order_of_keys() -> Result<(), String> {
        let a = canonical_digest(r#"{"a":1,"b":{"c":[1,2],"d":"x"}}"#)?;
        let b = canonical_digest(r#"{"b":{"d":"x","c":[1,2]},"a":1}"#)?;
        assert_eq!(a, b);
        assert_eq!(a.len(), 32);
        assert_ne!(a, canonical_digest(r#"{"a":1,"b":{"c":[2,1],"d":"x"}}"#)?);
        assert_ne!(canonical_digest("1")?, canonical_digest("\"1\"")?);
        Ok(())
    }

    #[test]
    fn a_key_given_twice_is_never_equal() {
        let twice = r#"{"a":1,"a":1}"#;
        let refused = canonical_eq(twice, twice);
        assert!(
            refused.as_ref().is_err_and(|e| e.contains("twice")),
            "{refused:?}"
        );
    }

    #[test]
    #[allow(clippy::needless_borrow)] // the `&&` is how the probe chooses
    fn the_probe_finds_partial_eq_where_there_is_one() {
        struct NoEq;
        let eq = (&&EqProbe::<Option<Option<u8>>>::new()).value_eq();
        assert!(eq.is_some_and(|eq| !eq(&Some(None), &None)));
        assert!((&&EqProbe::<NoEq>::new()).value_eq().is_none());
    }
}

#[cfg(test)]
mod float_tests {
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20_000))]
        /// Every finite float reads back from its JSON as the same float (serde_json's
        /// `float_roundtrip`): otherwise an `f64` output would not be checkpointed.
        #[test]
        fn every_finite_float_reads_back_exactly(bits in any::<u64>()) {
            let x = f64::from_bits(bits);
            prop_assume!(x.is_finite());
            let fail = |e: serde_json::Error| TestCaseError::fail(e.to_string());
            let back: f64 = serde_json::from_str(&serde_json::to_string(&x).map_err(fail)?)
                .map_err(fail)?;
            prop_assert_eq!(back.to_bits(), x.to_bits());
        }
    }
}
