//! Resolving claimed nodes: a batch of them in one transaction, each fenced by its claim, with
//! its checkpoint record, its audit entry, its dependents' readiness and, for a run's last node,
//! the run's end. Cancelling a run is in `cancel`.
//!
//! Rows are locked in one order everywhere (node rows by `(run_id, node)`, then run rows by
//! `run_id`), so batches of different workers never deadlock on each other; a deadlock the
//! server still reports (with a fail-fast stop or a cancel) rolls the batch back and the worker
//! commits it again.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use deadpool_postgres::Transaction;
use tokio::sync::{mpsc, oneshot};

use super::apply::{self, ClaimEnd, RunRows};
use super::claim::Hold;
use super::map_rows::{ItemEnd, MapRow};
use super::maps::{After, Opening, end_maps};
use super::queue::{DONE, retried};
use super::read::node_states;
use super::records::{insert_entries, insert_records};
use super::resolution::{Item, Resolution, Resolved};
use crate::call::guard::GuardedEvents;
use crate::event::EventHandler;
use crate::machine::{self, Event, NodeState, Phase};
use crate::result::RunStatus;
use crate::store::{PostgresStore, RunSummary, StoreResult};

/// Resolves `items` in one transaction; one answer per item, in order. The node rows of the
/// claims and of the maps whose items are claimed are locked in key order (as the heartbeat
/// locks them), then the claimed item rows; each item is an event the run's state machine
/// decides, reading the rows it needs; the rows it changed are written back, with the records
/// and audit entries of the items, and the runs whose last node resolved end. Once committed,
/// `events` hears of the nodes skipped because a node of the batch failed or was skipped, and
/// of the maps whose last item resolved. `room`: how many ready nodes the worker claims itself
/// once the commit is in (others are woken for the rest).
pub(crate) async fn resolve(
    store: &PostgresStore,
    worker: &str,
    items: &[Item],
    events: &dyn EventHandler,
    room: usize,
) -> StoreResult<Vec<Resolved>> {
    let mut client = store.client().await?;
    let err = |op| store.error(op);
    let tx = client.transaction().await.map_err(err("write to"))?;
    let mut keys: Vec<(&str, u32)> = items
        .iter()
        .map(|i| (i.claimed.run_id.as_str(), i.claimed.node))
        .collect();
    keys.sort_unstable();
    keys.dedup();
    let ids: Vec<&str> = keys.iter().map(|k| k.0).collect();
    let nodes: Vec<i32> = keys.iter().map(|k| k.1 as i32).collect();
    // The rows the resolved nodes' dependents are in: most decisions need no others (a skip or a
    // stop reads more as it goes). Read with the claims' own rows, in the statement after theirs,
    // whether the claims are still held or not: the statements go out together, one round trip.
    let mut dependents: Vec<(&str, u32)> = Vec::new();
    for item in items
        .iter()
        .filter(|i| i.claimed.item.is_none() && !i.resolution.again())
    {
        let node = item.claimed.node;
        if (node as usize) < item.graph.node_count() {
            let run_id = item.claimed.run_id.as_str();
            dependents.extend(item.graph.downstream_of(node).iter().map(|&d| (run_id, d)));
        }
    }
    dependents.sort_unstable();
    dependents.dedup();
    let holds: Vec<Hold> = items
        .iter()
        .filter_map(|i| {
            let c = &i.claimed;
            Some((c.run_id.clone(), c.node, Some(c.item?.index), c.claim))
        })
        .collect();
    // The claimed rows are this worker's alone (no other batch writes them). A wait that begins
    // is due at once when a signal for it was stored meanwhile: the signal's transaction sets
    // `signalled` under the row's lock.
    let lock = async {
        let statement = store.prepared(&tx, LOCK_CLAIMED).await?;
        tx.query(&statement, &[&ids, &nodes])
            .await
            .map_err(err("write to"))
    };
    let (locked, items_kept, dependents) = tokio::try_join!(
        lock,
        super::items::fence(store, &tx, &holds),
        apply::read(store, &tx, &dependents),
    )?;
    let claims: HashMap<(&str, u32), i64> = items
        .iter()
        .filter(|i| i.claimed.item.is_none())
        .map(|i| ((i.claimed.run_id.as_str(), i.claimed.node), i.claimed.claim))
        .collect();
    let mut runs: BTreeMap<String, RunRows> = BTreeMap::new();
    let mut maps: BTreeMap<(String, u32), MapRow> = BTreeMap::new();
    let mut signalled: HashSet<(String, u32)> = HashSet::new();
    let mut kept: HashSet<(String, u32)> = HashSet::new();
    for row in &locked {
        let (run_id, node): (String, u32) = (row.get(0), row.get::<_, i32>(1) as u32);
        let state = NodeState {
            phase: Phase::Running,
            unresolved: u32::try_from(row.get::<_, i32>(5)).unwrap_or(0),
            blocked: row.get(6),
        };
        let held = claims.get(&(run_id.as_str(), node)) == Some(&row.get(2));
        if held && row.get(3) {
            kept.insert((run_id.clone(), node));
            runs.entry(run_id.clone()).or_default().claimed(node, state);
        }
        if row.get(7) {
            runs.entry(run_id.clone()).or_default().claimed(node, state);
            let map = MapRow::new(row.get(8), row.get(9), row.get(10));
            maps.insert((run_id.clone(), node), map);
        }
        if row.get(4) {
            signalled.insert((run_id, node));
        }
    }
    // An item's claim is kept when its row is still running under it and its map still open.
    let is_kept: Vec<bool> = items
        .iter()
        .map(|i| {
            let key = (i.claimed.run_id.as_str().to_owned(), i.claimed.node);
            match i.claimed.item {
                None => kept.contains(&key),
                Some(item) => {
                    maps.contains_key(&key) && items_kept.contains(&(key.0, key.1, item.index))
                }
            }
        })
        .collect();
    let written: Vec<&Item> = items
        .iter()
        .zip(&is_kept)
        .filter_map(|(item, &kept)| kept.then_some(item))
        .collect();
    for (run_id, node, state) in dependents {
        if let Some(rows) = runs.get_mut(&run_id) {
            rows.states.entry(node).or_insert(state);
        }
    }
    let mut after = After::default();
    let mut ends: Vec<ItemEnd<'_>> = Vec::new();
    for item in &written {
        let (run_id, node) = (item.claimed.run_id.as_str(), item.claimed.node);
        let Some(rows) = runs.get_mut(run_id) else {
            continue;
        };
        let event = match (&item.resolution, item.claimed.item) {
            (Resolution::Open { digests, limit }, _) => {
                let opening = Opening {
                    run_id,
                    node,
                    node_id: &item.graph.nodes()[node as usize].id,
                    fingerprint: &item.claimed.fingerprint,
                    digests,
                    limit: *limit,
                };
                let left = super::maps::open(store, &tx, &opening).await?;
                let of = i32::try_from(digests.len()).ok();
                let map = MapRow::new(of, Some(left), item.claimed.fail_fast);
                maps.insert(
                    (run_id.to_owned(), node),
                    MapRow {
                        changed: true,
                        ..map
                    },
                );
                rows.end_claim(node, ClaimEnd::default());
                continue;
            }
            (resolution, Some(mapped)) => {
                let end = ItemEnd::of(run_id, node, mapped.index, resolution);
                let Some(end) = end else { continue };
                let map = maps.get_mut(&(run_id.to_owned(), node));
                if let (Some(map), true) = (map, end.state != "ready") {
                    map.item_ended();
                }
                let failed = end.state == "failed";
                ends.push(end);
                match failed {
                    true => Event::ItemFailed {
                        node,
                        stops: item.claimed.fail_fast,
                    },
                    false => continue,
                }
            }
            (resolution, None) => {
                let signalled = signalled.contains(&(run_id.to_owned(), node));
                resolution.event(node, item.claimed.fail_fast, signalled)
            }
        };
        let decision = rows.decide(store, &tx, run_id, &*item.graph, event).await?;
        after.decided(&item.claimed.run_id, &*item.graph, &decision);
        if item.claimed.item.is_none() {
            rows.end_claim(node, item.resolution.claim_end());
        }
    }
    super::maps::end(store, &tx, worker, &ends).await?;
    end_maps(store, &tx, &written, &mut runs, &mut maps, &mut after).await?;
    super::maps::write(store, &tx, &maps).await?;
    let per_run: BTreeMap<&str, i32> = runs
        .iter()
        .filter(|(_, rows)| rows.resolved > 0)
        .map(|(id, rows)| (id.as_str(), rows.resolved))
        .collect();
    // Independent writes (the node rows, the records, the entries, the runs' counts), sent
    // together: one round trip.
    let ((), (), (), ended) = tokio::try_join!(
        apply::write(store, &tx, worker, &runs, room),
        insert_records(store, &tx, &written),
        insert_entries(store, &tx, worker, &written),
        count_down(store, &tx, &per_run),
    )?;
    // A wait that began may leave its run waiting: its waiters look again.
    let mut waits: Vec<&str> = written
        .iter()
        .filter(|i| matches!(i.resolution, Resolution::Begin { .. }))
        .map(|i| i.claimed.run_id.as_str())
        .collect();
    waits.dedup();
    for run_id in waits {
        tx.execute(
            &store.prepared(&tx, "SELECT pg_notify($1, $2)").await?,
            &[&DONE, &run_id],
        )
        .await
        .map_err(err("write to"))?;
    }
    // The keys of the runs that end, locked in one order before their queues move.
    if !ended.is_empty() {
        let ids: Vec<&str> = ended.iter().map(String::as_str).collect();
        super::limits::lock_keys_of(store, &tx, &ids).await?;
    }
    let mut finished = Vec::new();
    for run in &ended {
        let Some(item) = written.iter().find(|i| i.claimed.run_id.as_str() == run) else {
            continue;
        };
        finished.push((item, finish(store, &tx, item).await?));
    }
    tx.commit().await.map_err(err("write to"))?;
    for item in &written {
        item.record_metrics();
    }
    for (item, status) in finished {
        crate::metrics::run_ended(&item.pipeline, status.code());
        let (trace, run_id) = (item.trace.as_ref(), &item.claimed.run_id);
        crate::trace::run_ended(
            trace,
            &item.pipeline,
            run_id,
            item.started_at_ms,
            status.code(),
        );
    }
    // Heard once committed (a fenced claim kept nothing to hear of): each unit's own event,
    // then what followed from them.
    for item in &written {
        if let Some(node) = item.graph.nodes().get(item.claimed.node as usize) {
            item.heard.tell(events, &item.claimed.run_id, &node.id);
        }
    }
    after.tell(events);
    Ok(items
        .iter()
        .zip(is_kept)
        .map(|(i, kept)| match kept {
            false => Resolved::Fenced,
            true => Resolved::Done {
                ended: !i.resolution.again() && ended.contains(i.claimed.run_id.as_str()),
            },
        })
        .collect())
}

