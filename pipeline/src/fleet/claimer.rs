//! Claiming: a worker's own connection to the queue, and the one statement that claims ready
//! nodes and items under a lease, in the order a takeover needs (what lapsed first).
//!
//! The connection is the worker's alone, taken out of the pool, so its session is set up once for
//! the claim: a claim is then one statement, one round trip (it was four: `BEGIN`, the planner's
//! settings, the claim, `COMMIT`). Limited nodes are claimed in a transaction on it (their room is
//! read and reserved with their claim).

use std::time::Duration;

use deadpool_postgres::ClientWrapper;

use super::claim::{Claimed, millis};
use super::items;
use super::limits::{Limited, limited_filter};
use crate::node::MapItem;
use crate::run_id::RunId;
use crate::store::postgres::Prepare;
use crate::store::{PostgresStore, StoreResult};

/// The claim connection's session: a claim lost to a server crash is only claimed again (claim
/// numbers come from a sequence, never handed out twice), so it need not wait for the disk; and
/// the planner walks the partial indexes in order, stopping at the limit (with a queue's
/// statistics, rows turning over faster than ANALYZE sees them, it would bitmap-scan and sort
/// every ready row on each claim). Its plan is made once: the same index scans serve every
/// claim, and planning it anew for each one's values took a third of its time. Only the claim's
/// statements run on this connection.
const SESSION: &str = "SET synchronous_commit = off; SET enable_bitmapscan = off; \
                       SET enable_sort = off; SET enable_seqscan = off; \
                       SET plan_cache_mode = force_generic_plan";

/// One statement, up to the limit `$3`: what lapsed first (node rows, then items), then ready
/// node rows, then ready items of open maps. Each is an index scan in order that stops at its
/// limit, never a scan of a whole table: the partial indexes on `state` serve them. The last row
/// says when the next node left is due (`due::next_due`).
const CLAIM: &str = concat!(
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
);

/// A worker's claims, on a connection of its own (opened at the first claim, and again after an
/// error: the server may have restarted).
#[derive(Default)]
pub(crate) struct Claimer {
    client: Option<ClientWrapper>,
}

impl Claimer {
    /// Opens the claim connection when it is not open (the first claim, or one after an error).
    /// A worker opens it before it starts a claim's lease clock: a claim's lease starts on the
    /// server, and the worker counts it from before the claim was sent.
    pub async fn open(&mut self, store: &PostgresStore) -> StoreResult<&mut ClientWrapper> {
        let client = match self.client.take() {
            Some(client) if !client.is_closed() => client,
            _ => connect(store).await?,
        };
        Ok(self.client.insert(client))
    }

    /// Claims up to `limit` ready nodes of the pipelines `fingerprints` name, or running nodes
    /// whose lease expired (their worker died), each under a lease of `lease`; `limited` nodes
    /// only within their limits and rates. Also returns when the next ready node of the others
    /// left becomes claimable, if one waits for its time.
    pub async fn claim(
        &mut self,
        store: &PostgresStore,
        args: &ClaimArgs<'_>,
        limit: usize,
        limited: &[Limited],
    ) -> StoreResult<(Vec<Claimed>, Option<Duration>)> {
        let client = self.open(store).await?;
        let claimed = match limited.is_empty() {
            true => claim_in(store, client, args, limit, None, &[]).await,
            false => claim_limited(store, client, args, limit, limited).await,
        };
        if claimed.is_err() {
            self.client = None; // a broken connection is opened again; a sound one costs little
        }
        let claimed = claimed?;
        crate::metrics::fleet_taken_over(claimed.0.iter().filter(|c| c.lapsed).count() as u64);
        Ok(claimed)
    }
}

/// A connection taken out of the pool (its session settings never reach another user), set up
/// for claiming.
async fn connect(store: &PostgresStore) -> StoreResult<ClientWrapper> {
    let client = deadpool_postgres::Object::take(store.client().await?);
    // The pool keeps one connection of its own ready: the nodes claimed read their runs on it,
    // under their leases, without connecting first.
    drop(store.client().await?);
    client
        .batch_execute(SESSION)
        .await
        .map_err(store.error("claim nodes in"))?;
    Ok(client)
}

/// Claims with limited nodes among those served: the others first, in one statement, then each
/// limited node within the room its limit and rate leave, reserved in the same transaction.
async fn claim_limited(
    store: &PostgresStore,
    client: &mut ClientWrapper,
    args: &ClaimArgs<'_>,
    limit: usize,
    limited: &[Limited],
) -> StoreResult<(Vec<Claimed>, Option<Duration>)> {
    let tx = client
        .transaction()
        .await
        .map_err(store.error("claim nodes in"))?;
    // The server's `now()` is the time BEGIN started, at or before this instant: a turn reserved
    // `wait` after it is due at or before `begun + wait`, so starting then is never early.
    let begun = tokio::time::Instant::now();
    let excluded: Vec<String> = limited.iter().map(Limited::key).collect();
    let (mut claimed, due) = claim_in(store, &tx, args, limit, None, &excluded).await?;
    for node in limited {
        let free = limit.saturating_sub(claimed.len());
        if free == 0 {
            break;
        }
        let (room, wait) = super::limits::room(store, &tx, node).await?;
        let key = node.key();
        let (mut within, _) = claim_in(store, &tx, args, free.min(room), Some(&key), &[]).await?;
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
    Ok((claimed, due))
}

/// Who claims, what it serves, and for how long.
pub(crate) struct ClaimArgs<'a> {
    pub worker: &'a str,
    pub fingerprints: &'a [String],
    pub lease: Duration,
}

/// The claim statement on `client` (the claim connection, or a transaction on it): up to `limit`
/// node rows and items, of the node `only` names (`fingerprint/node`) when given, never of those
/// `excluded` names.
async fn claim_in<C>(
    store: &PostgresStore,
    client: &C,
    args: &ClaimArgs<'_>,
    limit: usize,
    only: Option<&str>,
    excluded: &[String],
) -> StoreResult<(Vec<Claimed>, Option<Duration>)>
where
    C: Prepare + std::ops::Deref + Sync,
    C::Target: tokio_postgres::GenericClient,
{
    if limit == 0 {
        return Ok((Vec::new(), None));
    }
    let statement = store.prepared(client, CLAIM).await?;
    let rows = tokio_postgres::GenericClient::query(
        &**client,
        &statement,
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
