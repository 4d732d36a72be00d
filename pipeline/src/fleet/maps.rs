//! Nodes mapped over a list (`each`) on a fleet. A mapped node's row is claimed once, to check
//! its gate and measure its list: that worker *opens* the map, one row per item in
//! `pipeline_fleet_items` (claimed as units: `items`). Each item runs with retries of its own
//! and commits with its own checkpoint record and audit entry. At most the node's
//! `max_in_flight` items are ready or running at once, across every worker: the rest wait
//! `pending`, and each item that ends lets the next one in. The node resolves when none of its
//! items is left: how, the run's state machine says (`machine::map_outcome`); a run that stops
//! starts none of its pending items.
//!
//! A resumed run keeps the item records whose item (by digest, at the same place in a list of
//! the same length) is still in the list, and runs only the others.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use deadpool_postgres::Transaction;

use super::apply::{ClaimEnd, RunRows};
use super::claim::millis;
use super::map_rows::{ItemEnd, MapRow};
use super::resolution::Item;
use crate::event::EventHandler;
use crate::graph::ServedGraph;
use crate::machine::{self, Decision, Event, Outcome};
use crate::result::{ItemFailure, NodeFailure};
use crate::run_id::RunId;
use crate::store::{PostgresStore, StoreResult};

/// What a map opens with: its node, its list's length, each item's digest, its window.
pub(crate) struct Opening<'a> {
    pub run_id: &'a str,
    pub node: u32,
    pub node_id: &'a str,
    pub fingerprint: &'a str,
    pub digests: &'a [Option<String>],
    pub limit: u32,
}

/// Opens a map (its node row is locked): the item records that no longer match the list are
/// removed, the others kept (their items completed); one row per item, the first `limit`
/// missing ones ready and the rest pending. Returns how many items are left to run.
pub(crate) async fn open(
    store: &PostgresStore,
    tx: &Transaction<'_>,
    map: &Opening<'_>,
) -> StoreResult<i32> {
    let err = || store.error("write to");
    let of = i32::try_from(map.digests.len()).unwrap_or(i32::MAX);
    let node = map.node as i32;
    tx.execute(
        "DELETE FROM pipeline_node_records r WHERE r.run_id = $1 AND r.node = $2 AND r.item >= 0 \
         AND (r.items IS DISTINCT FROM $3 OR r.item >= $3 OR r.item_digest IS NULL \
              OR r.item_digest IS DISTINCT FROM ($4::text[])[r.item + 1])",
        &[&map.run_id, &map.node_id, &of, &map.digests],
    )
    .await
    .map_err(err())?;
    let kept = tx
        .query(
            "SELECT item FROM pipeline_node_records WHERE run_id = $1 AND node = $2 AND item >= 0",
            &[&map.run_id, &map.node_id],
        )
        .await
        .map_err(err())?;
    let kept: HashSet<i32> = kept.iter().map(|r| r.get(0)).collect();
    let mut states: Vec<&str> = Vec::with_capacity(map.digests.len());
    let mut window = 0;
    for item in 0..of {
        states.push(match kept.contains(&item) {
            true => "completed",
            false if window < map.limit => {
                window += 1;
                "ready"
            }
            false => "pending",
        });
    }
    let indexes: Vec<i32> = (0..of).collect();
    tx.execute(
        "DELETE FROM pipeline_fleet_items WHERE run_id = $1 AND node = $2",
        &[&map.run_id, &node],
    )
    .await
    .map_err(err())?;
    tx.execute(
        "INSERT INTO pipeline_fleet_items (run_id, node, item, fingerprint, state, attempt, \
             attempts_before, credit_ms) \
         SELECT $1, $2, t.i, $3, t.s, coalesce(p.b[t.i + 1], 0) + 1, coalesce(p.b[t.i + 1], 0), p.c \
         FROM unnest($4::int[], $5::text[]) AS t (i, s) \
         CROSS JOIN (SELECT item_attempts_before AS b, credit_ms AS c FROM pipeline_fleet_nodes \
                     WHERE run_id = $1 AND node = $2) AS p",
        &[&map.run_id, &node, &map.fingerprint, &indexes, &states],
    )
    .await
    .map_err(err())?;
    let left = of - kept.len() as i32;
    tx.execute(
        "UPDATE pipeline_fleet_nodes SET items = $3, items_left = $4, started_at = now() \
         WHERE run_id = $1 AND node = $2",
        &[&map.run_id, &node, &of, &left],
    )
    .await
    .map_err(err())?;
    Ok(left)
}