/// Counts the resolved nodes off each run (run rows locked in key order: the commits of one run
/// serialize here, and exactly one of them sees its count reach zero); returns the runs that
/// ended.
async fn count_down(
    store: &PostgresStore,
    tx: &Transaction<'_>,
    per_run: &BTreeMap<&str, i32>,
) -> StoreResult<std::collections::HashSet<String>> {
    if per_run.is_empty() {
        return Ok(Default::default());
    }
    // One run (a chain's commit): no order to keep, and a statement planned in a tenth of the
    // time of the one for many.
    if let [(run_id, count)] = per_run.iter().collect::<Vec<_>>()[..] {
        let statement = store
            .prepared(
                tx,
                "UPDATE pipeline_fleet_runs SET remaining = remaining - $2 WHERE run_id = $1 \
                 RETURNING run_id, remaining",
            )
            .await?;
        let row = tx
            .query_opt(&statement, &[run_id, count])
            .await
            .map_err(store.error("write to"))?;
        return Ok(row
            .filter(|r| r.get::<_, i32>(1) <= 0)
            .map(|r| r.get(0))
            .into_iter()
            .collect());
    }
    let ids: Vec<&str> = per_run.keys().copied().collect();
    let counts: Vec<i32> = per_run.values().copied().collect();
    let rows = tx
        .query(
            &store
                .prepared(
                    &tx,
                    "WITH locked AS (SELECT run_id FROM pipeline_fleet_runs WHERE run_id = ANY($1) \
                             ORDER BY run_id FOR UPDATE) \
             UPDATE pipeline_fleet_runs r SET remaining = r.remaining - c.count \
             FROM unnest($1::text[], $2::int[]) AS c (run_id, count), locked \
             WHERE r.run_id = c.run_id AND locked.run_id = r.run_id \
             RETURNING r.run_id, r.remaining",
                )
                .await?,
            &[&ids, &counts],
        )
        .await
        .map_err(store.error("write to"))?;
    Ok(rows
        .iter()
        .filter(|r| r.get::<_, i32>(1) <= 0)
        .map(|r| r.get(0))
        .collect())
}

