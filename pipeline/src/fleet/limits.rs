//! Limits on a fleet. Node limits ([`NodeOptions::limit`](crate::NodeOptions::limit)): the
//! executions of a limited node (its claimed rows, or its map's claimed items) across every
//! worker stay within its limit. A worker claims the rows of a limited node apart from the
//! others: under a transaction-scoped advisory lock of the pipeline and node (so two workers never
//! count at once), it counts the executions whose lease holds and claims at most the rest of the
//! limit. Per-key run limits ([`GraphBuilder::limit_runs`](crate::GraphBuilder::limit_runs)): a
//! run submitted over its key's limit (or behind runs of its key already queued) is queued; a run
//! of the key that ends admits the oldest queued ones, under the key's advisory lock. The same
//! limits in one process are `engine::limits`.

use std::time::Duration;

use deadpool_postgres::Transaction;

use crate::graph::ServedGraph;
use crate::store::{PostgresStore, StoreResult};

/// How far ahead a worker reserves the start times of a rated node's executions: it claims no
/// more of them than start within this.
const RATE_HORIZON: Duration = Duration::from_secs(1);

/// A node with a limit or a rate, of a pipeline a worker serves.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Limited {
    pub pipeline: String,
    pub node_id: String,
    pub fingerprint: String,
    pub node: u32,
    pub limit: Option<u32>,
    /// The time between two starts, for a rated node.
    pub interval: Option<Duration>,
}

impl Limited {
    /// The limited or rated nodes of `graph`.
    pub fn of(graph: &dyn ServedGraph) -> Vec<Limited> {
        let nodes = graph.nodes().iter().enumerate();
        nodes
            .filter(|(_, node)| node.options.limit.is_some() || node.options.rate.is_some())
            .map(|(index, node)| Limited {
                pipeline: graph.name().to_owned(),
                node_id: node.id.to_string(),
                fingerprint: graph.fingerprint().to_owned(),
                node: index as u32,
                limit: node.options.limit,
                interval: node.options.rate.map(|r| r.interval()),
            })
            .collect()
    }

    /// How the claim statement names the node's rows and items: `fingerprint/node`.
    pub fn key(&self) -> String {
        format!("{}/{}", self.fingerprint, self.node)
    }
}

/// The claim statement's filter on the node of a row or item: `$6` names the one node to claim
/// (`fingerprint/node`; NULL for any), `$5` the nodes never to claim here (the limited ones).
macro_rules! limited_filter {
    () => {
        "($6::text IS NULL OR fingerprint || '/' || node = $6) \
         AND NOT (fingerprint || '/' || node = ANY($5::text[]))"
    };
}
pub(crate) use limited_filter;

