//! Where a submitted run goes in the order of claims: its credit, from its priority and its
//! fairness key's turn ([`crate::engine::rank`], taken here under the key's row lock).

use deadpool_postgres::Transaction;

use crate::store::{PostgresStore, StoreResult};

/// Where a new run goes in the order of claims: its priority and fairness key
/// ([`crate::engine::rank`]).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Order<'a> {
    pub priority: i32,
    pub fair_key: Option<&'a str>,
}

/// The credit of a run of `pipeline` submitted in `tx` in `order`: with a fairness key, it takes
/// the key's next turn (by the server's clock; the key's row locked until `tx` ends).
pub(crate) async fn credit(
    store: &PostgresStore,
    tx: &Transaction<'_>,
    pipeline: &str,
    order: Order<'_>,
) -> StoreResult<i64> {
    let Some(key) = order.fair_key else {
        return Ok(crate::engine::rank::credit(0, order.priority, None).0);
    };
    let error = store.error("submit a run to");
    let row = tx
        .query_one(
            &store.prepared(tx, "WITH new AS (INSERT INTO pipeline_fleet_turns (pipeline, fair_key, turn_ms)                  VALUES ($1, $2, 0) ON CONFLICT DO NOTHING)              SELECT (extract(epoch FROM now()) * 1000)::bigint,                     coalesce((SELECT turn_ms FROM pipeline_fleet_turns                               WHERE pipeline = $1 AND fair_key = $2 FOR UPDATE), 0),                     (SELECT count(*) FROM pipeline_fleet_runs WHERE pipeline = $1                        AND fair_key = $2 AND state IN ('queued', 'running'))").await?,
            &[&pipeline, &key],
        )
        .await
        .map_err(error)?;
    let (now, last, unfinished): (i64, i64, i64) = (row.get(0), row.get(1), row.get(2));
    let (credit, turn) =
        crate::engine::rank::credit(now, order.priority, Some((last, unfinished as u64)));
    tx.execute(
        &store.prepared(tx, "UPDATE pipeline_fleet_turns SET turn_ms = $3 WHERE pipeline = $1 AND fair_key = $2").await?,
        &[&pipeline, &key, &turn],
    )
    .await
    .map_err(store.error("submit a run to"))?;
    Ok(credit)
}