/// Writes how the items of this commit ended their claims.
pub(crate) async fn end(
    store: &PostgresStore,
    tx: &Transaction<'_>,
    worker: &str,
    ends: &[ItemEnd<'_>],
) -> StoreResult<()> {
    if ends.is_empty() {
        return Ok(());
    }
    let ids: Vec<&str> = ends.iter().map(|e| e.run_id).collect();
    let nodes: Vec<i32> = ends.iter().map(|e| e.node as i32).collect();
    let items: Vec<i32> = ends.iter().map(|e| e.item as i32).collect();
    let states: Vec<&str> = ends.iter().map(|e| e.state).collect();
    let delays: Vec<Option<f64>> = ends.iter().map(|e| e.delay.map(millis)).collect();
    let errors: Vec<Option<&str>> = ends.iter().map(|e| e.error).collect();
    tx.execute(
        &store.prepared(tx, "UPDATE pipeline_fleet_items i SET state = u.state, worker = $7, lease_expires_at = NULL, \
         error = u.error, attempt = i.attempt + (u.state = 'ready')::int, \
         not_before = CASE WHEN u.delay IS NULL THEN i.not_before \
                           ELSE now() + make_interval(secs => u.delay / 1000.0) END \
         FROM unnest($1::text[], $2::int[], $3::int[], $4::text[], $5::float8[], $6::text[]) \
              AS u (run_id, node, item, state, delay, error) \
         WHERE i.run_id = u.run_id AND i.node = u.node AND i.item = u.item").await?,
        &[&ids, &nodes, &items, &states, &delays, &errors, &worker],
    )
    .await
    .map_err(store.error("write to"))?;
    Ok(())
}

/// The open maps among node rows `keys` (locked already), by run and node.
pub(crate) async fn read(
    store: &PostgresStore,
    tx: &Transaction<'_>,
    keys: &[(&str, u32)],
) -> StoreResult<BTreeMap<(String, u32), MapRow>> {
    let ids: Vec<&str> = keys.iter().map(|k| k.0).collect();
    let nodes: Vec<i32> = keys.iter().map(|k| k.1 as i32).collect();
    let rows = tx
        .query(
            "SELECT n.run_id, n.node, n.items, n.items_left, n.fail_fast \
             FROM pipeline_fleet_nodes n JOIN unnest($1::text[], $2::int[]) AS k (run_id, node) \
               ON n.run_id = k.run_id AND n.node = k.node \
             WHERE n.state = 'running' AND n.items IS NOT NULL",
            &[&ids, &nodes],
        )
        .await
        .map_err(store.error("read"))?;
    Ok(rows
        .iter()
        .map(|r| {
            let map = MapRow {
                of: r.get::<_, i32>(2).max(0) as u32,
                left: r.get::<_, Option<i32>>(3).unwrap_or(0),
                fail_fast: r.get(4),
                ended: 0,
                resolved: false,
                changed: false,
            };
            ((r.get(0), r.get::<_, i32>(1) as u32), map)
        })
        .collect())
}

/// The run stopped: the items of its open maps that have not started do not start (an item
/// waiting for its retry goes on, as in one process). Returns how many stopped per map node.
pub(crate) async fn stop(
    store: &PostgresStore,
    tx: &Transaction<'_>,
    run_id: &str,
) -> StoreResult<HashMap<u32, i32>> {
    let rows = tx
        .query(
            "UPDATE pipeline_fleet_items SET state = 'not_run' WHERE run_id = $1 \
             AND (state = 'pending' OR (state = 'ready' AND attempt = attempts_before + 1)) \
             RETURNING node",
            &[&run_id],
        )
        .await
        .map_err(store.error("write to"))?;
    let mut stopped = HashMap::new();
    for row in rows {
        *stopped.entry(row.get::<_, i32>(0) as u32).or_default() += 1;
    }
    Ok(stopped)
}

/// A map none of whose items is left: its failed items (in item order), how many never ran,
/// and how long it took since it opened.
pub(crate) async fn ended(
    store: &PostgresStore,
    tx: &Transaction<'_>,
    run_id: &str,
    node: u32,
) -> StoreResult<(Vec<ItemFailure>, usize, Duration)> {
    let took = tx
        .query_one(
            "SELECT coalesce(extract(epoch FROM now() - started_at)::float8, 0) \
             FROM pipeline_fleet_nodes WHERE run_id = $1 AND node = $2",
            &[&run_id, &(node as i32)],
        )
        .await
        .map_err(store.error("read"))?;
    let took = Duration::try_from_secs_f64(took.get(0)).unwrap_or_default();
    let rows = tx
        .query(
            "SELECT item, state, coalesce(error, ''), attempt FROM pipeline_fleet_items \
             WHERE run_id = $1 AND node = $2 AND state IN ('failed', 'not_run') ORDER BY item",
            &[&run_id, &(node as i32)],
        )
        .await
        .map_err(store.error("read"))?;
    let mut failed = Vec::new();
    let mut unrun = 0;
    for row in rows {
        match row.get::<_, &str>(1) {
            "failed" => failed.push(super::items::failed_item(&row, [0, 2, 3])),
            _ => unrun += 1,
        }
    }
    Ok((failed, unrun, took))
}

/// Writes the maps' counts back, and lets as many pending items in as items ended (none once
/// the run stopped: its pending items are not run already).
pub(crate) async fn write(
    store: &PostgresStore,
    tx: &Transaction<'_>,
    maps: &BTreeMap<(String, u32), MapRow>,
) -> StoreResult<()> {
    let changed = || maps.iter().filter(|(_, m)| m.changed);
    let ids: Vec<&str> = changed().map(|((r, _), _)| r.as_str()).collect();
    if ids.is_empty() {
        return Ok(());
    }
    let nodes: Vec<i32> = changed().map(|((_, n), _)| *n as i32).collect();
    let left: Vec<i32> = changed().map(|(_, m)| m.left).collect();
    let ended: Vec<i32> = changed().map(|(_, m)| m.ended).collect();
    let err = || store.error("write to");
    tx.execute(
        &store
            .prepared(
                tx,
                "UPDATE pipeline_fleet_nodes n SET items_left = u.items_left \
         FROM unnest($1::text[], $2::int[], $3::int[]) AS u (run_id, node, items_left) \
         WHERE n.run_id = u.run_id AND n.node = u.node",
            )
            .await?,
        &[&ids, &nodes, &left],
    )
    .await
    .map_err(err())?;
    let let_in = tx
        .execute(
            &store
                .prepared(
                    tx,
                    "UPDATE pipeline_fleet_items i SET state = 'ready', not_before = now() \
             FROM (SELECT p.run_id, p.node, p.item \
                   FROM unnest($1::text[], $2::int[], $3::int[]) AS u (run_id, node, k) \
                   CROSS JOIN LATERAL (SELECT x.run_id, x.node, x.item FROM pipeline_fleet_items x \
                       WHERE x.run_id = u.run_id AND x.node = u.node AND x.state = 'pending' \
                       ORDER BY x.item LIMIT u.k) p) q \
             WHERE i.run_id = q.run_id AND i.node = q.node AND i.item = q.item",
                )
                .await?,
            &[&ids, &nodes, &ended],
        )
        .await
        .map_err(err())?;
    if let_in > 0 {
        super::due::notify_ready(store, tx).await?;
    }
    Ok(())
}

/// The runs a commit stopped, and what the event handler hears once it is committed: the nodes
/// skipped because a node of the batch did not complete, the maps that resolved.
#[derive(Default)]
pub(super) struct After<'a> {
    stopped: Vec<&'a RunId>,
    skipped: Vec<(&'a RunId, &'a str)>,
    maps: Vec<(&'a RunId, &'a str, MapEnded)>,
}

