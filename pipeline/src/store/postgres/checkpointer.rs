//! The [`Checkpointer`] of [`PostgresStore`]: `pipeline_runs` (header and epoch) and
//! `pipeline_node_records` (one row per completed node; a second record of a node is refused
//! by a unique key, so the first one wins, as on resume).

use async_trait::async_trait;
use tokio_postgres::GenericClient;

use super::PostgresStore;
use super::locks::Kind;
use super::records::{Fetch, non_negative};
use crate::data::Json;
use crate::node::MapItem;
use crate::result::WaitingOn;
use crate::run_id::RunId;
use crate::store::epoch::Epoch;
use crate::store::error::{StoreError, StoreResult};
use crate::store::filter::OutputFilter;
use crate::store::keys::{KeyClaim, QueuePlace};
use crate::store::place::CommitPlace;
use crate::store::records::{AuditEntry, Checkpoint, Completion, NodeRecord, RunHeader};
use crate::store::state::NodeState;
use crate::store::traits::{Checkpointer, Resumed};
use crate::store::waits::{RunWaits, SignalRecord, SignalSent};

impl PostgresStore {
    /// Moves a run of `table` to its next epoch; `None` for an unknown run.
    pub(super) async fn next_epoch(
        &self,
        client: &impl GenericClient,
        table: &'static str,
        run_id: &RunId,
    ) -> StoreResult<Option<Epoch>> {
        let sql = format!("UPDATE {table} SET epoch = epoch + 1 WHERE run_id = $1 RETURNING epoch");
        let row = client
            .query_opt(&sql, &[&run_id.as_str()])
            .await
            .map_err(self.error("write to"))?;
        Ok(row.map(|r| Epoch::new(non_negative(r.get::<_, i64>(0)))))
    }

    /// The run's current epoch in `table`, for the message of a refused write.
    pub(super) async fn current_epoch(
        &self,
        client: &impl GenericClient,
        table: &'static str,
        run_id: &RunId,
    ) -> StoreResult<Option<Epoch>> {
        let sql = format!("SELECT epoch FROM {table} WHERE run_id = $1");
        let row = client
            .query_opt(&sql, &[&run_id.as_str()])
            .await
            .map_err(self.error("read"))?;
        Ok(row.map(|r| Epoch::new(non_negative(r.get::<_, i64>(0)))))
    }

    pub(super) async fn list(&self, table: &'static str) -> StoreResult<Vec<RunId>> {
        let sql = format!("SELECT run_id FROM {table} ORDER BY run_id");
        let client = self.client().await?;
        let rows = client.query(&sql, &[]).await.map_err(self.error("read"))?;
        Ok(rows
            .iter()
            .filter_map(|r| RunId::new(r.get::<_, String>(0)).ok())
            .collect())
    }

    /// Takes a new run of `kind` by running `insert` (which inserts it, or nothing when the id
    /// is taken) with `params`, holding the run's lock; [`StoreError::RunExists`] when the id is
    /// taken.
    pub(super) async fn create(
        &self,
        kind: Kind,
        run_id: &RunId,
        insert: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> StoreResult<Epoch> {
        // The connection is taken once the run's lock is: waiting for a lock never holds one
        // of the pool's connections (8 callers racing for one id starved the pool).
        self.inner
            .locks
            .take(kind, run_id, async {
                let client = self.client().await?;
                let inserted = self.execute_cached(&client, insert, params).await?;
                match inserted {
                    0 => Err(StoreError::RunExists(run_id.clone())),
                    _ => Ok(Some(((), Epoch::FIRST))),
                }
            })
            .await?;
        Ok(Epoch::FIRST)
    }

    async fn resume(
        &self,
        run_id: &RunId,
        keep: impl Fn(&str) -> bool,
    ) -> StoreResult<Option<Resumed>> {
        let client = self.client().await?;
        if self
            .header(&client, "pipeline_runs", run_id)
            .await?
            .is_none()
        {
            return Ok(None);
        }
        // A run the fleet is running belongs to its workers: an engine in this process would
        // run its nodes beside them.
        let fleet = "SELECT 1 FROM pipeline_fleet_runs WHERE run_id = $1 \
                     AND state IN ('running', 'queued')";
        let running = client.query_opt(fleet, &[&run_id.as_str()]).await;
        if running.map_err(self.error("read"))?.is_some() {
            return Err(StoreError::Locked(run_id.clone()));
        }
        drop(client); // not held while waiting for the run's lock
        let taken = self
            .inner
            .locks
            .take(Kind::Checkpoint, run_id, async {
                let client = self.client().await?;
                let Some(epoch) = self.next_epoch(&**client, "pipeline_runs", run_id).await? else {
                    return Ok(None);
                };
                let checkpoint = self.checkpoint(&client, run_id, keep).await?;
                Ok(checkpoint.map(|c| (c, epoch)))
            })
            .await?;
        Ok(taken.map(|(checkpoint, epoch)| Resumed {
            checkpoint,
            epoch,
            truncated: None,
        }))
    }
}

#[async_trait]
impl Checkpointer for PostgresStore {
    async fn create_run(&self, header: &RunHeader) -> StoreResult<Epoch> {
        let run_id = &header.run_id;
        let bytes = serde_json::to_vec(header).map_err(StoreError::Encode)?;
        let started = header.started_at_ms as i64;
        let exists = "SELECT 1 FROM pipeline_runs WHERE run_id = $1";
        let client = self.client().await?;
        let statement = client.prepare_cached(exists).await;
        let found = client
            .query_opt(&statement.map_err(self.error("read"))?, &[&run_id.as_str()])
            .await;
        drop(client);
        if found.map_err(self.error("read"))?.is_some() {
            return Err(StoreError::RunExists(run_id.clone()));
        }
        let insert = "INSERT INTO pipeline_runs (run_id, pipeline, started_at_ms, header) \
                      VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING";
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 4] =
            [&run_id.as_str(), &header.pipeline, &started, &bytes];
        self.create(Kind::Checkpoint, run_id, insert, &params).await
    }

