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
    let mut text = String::with_capacity(256);
    let mut line = |part: &str| {
        // Parts are written with their length, so no two lists of parts give one text.
        text.push_str(&part.len().to_string());
        text.push(':');
        text.push_str(part);
        text.push('\n');
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
