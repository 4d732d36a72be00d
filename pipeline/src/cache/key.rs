//! A cache key: the **one** rule of what a cached node's key holds, used by both executors.

use std::collections::BTreeMap;

use serde_json::value::RawValue;

use crate::data::{canonical_digest, field_digests, text_digest};
use crate::node::NodeCache;
use crate::store::InputDigest;

/// The format of the key's text: a change of the rule changes every key.
const KEY_FORMAT: &str = "pipeline-cache/1";

/// What a cached call of a node is looked up by: its key, and the digests of its inputs (kept
/// in the entry, so that a miss can be explained).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Probe {
    pub key: String,
    pub inputs: Vec<InputDigest>,
}

/// The digest of one input value `json` passed as `name`, whole and by field. `Err` when its
/// JSON cannot be read back (it is then not cached).
pub(crate) fn input_digest(name: &str, json: &RawValue) -> Result<InputDigest, String> {
    let digest = canonical_digest(json.get())?;
    let fields: BTreeMap<String, String> = match field_digests(json.get()) {
        Some(fields) => fields?.into_iter().collect(),
        None => BTreeMap::new(),
    };
    Ok(InputDigest::new(name, digest, fields))
}

/// The key of a call of a node cached by `cache`, of version `version`, with these inputs (in
/// parameter order). The inputs count by position and value, not by name, so one node fn called
/// from two pipelines shares its entries.
pub(crate) fn probe(
    cache: &NodeCache,
    version: &str,
    inputs: impl IntoIterator<Item = (impl AsRef<str>, impl AsRef<RawValue>)>,
) -> Result<Probe, String> {
    let inputs = inputs
        .into_iter()
        .map(|(name, json)| input_digest(name.as_ref(), json.as_ref()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Probe {
        key: key(cache, version, &inputs),
        inputs,
    })
}

/// The key from its parts: owner, code, version, helpers, inputs' digests.
pub(crate) fn key(cache: &NodeCache, version: &str, inputs: &[InputDigest]) -> String {
    use std::fmt::Write as _;
    let mut text = String::with_capacity(256);
    let mut line = |part: &str| {
        // Parts are written with their length, so no two lists of parts give one text.
        let _ = writeln!(text, "{}:{part}", part.len());
    };
    line(KEY_FORMAT);
    line(&cache.owner);
    line(&cache.code);
    line(version);
    line(&cache.helpers.len().to_string());
    for (name, code) in &cache.helpers {
        line(name);
        line(code);
    }
    line(&inputs.len().to_string());
    for input in inputs {
        line(&input.digest);
    }
    text_digest(&text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(name: &str, json: &str) -> InputDigest {
        let raw = serde_json::value::RawValue::from_string(json.to_owned()).expect("JSON");
        input_digest(name, &raw).expect("a digest")
    }

    #[test]
    fn a_key_counts_inputs_by_position_and_value_not_by_name_or_field_order() {
        let cache = NodeCache::new("m::f", "c1").helper("h", "x");
        let a = key(&cache, "", &[digest("a", r#"{"x":1,"y":[1,2]}"#)]);
        assert_eq!(a, key(&cache, "", &[digest("b", r#"{"y":[1,2],"x":1}"#)]));
        assert_ne!(a, key(&cache, "", &[digest("a", r#"{"x":1,"y":[2,1]}"#)]));
        assert_ne!(a, key(&cache, "2", &[digest("a", r#"{"x":1,"y":[1,2]}"#)]));
        let two = [digest("a", "1"), digest("b", "2")];
        let swapped = [digest("a", "2"), digest("b", "1")];
        assert_ne!(key(&cache, "", &two), key(&cache, "", &swapped));
        // Parts are delimited: moving text from one part to the next changes the key.
        let ab = NodeCache::new("m::f", "ab");
        let a_b = NodeCache::new("m::fa", "b");
        assert_ne!(key(&ab, "", &[]), key(&a_b, "", &[]));
    }

    #[test]
    fn an_object_input_has_a_digest_per_field() {
        let d = digest("order", r#"{"id":7,"lines":[1,2]}"#);
        assert_eq!(d.fields.len(), 2);
        assert_eq!(d.fields["id"], digest("x", "7").digest);
        assert!(digest("n", "[1,2]").fields.is_empty());
    }
}