    /// Reads which nodes the run recorded first, then only the outputs `filter` says are needed.
    async fn resume_run(
        &self,
        run_id: &RunId,
        filter: &OutputFilter,
    ) -> StoreResult<Option<Resumed>> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT node, item, items FROM pipeline_node_records WHERE run_id = $1 \
                 ORDER BY seq",
                &[&run_id.as_str()],
            )
            .await
            .map_err(self.error("read"))?;
        drop(client);
        let mut completion = Completion::default();
        for row in &rows {
            let item = match (row.get::<_, i32>(1), row.get::<_, Option<i32>>(2)) {
                (index, Some(of)) => u32::try_from(index)
                    .ok()
                    .zip(u32::try_from(of).ok())
                    .map(|(index, of)| MapItem { index, of }),
                _ => None,
            };
            completion.add(row.get(0), item);
        }
        let recorded = filter.settled(completion.complete());
        self.resume(run_id, |node| filter.needs(node, &recorded))
            .await
    }

    async fn save(&self, run_id: &RunId, epoch: Epoch, record: &NodeRecord) -> StoreResult<()> {
        self.save_node(run_id, epoch, record, None).await
    }

    fn commit_place(&self) -> Option<CommitPlace> {
        Some(CommitPlace::of(&self.inner))
    }

    async fn save_with_entry(
        &self,
        run_id: &RunId,
        epoch: Epoch,
        record: &NodeRecord,
        audit_epoch: Epoch,
        entry: &AuditEntry,
    ) -> StoreResult<()> {
        self.save_node(run_id, epoch, record, Some((audit_epoch, entry)))
            .await
    }

    async fn load(&self, run_id: &RunId) -> StoreResult<Option<Checkpoint>> {
        let client = self.client().await?;
        self.checkpoint(&client, run_id, |_| true).await
    }

    async fn list_runs(&self) -> StoreResult<Vec<RunId>> {
        self.list("pipeline_runs").await
    }

    fn release_run(&self, run_id: &RunId, epoch: Epoch) {
        self.inner.locks.release(Kind::Checkpoint, run_id, epoch);
    }

    /// A fleet run's nodes as its rows say, while it runs on the fleet.
    async fn live_nodes(
        &self,
        run_id: &RunId,
    ) -> StoreResult<Option<std::collections::BTreeMap<String, NodeState>>> {
        let client = self.client().await?;
        let rows = client
            .query(
                &format!(
                    "SELECT n.node_id, {} FROM pipeline_fleet_nodes n \
                     JOIN pipeline_fleet_runs r ON r.run_id = n.run_id \
                     WHERE n.run_id = $1 AND r.state IN ('running', 'queued')",
                    super::fleet::NODE_STATE
                ),
                &[&run_id.as_str()],
            )
            .await
            .map_err(self.error("read"))?;
        if rows.is_empty() {
            return Ok(None);
        }
        let state = |text: &str| match text {
            "running" => NodeState::Running,
            other => super::fleet::node_status(other).into(),
        };
        Ok(Some(
            rows.iter()
                .map(|row| (row.get::<_, String>(0), state(row.get(1))))
                .collect(),
        ))
    }

    fn cache(&self) -> Option<&dyn crate::store::ResultCache> {
        Some(self)
    }

    async fn claim_key(&self, claim: &KeyClaim, now_ms: u64) -> StoreResult<KeyClaim> {
        let client = self.client().await?;
        super::keys::claim(&client, claim, now_ms)
            .await
            .map_err(self.error("write to"))?
            .map_err(|reason| StoreError::Backend(reason.into()))
    }

    async fn queue_place(&self, run_id: &RunId) -> StoreResult<Option<QueuePlace>> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT r.limit_key, r.limit_runs, \
                   (SELECT count(*) FROM pipeline_fleet_runs q WHERE q.pipeline = r.pipeline \
                      AND q.limit_key = r.limit_key AND q.state = 'queued' \
                      AND (q.submitted_at, q.run_id) <= (r.submitted_at, r.run_id)), \
                   (SELECT count(*) FROM pipeline_fleet_runs q WHERE q.pipeline = r.pipeline \
                      AND q.limit_key = r.limit_key AND q.state = 'queued') \
                 FROM pipeline_fleet_runs r WHERE r.run_id = $1 AND r.state = 'queued'",
                &[&run_id.as_str()],
            )
            .await
            .map_err(self.error("read"))?;
        Ok(row.map(|row| QueuePlace {
            key: row.get::<_, Option<String>>(0).unwrap_or_default(),
            runs: row.get::<_, Option<i32>>(1).unwrap_or(1).max(1) as u32,
            position: row.get::<_, i64>(2).max(1) as u32,
            queued: row.get::<_, i64>(3).max(1) as u32,
        }))
    }

    /// Held when a session holds the run's advisory lock (a process runs it), or when the run is
    /// a fleet run that has not ended (workers run it).
    async fn is_held(&self, run_id: &RunId) -> StoreResult<Option<bool>> {
        let client = self.client().await?;
        let row = client
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted \
                   AND objsubid = 1 \
                   AND ((classid::bigint << 32) | objid::bigint) = hashtextextended($1, 0)) \
                 OR EXISTS (SELECT 1 FROM pipeline_fleet_runs \
                   WHERE run_id = $2 AND state IN ('running', 'queued'))",
                &[&Kind::Checkpoint.key(run_id), &run_id.as_str()],
            )
            .await
            .map_err(self.error("read"))?;
        Ok(Some(row.get(0)))
    }

    async fn send_signal(&self, run_id: &RunId, signal: &SignalRecord) -> StoreResult<SignalSent> {
        self.store_signal(run_id, signal).await
    }

    async fn waits(&self, run_id: &RunId) -> StoreResult<RunWaits> {
        self.read_waits(run_id).await
    }

    async fn cancel_waits(&self, run_id: &RunId) -> StoreResult<()> {
        self.cancel_waiting(run_id).await
    }

    /// Connects, and brings the schema to this build's version (a newer one is refused).
    async fn check(&self) -> StoreResult<()> {
        self.client().await.map(drop)
    }

    async fn remove_signal(&self, run_id: &RunId, wait: &str) -> StoreResult<bool> {
        self.remove_stored_signal(run_id, wait).await
    }

    /// Fetches no output from the server.
    async fn load_records(&self, run_id: &RunId) -> StoreResult<Option<Checkpoint>> {
        let client = self.client().await?;
        self.checkpoint_fetching(&client, run_id, Fetch::NoOutputs, |_| false)
            .await
    }

    /// Fetches the records of `node` alone.
    async fn load_output(&self, run_id: &RunId, node: &str) -> StoreResult<Option<Json>> {
        let client = self.client().await?;
        let checkpoint = self
            .checkpoint_fetching(&client, run_id, Fetch::Node(node), |_| true)
            .await?;
        Ok(checkpoint.and_then(|c| c.output_of(node)))
    }

    async fn header(&self, run_id: &RunId) -> StoreResult<Option<RunHeader>> {
        let client = self.client().await?;
        PostgresStore::header(self, &client, "pipeline_runs", run_id).await
    }

    async fn set_waiting(
        &self,
        run_id: &RunId,
        epoch: Epoch,
        waiting: &[WaitingOn],
    ) -> StoreResult<()> {
        self.store_waiting(run_id, epoch, waiting).await
    }
}
