//! Cached node outputs in a store (`#[node(cache)]`): [`CacheEntry`], what an entry's key was
//! made of, and [`ResultCache`], the trait a store implements to keep them, shared by every run
//! (and every fleet worker) that uses the store.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::error::StoreResult;
use crate::data::Json;
use crate::run_id::RunId;
use crate::sync::lock;

/// One cached output and the parts of its key, so that a miss can be explained against it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CacheEntry {
    /// The key: a digest of every part below except the times, the run and the size.
    pub key: String,
    /// The node fn the entry belongs to (`module::path::fn`).
    pub owner: String,
    /// The pipeline of the run that stored it.
    pub pipeline: String,
    /// The node (binding) of that run.
    pub node: String,
    /// The node's code digest.
    pub code: String,
    /// The node's `version` (empty without one).
    pub version: String,
    /// The helpers it listed in `uses`, with their code digests.
    pub helpers: Vec<(String, String)>,
    /// A digest of each input value, by parameter.
    pub inputs: Vec<InputDigest>,
    /// The run that computed the output.
    pub run_id: RunId,
    /// When it was stored, in ms since the Unix epoch.
    pub created_at_ms: u64,
    /// When it stops being reused, if it has a time to live.
    pub expires_at_ms: Option<u64>,
    /// The output's size in bytes (its JSON).
    pub size: u64,
}

/// A canonical digest of one input value, and of its fields when it is a JSON object, so that a
/// miss can name the field that differed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct InputDigest {
    /// The parameter's name.
    pub name: String,
    /// The canonical digest of the whole value.
    pub digest: String,
    /// The digest of each top-level field, by name, when the value is an object.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: BTreeMap<String, String>,
}

impl InputDigest {
    /// The digest of input `name`, whole and by field.
    pub fn new(name: impl Into<String>, digest: String, fields: BTreeMap<String, String>) -> Self {
        InputDigest {
            name: name.into(),
            digest,
            fields,
        }
    }
}

impl CacheEntry {
    /// An entry of `owner` for `key`; the other parts are set field by field.
    pub fn new(key: impl Into<String>, owner: impl Into<String>, run_id: RunId) -> Self {
        CacheEntry {
            key: key.into(),
            owner: owner.into(),
            pipeline: String::new(),
            node: String::new(),
            code: String::new(),
            version: String::new(),
            helpers: Vec::new(),
            inputs: Vec::new(),
            run_id,
            created_at_ms: 0,
            expires_at_ms: None,
            size: 0,
        }
    }

    /// Whether the entry has expired at `now_ms`.
    pub fn expired(&self, now_ms: u64) -> bool {
        self.expires_at_ms.is_some_and(|at| at <= now_ms)
    }
}

/// What a run needs of an entry to reuse it (see [`ResultCache::cache_hit`]).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct CacheHit {
    /// The run that computed the output.
    pub run_id: RunId,
    /// When the entry stops being reused, if it has a time to live.
    pub expires_at_ms: Option<u64>,
    /// The output, as JSON.
    pub output: Json,
}

impl CacheHit {
    /// The hit of `entry`, with its `output`.
    pub fn new(entry: CacheEntry, output: Json) -> Self {
        CacheHit {
            run_id: entry.run_id,
            expires_at_ms: entry.expires_at_ms,
            output,
        }
    }

    /// Whether the entry has expired at `now_ms`.
    pub fn expired(&self, now_ms: u64) -> bool {
        self.expires_at_ms.is_some_and(|at| at <= now_ms)
    }
}

/// Which entries [`ResultCache::cache_list`] and a clear take; every part given must match.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheFilter {
    /// Entries stored by runs of this pipeline.
    pub pipeline: Option<String>,
    /// Entries of this node (binding), or of this node fn (its owner, `module::fn`, or its
    /// last segment).
    pub node: Option<String>,
    /// Entries stored before this time (ms since the Unix epoch).
    pub before_ms: Option<u64>,
}

impl CacheFilter {
    /// Every entry.
    pub fn all() -> Self {
        Self::default()
    }

    /// Only entries of runs of `pipeline`.
    pub fn pipeline(mut self, pipeline: impl Into<String>) -> Self {
        self.pipeline = Some(pipeline.into());
        self
    }

