//! Writing a completed node: its checkpoint record alone, or with its audit entry in the same
//! statement (one commit, one WAL flush), each statement prepared once per connection.

use deadpool_postgres::Object;
use tokio_postgres::types::ToSql;

use super::PostgresStore;
use crate::run_id::RunId;
use crate::store::epoch::Epoch;
use crate::store::error::{StoreError, StoreResult};
use crate::store::records::{AuditEntry, NodeRecord};

/// The record's insert, while the run is at epoch `$8` (`FOR SHARE` holds off a takeover, which
/// moves the epoch, until the insert commits); the first record of a node wins.
const SAVE: &str = "INSERT INTO pipeline_node_records (run_id, node, attempt, started_at_ms, \
                    finished_at_ms, duration_us, output, item, items, item_digest) \
                    SELECT $1, $2, $3, $4, $5, $6, $7, $9, $10, $11 WHERE EXISTS (SELECT 1 FROM \
                    pipeline_runs WHERE run_id = $1 AND epoch = $8 FOR SHARE) \
                    ON CONFLICT (run_id, node, item) DO NOTHING";

/// The record and the audit entry (`$12` the entry, `$13` the trail's epoch, `$14` and `$15` the
/// entry's node and attempt), both only while the run is at both epochs: both or neither. Its
/// one row says whether they were (`held`: 1 or 0).
const SAVE_WITH_ENTRY: &str = "WITH held AS (SELECT 1 FROM pipeline_runs r JOIN \
     pipeline_audit_runs a ON a.run_id = r.run_id WHERE r.run_id = $1 AND r.epoch = $8 \
     AND a.epoch = $13 FOR SHARE), \
     record AS (INSERT INTO pipeline_node_records (run_id, node, attempt, started_at_ms, \
     finished_at_ms, duration_us, output, item, items, item_digest) \
     SELECT $1, $2, $3, $4, $5, $6, $7, $9, $10, $11 FROM held \
     ON CONFLICT (run_id, node, item) DO NOTHING), \
     entry AS (INSERT INTO pipeline_audit_entries (run_id, entry, node, attempt) \
     SELECT $1, $12, $14, $15 FROM held) \
     SELECT count(*) FROM held";

impl PostgresStore {
    /// Runs `sql` on `client` as a statement prepared once per connection.
    pub(super) async fn execute_cached(
        &self,
        client: &Object,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> StoreResult<u64> {
        let statement = client
            .prepare_cached(sql)
            .await
            .map_err(self.error("write to"))?;
        client
            .execute(&statement, params)
            .await
            .map_err(self.error("write to"))
    }

    /// Appends `record` for the holder of `epoch`, with `entry` for the holder of the trail's
    /// `audit_epoch` when there is one.
    pub(super) async fn save_node(
        &self,
        run_id: &RunId,
        epoch: Epoch,
        record: &NodeRecord,
        entry: Option<(Epoch, &AuditEntry)>,
    ) -> StoreResult<()> {
        let client = self.client().await?;
        let output = record.output.get().as_bytes();
        let item = record.item.map_or(-1, |i| i.index as i32);
        let items = record.item.map(|i| i.of as i32);
        let (attempt, epoch_n) = (record.attempt as i32, epoch.get() as i64);
        let (started, finished) = (record.started_at_ms as i64, record.finished_at_ms as i64);
        let duration = record.duration_us as i64;
        let id = run_id.as_str();
        let mut params: Vec<&(dyn ToSql + Sync)> = vec![
            &id,
            &record.node,
            &attempt,
            &started,
            &finished,
            &duration,
            &output,
            &epoch_n,
            &item,
            &items,
            &record.item_digest,
        ];
        let Some((audit_epoch, entry)) = entry else {
            let inserted = self.execute_cached(&client, SAVE, &params).await?;
            if inserted == 1 {
                return Ok(());
            }
            return match self
                .current_epoch(&**client, "pipeline_runs", run_id)
                .await?
            {
                // The node was recorded already: the first record wins.
                Some(current) if current == epoch => Ok(()),
                current => Err(StoreError::Fenced {
                    run_id: run_id.clone(),
                    epoch,
                    current,
                }),
            };
        };
        let bytes = serde_json::to_vec(entry).map_err(StoreError::Encode)?;
        let (audit_n, entry_attempt) = (audit_epoch.get() as i64, entry.attempt as i32);
        params.extend([
            &bytes as &(dyn ToSql + Sync),
            &audit_n,
            &entry.node,
            &entry_attempt,
        ]);
        let statement = client
            .prepare_cached(SAVE_WITH_ENTRY)
            .await
            .map_err(self.error("write to"))?;
        let held: i64 = client
            .query_one(&statement, &params)
            .await
            .map_err(self.error("write to"))?
            .get(0);
        if held == 1 {
            return Ok(());
        }
        let current = self
            .current_epoch(&**client, "pipeline_runs", run_id)
            .await?;
        if current != Some(epoch) {
            return Err(StoreError::Fenced {
                run_id: run_id.clone(),
                epoch,
                current,
            });
        }
        Err(StoreError::Fenced {
            run_id: run_id.clone(),
            epoch: audit_epoch,
            current: self
                .current_epoch(&**client, "pipeline_audit_runs", run_id)
                .await?,
        })
    }
}

/// A connection or transaction that prepares statements once per connection.
pub(crate) trait Prepare {
    /// `sql` prepared on this connection, from its cache after the first time.
    fn prepare_once(
        &self,
        sql: &str,
    ) -> impl std::future::Future<Output = Result<tokio_postgres::Statement, tokio_postgres::Error>> + Send;
}

impl Prepare for Object {
    async fn prepare_once(
        &self,
        sql: &str,
    ) -> Result<tokio_postgres::Statement, tokio_postgres::Error> {
        self.prepare_cached(sql).await
    }
}

impl Prepare for deadpool_postgres::ClientWrapper {
    async fn prepare_once(
        &self,
        sql: &str,
    ) -> Result<tokio_postgres::Statement, tokio_postgres::Error> {
        self.prepare_cached(sql).await
    }
}

impl Prepare for deadpool_postgres::Transaction<'_> {
    async fn prepare_once(
        &self,
        sql: &str,
    ) -> Result<tokio_postgres::Statement, tokio_postgres::Error> {
        self.prepare_cached(sql).await
    }
}

impl PostgresStore {
    /// `sql` prepared on `client` once per connection: a statement run again is one round trip,
    /// and the server neither parses nor plans it again.
    pub(crate) async fn prepared(
        &self,
        client: &impl Prepare,
        sql: &str,
    ) -> StoreResult<tokio_postgres::Statement> {
        client
            .prepare_once(sql)
            .await
            .map_err(self.error("prepare a statement in"))
    }
}

impl<T: Prepare + Sync> Prepare for &T {
    async fn prepare_once(
        &self,
        sql: &str,
    ) -> Result<tokio_postgres::Statement, tokio_postgres::Error> {
        (**self).prepare_once(sql).await
    }
}
