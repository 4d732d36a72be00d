//! A node's checkpoint record and its audit entry in one SQLite transaction, with group commit:
//! the writes queued while a transaction commits go together in the next one (one commit, one
//! `fsync` of the WAL with `Durability::Sync`, for all of them), each with its own epoch checks.

use std::sync::Arc;

use rusqlite::{OptionalExtension, Transaction, TransactionBehavior, params};
use tokio::sync::oneshot;

use super::queue::Joint;

use super::database::{Database, sql_error};
use crate::run_id::RunId;
use crate::store::epoch::Epoch;
use crate::store::error::{StoreError, StoreResult};
use crate::store::shared::lock;

/// Queues `record` (a [`NodeRecord`](crate::store::NodeRecord)'s JSON, for the holder of the
/// run's `epoch`) and `entry` (an [`AuditEntry`](crate::store::AuditEntry)'s, for the holder
/// of its trail's `audit_epoch`) for the next transaction, and waits until it committed: both
/// or neither ([`StoreError::Fenced`] when either epoch is not current).
pub(super) async fn append(
    db: &Arc<Database>,
    run_id: &RunId,
    epoch: Epoch,
    record: String,
    audit_epoch: Epoch,
    entry: String,
) -> StoreResult<()> {
    let (done, committed) = oneshot::channel();
    let joint = Joint {
        run_id: run_id.clone(),
        epoch,
        record,
        audit_epoch,
        entry,
        done,
    };
    let start_writer = {
        let mut queue = lock(&db.joint);
        queue.queued.push(joint);
        !std::mem::replace(&mut queue.writer, true)
    };
    if start_writer {
        // A task of its own: a caller's future may be dropped, the queue must still drain.
        let db = Arc::clone(db);
        tokio::task::spawn_blocking(move || write_groups(&db));
    }
    committed.await.unwrap_or_else(|_| {
        Err(StoreError::Backend(
            "the group commit stopped before it wrote the record".into(),
        ))
    })
}

/// Writes the queued joints group by group, one transaction each, until none is queued.
fn write_groups(db: &Database) {
    let _writing = Writing(db);
    loop {
        let group = {
            let mut queue = lock(&db.joint);
            if queue.queued.is_empty() {
                queue.writer = false;
                return;
            }
            std::mem::take(&mut queue.queued)
        };
        let answers = db.with_connection(|connection| {
            let transaction = connection
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(sql_error("write to", &db.path))?;
            let answers: Vec<StoreResult<()>> = group
                .iter()
                .map(|joint| write(db, &transaction, joint))
                .collect();
            transaction
                .commit()
                .map_err(sql_error("write to", &db.path))?;
            Ok(answers)
        });
        match answers {
            Ok(answers) => {
                for (joint, answer) in group.into_iter().zip(answers) {
                    let _ = joint.done.send(answer);
                }
            }
            Err(e) => {
                let message = e.to_string();
                for joint in group {
                    let _ = joint
                        .done
                        .send(Err(StoreError::Backend(message.clone().into())));
                }
            }
        }
    }
}

/// The writer at work: should it panic, the joints still queued are dropped (their callers hear
/// that the group commit stopped) and the next joint starts a new writer, so none waits forever.
struct Writing<'a>(&'a Database);

impl Drop for Writing<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let mut queue = lock(&self.0.joint);
            queue.queued.clear();
            queue.writer = false;
        }
    }
}

/// One joint's checks and inserts in the group's transaction.
fn write(db: &Database, transaction: &Transaction<'_>, joint: &Joint) -> StoreResult<()> {
    let id = joint.run_id.as_str();
    let current = |table: &str| {
        transaction
            .prepare_cached(&format!("SELECT epoch FROM {table} WHERE run_id = ?1"))?
            .query_row(params![id], |row| row.get::<_, i64>(0))
            .optional()
            .map(|e| e.map(|e| Epoch::new(e.max(0) as u64)))
    };
    let run = current("runs").map_err(sql_error("read", &db.path))?;
    let audit = current("audit_runs").map_err(sql_error("read", &db.path))?;
    let fenced = |epoch, current| StoreError::Fenced {
        run_id: joint.run_id.clone(),
        epoch,
        current,
    };
    if run != Some(joint.epoch) {
        return Err(fenced(joint.epoch, run));
    }
    if audit != Some(joint.audit_epoch) {
        return Err(fenced(joint.audit_epoch, audit));
    }
    let insert = |table: &str, column: &str, value: &str| {
        transaction
            .prepare_cached(&format!(
                "INSERT INTO {table} (run_id, {column}) VALUES (?1, ?2)"
            ))?
            .execute(params![id, value])
    };
    // A savepoint: a failed second insert takes the first back, and the group goes on.
    transaction
        .execute_batch("SAVEPOINT joint")
        .and_then(|_| insert("node_records", "record", &joint.record))
        .and_then(|_| insert("audit_entries", "entry", &joint.entry))
        .and_then(|_| transaction.execute_batch("RELEASE joint"))
        .inspect_err(|_| {
            let _ = transaction.execute_batch("ROLLBACK TO joint; RELEASE joint");
        })
        .map_err(sql_error("write to", &db.path))
}