    /// Only entries of node `node` (a binding, a fn, or a fn's path).
    pub fn node(mut self, node: impl Into<String>) -> Self {
        self.node = Some(node.into());
        self
    }

    /// Only entries stored before `ms`.
    pub fn before_ms(mut self, ms: u64) -> Self {
        self.before_ms = Some(ms);
        self
    }

    /// Whether `entry` passes the filter.
    pub fn matches(&self, entry: &CacheEntry) -> bool {
        let node = |n: &String| {
            entry.node == *n
                || entry.owner == *n
                || entry.owner.rsplit("::").next() == Some(n.as_str())
        };
        self.pipeline.as_ref().is_none_or(|p| entry.pipeline == *p)
            && self.node.as_ref().is_none_or(node)
            && self.before_ms.is_none_or(|t| entry.created_at_ms < t)
    }
}

/// Where a store keeps cached node outputs. One rule for every store: an entry is stored whole
/// or not at all, and an entry a key already has is kept (the first to store a key wins; a
/// second run that computed the same key from the same code and inputs has an equal output).
#[async_trait]
pub trait ResultCache: Send + Sync {
    /// The entry of `key` and its output, expired or not (the reader decides).
    async fn cache_get(&self, key: &str) -> StoreResult<Option<(CacheEntry, Json)>>;
    /// What a run needs of `key`'s entry to reuse it, expired or not (the reader decides):
    /// [`cache_get`](ResultCache::cache_get) without the parts of the key, which a store may
    /// answer without copying or decoding them. Every lookup of a run goes through it.
    async fn cache_hit(&self, key: &str) -> StoreResult<Option<CacheHit>> {
        let found = self.cache_get(key).await?;
        Ok(found.map(|(entry, output)| CacheHit::new(entry, output)))
    }
    /// Stores `entry` with `output`, unless the key has one: `Ok(false)` then.
    async fn cache_put(&self, entry: &CacheEntry, output: &Json) -> StoreResult<bool>;
    /// The entries `filter` takes, without their outputs, oldest first.
    async fn cache_list(&self, filter: &CacheFilter) -> StoreResult<Vec<CacheEntry>>;
    /// Removes the entries of `keys`; returns how many there were.
    async fn cache_remove(&self, keys: &[String]) -> StoreResult<u64>;
}

/// The cache of the in-memory stores (and of tests).
#[derive(Debug, Default)]
pub(crate) struct MemoryCache {
    entries: Mutex<BTreeMap<String, (CacheEntry, Json)>>,
}

#[async_trait]
impl ResultCache for MemoryCache {
    async fn cache_get(&self, key: &str) -> StoreResult<Option<(CacheEntry, Json)>> {
        Ok(lock(&self.entries).get(key).cloned())
    }

    async fn cache_hit(&self, key: &str) -> StoreResult<Option<CacheHit>> {
        Ok(lock(&self.entries)
            .get(key)
            .map(|(entry, output)| CacheHit {
                run_id: entry.run_id.clone(),
                expires_at_ms: entry.expires_at_ms,
                output: Json::clone(output),
            }))
    }

    async fn cache_put(&self, entry: &CacheEntry, output: &Json) -> StoreResult<bool> {
        let mut entries = lock(&self.entries);
        if entries.contains_key(&entry.key) {
            return Ok(false);
        }
        entries.insert(entry.key.clone(), (entry.clone(), output.clone()));
        Ok(true)
    }

    async fn cache_list(&self, filter: &CacheFilter) -> StoreResult<Vec<CacheEntry>> {
        let entries = lock(&self.entries);
        Ok(oldest_first(
            entries
                .values()
                .map(|(e, _)| e)
                .filter(|e| filter.matches(e))
                .cloned(),
        ))
    }

    async fn cache_remove(&self, keys: &[String]) -> StoreResult<u64> {
        let mut entries = lock(&self.entries);
        Ok(keys.iter().filter(|k| entries.remove(*k).is_some()).count() as u64)
    }
}

/// `entries` sorted oldest first (by key among equal times), as every store lists them.
pub(crate) fn oldest_first(entries: impl IntoIterator<Item = CacheEntry>) -> Vec<CacheEntry> {
    let mut entries: Vec<CacheEntry> = entries.into_iter().collect();
    entries.sort_by(|a, b| (a.created_at_ms, &a.key).cmp(&(b.created_at_ms, &b.key)));
    entries
}
