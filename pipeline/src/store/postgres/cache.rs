//! The result cache in PostgreSQL: `pipeline_cache_entries`, one row per key, inserted in one
//! statement (whole or not at all; the first to store a key keeps it), shared by every process
//! and fleet worker that uses the database.

use async_trait::async_trait;

use super::PostgresStore;
use crate::data::Json;
use crate::store::cache::{CacheEntry, CacheFilter, ResultCache, oldest_first};
use crate::store::error::{StoreError, StoreResult};

const TABLE: &str = "pipeline_cache_entries";

impl PostgresStore {
    fn cache_entry(&self, id: i64, bytes: &[u8]) -> StoreResult<CacheEntry> {
        serde_json::from_slice(bytes).map_err(|e| self.corrupt(TABLE, id, "cache entry", e))
    }
}

#[async_trait]
impl ResultCache for PostgresStore {
    async fn cache_get(&self, key: &str) -> StoreResult<Option<(CacheEntry, Json)>> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT id, entry, output FROM pipeline_cache_entries WHERE key = $1",
                &[&key],
            )
            .await
            .map_err(self.error("read"))?;
        let Some(row) = row else {
            return Ok(None);
        };
        let id: i64 = row.get(0);
        let entry = self.cache_entry(id, row.get::<_, &[u8]>(1))?;
        let output: Box<serde_json::value::RawValue> =
            serde_json::from_slice(row.get::<_, &[u8]>(2))
                .map_err(|e| self.corrupt(TABLE, id, "cached output", e))?;
        Ok(Some((entry, Json::from(output))))
    }

    async fn cache_put(&self, entry: &CacheEntry, output: &Json) -> StoreResult<bool> {
        let bytes = serde_json::to_vec(entry).map_err(StoreError::Encode)?;
        let created = i64::try_from(entry.created_at_ms).unwrap_or(i64::MAX);
        let client = self.client().await?;
        let inserted = client
            .execute(
                "INSERT INTO pipeline_cache_entries \
                   (key, owner, pipeline, created_at_ms, entry, output) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (key) DO NOTHING",
                &[
                    &entry.key,
                    &entry.owner,
                    &entry.pipeline,
                    &created,
                    &bytes,
                    &output.get().as_bytes(),
                ],
            )
            .await
            .map_err(self.error("write to"))?;
        Ok(inserted == 1)
    }

    async fn cache_list(&self, filter: &CacheFilter) -> StoreResult<Vec<CacheEntry>> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT id, entry FROM pipeline_cache_entries \
                 WHERE ($1::text IS NULL OR pipeline = $1) ORDER BY created_at_ms, key",
                &[&filter.pipeline],
            )
            .await
            .map_err(self.error("read"))?;
        let mut entries = Vec::with_capacity(rows.len());
        for row in rows {
            let entry = self.cache_entry(row.get(0), row.get::<_, &[u8]>(1))?;
            if filter.matches(&entry) {
                entries.push(entry);
            }
        }
        Ok(oldest_first(entries))
    }

    async fn cache_remove(&self, keys: &[String]) -> StoreResult<u64> {
        let client = self.client().await?;
        client
            .execute(
                "DELETE FROM pipeline_cache_entries WHERE key = ANY($1)",
                &[&keys],
            )
            .await
            .map_err(self.error("write to"))
    }
}
