//! [`SqliteCheckpointer`]: the [`Checkpointer`] adapter over the SQLite database.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use rusqlite::params;

use super::audit::SqliteAuditLog;
use super::database::{Database, Kind};
use super::waits;
use crate::data::Json;
use crate::result::WaitingOn;
use crate::run_id::RunId;
use crate::store::Durability;
use crate::store::epoch::Epoch;
use crate::store::error::{StoreError, StoreResult};
use crate::store::filter::OutputFilter;
use crate::store::keys::KeyClaim;
use crate::store::place::CommitPlace;
use crate::store::records::{AuditEntry, Checkpoint, NodeRecord, RunHeader};
use crate::store::shared::blocking;
use crate::store::traits::{Checkpointer, Resumed};
use crate::store::waits::{RunWaits, SignalRecord, SignalSent};

/// A [`Checkpointer`] in one SQLite database file (WAL mode; each record its own transaction).
///
/// ```no_run
/// use pipeline::store::SqliteCheckpointer;
///
/// let checkpointer = SqliteCheckpointer::open("./.pipeline/runs.db")?;
/// let audit_log = checkpointer.audit_log(); // same database
/// # Ok::<(), pipeline::StoreError>(())
/// ```
#[derive(Clone, Debug)]
pub struct SqliteCheckpointer {
    db: Arc<Database>,
}

impl SqliteCheckpointer {
    /// Opens (or creates) the database at `path`, with [`Durability::Sync`] (`synchronous=FULL`).
    pub fn open(path: impl AsRef<Path>) -> StoreResult<Self> {
        Self::open_with(path, Durability::Sync)
    }

    /// Opens (or creates) the database at `path`; [`Durability::Async`] uses
    /// `synchronous=NORMAL`, which in WAL mode may lose the last transactions on power loss.
    pub fn open_with(path: impl AsRef<Path>, durability: Durability) -> StoreResult<Self> {
        Ok(SqliteCheckpointer {
            db: Arc::new(Database::open(path.as_ref(), durability)?),
        })
    }

    /// An audit log in the same database.
    pub fn audit_log(&self) -> SqliteAuditLog {
        SqliteAuditLog::new(Arc::clone(&self.db))
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.db.path
    }
}

fn load_checkpoint(db: &Database, run_id: &RunId) -> StoreResult<Option<Checkpoint>> {
    let Some(header) = db.header("runs", run_id)? else {
        return Ok(None);
    };
    let nodes = db.rows("node_records", "record", "node record", run_id)?;
    Ok(Some(Checkpoint { header, nodes }))
}

/// The checkpoint with every output `null`, set so by SQLite (outputs never reach this process);
/// or, given `node`, that node's records alone, with their outputs.
fn load_records(
    db: &Database,
    run_id: &RunId,
    node: Option<&str>,
) -> StoreResult<Option<Checkpoint>> {
    let Some(header) = db.header("runs", run_id)? else {
        return Ok(None);
    };
    let nodes = match node {
        None => {
            // A record that is not JSON goes through as it is, to be reported where it is.
            let column = "CASE WHEN json_valid(record) THEN json_set(record, '$.output', NULL) ELSE record END";
            db.rows_where("node_records", column, "node record", run_id, None)?
        }
        Some(node) => db.rows_where("node_records", "record", "node record", run_id, Some(node))?,
    };
    Ok(Some(Checkpoint { header, nodes }))
}

#[async_trait]
impl Checkpointer for SqliteCheckpointer {
    async fn create_run(&self, header: &RunHeader) -> StoreResult<Epoch> {
        let (db, header) = (Arc::clone(&self.db), header.clone());
        blocking(move || {
            let run_id = &header.run_id;
            let taken = db.take(Kind::Checkpoint, run_id, || {
                let text = serde_json::to_string(&header).map_err(StoreError::Encode)?;
                let sql = "INSERT INTO runs (run_id, pipeline, started_at_ms, header, epoch) \
                           VALUES (?1, ?2, ?3, ?4, 1)";
                let started = header.started_at_ms as i64;
                let values = params![run_id.as_str(), header.pipeline, started, text];
                db.execute(sql, run_id, values)?;
                Ok(Some(((), Epoch::FIRST)))
            })?;
            Ok(taken.map_or(Epoch::FIRST, |(_, epoch)| epoch))
        })
        .await
    }

    /// Keeps every output (`filter` is not used).
    async fn resume_run(
        &self,
        run_id: &RunId,
        _filter: &OutputFilter,
    ) -> StoreResult<Option<Resumed>> {
        let (db, run_id) = (Arc::clone(&self.db), run_id.clone());
        blocking(move || {
            if db.header("runs", &run_id)?.is_none() {
                return Ok(None);
            }
            let taken = db.take(Kind::Checkpoint, &run_id, || {
                let Some(epoch) = db.next_epoch(Kind::Checkpoint, &run_id)? else {
                    return Ok(None);
                };
                Ok(load_checkpoint(&db, &run_id)?.map(|c| (c, epoch)))
            })?;
            Ok(taken.map(|(checkpoint, epoch)| Resumed {
                checkpoint,
                epoch,
                truncated: None,
            }))
        })
        .await
    }

