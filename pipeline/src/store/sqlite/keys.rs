//! Idempotency keys in the SQLite database: table `idempotency_keys`, one row per pipeline and
//! key, each claim decided in one immediate transaction (so across processes too).

use rusqlite::{OptionalExtension, TransactionBehavior, params};

use super::database::{Database, sql_error};
use crate::run_id::RunId;
use crate::store::error::{StoreError, StoreResult};
use crate::store::keys::KeyClaim;

/// Claims `claim`'s key at `now_ms` (see
/// [`Checkpointer::claim_key`](crate::store::Checkpointer::claim_key)).
pub(super) fn claim(db: &Database, claim: &KeyClaim, now_ms: u64) -> StoreResult<KeyClaim> {
    db.with_connection(|connection| {
        let error = |e| sql_error("write to", &db.path)(e);
        let tx = connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(error)?;
        let held: Option<(String, i64)> = tx
            .query_row(
                "SELECT run_id, expires_at_ms FROM idempotency_keys \
                 WHERE pipeline = ?1 AND key = ?2",
                params![claim.pipeline, claim.key],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()
            .map_err(error)?;
        let held = match held {
            None => None,
            Some((run_id, expires_at_ms)) => Some(KeyClaim {
                pipeline: claim.pipeline.clone(),
                key: claim.key.clone(),
                run_id: RunId::new(run_id).map_err(|e| StoreError::CorruptRow {
                    database: db.path.clone(),
                    table: "idempotency_keys",
                    row: 0,
                    what: "idempotency key",
                    reason: e.to_string(),
                })?,
                expires_at_ms: expires_at_ms.max(0) as u64,
            }),
        };
        let kept = claim.against(held.as_ref(), now_ms).clone();
        if kept == *claim {
            tx.execute(
                "INSERT OR REPLACE INTO idempotency_keys (pipeline, key, run_id, expires_at_ms) \
                 VALUES (?1, ?2, ?3, ?4)",
                params![
                    claim.pipeline,
                    claim.key,
                    claim.run_id.as_str(),
                    i64::try_from(claim.expires_at_ms).unwrap_or(i64::MAX)
                ],
            )
            .map_err(error)?;
        }
        tx.commit().map_err(error)?;
        Ok(kept)
    })
}
