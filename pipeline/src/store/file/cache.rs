//! Cached node outputs in a directory store: `cache/<key>.entry`, one framed record (the entry's
//! parts, then its output) per file, created whole (written to a temporary file, then linked into
//! place), so a reader finds an entry whole or not at all, and the first to store a key keeps it.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::log::RunFiles;
use crate::data::Json;
use crate::store::cache::{CacheEntry, CacheFilter, ResultCache, oldest_first};
use crate::store::error::{StoreError, StoreResult};
use crate::store::framing::{PREFIX_LEN, frame, prefix, scan};
use crate::store::fs::{create_private_dir, create_whole, io_error, sync_dir};
use crate::store::shared::blocking;
use crate::store::{Durability, Recovery};

const MAGIC: &[u8; 8] = b"PLCACHE\0";
const VERSION: u32 = 1;
const KIND: &str = "cache entry";

#[derive(Serialize, Deserialize)]
struct Stored {
    entry: CacheEntry,
    output: Json,
}

fn dir(files: &RunFiles) -> PathBuf {
    files.dir.join("cache")
}

/// The file of `key`; a key is a digest, anything else is refused (it names a file).
fn path(dir: &Path, key: &str) -> StoreResult<PathBuf> {
    match !key.is_empty() && key.len() <= 128 && key.bytes().all(|b| b.is_ascii_alphanumeric()) {
        true => Ok(dir.join(format!("{key}.entry"))),
        false => Err(StoreError::Encode(serde::ser::Error::custom(format_args!(
            "a cache key is a digest of letters and digits, not {key:?}"
        )))),
    }
}

/// The entry at `path`, its output left out unless `with_output`; `None` when there is none.
fn read(path: &Path, with_output: bool) -> StoreResult<Option<(CacheEntry, Option<Json>)>> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_error("read", path)(e)),
    };
    let scanned = scan(path, &bytes, MAGIC, VERSION, KIND, Recovery::Strict)?;
    let corrupt = |reason: String| StoreError::Corrupt {
        path: path.to_owned(),
        offset: PREFIX_LEN as u64,
        reason,
    };
    let [frame] = &scanned.frames[..] else {
        return Err(corrupt(format!(
            "a cache entry is one whole record, and this file holds {} (it was damaged after it \
             was written: remove the file)",
            scanned.frames.len()
        )));
    };
    if scanned.torn_at.is_some() {
        return Err(corrupt("bytes follow the entry's record".to_owned()));
    }
    if with_output {
        let stored: Stored = serde_json::from_slice(frame.payload)
            .map_err(|e| corrupt(format!("undecodable cache entry: {e}")))?;
        return Ok(Some((stored.entry, Some(stored.output))));
    }
    #[derive(Deserialize)]
    struct Parts {
        entry: CacheEntry,
    }
    let parts: Parts = serde_json::from_slice(frame.payload)
        .map_err(|e| corrupt(format!("undecodable cache entry: {e}")))?;
    Ok(Some((parts.entry, None)))
}

fn put(dir: &Path, durability: Durability, entry: &CacheEntry, output: &Json) -> StoreResult<bool> {
    create_private_dir(dir)?;
    let path = path(dir, &entry.key)?;
    let stored = Stored {
        entry: entry.clone(),
        output: output.clone(),
    };
    let payload = serde_json::to_vec(&stored).map_err(StoreError::Encode)?;
    let mut bytes = prefix(MAGIC, VERSION).to_vec();
    frame(&payload, &mut bytes)?;
    let sync = durability == Durability::Sync;
    let created = create_whole(&path, &bytes, sync)?;
    if created && sync {
        sync_dir(dir)?;
    }
    Ok(created)
}

fn list(dir: &Path, filter: &CacheFilter) -> StoreResult<Vec<CacheEntry>> {
    let listing = match std::fs::read_dir(dir) {
        Ok(listing) => listing,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_error("list", dir)(e)),
    };
    let mut entries = Vec::new();
    for item in listing {
        let path = item.map_err(io_error("list", dir))?.path();
        if path.extension().is_none_or(|e| e != "entry") {
            continue;
        }
        // Removed since it was listed: not an error.
        if let Some((entry, _)) = read(&path, false)?
            && filter.matches(&entry)
        {
            entries.push(entry);
        }
    }
    Ok(oldest_first(entries))
}

fn remove(dir: &Path, keys: &[String]) -> StoreResult<u64> {
    let mut removed = 0;
    for key in keys {
        let path = path(dir, key)?;
        match std::fs::remove_file(&path) {
            Ok(()) => removed += 1,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_error("remove", &path)(e)),
        }
    }
    Ok(removed)
}

#[async_trait]
impl ResultCache for RunFiles {
    async fn cache_get(&self, key: &str) -> StoreResult<Option<(CacheEntry, Json)>> {
        let path = path(&dir(self), key)?;
        let found = blocking(move || read(&path, true)).await?;
        Ok(found.and_then(|(entry, output)| Some((entry, output?))))
    }

    async fn cache_put(&self, entry: &CacheEntry, output: &Json) -> StoreResult<bool> {
        let (dir, durability) = (dir(self), self.durability);
        let (entry, output) = (entry.clone(), output.clone());
        blocking(move || put(&dir, durability, &entry, &output)).await
    }

    async fn cache_list(&self, filter: &CacheFilter) -> StoreResult<Vec<CacheEntry>> {
        let (dir, filter) = (dir(self), filter.clone());
        blocking(move || list(&dir, &filter)).await
    }

    async fn cache_remove(&self, keys: &[String]) -> StoreResult<u64> {
        let (dir, keys) = (dir(self), keys.to_vec());
        blocking(move || remove(&dir, &keys)).await
    }
}