    async fn save(&self, run_id: &RunId, epoch: Epoch, record: &NodeRecord) -> StoreResult<()> {
        let (db, run_id, record) = (Arc::clone(&self.db), run_id.clone(), record.clone());
        blocking(move || {
            let sql = "INSERT INTO node_records (run_id, record) SELECT ?1, ?2 \
                       WHERE EXISTS (SELECT 1 FROM runs WHERE run_id = ?1 AND epoch = ?3)";
            db.append(Kind::Checkpoint, sql, &run_id, epoch, &record)
        })
        .await
    }

    fn commit_place(&self) -> Option<CommitPlace> {
        Some(CommitPlace::of(&self.db))
    }

    async fn save_with_entry(
        &self,
        run_id: &RunId,
        epoch: Epoch,
        record: &NodeRecord,
        audit_epoch: Epoch,
        entry: &AuditEntry,
    ) -> StoreResult<()> {
        let record = serde_json::to_string(record).map_err(StoreError::Encode)?;
        let entry = serde_json::to_string(entry).map_err(StoreError::Encode)?;
        super::joint::append(&self.db, run_id, epoch, record, audit_epoch, entry).await
    }

    async fn load(&self, run_id: &RunId) -> StoreResult<Option<Checkpoint>> {
        let (db, run_id) = (Arc::clone(&self.db), run_id.clone());
        blocking(move || load_checkpoint(&db, &run_id)).await
    }

    async fn list_runs(&self) -> StoreResult<Vec<RunId>> {
        let db = Arc::clone(&self.db);
        blocking(move || db.list("runs")).await
    }

    fn release_run(&self, run_id: &RunId, epoch: Epoch) {
        self.db.release(Kind::Checkpoint, run_id, epoch);
    }

    async fn delete_run(&self, run_id: &RunId) -> StoreResult<bool> {
        let (db, run_id) = (Arc::clone(&self.db), run_id.clone());
        blocking(move || db.delete_run(&run_id)).await
    }

    fn cache(&self) -> Option<&dyn crate::store::ResultCache> {
        Some(&self.db)
    }

    async fn claim_key(&self, claim: &KeyClaim, now_ms: u64) -> StoreResult<KeyClaim> {
        let (db, claim) = (Arc::clone(&self.db), claim.clone());
        blocking(move || super::keys::claim(&db, &claim, now_ms)).await
    }

    async fn is_held(&self, run_id: &RunId) -> StoreResult<Option<bool>> {
        let (db, run_id) = (Arc::clone(&self.db), run_id.clone());
        blocking(move || db.is_held(&run_id).map(Some)).await
    }

    async fn send_signal(&self, run_id: &RunId, signal: &SignalRecord) -> StoreResult<SignalSent> {
        let (db, run_id, signal) = (Arc::clone(&self.db), run_id.clone(), signal.clone());
        blocking(move || waits::send(&db, &run_id, &signal)).await
    }

    async fn waits(&self, run_id: &RunId) -> StoreResult<RunWaits> {
        let (db, run_id) = (Arc::clone(&self.db), run_id.clone());
        blocking(move || waits::load(&db, &run_id)).await
    }

    async fn cancel_waits(&self, run_id: &RunId) -> StoreResult<()> {
        let (db, run_id) = (Arc::clone(&self.db), run_id.clone());
        blocking(move || waits::cancel(&db, &run_id)).await
    }

    async fn load_records(&self, run_id: &RunId) -> StoreResult<Option<Checkpoint>> {
        let (db, run_id) = (Arc::clone(&self.db), run_id.clone());
        blocking(move || load_records(&db, &run_id, None)).await
    }

    async fn load_output(&self, run_id: &RunId, node: &str) -> StoreResult<Option<Json>> {
        let (db, run_id, node) = (Arc::clone(&self.db), run_id.clone(), node.to_owned());
        let loaded = blocking(move || {
            load_records(&db, &run_id, Some(&node)).map(|c| c.and_then(|c| c.output_of(&node)))
        })
        .await?;
        Ok(loaded)
    }

    async fn remove_signal(&self, run_id: &RunId, wait: &str) -> StoreResult<bool> {
        let (db, run_id, wait) = (Arc::clone(&self.db), run_id.clone(), wait.to_owned());
        blocking(move || waits::remove(&db, &run_id, &wait)).await
    }

    async fn header(&self, run_id: &RunId) -> StoreResult<Option<RunHeader>> {
        let (db, run_id) = (Arc::clone(&self.db), run_id.clone());
        blocking(move || db.header("runs", &run_id)).await
    }

    async fn set_waiting(
        &self,
        run_id: &RunId,
        epoch: Epoch,
        waiting: &[WaitingOn],
    ) -> StoreResult<()> {
        let (db, run_id, waiting) = (Arc::clone(&self.db), run_id.clone(), waiting.to_vec());
        blocking(move || waits::set_waiting(&db, &run_id, epoch, &waiting)).await
    }
}
