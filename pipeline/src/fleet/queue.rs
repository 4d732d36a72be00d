//! The fleet's queue in PostgreSQL: submitting a run, renewing and giving back leases. Claiming
//! is in `claimer`, resolving claimed nodes in `commit`, reading runs in `read`.

use std::future::Future;
use std::time::Duration;

use deadpool_postgres::Transaction;

use super::claim::{Hold, millis};
use super::items;
use super::limits::RunLimitKey;
use super::records::{Param, insert};
use crate::run_id::RunId;
pub(crate) use crate::store::postgres::fleet::{DONE, READY};
use crate::store::{NodeRecord, PostgresStore, RunHeader, RunSummary, StoreResult};

/// A node of a run to submit: its id, its number of distinct upstream nodes not done, whether a
/// failure of it stops the run, and whether it is done from the start (a rerun keeps it).
pub(crate) struct NewNode<'a> {
    pub id: &'a str,
    pub upstream: usize,
    pub fail_fast: bool,
    pub done: bool,
}

/// Records a new run for the fleet: the checkpoint and audit headers, the run (queued over its
/// key's `limit`, ranked by its `order`), one row per node (done ones completed, those without
/// upstream nodes left ready), the records `kept` (of the nodes done), and the first summary;
/// wakes the workers.
pub(crate) async fn submit(
    store: &PostgresStore,
    header: &RunHeader,
    nodes: &[NewNode<'_>],
    summary: &RunSummary,
    kept: &[NodeRecord],
    limit: Option<RunLimitKey<'_>>,
    order: super::order::Order<'_>,
) -> StoreResult<()> {
    let mut client = store.client().await?;
    let write = || store.error("submit a run to");
    let tx = client.transaction().await.map_err(write())?;
    let bytes = serde_json::to_vec(header).map_err(crate::store::StoreError::Encode)?;
    let id = header.run_id.as_str();
    let started = header.started_at_ms as i64;
    let insert_run = store.prepared(&tx, INSERT_RUN).await?;
    let run_params: [Param<'_>; 4] = [&id, &header.pipeline, &started, &bytes];
    // A run over its key's limit is queued, and one with a fair key ranks by its key's turns:
    // both are read from the server before the run's rows are written. Any other run sends all
    // its statements at once, one round trip, and learns only then whether its id was taken.
    let plain = limit.is_none() && order.fair_key.is_none();
    let mut inserted = None;
    if !plain {
        let n = tx.execute(&insert_run, &run_params).await;
        inserted = Some(n.map_err(write())?);
        if inserted == Some(0) {
            return Err(crate::store::StoreError::RunExists(header.run_id.clone()));
        }
    }
    let remaining = nodes.iter().filter(|n| !n.done).count() as i32;
    // Over its key's run limit, the run is queued: its ready rows wait for its admission.
    let queued = match &limit {
        Some(limit) => super::limits::must_queue(store, &tx, limit).await?,
        None => false,
    };
    let state = if queued { "queued" } else { "running" };
    let credit = super::order::credit(store, &tx, &header.pipeline, order).await?;
    let (key, runs) = (
        limit.as_ref().map(|l| l.key),
        limit.as_ref().map(|l| l.runs as i32),
    );
    let ids: Vec<&str> = nodes.iter().map(|n| n.id).collect();
    let index: Vec<i32> = (0..nodes.len() as i32).collect();
    let waiting: Vec<i32> = nodes.iter().map(|n| n.upstream as i32).collect();
    let fail_fast: Vec<bool> = nodes.iter().map(|n| n.fail_fast).collect();
    let done: Vec<bool> = nodes.iter().map(|n| n.done).collect();
    // Prepared before any is sent, so they reach the server in this order (each row's foreign
    // key names one sent before it).
    let audit_run = store.prepared(&tx, INSERT_AUDIT_RUN).await?;
    let fleet_run = store.prepared(&tx, INSERT_FLEET_RUN).await?;
    let node_rows = store.prepared(&tx, INSERT_NODES).await?;
    let kept: Vec<(&str, &NodeRecord)> = kept.iter().map(|r| (id, r)).collect();
    let run = async {
        match inserted {
            Some(n) => Ok(n),
            None => tx.execute(&insert_run, &run_params).await.map_err(write()),
        }
    };
    let rest = async {
        let fleet_params: [Param<'_>; 10] = [
            &id,
            &header.pipeline,
            &header.fingerprint,
            &remaining,
            &state,
            &key,
            &runs,
            &order.priority,
            &credit,
            &order.fair_key,
        ];
        let node_params: [Param<'_>; 9] = [
            &id,
            &header.fingerprint,
            &index,
            &ids,
            &waiting,
            &fail_fast,
            &done,
            &queued,
            &credit,
        ];
        let audit_params: [Param<'_>; 2] = [&id, &bytes];
        let tx = &tx;
        let execute =
            |statement, params| async move { tx.execute(statement, params).await.map_err(write()) };
        tokio::try_join!(
            execute(&audit_run, &audit_params),
            execute(&fleet_run, &fleet_params),
            execute(&node_rows, &node_params),
            insert(store, tx, &kept),
            write_summary(store, tx, summary),
            super::due::notify_ready(store, tx),
        )
    };
    let (run, rest) = tokio::join!(run, rest);
    if run? == 0 {
        return Err(crate::store::StoreError::RunExists(header.run_id.clone()));
    }
    rest?;
    tx.commit().await.map_err(write())
}

/// A run's checkpoint header (its id taken: nothing inserted).
const INSERT_RUN: &str = "INSERT INTO pipeline_runs (run_id, pipeline, started_at_ms, header) \
    VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING";

/// A run's audit header.
const INSERT_AUDIT_RUN: &str = "INSERT INTO pipeline_audit_runs (run_id, header) VALUES ($1, $2)";

/// A run's fleet row.
const INSERT_FLEET_RUN: &str = "INSERT INTO pipeline_fleet_runs (run_id, pipeline, fingerprint, \
    remaining, state, limit_key, limit_runs, priority, credit_ms, fair_key) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";

/// A run's node rows: done ones completed, those without upstream nodes left ready (claimable at
/// once, unless the run is queued).
const INSERT_NODES: &str = "INSERT INTO pipeline_fleet_nodes \
    (run_id, node, node_id, fingerprint, state, waiting, fail_fast, resolved_at, not_before, \
     credit_ms) \
    SELECT $1, n, id, $2, \
           CASE WHEN d THEN 'completed' WHEN w = 0 THEN 'ready' ELSE 'waiting' END, w, f, \
           CASE WHEN d THEN now() END, \
           CASE WHEN $8 AND NOT d AND w = 0 THEN 'infinity'::timestamptz ELSE now() END, $9 \
    FROM unnest($3::int[], $4::text[], $5::int[], $6::bool[], $7::bool[]) AS t (n, id, w, f, d)";

pub(crate) async fn write_summary(
    store: &PostgresStore,
    tx: &Transaction<'_>,
    summary: &RunSummary,
) -> StoreResult<()> {
    let bytes = serde_json::to_vec(summary).map_err(crate::store::StoreError::Encode)?;
    tx.execute(
        &store
            .prepared(
                &tx,
                "INSERT INTO pipeline_run_summaries (run_id, summary) VALUES ($1, $2) \
         ON CONFLICT (run_id) DO UPDATE SET summary = EXCLUDED.summary",
            )
            .await?,
        &[&summary.run_id.as_str(), &bytes],
    )
    .await
    .map_err(store.error("write to"))?;
    Ok(())
}

/// `held`: the rows of claims `$1` (runs), `$2` (nodes), `$3` (claim tokens) that are still
/// running, locked in key order, as the commit's fence locks them: two orders would deadlock, and
/// the statement PostgreSQL aborts would lose its claims or its commit.
macro_rules! held_claims {
    () => {
        "WITH held AS MATERIALIZED ( \
             SELECT n.run_id, n.node FROM pipeline_fleet_nodes n \
             JOIN unnest($1::text[], $2::int[], $3::bigint[]) AS c (run_id, node, claim) \
               ON n.run_id = c.run_id AND n.node = c.node AND n.claim = c.claim \
             WHERE n.state = 'running' AND n.lease_expires_at IS NOT NULL \
             ORDER BY n.run_id, n.node FOR UPDATE OF n) "
    };
}

/// Renews the leases of `claims`; returns those still held (one missing was lost: its lease
/// lapsed and another worker took the node, or the run was cancelled).
pub(crate) async fn heartbeat(
    store: &PostgresStore,
    claims: &[Hold],
    lease: Duration,
) -> StoreResult<Vec<Hold>> {
    if claims.is_empty() {
        return Ok(Vec::new());
    }
    let client = store.client().await?;
    let mut kept = items::heartbeat(store, &client, claims, lease).await?;
    let (ids, nodes, tokens) = columns(claims);
    let rows = client
        .query(
            &store
                .prepared(
                    &client,
                    concat!(
                        held_claims!(),
                        "UPDATE pipeline_fleet_nodes n \
             SET lease_expires_at = now() + make_interval(secs => $4::float8 / 1000.0) \
             FROM held WHERE n.run_id = held.run_id AND n.node = held.node \
             RETURNING n.run_id, n.node, n.claim"
                    ),
                )
                .await?,
            &[&ids, &nodes, &tokens, &millis(lease)],
        )
        .await
        .map_err(store.error("renew leases in"))?;
    kept.extend(rows.iter().filter_map(|r| {
        let id = RunId::new(r.get::<_, String>(0)).ok()?;
        Some((id, r.get::<_, i32>(1) as u32, None, r.get(2)))
    }));
    Ok(kept)
}

/// Gives back the leases of claims this worker will not finish (it is shutting down): their
/// nodes are ready for another worker at once (a wait that began stays due when it was).
pub(crate) async fn release(store: &PostgresStore, claims: &[Hold]) -> StoreResult<()> {
    if claims.is_empty() {
        return Ok(());
    }
    let client = store.client().await?;
    items::release(store, &client, claims).await?;
    let (ids, nodes, tokens) = columns(claims);
    client
        .execute(
            &store
                .prepared(
                    &client,
                    concat!(
                        held_claims!(),
                        "UPDATE pipeline_fleet_nodes n SET state = 'ready', worker = NULL, \
             lease_expires_at = NULL, \
             not_before = CASE WHEN n.began THEN n.not_before ELSE now() END \
             FROM held WHERE n.run_id = held.run_id AND n.node = held.node"
                    ),
                )
                .await?,
            &[&ids, &nodes, &tokens],
        )
        .await
        .map_err(store.error("release leases in"))?;
    client
        .execute(&format!("NOTIFY {READY}"), &[])
        .await
        .map_err(store.error("write to"))?;
    Ok(())
}

/// The claims of node rows (not items) as `unnest`'s columns: run ids, node indexes, tokens.
fn columns(claims: &[Hold]) -> (Vec<&str>, Vec<i32>, Vec<i64>) {
    let nodes = || claims.iter().filter(|c| c.2.is_none());
    let ids = nodes().map(|c| c.0.as_str()).collect();
    let indexes = nodes().map(|c| c.1 as i32).collect();
    let tokens = nodes().map(|c| c.3).collect();
    (ids, indexes, tokens)
}

/// Retries a store operation until it succeeds: the server may be restarting. The node's lease
/// decides meanwhile whether this worker still holds the node.
pub(crate) async fn retried<T, F: Future<Output = StoreResult<T>>>(
    what: &str,
    mut op: impl FnMut() -> F,
) -> T {
    let mut pause = Duration::from_millis(50);
    loop {
        match op().await {
            Ok(value) => return value,
            Err(e) => {
                tracing::warn!(error = %e, "cannot {what}; trying again");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(2));
            }
        }
    }
}
