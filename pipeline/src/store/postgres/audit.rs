//! The [`AuditLog`] of [`PostgresStore`]: `pipeline_audit_runs` (header and epoch),
//! `pipeline_audit_entries` (one row per attempt) and `pipeline_run_summaries`.

use async_trait::async_trait;

use super::PostgresStore;
use super::locks::Kind;
use crate::run_id::RunId;
use crate::store::LastAttempts;
use crate::store::epoch::Epoch;
use crate::store::error::{StoreError, StoreResult};
use crate::store::place::CommitPlace;
use crate::store::records::{AuditEntry, RunHeader, RunSummary};
use crate::store::traits::AuditLog;

const CREATE: &str =
    "INSERT INTO pipeline_audit_runs (run_id, header) VALUES ($1, $2) ON CONFLICT DO NOTHING";

impl PostgresStore {
    /// Runs `sql`, an insert that writes only while the audit run is at `epoch` (`$1` run id,
    /// `$2` the JSON of `value`, `$3` the epoch, then `extra`); [`StoreError::Fenced`] otherwise.
    async fn append_at(
        &self,
        sql: &str,
        run_id: &RunId,
        epoch: Epoch,
        value: &impl serde::Serialize,
        extra: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> StoreResult<()> {
        let bytes = serde_json::to_vec(value).map_err(StoreError::Encode)?;
        let client = self.client().await?;
        let (id, epoch_n) = (run_id.as_str(), epoch.get() as i64);
        let mut params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> =
            vec![&id, &bytes, &epoch_n];
        params.extend_from_slice(extra);
        let written = self.execute_cached(&client, sql, &params).await?;
        if written == 0 {
            return Err(StoreError::Fenced {
                run_id: run_id.clone(),
                epoch,
                current: self
                    .current_epoch(&**client, "pipeline_audit_runs", run_id)
                    .await?,
            });
        }
        Ok(())
    }
}

#[async_trait]
impl AuditLog for PostgresStore {
    async fn create_run(&self, header: &RunHeader) -> StoreResult<Epoch> {
        let bytes = serde_json::to_vec(header).map_err(StoreError::Encode)?;
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 2] =
            [&header.run_id.as_str(), &bytes];
        self.create(Kind::Audit, &header.run_id, CREATE, &params)
            .await
    }

    async fn resume_run(&self, header: &RunHeader) -> StoreResult<Epoch> {
        let run_id = &header.run_id;
        let bytes = serde_json::to_vec(header).map_err(StoreError::Encode)?;
        let taken = self
            .inner
            .locks
            .take(Kind::Audit, run_id, async {
                let client = self.client().await?;
                client
                    .execute(CREATE, &[&run_id.as_str(), &bytes])
                    .await
                    .map_err(self.error("write to"))?;
                match self
                    .next_epoch(&**client, "pipeline_audit_runs", run_id)
                    .await?
                {
                    Some(epoch) => Ok(Some(((), epoch))),
                    None => Err(StoreError::UnknownRun(run_id.clone())),
                }
            })
            .await?;
        Ok(taken.map_or(Epoch::FIRST, |(_, epoch)| epoch))
    }

    fn commit_place(&self) -> Option<CommitPlace> {
        Some(CommitPlace::of(&self.inner))
    }

    async fn append(&self, epoch: Epoch, entry: &AuditEntry) -> StoreResult<()> {
        let sql = "INSERT INTO pipeline_audit_entries (run_id, entry, node, attempt) \
                   SELECT $1, $2, $4, $5 WHERE EXISTS (SELECT 1 FROM pipeline_audit_runs \
                   WHERE run_id = $1 AND epoch = $3 FOR SHARE)";
        let attempt = entry.attempt as i32;
        self.append_at(sql, &entry.run_id, epoch, entry, &[&entry.node, &attempt])
            .await
    }

    async fn entries(&self, run_id: &RunId) -> StoreResult<Option<Vec<AuditEntry>>> {
        let client = self.client().await?;
        if self
            .header(&client, "pipeline_audit_runs", run_id)
            .await?
            .is_none()
        {
            return Ok(None);
        }
        let rows = client
            .query(
                "SELECT seq, entry FROM pipeline_audit_entries WHERE run_id = $1 ORDER BY seq",
                &[&run_id.as_str()],
            )
            .await
            .map_err(self.error("read"))?;
        let entries = rows.iter().map(|row| {
            serde_json::from_slice(row.get::<_, &[u8]>(1))
                .map_err(|e| self.corrupt("pipeline_audit_entries", row.get(0), "audit entry", e))
        });
        entries.collect::<StoreResult<_>>().map(Some)
    }

    async fn last_attempts(&self, run_id: &RunId) -> StoreResult<LastAttempts> {
        let client = self.client().await?;
        last_attempts(&client, run_id)
            .await
            .map_err(self.error("read"))
    }

    async fn list_runs(&self) -> StoreResult<Vec<RunId>> {
        self.list("pipeline_audit_runs").await
    }

    async fn write_summary(&self, epoch: Epoch, summary: &RunSummary) -> StoreResult<()> {
        let sql = "INSERT INTO pipeline_run_summaries (run_id, summary) SELECT $1, $2 \
                   WHERE EXISTS (SELECT 1 FROM pipeline_audit_runs WHERE run_id = $1 \
                   AND epoch = $3 FOR SHARE) \
                   ON CONFLICT (run_id) DO UPDATE SET summary = EXCLUDED.summary";
        self.append_at(sql, &summary.run_id, epoch, summary, &[])
            .await
    }

    async fn summary(&self, run_id: &RunId) -> StoreResult<Option<RunSummary>> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT summary FROM pipeline_run_summaries WHERE run_id = $1",
                &[&run_id.as_str()],
            )
            .await
            .map_err(self.error("read"))?;
        row.map(|row| {
            serde_json::from_slice(row.get::<_, &[u8]>(0))
                .map_err(|e| self.corrupt("pipeline_run_summaries", 0, "run summary", e))
        })
        .transpose()
    }

    fn release_run(&self, run_id: &RunId, epoch: Epoch) {
        self.inner.locks.release(Kind::Audit, run_id, epoch);
    }
}

/// The last attempt of each node and item in run `run_id`'s audit trail, on `client` (a fleet
/// reopening a run reads them in its transaction). Only an item's index is read from an entry's
/// JSON; an entry that is not JSON fails the query, as reading it would.
pub(crate) async fn last_attempts(
    client: &impl deadpool_postgres::GenericClient,
    run_id: &RunId,
) -> Result<LastAttempts, tokio_postgres::Error> {
    let rows = client
        .query(
            "SELECT node, (convert_from(entry, 'UTF8')::jsonb #>> '{item,index}')::int, \
             max(attempt) FROM pipeline_audit_entries WHERE run_id = $1 GROUP BY 1, 2",
            &[&run_id.as_str()],
        )
        .await?;
    let mut last = LastAttempts::new();
    for row in rows {
        let item = row.get::<_, Option<i32>>(1).map(|i| i.max(0) as u32);
        last.note(row.get(0), item, row.get::<_, i32>(2).max(0) as u32);
    }
    Ok(last)
}