/// Ends a run whose last node just resolved: its state, its summary, and a notification for
/// its waiters.
/// Ends `item`'s run (its last node was resolved); returns the status it ended with.
async fn finish(
    store: &PostgresStore,
    tx: &Transaction<'_>,
    item: &Item,
) -> StoreResult<RunStatus> {
    let run_id = &item.claimed.run_id;
    let phases = node_states(store, tx, run_id).await?;
    // Every node is resolved: no wait is suspended, so the run failed or completed.
    let status = machine::run_status(phases.values().copied());
    let nodes = phases.into_iter().map(|(id, p)| (id, p.status())).collect();
    tx.execute(
        &store
            .prepared(
                &tx,
                "UPDATE pipeline_fleet_runs SET state = $2, ended_at = now() WHERE run_id = $1",
            )
            .await?,
        &[&run_id.as_str(), &status.to_string()],
    )
    .await
    .map_err(store.error("write to"))?;
    let summary = RunSummary {
        run_id: run_id.clone(),
        pipeline: item.pipeline.clone(),
        status: Some(status),
        started_at_ms: item.started_at_ms,
        updated_at_ms: crate::store::now_ms(),
        nodes,
        restored: Vec::new(),
        resumed_at_ms: None,
    };
    // A resumed run's summary says when it was resumed (`reopen` wrote it): the end keeps it,
    // in the same statement (the summary being replaced is read only when it holds one).
    let bytes = serde_json::to_vec(&summary).map_err(crate::store::StoreError::Encode)?;
    tx.execute(
        &store
            .prepared(
                &tx,
                "INSERT INTO pipeline_run_summaries AS s (run_id, summary) VALUES ($1, $2) \
         ON CONFLICT (run_id) DO UPDATE SET summary = CASE \
           WHEN position('\"resumed_at_ms\"'::bytea IN s.summary) = 0 THEN EXCLUDED.summary \
           ELSE convert_to((convert_from(EXCLUDED.summary, 'UTF8')::jsonb || jsonb_build_object(\
             'resumed_at_ms', convert_from(s.summary, 'UTF8')::jsonb -> 'resumed_at_ms'))::text, \
             'UTF8') END",
            )
            .await?,
        &[&run_id.as_str(), &bytes],
    )
    .await
    .map_err(store.error("write to"))?;
    tx.execute(
        &store.prepared(&tx, "SELECT pg_notify($1, $2)").await?,
        &[&DONE, &run_id.as_str()],
    )
    .await
    .map_err(store.error("write to"))?;
    // Its end lets queued runs of its key in.
    super::limits::admit_after(store, tx, run_id.as_str()).await?;
    Ok(status)
}

