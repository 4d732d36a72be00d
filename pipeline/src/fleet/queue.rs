//! The fleet's queue in PostgreSQL: submitting a run, claiming ready nodes under a lease,
//! renewing and giving back leases. Resolving claimed nodes is in `commit`, reading runs in
//! `read`.

use std::future::Future;
use std::time::Duration;

use deadpool_postgres::Transaction;

use super::claim::{Claimed, Hold, millis};
use super::items;
use super::limits::{Limited, RunLimitKey, limited_filter};
use super::records::{Param, insert};
use crate::node::MapItem;
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
    let write = store.error("submit a run to");
    let tx = client
        .transaction()
        .await
        .map_err(store.error("submit a run to"))?;
    let bytes = serde_json::to_vec(header).map_err(crate::store::StoreError::Encode)?;
    let id = header.run_id.as_str();
    let started = header.started_at_ms as i64;
    let inserted = tx
        .execute(
            &store
                .prepared(
                    &tx,
                    "INSERT INTO pipeline_runs (run_id, pipeline, started_at_ms, header) \
             VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                )
                .await?,
            &[&id, &header.pipeline, &started, &bytes],
        )
        .await
        .map_err(store.error("submit a run to"))?;
    if inserted == 0 {
        return Err(crate::store::StoreError::RunExists(header.run_id.clone()));
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
    let statements: [(&str, Vec<Param<'_>>); 2] = [
        (
            "INSERT INTO pipeline_audit_runs (run_id, header) VALUES ($1, $2)",
            vec![&id, &bytes],
        ),
        (
            "INSERT INTO pipeline_fleet_runs (run_id, pipeline, fingerprint, remaining, state, \
             limit_key, limit_runs, priority, credit_ms, fair_key) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            vec![
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
            ],
        ),
    ];
    for (sql, params) in statements {
        tx.execute(sql, &params)
            .await
            .map_err(store.error("submit a run to"))?;
    }
    let ids: Vec<&str> = nodes.iter().map(|n| n.id).collect();
    let index: Vec<i32> = (0..nodes.len() as i32).collect();
    let waiting: Vec<i32> = nodes.iter().map(|n| n.upstream as i32).collect();
    let fail_fast: Vec<bool> = nodes.iter().map(|n| n.fail_fast).collect();
    let done: Vec<bool> = nodes.iter().map(|n| n.done).collect();
    tx.execute(
        &store
            .prepared(
                &tx,
                "INSERT INTO pipeline_fleet_nodes \
         (run_id, node, node_id, fingerprint, state, waiting, fail_fast, resolved_at, \
          not_before, credit_ms) \
         SELECT $1, n, id, $2, \
                CASE WHEN d THEN 'completed' WHEN w = 0 THEN 'ready' ELSE 'waiting' END, w, f, \
                CASE WHEN d THEN now() END, \
                CASE WHEN $8 AND NOT d AND w = 0 THEN 'infinity'::timestamptz ELSE now() END, \
                $9 \
         FROM unnest($3::int[], $4::text[], $5::int[], $6::bool[], $7::bool[]) \
              AS t (n, id, w, f, d)",
            )
            .await?,
        &[
            &id,
            &header.fingerprint,
            &index,
            &ids,
            &waiting,
            &fail_fast,
            &done,
            &queued,
            &credit,
        ],
    )
    .await
    .map_err(store.error("submit a run to"))?;
    let kept: Vec<(&str, &NodeRecord)> = kept.iter().map(|r| (id, r)).collect();
    insert(store, &tx, &kept).await?;
    write_summary(store, &tx, summary).await?;
    super::due::notify_ready(store, &tx).await?;
    tx.commit().await.map_err(write)
}

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

/// Claims up to `limit` ready nodes of the pipelines `fingerprints` name, or running nodes whose
/// lease expired (their worker died), each under a lease of `lease`; `limited` nodes only within
/// their limits and rates (`limits`). Also returns when the next ready node of the others left
/// becomes claimable (`due::next_due`), if one waits for its time.
pub(crate) async fn claim(
    store: &PostgresStore,
    worker: &str,
    fingerprints: &[String],
    limit: usize,
    lease: Duration,
    limited: &[Limited],
) -> StoreResult<(Vec<Claimed>, Option<Duration>)> {
    let mut client = store.client().await?;
    let tx = client
        .transaction()
        .await
        .map_err(store.error("claim nodes in"))?;
    // The server's `now()` is the time BEGIN started, at or before this instant: a turn reserved
    // `wait` after it is due at or before `begun + wait`, so starting then is never early.
    let begun = tokio::time::Instant::now();
    // A claim lost to a server crash is only claimed again (claim numbers come from a sequence,
    // never handed out twice): no need to wait for the disk. And walk the partial indexes in
    // order, stopping at the limit: with a queue's statistics (rows turning over faster than
    // ANALYZE sees them) the planner would bitmap-scan and sort every ready row on each claim.
    tx.batch_execute(
        "SET LOCAL synchronous_commit = off; SET LOCAL enable_bitmapscan = off; \
         SET LOCAL enable_sort = off; SET LOCAL enable_seqscan = off",
    )
    .await
    .map_err(store.error("claim nodes in"))?;
    let excluded: Vec<String> = limited.iter().map(Limited::key).collect();
    let args = ClaimArgs {
        worker,
        fingerprints,
        lease,
    };
    let (mut claimed, due) = claim_in(store, &tx, &args, limit, None, &excluded).await?;
    for node in limited {
        let free = limit.saturating_sub(claimed.len());
        if free == 0 {
            break;
        }
        let (room, wait) = super::limits::room(store, &tx, node).await?;
        let key = node.key();
        let (mut within, _) = claim_in(store, &tx, &args, free.min(room), Some(&key), &[]).await?;
        super::limits::reserve(store, &tx, node, within.len()).await?;
        // A rated node's executions start at their reserved times, one interval apart.
        if let Some(interval) = node.interval {
            for (i, claim) in within.iter_mut().enumerate() {
                claim.start_at = Some(begun + wait + interval * i as u32);
            }
        }
        claimed.extend(within);
    }
    tx.commit().await.map_err(store.error("claim nodes in"))?;
    crate::metrics::fleet_taken_over(claimed.iter().filter(|c| c.lapsed).count() as u64);
    Ok((claimed, due))
}

/// Who claims, what it serves, and for how long.
struct ClaimArgs<'a> {
    worker: &'a str,
    fingerprints: &'a [String],
    lease: Duration,
}

