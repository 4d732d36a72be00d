//! Which workers are alive and what they serve: announced when a worker starts and on each
//! heartbeat, removed when it stops (`runs` says which runs wait for a worker of their build).

use crate::store::{PostgresStore, StoreResult};

/// Says that worker `id` is alive and serves `pipelines` (by name) at `fingerprints`.
pub(crate) async fn announce(
    store: &PostgresStore,
    id: &str,
    pipelines: &[String],
    fingerprints: &[String],
) -> StoreResult<()> {
    let client = store.client().await?;
    client
        .execute(
            "INSERT INTO pipeline_fleet_workers (id, pipelines, fingerprints) \
             VALUES ($1, $2, $3) ON CONFLICT (id) DO UPDATE SET pipelines = EXCLUDED.pipelines, \
             fingerprints = EXCLUDED.fingerprints, last_seen = now()",
            &[&id, &pipelines, &fingerprints],
        )
        .await
        .map_err(store.error("write to"))?;
    Ok(())
}

/// Worker `id` stopped. The other workers look at the queue: a commit this worker made just
/// before it stopped claiming may have left ready nodes to it (see `commit::committer`).
pub(crate) async fn retire(store: &PostgresStore, id: &str) -> StoreResult<()> {
    let client = store.client().await?;
    client
        .execute("DELETE FROM pipeline_fleet_workers WHERE id = $1", &[&id])
        .await
        .map_err(store.error("write to"))?;
    client
        .batch_execute(crate::store::postgres::fleet::NOTIFY_READY)
        .await
        .map_err(store.error("write to"))?;
    Ok(())
}
