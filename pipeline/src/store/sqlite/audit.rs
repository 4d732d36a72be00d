//! [`SqliteAuditLog`]: the [`AuditLog`] adapter over the SQLite database, with run summaries.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;

use super::database::{Database, Kind};
use crate::run_id::RunId;
use crate::store::epoch::Epoch;
use crate::store::error::{StoreError, StoreResult};
use crate::store::place::CommitPlace;
use crate::store::records::{AuditEntry, RunHeader, RunSummary};
use crate::store::shared::blocking;
use crate::store::traits::AuditLog;
use crate::store::{Durability, LastAttempts};

const CREATE: &str = "INSERT INTO audit_runs (run_id, header) VALUES (?1, ?2)";

/// An [`AuditLog`] in a SQLite database; get one from
/// [`SqliteCheckpointer::audit_log`](super::SqliteCheckpointer::audit_log) or
/// [`SqliteAuditLog::open`].
#[derive(Clone, Debug)]
pub struct SqliteAuditLog {
    db: Arc<Database>,
}

impl SqliteAuditLog {
    pub(super) fn new(db: Arc<Database>) -> Self {
        SqliteAuditLog { db }
    }

    /// Opens (or creates) the database at `path`, with [`Durability::Sync`].
    pub fn open(path: impl AsRef<Path>) -> StoreResult<Self> {
        let db = Database::open(path.as_ref(), Durability::Sync)?;
        Ok(SqliteAuditLog::new(Arc::new(db)))
    }
}

#[async_trait]
impl AuditLog for SqliteAuditLog {
    async fn create_run(&self, header: &RunHeader) -> StoreResult<Epoch> {
        let (db, header) = (Arc::clone(&self.db), header.clone());
        blocking(move || {
            let run_id = &header.run_id;
            db.take(Kind::Audit, run_id, || {
                db.insert(CREATE, run_id, &header)?;
                Ok(Some(((), Epoch::FIRST)))
            })?;
            Ok(Epoch::FIRST)
        })
        .await
    }

    async fn resume_run(&self, header: &RunHeader) -> StoreResult<Epoch> {
        let (db, header) = (Arc::clone(&self.db), header.clone());
        blocking(move || {
            let run_id = &header.run_id;
            let taken = db.take(Kind::Audit, run_id, || {
                if let Some(epoch) = db.next_epoch(Kind::Audit, run_id)? {
                    return Ok(Some(((), epoch)));
                }
                match db.insert(CREATE, run_id, &header) {
                    Ok(()) => Ok(Some(((), Epoch::FIRST))),
                    // Created meanwhile by an engine that lost the run: take it over.
                    Err(StoreError::RunExists(id)) => match db.next_epoch(Kind::Audit, run_id)? {
                        Some(epoch) => Ok(Some(((), epoch))),
                        None => Err(StoreError::UnknownRun(id)),
                    },
                    Err(e) => Err(e),
                }
            })?;
            Ok(taken.map_or(Epoch::FIRST, |(_, epoch)| epoch))
        })
        .await
    }

    fn commit_place(&self) -> Option<CommitPlace> {
        Some(CommitPlace::of(&self.db))
    }

    async fn append(&self, epoch: Epoch, entry: &AuditEntry) -> StoreResult<()> {
        let (db, entry) = (Arc::clone(&self.db), entry.clone());
        blocking(move || {
            let sql = "INSERT INTO audit_entries (run_id, entry) SELECT ?1, ?2 \
                       WHERE EXISTS (SELECT 1 FROM audit_runs WHERE run_id = ?1 AND epoch = ?3)";
            db.append(Kind::Audit, sql, &entry.run_id, epoch, &entry)
        })
        .await
    }

    async fn write_summary(&self, epoch: Epoch, summary: &RunSummary) -> StoreResult<()> {
        let (db, summary) = (Arc::clone(&self.db), summary.clone());
        blocking(move || {
            let sql = "INSERT OR REPLACE INTO run_summaries (run_id, summary) SELECT ?1, ?2 \
                       WHERE EXISTS (SELECT 1 FROM audit_runs WHERE run_id = ?1 AND epoch = ?3)";
            db.append(Kind::Audit, sql, &summary.run_id, epoch, &summary)
        })
        .await
    }

    async fn summary(&self, run_id: &RunId) -> StoreResult<Option<RunSummary>> {
        let (db, run_id) = (Arc::clone(&self.db), run_id.clone());
        blocking(move || db.by_run("run_summaries", "summary", "run summary", &run_id)).await
    }

    async fn entries(&self, run_id: &RunId) -> StoreResult<Option<Vec<AuditEntry>>> {
        let (db, run_id) = (Arc::clone(&self.db), run_id.clone());
        blocking(move || {
            if db.header("audit_runs", &run_id)?.is_none() {
                return Ok(None);
            }
            db.rows("audit_entries", "entry", "audit entry", &run_id)
                .map(Some)
        })
        .await
    }

    async fn last_attempts(&self, run_id: &RunId) -> StoreResult<LastAttempts> {
        let (db, run_id) = (Arc::clone(&self.db), run_id.clone());
        blocking(move || db.last_attempts(&run_id)).await
    }

    async fn list_runs(&self) -> StoreResult<Vec<RunId>> {
        let db = Arc::clone(&self.db);
        blocking(move || db.list("audit_runs")).await
    }

    /// Deletes the run's trail and summary (deleting the run through its checkpointer deletes
    /// these too, in one transaction).
    async fn delete_run(&self, run_id: &RunId) -> StoreResult<bool> {
        let (db, run_id) = (Arc::clone(&self.db), run_id.clone());
        blocking(move || db.delete_audit(&run_id)).await
    }

    fn release_run(&self, run_id: &RunId, epoch: Epoch) {
        self.db.release(Kind::Audit, run_id, epoch);
    }
}