/// Locks the claimed node rows `$1` (runs), `$2` (nodes) in key order, with what a commit needs of
/// them.
const LOCK_CLAIMED: &str = "SELECT n.run_id, n.node, n.claim, \
    n.state = 'running' AND n.lease_expires_at IS NOT NULL, n.signalled, n.waiting, n.blocked, \
    n.state = 'running' AND n.items IS NOT NULL, n.items, n.items_left, n.fail_fast \
    FROM pipeline_fleet_nodes n \
    JOIN unnest($1::text[], $2::int[]) AS k (run_id, node) \
      ON n.run_id = k.run_id AND n.node = k.node \
    ORDER BY n.run_id, n.node FOR UPDATE OF n";

/// The most resolutions one commit writes.
const BATCH: usize = 64;

/// Commits what the node tasks hand over, in batches: whatever is waiting when a commit starts
/// goes into it (at most [`BATCH`]), so a busy worker writes many nodes per transaction.
/// While `claiming` (the worker is not draining), the nodes a batch makes ready take the slots
/// its tasks free, on this worker; only the rest wake the other workers. A worker that stops
/// wakes them as it leaves (`presence::retire`); one killed between such a commit and its next
/// claim leaves those nodes to the others' next poll (the worker's poll interval, 1 s by
/// default).
pub(crate) async fn committer(
    store: PostgresStore,
    worker: String,
    events: Arc<GuardedEvents>,
    mut queue: mpsc::UnboundedReceiver<(Item, oneshot::Sender<Resolved>)>,
    claiming: Arc<std::sync::atomic::AtomicBool>,
) {
    while let Some(first) = queue.recv().await {
        let mut batch = vec![first];
        while batch.len() < BATCH {
            match queue.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let (items, answers): (Vec<Item>, Vec<_>) = batch.into_iter().unzip();
        // Each task of the batch ends once answered, and the worker then claims again.
        let room = || match claiming.load(std::sync::atomic::Ordering::SeqCst) {
            true => items.len(),
            false => 0,
        };
        let commit = || resolve(&store, &worker, &items, &*events, room());
        let resolved = retried("commit nodes", commit).await;
        for (answer, resolved) in answers.into_iter().zip(resolved) {
            let _ = answer.send(resolved);
        }
    }
}