/// One claim statement in `tx`: up to `limit` node rows and items, of the node `only` names
/// (`fingerprint/node`) when given, never of those `excluded` names.
async fn claim_in(
    store: &PostgresStore,
    tx: &Transaction<'_>,
    args: &ClaimArgs<'_>,
    limit: usize,
    only: Option<&str>,
    excluded: &[String],
) -> StoreResult<(Vec<Claimed>, Option<Duration>)> {
    if limit == 0 {
        return Ok((Vec::new(), None));
    }
    let rows = tx
        .query(&store.prepared(&tx, concat!(
                // One statement, up to the limit: what lapsed first (node rows, then items),
                // then ready node rows, then ready items of open maps. Each is an index scan in
                // order that stops at its limit, never a scan of a whole table: the partial
                // indexes on `state` serve them.
                "WITH expired AS (SELECT run_id, node, true AS lapsed FROM pipeline_fleet_nodes \
                 WHERE state = 'running' AND lease_expires_at < now() \
                   AND fingerprint = ANY($2) AND ",
                limited_filter!(),
                " \
                 ORDER BY lease_expires_at LIMIT $3 FOR UPDATE SKIP LOCKED), ",
                items::claim_expired_items!(),
                "ready AS (SELECT run_id, node, false AS lapsed FROM pipeline_fleet_nodes \
                 WHERE state = 'ready' AND not_before <= now() AND fingerprint = ANY($2) \
                   AND ",
                limited_filter!(),
                " \
                 ORDER BY claim_rank \
                 LIMIT $3 - (SELECT count(*) FROM expired) - (SELECT count(*) FROM item_expired) \
                 FOR UPDATE SKIP LOCKED), \
             c AS (SELECT * FROM expired UNION ALL SELECT * FROM ready), \
             n AS (UPDATE pipeline_fleet_nodes n SET state = 'running', \
                 claim = nextval('pipeline_fleet_claims'), worker = $1, \
                 lease_expires_at = now() + make_interval(secs => $4::float8 / 1000.0) \
                 FROM c WHERE n.run_id = c.run_id AND n.node = c.node \
                 RETURNING n.run_id, n.node, n.claim, n.attempt, n.blocked, n.fail_fast, \
                           n.fingerprint, n.began, n.attempts_before, c.lapsed), ",
                items::claim_items!(),
                "SELECT run_id, node, NULL::int, claim, attempt, blocked, fail_fast, fingerprint, \
                    began, NULL::int, attempts_before, lapsed, NULL::float8 FROM n \
             UNION ALL SELECT run_id, node, item, claim, attempt, false, fail_fast, fingerprint, \
                    false, items, attempts_before, lapsed, NULL::float8 FROM i \
             UNION ALL SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, \
                    NULL, ",
                super::due::next_due!(),
            )).await?,
            &[
                &args.worker,
                &args.fingerprints,
                &(limit as i64),
                &millis(args.lease),
                &excluded,
                &only,
            ],
        )
        .await
        .map_err(store.error("claim nodes in"))?;
    // The last row is the next due time of what was left (see `due::next_due`).
    let due = rows
        .iter()
        .find(|row| row.get::<_, Option<String>>(0).is_none())
        .and_then(|row| row.get::<_, Option<f64>>(12))
        .filter(|secs| secs.is_finite())
        .map(|secs| Duration::from_secs_f64(secs.clamp(0.0, 1e9)));
    let claimed = rows
        .iter()
        .filter_map(|row| {
            let run_id = RunId::new(row.get::<_, Option<String>>(0)?).ok()?;
            let item = match row.get::<_, Option<i32>>(2) {
                None => None,
                Some(index) => Some(MapItem {
                    index: u32::try_from(index).ok()?,
                    of: u32::try_from(row.get::<_, Option<i32>>(9)?).ok()?,
                }),
            };
            Some(Claimed {
                run_id,
                node: u32::try_from(row.get::<_, i32>(1)).ok()?,
                claim: row.get(3),
                attempt: u32::try_from(row.get::<_, i32>(4)).ok()?,
                blocked: row.get(5),
                fail_fast: row.get(6),
                fingerprint: row.get(7),
                began: row.get(8),
                item,
                attempts_before: u32::try_from(row.get::<_, i32>(10)).ok()?,
                start_at: None,
                lapsed: row.get(11),
            })
        })
        .collect();
    Ok((claimed, due))
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
