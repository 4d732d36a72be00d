//! A node's checkpoint record and its audit entry in one SQLite transaction: one commit, one
//! `fsync` of the WAL with `Durability::Sync`.

use rusqlite::{OptionalExtension, TransactionBehavior, params};

use super::database::{Database, sql_error};
use crate::run_id::RunId;
use crate::store::epoch::Epoch;
use crate::store::error::{StoreError, StoreResult};

impl Database {
    /// Appends `record` (a [`NodeRecord`]'s JSON) for the holder of the run's `epoch` and
    /// `entry` (an [`AuditEntry`]'s) for the holder of its trail's `audit_epoch`, in one
    /// transaction: both or neither ([`StoreError::Fenced`] when either epoch is not current).
    pub fn append_joint(
        &self,
        run_id: &RunId,
        epoch: Epoch,
        record: &str,
        audit_epoch: Epoch,
        entry: &str,
    ) -> StoreResult<()> {
        let id = run_id.as_str();
        let epochs = self.with_connection(|connection| {
            let transaction = connection
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(sql_error("write to", &self.path))?;
            let current = |table: &str| {
                transaction
                    .prepare_cached(&format!("SELECT epoch FROM {table} WHERE run_id = ?1"))?
                    .query_row(params![id], |row| row.get::<_, i64>(0))
                    .optional()
                    .map(|e| e.map(|e| Epoch::new(e.max(0) as u64)))
            };
            let epochs = (current("runs"), current("audit_runs"));
            let (Ok(run), Ok(audit)) = epochs else {
                return Err(sql_error("read", &self.path)(match epochs {
                    (Err(e), _) | (_, Err(e)) => e,
                    _ => rusqlite::Error::InvalidQuery,
                }));
            };
            if run != Some(epoch) || audit != Some(audit_epoch) {
                return Ok(Some((run, audit)));
            }
            let insert = |table: &str, column: &str, value: &str| {
                transaction
                    .prepare_cached(&format!(
                        "INSERT INTO {table} (run_id, {column}) VALUES (?1, ?2)"
                    ))?
                    .execute(params![id, value])
            };
            insert("node_records", "record", record)
                .and_then(|_| insert("audit_entries", "entry", entry))
                .and_then(|_| transaction.commit())
                .map_err(sql_error("write to", &self.path))?;
            Ok(None)
        });
        match epochs? {
            None => Ok(()),
            Some((run, _)) if run != Some(epoch) => Err(StoreError::Fenced {
                run_id: run_id.clone(),
                epoch,
                current: run,
            }),
            Some((_, audit)) => Err(StoreError::Fenced {
                run_id: run_id.clone(),
                epoch: audit_epoch,
                current: audit,
            }),
        }
    }
}
