//! When a worker looks at the queue again: the time the next ready node waits for (a backoff, a
//! timer, a signal's timeout).

use std::time::Duration;

use deadpool_postgres::Transaction;

use super::limits::Limited;
use crate::store::postgres::fleet::NOTIFY_READY;
use crate::store::{PostgresStore, StoreResult};

/// The seconds until the earliest `not_before` of a ready row of the fingerprints `$1`, leaving
/// out the nodes `$2` names (`fingerprint/node`).
const NEXT_DUE: &str = "SELECT extract(epoch FROM least( \
    (SELECT min(not_before) FROM pipeline_fleet_nodes WHERE state = 'ready' \
       AND not_before < 'infinity' AND fingerprint = ANY($1) \
       AND NOT (fingerprint || '/' || node = ANY($2::text[]))), \
    (SELECT min(not_before) FROM pipeline_fleet_items WHERE state = 'ready' \
       AND fingerprint = ANY($1) \
       AND NOT (fingerprint || '/' || node = ANY($2::text[])))) - now())::float8";

/// When the next ready node of `fingerprints` becomes claimable (a backoff, a timer, a signal's
/// timeout), if any waits for its time. `limited` nodes' rows are left out: a full limit frees by
/// an execution's end or the next poll, not by time, so a worker must not look again at once.
pub(crate) async fn next_due(
    store: &PostgresStore,
    fingerprints: &[String],
    limited: &[Limited],
) -> StoreResult<Option<Duration>> {
    let client = store.client().await?;
    let excluded: Vec<String> = limited.iter().map(Limited::key).collect();
    let statement = store.prepared(&client, NEXT_DUE).await?;
    let row = client
        .query_one(&statement, &[&fingerprints, &excluded])
        .await
        .map_err(store.error("read"))?;
    Ok(row
        .get::<_, Option<f64>>(0)
        .map(|secs| Duration::from_secs_f64(secs.max(0.0))))
}

/// Wakes the idle workers when `tx` commits: ready rows are there for them. The statement is
/// prepared once per connection (as text, each `NOTIFY` cost the server a parse and a round trip
/// of its own).
pub(crate) async fn notify_ready(store: &PostgresStore, tx: &Transaction<'_>) -> StoreResult<()> {
    let statement = store.prepared(tx, NOTIFY_READY).await?;
    tx.execute(&statement, &[])
        .await
        .map_err(store.error("write to"))?;
    Ok(())
}
