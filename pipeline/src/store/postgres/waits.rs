//! A run's waits in PostgreSQL: one row per run in `pipeline_run_waits` holding its
//! [`RunWaits`] as JSON, changed in a transaction that holds an advisory lock on the run's
//! waits, so concurrent senders and the run's holder never lose each other's changes.

use super::PostgresStore;
use crate::result::WaitingOn;
use crate::run_id::RunId;
use crate::store::epoch::Epoch;
use crate::store::error::{StoreError, StoreResult};
use crate::store::waits::{RunWaits, SignalRecord, SignalSent};

const TABLE: &str = "pipeline_run_waits";

/// Orders the changes of one run's waits (`$1`: the run).
const LOCK_WAITS: &str =
    "SELECT pg_advisory_xact_lock(hashtextextended('pipeline waits ' || $1, 0))";
/// The run's epoch.
const READ_EPOCH: &str = "SELECT epoch FROM pipeline_runs WHERE run_id = $1";
/// The run's waits.
const READ_WAITS: &str = "SELECT waits FROM pipeline_run_waits WHERE run_id = $1";
/// Replaces the run's waits.
const WRITE_WAITS: &str = "INSERT INTO pipeline_run_waits (run_id, waits) VALUES ($1, $2) \
    ON CONFLICT (run_id) DO UPDATE SET waits = excluded.waits";

impl PostgresStore {
    /// The run's waits; none while nothing was sent.
    pub(super) async fn read_waits(&self, run_id: &RunId) -> StoreResult<RunWaits> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT waits FROM pipeline_run_waits WHERE run_id = $1",
                &[&run_id.as_str()],
            )
            .await
            .map_err(self.error("read"))?;
        match row {
            Some(row) => self.decode_waits(row.get(0)),
            None => Ok(RunWaits::default()),
        }
    }

    fn decode_waits(&self, bytes: Vec<u8>) -> StoreResult<RunWaits> {
        serde_json::from_slice(&bytes).map_err(|e| self.corrupt(TABLE, 0, "run waits", e))
    }

    /// Changes the run's waits with `change` in one transaction; with `epoch`, only while the
    /// run is at that epoch. With `signalled`, the wait of that name on a worker fleet is due at
    /// once (or when it begins), in the same transaction.
    async fn change_waits<T>(
        &self,
        run_id: &RunId,
        epoch: Option<Epoch>,
        signalled: Option<&str>,
        change: impl FnOnce(&mut RunWaits) -> StoreResult<(T, bool)>,
    ) -> StoreResult<T> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(self.error("write to"))?;
        // The run's lock, its epoch and its waits, sent together (the server runs them in turn,
        // so both reads are under the lock): one round trip.
        let lock = self.prepared(&tx, LOCK_WAITS).await?;
        let read_epoch = self.prepared(&tx, READ_EPOCH).await?;
        let read_waits = self.prepared(&tx, READ_WAITS).await?;
        let id: &(dyn tokio_postgres::types::ToSql + Sync) = &run_id.as_str();
        let (_, run, row) = tokio::try_join!(
            async { tx.execute(&lock, &[id]).await.map_err(self.error("lock")) },
            async {
                tx.query_opt(&read_epoch, &[id])
                    .await
                    .map_err(self.error("read"))
            },
            async {
                tx.query_opt(&read_waits, &[id])
                    .await
                    .map_err(self.error("read"))
            },
        )?;
        let Some(run) = run else {
            return Err(StoreError::UnknownRun(run_id.clone()));
        };
        let current = Epoch::new(run.get::<_, i64>(0).max(0) as u64);
        if let Some(epoch) = epoch.filter(|&e| e != current) {
            return Err(StoreError::Fenced {
                run_id: run_id.clone(),
                epoch,
                current: Some(current),
            });
        }
        let mut waits = match row {
            Some(row) => self.decode_waits(row.get(0))?,
            None => RunWaits::default(),
        };
        let (answer, write) = change(&mut waits)?;
        if write {
            let bytes = serde_json::to_vec(&waits).map_err(StoreError::Encode)?;
            tx.execute(
                &self.prepared(&tx, WRITE_WAITS).await?,
                &[&run_id.as_str(), &bytes],
            )
            .await
            .map_err(self.error("write to"))?;
        }
        if let Some(wait) = signalled {
            super::fleet::signalled(self, &tx, run_id, wait).await?;
        }
        tx.commit().await.map_err(self.error("write to"))?;
        Ok(answer)
    }

    pub(super) async fn store_signal(
        &self,
        run_id: &RunId,
        signal: &SignalRecord,
    ) -> StoreResult<SignalSent> {
        self.change_waits(run_id, None, Some(&signal.wait), |waits| {
            waits.add(run_id, signal)
        })
        .await
    }

    pub(super) async fn remove_stored_signal(
        &self,
        run_id: &RunId,
        wait: &str,
    ) -> StoreResult<bool> {
        self.change_waits(run_id, None, None, |waits| waits.remove(wait))
            .await
    }

    pub(super) async fn cancel_waiting(&self, run_id: &RunId) -> StoreResult<()> {
        self.change_waits(run_id, None, None, |waits| waits.cancel())
            .await
    }

    pub(super) async fn store_waiting(
        &self,
        run_id: &RunId,
        epoch: Epoch,
        waiting: &[WaitingOn],
    ) -> StoreResult<()> {
        self.change_waits(run_id, Some(epoch), None, |waits| {
            waits.replace_waiting(waiting)
        })
        .await
    }
}
