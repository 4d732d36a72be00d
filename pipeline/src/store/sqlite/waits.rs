//! A run's waits in the SQLite database: one row per run in `run_waits` holding its
//! [`RunWaits`] as JSON, changed in an immediate transaction so senders in several processes and
//! the run's holder never lose each other's changes.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::database::{Database, sql_error};
use crate::result::WaitingOn;
use crate::run_id::RunId;
use crate::store::epoch::Epoch;
use crate::store::error::{StoreError, StoreResult};
use crate::store::waits::{RunWaits, SignalRecord, SignalSent};

/// The run's waits as stored; `None` when the run does not exist.
fn read(db: &Database, connection: &Connection, run_id: &RunId) -> StoreResult<Option<RunWaits>> {
    let error = |e| sql_error("read", &db.path)(e);
    let exists = connection
        .query_row(
            "SELECT 1 FROM runs WHERE run_id = ?1",
            [run_id.as_str()],
            |_| Ok(()),
        )
        .optional()
        .map_err(error)?;
    if exists.is_none() {
        return Ok(None);
    }
    let text: Option<String> = connection
        .query_row(
            "SELECT waits FROM run_waits WHERE run_id = ?1",
            [run_id.as_str()],
            |row| row.get(0),
        )
        .optional()
        .map_err(error)?;
    let Some(text) = text else {
        return Ok(Some(RunWaits::default()));
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| StoreError::CorruptRow {
            database: db.path.clone(),
            table: "run_waits",
            row: 0,
            what: "run waits",
            reason: e.to_string(),
        })
}

/// Changes the run's waits with `change` in one immediate transaction; with `epoch`, only while
/// the run is at that epoch.
fn change<T>(
    db: &Database,
    run_id: &RunId,
    epoch: Option<Epoch>,
    change: impl FnOnce(&mut RunWaits) -> StoreResult<(T, bool)>,
) -> StoreResult<T> {
    db.with_connection(|connection| {
        let error = |e| sql_error("write to", &db.path)(e);
        let tx = connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(error)?;
        if let Some(epoch) = epoch {
            let current: Option<i64> = tx
                .query_row(
                    "SELECT epoch FROM runs WHERE run_id = ?1",
                    [run_id.as_str()],
                    |row| row.get(0),
                )
                .optional()
                .map_err(error)?;
            if current != Some(epoch.get() as i64) {
                return Err(StoreError::Fenced {
                    run_id: run_id.clone(),
                    epoch,
                    current: current.map(|c| Epoch::new(c.max(0) as u64)),
                });
            }
        }
        let mut waits =
            read(db, &tx, run_id)?.ok_or_else(|| StoreError::UnknownRun(run_id.clone()))?;
        let (answer, write) = change(&mut waits)?;
        if write {
            let text = serde_json::to_string(&waits).map_err(StoreError::Encode)?;
            tx.execute(
                "INSERT INTO run_waits (run_id, waits) VALUES (?1, ?2) \
                 ON CONFLICT (run_id) DO UPDATE SET waits = excluded.waits",
                params![run_id.as_str(), text],
            )
            .map_err(error)?;
        }
        tx.commit().map_err(error)?;
        Ok(answer)
    })
}

pub(super) fn send(
    db: &Database,
    run_id: &RunId,
    signal: &SignalRecord,
) -> StoreResult<SignalSent> {
    change(db, run_id, None, |waits| waits.add(run_id, signal))
}

pub(super) fn remove(db: &Database, run_id: &RunId, wait: &str) -> StoreResult<bool> {
    change(db, run_id, None, |waits| waits.remove(wait))
}

pub(super) fn cancel(db: &Database, run_id: &RunId) -> StoreResult<()> {
    change(db, run_id, None, |waits| waits.cancel())
}

pub(super) fn load(db: &Database, run_id: &RunId) -> StoreResult<RunWaits> {
    db.with_connection(|connection| Ok(read(db, connection, run_id)?.unwrap_or_default()))
}

pub(super) fn set_waiting(
    db: &Database,
    run_id: &RunId,
    epoch: Epoch,
    waiting: &[WaitingOn],
) -> StoreResult<()> {
    change(db, run_id, Some(epoch), |waits| {
        waits.replace_waiting(waiting)
    })
}