/// How a map ended, as its event handler hears it: completed after this long, or failed after
/// these attempts with this error.
type MapEnded = Result<Duration, (u32, String)>;

impl<'a> After<'a> {
    pub fn decided(&mut self, run_id: &'a RunId, graph: &'a dyn ServedGraph, decision: &Decision) {
        let nodes = graph.nodes();
        for &node in &decision.skipped {
            if let Some(skipped) = nodes.get(node as usize) {
                self.skipped.push((run_id, &*skipped.id));
            }
        }
        if decision.stop.is_some() {
            self.stopped.push(run_id);
        }
    }

    pub fn tell(self, events: &dyn EventHandler) {
        for (run_id, node) in self.skipped {
            events.on_node_skip(run_id, node);
        }
        for (run_id, node, ended) in self.maps {
            match ended {
                Ok(took) => events.on_node_complete(run_id, node, 1, took),
                Err((attempts, error)) => events.on_node_fail(run_id, node, attempts, &error),
            }
        }
    }
}

/// Stops the items of the runs this commit stopped, and resolves the maps none of whose items
/// is left, until neither follows from the other (a map that fails may stop its run).
pub(super) async fn end_maps<'a>(
    store: &PostgresStore,
    tx: &Transaction<'_>,
    written: &[&'a Item],
    runs: &mut BTreeMap<String, RunRows>,
    maps: &mut BTreeMap<(String, u32), MapRow>,
    after: &mut After<'a>,
) -> StoreResult<()> {
    let mut stopped_at = 0;
    loop {
        for &run_id in &after.stopped[stopped_at..] {
            let id = run_id.as_str();
            for (node, count) in stop(store, tx, id).await? {
                let key = (id.to_owned(), node);
                if !maps.contains_key(&key) {
                    maps.extend(read(store, tx, &[(id, node)]).await?);
                }
                if let Some(map) = maps.get_mut(&key) {
                    map.left -= count;
                    map.changed = true;
                }
            }
        }
        stopped_at = after.stopped.len();
        let done: Vec<(String, u32)> = maps
            .iter()
            .filter(|(_, m)| m.left <= 0 && !m.resolved)
            .map(|(key, _)| key.clone())
            .collect();
        if done.is_empty() {
            return Ok(());
        }
        for (run_id, node) in done {
            let Some(item) = written.iter().find(|i| i.claimed.run_id.as_str() == run_id) else {
                continue;
            };
            let (Some(map), Some(rows)) =
                (maps.get_mut(&(run_id.clone(), node)), runs.get_mut(&run_id))
            else {
                continue;
            };
            map.resolved = true;
            let (failed, unrun, took) = ended(store, tx, &run_id, node).await?;
            let outcome = machine::map_outcome(failed.len(), unrun, map.fail_fast);
            let graph = &*item.graph;
            let event = Event::Ended { node, outcome };
            let decision = rows.decide(store, tx, &run_id, graph, event).await?;
            after.decided(&item.claimed.run_id, graph, &decision);
            let Some(id) = graph.nodes().get(node as usize).map(|n| &*n.id) else {
                continue;
            };
            let mut end = ClaimEnd::default();
            match outcome {
                Outcome::Completed => after.maps.push((&item.claimed.run_id, id, Ok(took))),
                Outcome::Failed { .. } => {
                    let failure = NodeFailure::of_items(map.of, failed);
                    let told = Err((failure.attempts, failure.error.clone()));
                    after.maps.push((&item.claimed.run_id, id, told));
                    end.error = Some(failure.error);
                }
                _ => {}
            }
            rows.end_claim(node, end);
        }
    }
}
