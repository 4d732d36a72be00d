//! Cached node outputs in the SQLite database: table `cache_entries`, one row per key, inserted
//! in one statement (whole or not at all; the first to store a key keeps it).

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};

use super::database::{Database, sql_error};
use crate::data::Json;
use crate::store::cache::{CacheEntry, CacheFilter, ResultCache, oldest_first};
use crate::store::error::{StoreError, StoreResult};
use crate::store::shared::blocking;

fn corrupt(db: &Database, key: &str, e: serde_json::Error) -> StoreError {
    StoreError::Corrupt {
        path: db.path.clone(),
        offset: 0,
        reason: format!("undecodable cache entry {key}: {e}"),
    }
}

fn get(db: &Database, key: &str) -> StoreResult<Option<(CacheEntry, Json)>> {
    let row: Option<(String, String)> = db.with_connection(|connection| {
        connection
            .query_row(
                "SELECT entry, output FROM cache_entries WHERE key = ?1",
                params![key],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()
            .map_err(sql_error("read", &db.path))
    })?;
    let Some((entry, output)) = row else {
        return Ok(None);
    };
    let entry = serde_json::from_str(&entry).map_err(|e| corrupt(db, key, e))?;
    let output: Box<serde_json::value::RawValue> =
        serde_json::from_str(&output).map_err(|e| corrupt(db, key, e))?;
    Ok(Some((entry, Json::from(output))))
}

fn put(db: &Database, entry: &CacheEntry, output: &Json) -> StoreResult<bool> {
    let text = serde_json::to_string(entry).map_err(StoreError::Encode)?;
    let created = i64::try_from(entry.created_at_ms).unwrap_or(i64::MAX);
    let inserted = db.with_connection(|connection| {
        connection
            .execute(
                "INSERT INTO cache_entries (key, created_at_ms, entry, output) \
                 VALUES (?1, ?2, ?3, ?4) ON CONFLICT (key) DO NOTHING",
                params![entry.key, created, text, output.get()],
            )
            .map_err(sql_error("write to", &db.path))
    })?;
    Ok(inserted == 1)
}

fn list(db: &Database, filter: &CacheFilter) -> StoreResult<Vec<CacheEntry>> {
    let rows: Vec<(String, String)> = db.with_connection(|connection| {
        let error = sql_error("read", &db.path);
        let mut statement = match connection.prepare("SELECT key, entry FROM cache_entries") {
            Ok(statement) => statement,
            Err(e) => return Err(error(e)),
        };
        let rows = statement.query_map([], |row| Ok((row.get(0)?, row.get(1)?)));
        let rows: Result<Vec<_>, _> = match rows {
            Ok(rows) => rows.collect(),
            Err(e) => return Err(sql_error("read", &db.path)(e)),
        };
        rows.map_err(sql_error("read", &db.path))
    })?;
    let mut entries = Vec::with_capacity(rows.len());
    for (key, text) in rows {
        let entry: CacheEntry = serde_json::from_str(&text).map_err(|e| corrupt(db, &key, e))?;
        if filter.matches(&entry) {
            entries.push(entry);
        }
    }
    Ok(oldest_first(entries))
}

fn remove(db: &Database, keys: &[String]) -> StoreResult<u64> {
    db.with_connection(|connection| {
        let error = |e| sql_error("write to", &db.path)(e);
        let tx = connection.transaction().map_err(error)?;
        let mut removed = 0;
        for key in keys {
            removed += tx
                .execute("DELETE FROM cache_entries WHERE key = ?1", params![key])
                .map_err(error)? as u64;
        }
        tx.commit().map_err(error)?;
        Ok(removed)
    })
}

#[async_trait]
impl ResultCache for std::sync::Arc<Database> {
    async fn cache_get(&self, key: &str) -> StoreResult<Option<(CacheEntry, Json)>> {
        let (db, key) = (std::sync::Arc::clone(self), key.to_owned());
        blocking(move || get(&db, &key)).await
    }

    async fn cache_put(&self, entry: &CacheEntry, output: &Json) -> StoreResult<bool> {
        let (db, entry, output) = (std::sync::Arc::clone(self), entry.clone(), output.clone());
        blocking(move || put(&db, &entry, &output)).await
    }

    async fn cache_list(&self, filter: &CacheFilter) -> StoreResult<Vec<CacheEntry>> {
        let (db, filter) = (std::sync::Arc::clone(self), filter.clone());
        blocking(move || list(&db, &filter)).await
    }

    async fn cache_remove(&self, keys: &[String]) -> StoreResult<u64> {
        let (db, keys) = (std::sync::Arc::clone(self), keys.to_vec());
        blocking(move || remove(&db, &keys)).await
    }
}
