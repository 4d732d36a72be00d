//! Cached node outputs in a directory store: one append-only log, `cache/entries.log` ([`log`]),
//! of framed records ([`record`]), indexed in memory by key. A hit costs a `stat` of the log and
//! one read of the entry's frame (none when this process decoded the entry before), done inline
//! when it is small; a put is inline too with `Async` when no other writer holds the log (as a
//! run's `Async` appends are); the rest runs on the blocking pool.

mod log;
mod record;
mod write;

use std::sync::Arc;

use async_trait::async_trait;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

pub(crate) use self::log::CacheLog;
use self::log::{Decoded, Framed, INLINE_BYTES, Read};
use self::record::{Record, check_key};
use crate::data::Json;
use crate::store::cache::{CacheEntry, CacheFilter, CacheHit, ResultCache, oldest_first};
use crate::store::error::StoreError;
use crate::store::shared::blocking;
use crate::store::{Durability, StoreResult};

#[derive(Deserialize)]
struct Stored {
    entry: CacheEntry,
    output: Json,
}

/// What [`Stored`] reads, written from borrowed parts (a put copies neither).
#[derive(Serialize)]
struct ToStore<'a> {
    entry: &'a CacheEntry,
    output: &'a RawValue,
}

/// The put of `key` in the frame at `offset` in `log`: its JSON.
fn put_json<'a>(log: &CacheLog, (offset, payload): &'a Framed) -> StoreResult<&'a [u8]> {
    let corrupt = |reason: String| StoreError::Corrupt {
        path: log.path().to_owned(),
        offset: *offset,
        reason,
    };
    match record::parse(payload).map_err(corrupt)? {
        Record::Put(_, json) => Ok(json),
        Record::Remove(_) => Err(corrupt("a removal where an entry was indexed".to_owned())),
    }
}

/// The JSON of the put in `framed`, decoded as `T`.
fn decode_json<T: DeserializeOwned>(log: &CacheLog, framed: &Framed) -> StoreResult<T> {
    serde_json::from_slice(put_json(log, framed)?).map_err(|e| StoreError::Corrupt {
        path: log.path().to_owned(),
        offset: framed.0,
        reason: format!("undecodable cache entry: {e}"),
    })
}

/// The entry and output in `framed`.
fn decode(log: &CacheLog, framed: &Framed) -> StoreResult<(CacheEntry, Json)> {
    let stored: Stored = decode_json(log, framed)?;
    Ok((stored.entry, stored.output))
}

/// The entry in `framed`, its output left undecoded.
fn decode_entry(log: &CacheLog, framed: &Framed) -> StoreResult<CacheEntry> {
    #[derive(Deserialize)]
    struct Parts {
        entry: CacheEntry,
    }
    Ok(decode_json::<Parts>(log, framed)?.entry)
}

/// The entry of `key`, however large its frame (read on the blocking pool).
async fn get_whole(log: &Arc<CacheLog>, key: &str) -> StoreResult<Option<Decoded>> {
    let (log, key) = (Arc::clone(log), key.to_owned());
    blocking(move || match log.get(&key, None, |f| decode(&log, f))? {
        Read::Done(found) => Ok(found),
        // Without a budget, every read is done.
        Read::Heavy => Ok(None),
    })
    .await
}

impl super::log::RunFiles {
    /// The entry of `key`: read inline when it is small, else on the blocking pool.
    async fn decoded(&self, key: &str) -> StoreResult<Option<Decoded>> {
        check_key(key)?;
        let log = &self.cache;
        match log.get(key, Some(INLINE_BYTES), |f| decode(log, f))? {
            Read::Done(found) => Ok(found),
            Read::Heavy => get_whole(log, key).await,
        }
    }
}

#[async_trait]
impl ResultCache for super::log::RunFiles {
    async fn cache_get(&self, key: &str) -> StoreResult<Option<(CacheEntry, Json)>> {
        let found = self.decoded(key).await?;
        Ok(found.map(|decoded| (decoded.0.clone(), Arc::clone(&decoded.1))))
    }

    async fn cache_hit(&self, key: &str) -> StoreResult<Option<CacheHit>> {
        Ok(self.decoded(key).await?.map(|decoded| CacheHit {
            run_id: decoded.0.run_id.clone(),
            expires_at_ms: decoded.0.expires_at_ms,
            output: Arc::clone(&decoded.1),
        }))
    }

    async fn cache_put(&self, entry: &CacheEntry, output: &Json) -> StoreResult<bool> {
        let json = serde_json::to_vec(&ToStore { entry, output }).map_err(StoreError::Encode)?;
        let framed = record::framed(&Record::Put(&entry.key, &json))?;
        // With `Async`, inline when no other writer holds the log (as a run's appends are).
        let framed = match self.durability {
            Durability::Async => match self.cache.put(&entry.key, framed, true)? {
                Ok(appended) => return Ok(appended),
                Err(framed) => framed,
            },
            Durability::Sync => framed,
        };
        let (log, key) = (Arc::clone(&self.cache), entry.key.clone());
        blocking(move || Ok(log.put(&key, framed, false)?.unwrap_or(false))).await
    }

    async fn cache_list(&self, filter: &CacheFilter) -> StoreResult<Vec<CacheEntry>> {
        let (log, filter) = (Arc::clone(&self.cache), filter.clone());
        blocking(move || {
            let mut entries = Vec::new();
            for framed in log.frames()? {
                let entry = decode_entry(&log, &framed)?;
                if filter.matches(&entry) {
                    entries.push(entry);
                }
            }
            Ok(oldest_first(entries))
        })
        .await
    }

    async fn cache_remove(&self, keys: &[String]) -> StoreResult<u64> {
        for key in keys {
            check_key(key)?;
        }
        let (log, keys) = (Arc::clone(&self.cache), keys.to_vec());
        blocking(move || log.remove(&keys)).await
    }
}

#[cfg(test)]
mod tests;