/// How many more executions of `node` may be claimed now, under its lock (held until `tx` ends):
/// the rest of its limit, and of the starts its rate allows within [`RATE_HORIZON`]; for a rated
/// node, also how long until its next free start.
pub(crate) async fn room(
    store: &PostgresStore,
    tx: &Transaction<'_>,
    node: &Limited,
) -> StoreResult<(usize, Duration)> {
    let error = || store.error("claim nodes in");
    // The lock first, in a statement of its own: the count's statement then sees every claim
    // committed by the worker that held the lock before.
    tx.execute(
        &store.prepared(tx, "SELECT pg_advisory_xact_lock(hashtextextended('pipeline:limit:' || $1 || '/' || $2, 0))").await?,
        &[&node.pipeline, &node.node_id],
    )
    .await
    .map_err(error())?;
    let mut room = usize::MAX;
    if let Some(limit) = node.limit {
        let row = tx
            .query_one(
                &store
                    .prepared(
                        tx,
                        "SELECT (SELECT count(*) FROM pipeline_fleet_nodes n \
                      JOIN pipeline_fleet_runs r ON r.run_id = n.run_id \
                      WHERE r.pipeline = $1 AND n.node_id = $2 AND n.state = 'running' \
                        AND n.items IS NULL AND n.lease_expires_at >= now()) + \
                   (SELECT count(*) FROM pipeline_fleet_items i \
                      JOIN pipeline_fleet_nodes n ON n.run_id = i.run_id AND n.node = i.node \
                      JOIN pipeline_fleet_runs r ON r.run_id = i.run_id \
                      WHERE r.pipeline = $1 AND n.node_id = $2 AND i.state = 'running' \
                        AND i.lease_expires_at >= now())",
                    )
                    .await?,
                &[&node.pipeline, &node.node_id],
            )
            .await
            .map_err(error())?;
        let running = row.get::<_, i64>(0).max(0) as usize;
        room = (limit as usize).saturating_sub(running);
    }
    let Some(interval) = node.interval else {
        return Ok((room, Duration::ZERO));
    };
    let row = tx
        .query_one(
            &store
                .prepared(
                    tx,
                    "WITH new AS (INSERT INTO pipeline_fleet_rates (pipeline, node_id, next_at) \
                 VALUES ($1, $2, now()) ON CONFLICT DO NOTHING) \
             SELECT coalesce((SELECT extract(epoch FROM greatest(next_at, now()) - now()) \
                 FROM pipeline_fleet_rates WHERE pipeline = $1 AND node_id = $2), 0)::float8",
                )
                .await?,
            &[&node.pipeline, &node.node_id],
        )
        .await
        .map_err(error())?;
    let wait = Duration::from_secs_f64(row.get::<_, f64>(0).max(0.0));
    let starts = match RATE_HORIZON.checked_sub(wait) {
        Some(left) => (left.as_nanos() / interval.as_nanos().max(1)) as usize + 1,
        None => 0,
    };
    Ok((room.min(starts), wait))
}

/// Reserves the start times of `claimed` executions of rated node `node`, one interval apart
/// from its next free start (under its lock, taken by [`room`]).
pub(crate) async fn reserve(
    store: &PostgresStore,
    tx: &Transaction<'_>,
    node: &Limited,
    claimed: usize,
) -> StoreResult<()> {
    let (Some(interval), true) = (node.interval, claimed > 0) else {
        return Ok(());
    };
    let ahead = interval.as_secs_f64() * 1000.0 * claimed as f64;
    tx.execute(
        &store
            .prepared(
                tx,
                "UPDATE pipeline_fleet_rates \
         SET next_at = greatest(next_at, now()) + make_interval(secs => $3::float8 / 1000.0) \
         WHERE pipeline = $1 AND node_id = $2",
            )
            .await?,
        &[&node.pipeline, &node.node_id, &ahead],
    )
    .await
    .map_err(store.error("claim nodes in"))?;
    Ok(())
}

/// A run's key under its pipeline's per-key run limit, and the limit.
pub(crate) struct RunLimitKey<'a> {
    pub pipeline: &'a str,
    pub key: &'a str,
    pub runs: u32,
}

/// Takes the advisory lock of the runs of `limit`'s key, until `tx` ends.
async fn lock_key(
    store: &PostgresStore,
    tx: &Transaction<'_>,
    limit: &RunLimitKey<'_>,
) -> StoreResult<()> {
    tx.execute(
        &store.prepared(tx, "SELECT pg_advisory_xact_lock(hashtextextended('pipeline:runs:' || $1 || '/' || $2, 0))").await?,
        &[&limit.pipeline, &limit.key],
    )
    .await
    .map_err(store.error("write to"))?;
    Ok(())
}

/// Whether a run submitted now under `limit` must queue: its key has as many runs running as the
/// limit allows, or runs queued already (which go first). Takes the key's lock.
pub(crate) async fn must_queue(
    store: &PostgresStore,
    tx: &Transaction<'_>,
    limit: &RunLimitKey<'_>,
) -> StoreResult<bool> {
    lock_key(store, tx, limit).await?;
    let row = tx
        .query_one(
            &store
                .prepared(
                    tx,
                    "SELECT count(*) FILTER (WHERE state = 'running'), \
                    count(*) FILTER (WHERE state = 'queued') \
             FROM pipeline_fleet_runs WHERE pipeline = $1 AND limit_key = $2 \
               AND state IN ('running', 'queued')",
                )
                .await?,
            &[&limit.pipeline, &limit.key],
        )
        .await
        .map_err(store.error("write to"))?;
    let (running, queued) = (row.get::<_, i64>(0), row.get::<_, i64>(1));
    Ok(queued > 0 || running >= i64::from(limit.runs))
}

