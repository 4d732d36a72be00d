//! Finding and storing a cached call, the same way in both executors: an entry is reused while it
//! lives; a new output replaces an entry that expired or no longer decodes.

use super::key::Probe;
use crate::data::Json;
use crate::node::NodeCache;
use crate::run_id::RunId;
use crate::store::{CacheEntry, CacheHit, ResultCache, StoreResult};

/// What the store holds for a probe.
pub(crate) enum Looked {
    /// A live entry: its output is reused.
    Hit(CacheHit),
    /// Nothing to reuse; `stale` when an expired entry holds the key (the new output replaces it).
    Miss { stale: bool },
}

/// Looks `probe` up in `cache` at `now_ms`.
pub(crate) async fn find(
    cache: &dyn ResultCache,
    probe: &Probe,
    now_ms: u64,
) -> StoreResult<Looked> {
    Ok(match cache.cache_hit(&probe.key).await? {
        Some(hit) if !hit.expired(now_ms) => Looked::Hit(hit),
        Some(_) => Looked::Miss { stale: true },
        None => Looked::Miss { stale: false },
    })
}

/// Where a cached output came from and what its key held, as a run stores it.
pub(crate) struct Source<'a> {
    pub cache: &'a NodeCache,
    pub version: &'a str,
    pub pipeline: &'a str,
    pub node: &'a str,
    pub run_id: &'a RunId,
}

/// The entry of `probe`'s call that produced `output` at `now_ms`.
pub(crate) fn entry(source: &Source<'_>, probe: &Probe, output: &Json, now_ms: u64) -> CacheEntry {
    let mut entry = CacheEntry::new(&probe.key, &source.cache.owner, source.run_id.clone());
    entry.pipeline = source.pipeline.to_owned();
    entry.node = source.node.to_owned();
    entry.code = source.cache.code.clone();
    entry.version = source.version.to_owned();
    entry.helpers = source.cache.helpers.clone();
    entry.inputs = probe.inputs.clone();
    entry.created_at_ms = now_ms;
    entry.expires_at_ms = source
        .cache
        .ttl
        .map(|ttl| crate::store::ms_after(now_ms, ttl));
    entry.size = output.get().len() as u64;
    entry
}

/// Stores `entry` with `output`; `replace`: an entry that holds the key is removed first (it
/// expired, or no longer decodes). Returns whether this entry is now the key's.
pub(crate) async fn store(
    cache: &dyn ResultCache,
    entry: &CacheEntry,
    output: &Json,
    replace: bool,
) -> StoreResult<bool> {
    if replace {
        cache.cache_remove(std::slice::from_ref(&entry.key)).await?;
    }
    cache.cache_put(entry, output).await
}
