//! Idempotency keys in PostgreSQL: `pipeline_idempotency_keys`, one row per pipeline and key.
//! A claim is one upsert that replaces only an expired row (concurrent claims of one key queue
//! on its index entry), then, when another claim holds the key, a read of that row.

use crate::run_id::RunId;
use crate::store::keys::KeyClaim;

/// Claims `claim`'s key at `now_ms` on `client` (see
/// [`Checkpointer::claim_key`](crate::store::Checkpointer::claim_key)); the inner error names a
/// stored run id that is not one.
pub(crate) async fn claim(
    client: &impl deadpool_postgres::GenericClient,
    claim: &KeyClaim,
    now_ms: u64,
) -> Result<Result<KeyClaim, String>, tokio_postgres::Error> {
    let expires = i64::try_from(claim.expires_at_ms).unwrap_or(i64::MAX);
    let now = i64::try_from(now_ms).unwrap_or(i64::MAX);
    let claimed = client
        .query_opt(
            "INSERT INTO pipeline_idempotency_keys (pipeline, key, run_id, expires_at_ms) \
             VALUES ($1, $2, $3, $4) \
             ON CONFLICT (pipeline, key) DO UPDATE \
             SET run_id = EXCLUDED.run_id, expires_at_ms = EXCLUDED.expires_at_ms \
             WHERE pipeline_idempotency_keys.expires_at_ms <= $5 \
             RETURNING run_id, expires_at_ms",
            &[
                &claim.pipeline,
                &claim.key,
                &claim.run_id.as_str(),
                &expires,
                &now,
            ],
        )
        .await?;
    // Another claim holds the key. Read in a statement of its own: the upsert's snapshot may
    // predate the row it waited for.
    let row = match claimed {
        Some(row) => row,
        None => {
            client
                .query_one(
                    "SELECT run_id, expires_at_ms FROM pipeline_idempotency_keys \
                     WHERE pipeline = $1 AND key = $2",
                    &[&claim.pipeline, &claim.key],
                )
                .await?
        }
    };
    let run_id: String = row.get(0);
    Ok(match RunId::new(&run_id) {
        Ok(run_id) => Ok(KeyClaim {
            pipeline: claim.pipeline.clone(),
            key: claim.key.clone(),
            run_id,
            expires_at_ms: row.get::<_, i64>(1).max(0) as u64,
        }),
        Err(e) => Err(format!(
            "pipeline_idempotency_keys holds `{run_id}` for key `{}`, not a run id: {e}",
            claim.key
        )),
    })
}