/// A run of `limit`'s key ended (in `tx`): admits the first queued runs of the key that now fit
/// (by rank: the oldest first, as their priorities put them), making their ready rows claimable.
/// Returns whether it admitted any (the workers are to be woken).
pub(crate) async fn admit(
    store: &PostgresStore,
    tx: &Transaction<'_>,
    limit: &RunLimitKey<'_>,
) -> StoreResult<bool> {
    lock_key(store, tx, limit).await?;
    let admitted = tx
        .execute(
            &store
                .prepared(
                    tx,
                    "WITH running AS (SELECT count(*) AS n FROM pipeline_fleet_runs \
                 WHERE pipeline = $1 AND limit_key = $2 AND state = 'running'), \
             admitted AS (UPDATE pipeline_fleet_runs SET state = 'running' \
                 WHERE run_id IN (SELECT run_id FROM pipeline_fleet_runs \
                     WHERE pipeline = $1 AND limit_key = $2 AND state = 'queued' \
                     ORDER BY pipeline_claim_rank(submitted_at, credit_ms), run_id \
                     LIMIT greatest(0, $3 - (SELECT n FROM running)) \
                     FOR UPDATE SKIP LOCKED) \
                 RETURNING run_id) \
             UPDATE pipeline_fleet_nodes SET not_before = now() \
             WHERE run_id IN (SELECT run_id FROM admitted) AND state = 'ready' AND NOT began",
                )
                .await?,
            &[&limit.pipeline, &limit.key, &i64::from(limit.runs)],
        )
        .await
        .map_err(store.error("write to"))?;
    Ok(admitted > 0)
}

/// Takes, in one order (by pipeline and key), the locks of the keys of `run_ids` that limit their
/// runs, before a transaction that ends them admits queued runs of those keys: two transactions
/// ending runs of two keys never wait for each other's key.
pub(crate) async fn lock_keys_of(
    store: &PostgresStore,
    tx: &Transaction<'_>,
    run_ids: &[&str],
) -> StoreResult<()> {
    tx.execute(
        &store.prepared(tx, "SELECT pg_advisory_xact_lock(hashtextextended('pipeline:runs:' || k.pipeline || '/' \
             || k.limit_key, 0)) \
         FROM (SELECT DISTINCT pipeline, limit_key FROM pipeline_fleet_runs \
               WHERE run_id = ANY($1) AND limit_key IS NOT NULL ORDER BY 1, 2) AS k").await?,
        &[&run_ids],
    )
    .await
    .map_err(store.error("write to"))?;
    Ok(())
}

/// Admits what the end of run `run_id` (in `tx`, its state already ended) lets in, when its
/// pipeline limits runs per key.
pub(crate) async fn admit_after(
    store: &PostgresStore,
    tx: &Transaction<'_>,
    run_id: &str,
) -> StoreResult<()> {
    let row = tx
        .query_opt(
            &store
                .prepared(
                    tx,
                    "SELECT pipeline, limit_key, limit_runs FROM pipeline_fleet_runs \
             WHERE run_id = $1 AND limit_key IS NOT NULL",
                )
                .await?,
            &[&run_id],
        )
        .await
        .map_err(store.error("write to"))?;
    let Some(row) = row else {
        return Ok(());
    };
    let (pipeline, key): (String, String) = (row.get(0), row.get(1));
    let runs = row.get::<_, Option<i32>>(2).unwrap_or(1).max(1) as u32;
    let limit = RunLimitKey {
        pipeline: &pipeline,
        key: &key,
        runs,
    };
    if admit(store, tx, &limit).await? {
        super::due::notify_ready(store, tx).await?;
    }
    Ok(())
}
