//! Items of mapped nodes (`each`) as units of the fleet's queue: a worker claims an item under
//! a lease of its own, renews it, gives it back, and its commit is fenced by the item's claim, as
//! for a node row. How a map opens, lets its items in and ends is in `maps`.

use std::collections::HashSet;
use std::time::Duration;

use deadpool_postgres::{Object, Transaction};

use super::claim::{Hold, millis};
use crate::result::ItemFailure;
use crate::run_id::RunId;
use crate::store::{PostgresStore, StoreResult};

/// The claim statement's part for items whose lease lapsed (see `claimer::CLAIM`): after the
/// node rows `expired`, up to `$3` less those, as `item_expired`. Lapsed work is taken over
/// before any ready work: an item held by a worker that died must not wait behind other runs.
macro_rules! claim_expired_items {
    () => {
        concat!(
            "item_expired AS (SELECT run_id, node, item, true AS lapsed \
             FROM pipeline_fleet_items \
             WHERE state = 'running' AND lease_expires_at < now() AND fingerprint = ANY($2) \
               AND ",
            $crate::fleet::limits::limited_filter!(),
            " \
             ORDER BY lease_expires_at LIMIT $3 - (SELECT count(*) FROM expired) \
             FOR UPDATE SKIP LOCKED), "
        )
    };
}
pub(crate) use claim_expired_items;

/// The claim statement's part for ready items (see `claimer::CLAIM`): after the node rows `n` it
/// claimed and the lapsed items, up to `$3` less those, items of open maps; all the items
/// claimed, as `i`.
macro_rules! claim_items {
    () => {
        concat!(
            "item_ready AS (SELECT run_id, node, item, false AS lapsed FROM pipeline_fleet_items \
             WHERE state = 'ready' AND not_before <= now() AND fingerprint = ANY($2) \
               AND ",
            $crate::fleet::limits::limited_filter!(),
            " \
             ORDER BY claim_rank \
             LIMIT $3 - (SELECT count(*) FROM n) - (SELECT count(*) FROM item_expired) \
             FOR UPDATE SKIP LOCKED), \
         ic AS (SELECT * FROM item_expired UNION ALL SELECT * FROM item_ready), \
         i AS (UPDATE pipeline_fleet_items i SET state = 'running', \
             claim = nextval('pipeline_fleet_claims'), worker = $1, \
             lease_expires_at = now() + make_interval(secs => $4::float8 / 1000.0) \
             FROM ic, pipeline_fleet_nodes p \
             WHERE i.run_id = ic.run_id AND i.node = ic.node AND i.item = ic.item \
               AND p.run_id = i.run_id AND p.node = i.node \
             RETURNING i.run_id, i.node, i.item, i.claim, i.attempt, p.items, p.fail_fast, \
                       i.fingerprint, i.attempts_before, ic.lapsed) "
        )
    };
}
pub(crate) use claim_items;

/// The item claims among `claims` as the columns `unnest` takes.
fn columns(claims: &[Hold]) -> (Vec<&str>, Vec<i32>, Vec<i32>, Vec<i64>) {
    let items = || claims.iter().filter_map(|c| Some((c, c.2?)));
    (
        items().map(|(c, _)| c.0.as_str()).collect(),
        items().map(|(c, _)| c.1 as i32).collect(),
        items().map(|(_, i)| i as i32).collect(),
        items().map(|(c, _)| c.3).collect(),
    )
}

/// The item rows of claims `$1`..`$4` still running under them, locked in key order.
macro_rules! held_items {
    () => {
        "WITH held AS MATERIALIZED ( \
             SELECT i.run_id, i.node, i.item FROM pipeline_fleet_items i \
             JOIN unnest($1::text[], $2::int[], $3::int[], $4::bigint[]) \
               AS c (run_id, node, item, claim) \
               ON i.run_id = c.run_id AND i.node = c.node AND i.item = c.item \
              AND i.claim = c.claim \
             WHERE i.state = 'running' \
             ORDER BY i.run_id, i.node, i.item FOR UPDATE OF i) "
    };
}

/// Renews the leases of the item claims among `claims`; returns those still held.
pub(crate) async fn heartbeat(
    store: &PostgresStore,
    client: &Object,
    claims: &[Hold],
    lease: Duration,
) -> StoreResult<Vec<Hold>> {
    let (ids, nodes, items, tokens) = columns(claims);
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = client
        .query(
            concat!(
                held_items!(),
                "UPDATE pipeline_fleet_items i \
                 SET lease_expires_at = now() + make_interval(secs => $5::float8 / 1000.0) \
                 FROM held WHERE i.run_id = held.run_id AND i.node = held.node \
                   AND i.item = held.item \
                 RETURNING i.run_id, i.node, i.item, i.claim"
            ),
            &[&ids, &nodes, &items, &tokens, &millis(lease)],
        )
        .await
        .map_err(store.error("renew leases in"))?;
    Ok(rows
        .iter()
        .filter_map(|r| {
            let id = RunId::new(r.get::<_, String>(0)).ok()?;
            Some((
                id,
                r.get::<_, i32>(1) as u32,
                Some(r.get::<_, i32>(2) as u32),
                r.get(3),
            ))
        })
        .collect())
}

/// Gives back the item claims among `claims`: ready for another worker at once.
pub(crate) async fn release(
    store: &PostgresStore,
    client: &Object,
    claims: &[Hold],
) -> StoreResult<()> {
    let (ids, nodes, items, tokens) = columns(claims);
    if ids.is_empty() {
        return Ok(());
    }
    client
        .execute(
            concat!(
                held_items!(),
                "UPDATE pipeline_fleet_items i SET state = 'ready', worker = NULL, \
                 lease_expires_at = NULL, not_before = now() \
                 FROM held WHERE i.run_id = held.run_id AND i.node = held.node \
                   AND i.item = held.item"
            ),
            &[&ids, &nodes, &items, &tokens],
        )
        .await
        .map_err(store.error("release leases in"))?;
    Ok(())
}

/// Locks (in key order) the item rows of `claims` still running under them; returns those.
pub(crate) async fn fence(
    store: &PostgresStore,
    tx: &Transaction<'_>,
    claims: &[Hold],
) -> StoreResult<HashSet<(String, u32, u32)>> {
    let (ids, nodes, items, tokens) = columns(claims);
    if ids.is_empty() {
        return Ok(HashSet::new());
    }
    let rows = tx
        .query(
            &store
                .prepared(
                    tx,
                    concat!(held_items!(), "SELECT run_id, node, item FROM held"),
                )
                .await?,
            &[&ids, &nodes, &items, &tokens],
        )
        .await
        .map_err(store.error("write to"))?;
    Ok(rows
        .iter()
        .map(|r| {
            (
                r.get(0),
                r.get::<_, i32>(1) as u32,
                r.get::<_, i32>(2) as u32,
            )
        })
        .collect())
}

/// A failed item from the columns `at` of `row`: its index, error and attempts.
pub(super) fn failed_item(row: &tokio_postgres::Row, at: [usize; 3]) -> ItemFailure {
    ItemFailure {
        index: row.get::<_, i32>(at[0]).max(0) as u32,
        error: row.get(at[1]),
        attempts: row.get::<_, i32>(at[2]).max(1) as u32,
    }
}
