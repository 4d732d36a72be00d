//! Resolving claimed nodes: a batch of them in one transaction, each fenced by its claim, with
//! its checkpoint record, its audit entry, its dependents' readiness and, for a run's last node,
//! the run's end. Cancelling a run is in `cancel`.
//!
//! Rows are locked in one order everywhere (node rows by `(run_id, node)`, then run rows by
//! `run_id`), so batches of different workers never deadlock on each other; a deadlock the
//! server still reports (with a fail-fast stop or a cancel) rolls the batch back and the worker
//! commits it again.

use std::collections::BTreeMap;
use std::time::Duration;

use deadpool_postgres::Transaction;

use super::queue::{Claimed, DONE, Param, READY, millis, write_summary};
use super::read::node_states;
use crate::result::{NodeStatus, RunStatus};
use crate::store::{AuditEntry, NodeRecord, PostgresStore, RunSummary, StoreError, StoreResult};

/// How a claimed node ends this claim.
pub(crate) enum Resolution {
    Completed {
        record: NodeRecord,
        entry: AuditEntry,
    },
    /// A failed attempt with attempts left: the node is ready again after `delay`.
    Retry {
        entry: AuditEntry,
        delay: Duration,
    },
    Failed {
        entry: AuditEntry,
    },
    Skipped,
    /// A wait whose gate let it through begins: it is due after `after` (a timer's duration, a
    /// signal's timeout; never when `None`), or at once when a signal for it is stored.
    Begin {
        after: Option<Duration>,
    },
}

impl Resolution {
    fn state(&self) -> &'static str {
        match self {
            Resolution::Completed { .. } => "completed",
            Resolution::Retry { .. } | Resolution::Begin { .. } => "ready",
            Resolution::Failed { .. } => "failed",
            Resolution::Skipped => "skipped",
        }
    }

    fn entry(&self) -> Option<&AuditEntry> {
        match self {
            Resolution::Completed { entry, .. }
            | Resolution::Retry { entry, .. }
            | Resolution::Failed { entry } => Some(entry),
            Resolution::Skipped | Resolution::Begin { .. } => None,
        }
    }

    /// Whether the node stays unresolved: it is ready again later.
    fn again(&self) -> bool {
        matches!(self, Resolution::Retry { .. } | Resolution::Begin { .. })
    }
}

/// What resolving a node did.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Resolved {
    /// The claim was no longer current (its lease lapsed and another worker claimed the node, or
    /// the run was cancelled): nothing was written.
    Fenced,
    /// Written; `ended` when it was the run's last node.
    Done { ended: bool },
}

/// One claimed node to resolve, with what its run's summary needs should it be the last.
pub(crate) struct Item {
    pub claimed: Claimed,
    pub resolution: Resolution,
    pub downstream: Vec<u32>,
    pub pipeline: String,
    pub started_at_ms: u64,
}

type Key = (String, i32);

/// Resolves `items` in one transaction; one answer per item, in order.
pub(crate) async fn resolve(
    store: &PostgresStore,
    worker: &str,
    items: &[Item],
) -> StoreResult<Vec<Resolved>> {
    let mut client = store.client().await?;
    let err = |op| store.error(op);
    let tx = client.transaction().await.map_err(err("write to"))?;
    let ids: Vec<&str> = items.iter().map(|i| i.claimed.run_id.as_str()).collect();
    let nodes: Vec<i32> = items.iter().map(|i| i.claimed.node as i32).collect();
    let tokens: Vec<i64> = items.iter().map(|i| i.claimed.claim).collect();
    let states: Vec<&str> = items.iter().map(|i| i.resolution.state()).collect();
    let errors: Vec<Option<&str>> = items
        .iter()
        .map(|i| i.resolution.entry().and_then(|e| e.error.as_deref()))
        .collect();
    // When the node is claimable again: after this many milliseconds, never when `None`.
    let delays: Vec<Option<f64>> = items
        .iter()
        .map(|i| match &i.resolution {
            Resolution::Retry { delay, .. } => Some(millis(*delay)),
            Resolution::Begin { after } => after.map(millis),
            _ => Some(0.0),
        })
        .collect();
    let begins: Vec<bool> = items
        .iter()
        .map(|i| matches!(i.resolution, Resolution::Begin { .. }))
        .collect();
    // The claimed rows are this worker's alone (no other batch writes them): fence them first,
    // locked in key order as the heartbeat locks them (two orders would deadlock, and the
    // statement PostgreSQL aborts loses its claims or its commit).
    // A wait that begins is due at once when a signal for it was stored meanwhile: the signal's
    // transaction sets `signalled` under the row's lock.
    let kept = tx
        .query(
            "WITH c AS (SELECT * FROM unnest($2::text[], $3::int[], $4::bigint[], $5::text[], \
                         $6::text[], $7::float8[], $8::bool[]) \
                  AS c (run_id, node, claim, state, error, delay, begin)), \
             fenced AS MATERIALIZED ( \
                 SELECT n.run_id, n.node FROM pipeline_fleet_nodes n \
                 JOIN c ON n.run_id = c.run_id AND n.node = c.node AND n.claim = c.claim \
                 WHERE n.state = 'running' \
                 ORDER BY n.run_id, n.node FOR UPDATE OF n) \
             UPDATE pipeline_fleet_nodes n SET state = c.state, error = c.error, \
             lease_expires_at = NULL, worker = $1, began = n.began OR c.begin, \
             attempt = n.attempt + CASE WHEN c.state = 'ready' AND NOT c.begin THEN 1 ELSE 0 END, \
             not_before = CASE WHEN c.begin AND n.signalled THEN now() \
                               WHEN c.delay IS NULL THEN 'infinity' \
                               ELSE now() + make_interval(secs => c.delay / 1000.0) END, \
             resolved_at = CASE WHEN c.state = 'ready' THEN NULL ELSE now() END \
             FROM c JOIN fenced f ON f.run_id = c.run_id AND f.node = c.node \
             WHERE n.run_id = c.run_id AND n.node = c.node AND n.claim = c.claim \
               AND n.state = 'running' \
             RETURNING n.run_id, n.node",
            &[
                &worker, &ids, &nodes, &tokens, &states, &errors, &delays, &begins,
            ],
        )
        .await
        .map_err(err("write to"))?;
    let kept: std::collections::HashSet<Key> = kept.iter().map(|r| (r.get(0), r.get(1))).collect();
    let is_kept = |i: &Item| kept.contains(&(i.claimed.run_id.to_string(), i.claimed.node as i32));
    let written: Vec<&Item> = items.iter().filter(|i| is_kept(i)).collect();
    insert_records(store, &tx, &written).await?;
    insert_entries(store, &tx, worker, &written).await?;

    let resolved: Vec<&Item> = written
        .iter()
        .copied()
        .filter(|i| !i.resolution.again())
        .collect();
    release_dependents(store, &tx, &resolved).await?;
    let mut per_run: BTreeMap<&str, i32> = BTreeMap::new();
    for item in &resolved {
        *per_run.entry(item.claimed.run_id.as_str()).or_default() += 1;
    }
    stop_fail_fast_runs(store, &tx, &resolved, &mut per_run).await?;
    let ended = count_down(store, &tx, &per_run).await?;
    for run in &ended {
        let Some(item) = resolved.iter().find(|i| i.claimed.run_id.as_str() == run) else {
            continue;
        };
        finish(store, &tx, item).await?;
    }
    tx.commit().await.map_err(err("write to"))?;
    Ok(items
        .iter()
        .map(|i| match is_kept(i) {
            false => Resolved::Fenced,
            true => Resolved::Done {
                ended: !i.resolution.again() && ended.contains(i.claimed.run_id.as_str()),
            },
        })
        .collect())
}

async fn insert_records(
    store: &PostgresStore,
    tx: &Transaction<'_>,
    items: &[&Item],
) -> StoreResult<()> {
    let records: Vec<(&str, &NodeRecord)> = items
        .iter()
        .filter_map(|i| match &i.resolution {
            Resolution::Completed { record, .. } => Some((i.claimed.run_id.as_str(), record)),
            _ => None,
        })
        .collect();
    if records.is_empty() {
        return Ok(());
    }
    let ids: Vec<&str> = records.iter().map(|r| r.0).collect();
    let nodes: Vec<&str> = records.iter().map(|r| r.1.node.as_str()).collect();
    let attempts: Vec<i32> = records.iter().map(|r| r.1.attempt as i32).collect();
    let started: Vec<i64> = records.iter().map(|r| r.1.started_at_ms as i64).collect();
    let finished: Vec<i64> = records.iter().map(|r| r.1.finished_at_ms as i64).collect();
    let durations: Vec<i64> = records.iter().map(|r| r.1.duration_us as i64).collect();
    let outputs: Vec<&[u8]> = records
        .iter()
        .map(|r| r.1.output.get().as_bytes())
        .collect();
    let params: [Param<'_>; 7] = [
        &ids, &nodes, &attempts, &started, &finished, &durations, &outputs,
    ];
    tx.execute(
        "INSERT INTO pipeline_node_records \
         (run_id, node, attempt, started_at_ms, finished_at_ms, duration_us, output) \
         SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::bigint[], $5::bigint[], \
                              $6::bigint[], $7::bytea[]) \
         ON CONFLICT (run_id, node, item) DO NOTHING",
        &params,
    )
    .await
    .map_err(store.error("write to"))?;
    Ok(())
}

async fn insert_entries(
    store: &PostgresStore,
    tx: &Transaction<'_>,
    worker: &str,
    items: &[&Item],
) -> StoreResult<()> {
    let entries: Vec<&AuditEntry> = items.iter().filter_map(|i| i.resolution.entry()).collect();
    if entries.is_empty() {
        return Ok(());
    }
    let mut bytes = Vec::with_capacity(entries.len());
    for entry in &entries {
        bytes.push(serde_json::to_vec(entry).map_err(StoreError::Encode)?);
    }
    let ids: Vec<&str> = entries.iter().map(|e| e.run_id.as_str()).collect();
    let nodes: Vec<&str> = entries.iter().map(|e| e.node.as_str()).collect();
    let attempts: Vec<i32> = entries.iter().map(|e| e.attempt as i32).collect();
    tx.execute(
        "INSERT INTO pipeline_audit_entries (run_id, entry, node, attempt, worker) \
         SELECT r, e, n, a, $5 FROM unnest($1::text[], $2::bytea[], $3::text[], $4::int[]) \
         AS t (r, e, n, a)",
        &[&ids, &bytes, &nodes, &attempts, &worker],
    )
    .await
    .map_err(store.error("write to"))?;
    Ok(())
}

/// One fewer unresolved upstream node for each dependent of `resolved` (blocked when the node
/// failed or was skipped), dependents locked in key order; wakes the workers if any is ready.
async fn release_dependents(
    store: &PostgresStore,
    tx: &Transaction<'_>,
    resolved: &[&Item],
) -> StoreResult<()> {
    let mut dependents: BTreeMap<Key, (i32, bool)> = BTreeMap::new();
    for item in resolved {
        let blocked = !matches!(item.resolution, Resolution::Completed { .. });
        for &d in &item.downstream {
            let key = (item.claimed.run_id.to_string(), d as i32);
            let entry = dependents.entry(key).or_default();
            entry.0 += 1;
            entry.1 |= blocked;
        }
    }
    if dependents.is_empty() {
        return Ok(());
    }
    let ids: Vec<&str> = dependents.keys().map(|k| k.0.as_str()).collect();
    let nodes: Vec<i32> = dependents.keys().map(|k| k.1).collect();
    let counts: Vec<i32> = dependents.values().map(|v| v.0).collect();
    let blocked: Vec<bool> = dependents.values().map(|v| v.1).collect();
    let err = || store.error("write to");
    tx.execute(
        "SELECT 1 FROM pipeline_fleet_nodes n \
         JOIN unnest($1::text[], $2::int[]) AS d (run_id, node) \
           ON n.run_id = d.run_id AND n.node = d.node \
         ORDER BY n.run_id, n.node FOR UPDATE OF n",
        &[&ids, &nodes],
    )
    .await
    .map_err(err())?;
    let rows = tx
        .query(
            "UPDATE pipeline_fleet_nodes n SET waiting = n.waiting - d.count, \
             blocked = n.blocked OR d.blocked, not_before = now(), \
             state = CASE WHEN n.waiting = d.count AND n.state = 'waiting' THEN 'ready' \
                          ELSE n.state END \
             FROM unnest($1::text[], $2::int[], $3::int[], $4::bool[]) \
                  AS d (run_id, node, count, blocked) \
             WHERE n.run_id = d.run_id AND n.node = d.node RETURNING n.state",
            &[&ids, &nodes, &counts, &blocked],
        )
        .await
        .map_err(err())?;
    if rows.iter().any(|r| r.get::<_, &str>(0) == "ready") {
        tx.execute(&format!("NOTIFY {READY}"), &[])
            .await
            .map_err(err())?;
    }
    Ok(())
}

/// Fail-fast: no node of a run whose fail-fast node failed starts any more (those running
/// finish); the nodes that will not run count as resolved.
async fn stop_fail_fast_runs<'a>(
    store: &PostgresStore,
    tx: &Transaction<'_>,
    resolved: &[&'a Item],
    per_run: &mut BTreeMap<&'a str, i32>,
) -> StoreResult<()> {
    let mut runs: Vec<&str> = resolved
        .iter()
        .filter(|i| matches!(i.resolution, Resolution::Failed { .. }) && i.claimed.fail_fast)
        .map(|i| i.claimed.run_id.as_str())
        .collect();
    runs.sort();
    runs.dedup();
    if runs.is_empty() {
        return Ok(());
    }
    // Locked in key order, as every statement of a commit locks rows.
    let stopped = tx
        .query(
            "WITH stopping AS MATERIALIZED ( \
                 SELECT run_id, node FROM pipeline_fleet_nodes \
                 WHERE run_id = ANY($1) AND state IN ('waiting', 'ready') \
                 ORDER BY run_id, node FOR UPDATE) \
             UPDATE pipeline_fleet_nodes n SET state = 'not_run', resolved_at = now() \
             FROM stopping s WHERE n.run_id = s.run_id AND n.node = s.node \
               AND n.state IN ('waiting', 'ready') RETURNING n.run_id",
            &[&runs],
        )
        .await
        .map_err(store.error("write to"))?;
    for row in stopped {
        let run: String = row.get(0);
        if let Some(&id) = runs.iter().find(|r| **r == run) {
            *per_run.entry(id).or_default() += 1;
        }
    }
    Ok(())
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
    let ids: Vec<&str> = per_run.keys().copied().collect();
    let counts: Vec<i32> = per_run.values().copied().collect();
    let rows = tx
        .query(
            "WITH locked AS (SELECT run_id FROM pipeline_fleet_runs WHERE run_id = ANY($1) \
                             ORDER BY run_id FOR UPDATE) \
             UPDATE pipeline_fleet_runs r SET remaining = r.remaining - c.count \
             FROM unnest($1::text[], $2::int[]) AS c (run_id, count), locked \
             WHERE r.run_id = c.run_id AND locked.run_id = r.run_id \
             RETURNING r.run_id, r.remaining",
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
async fn finish(store: &PostgresStore, tx: &Transaction<'_>, item: &Item) -> StoreResult<()> {
    let run_id = &item.claimed.run_id;
    let nodes = node_states(store, tx, run_id).await?;
    let status = match nodes.values().any(|s| *s == NodeStatus::Failed) {
        true => RunStatus::Failed,
        false => RunStatus::Completed,
    };
    tx.execute(
        "UPDATE pipeline_fleet_runs SET state = $2, ended_at = now() WHERE run_id = $1",
        &[&run_id.as_str(), &status.to_string()],
    )
    .await
    .map_err(store.error("write to"))?;
    let summary = RunSummary {
        run_id: run_id.clone(),
        pipeline: item.pipeline.clone(),
        status: Some(status),
        started_at_ms: item.started_at_ms,
        updated_at_ms: crate::engine::now_ms(),
        nodes,
        restored: Vec::new(),
    };
    write_summary(store, tx, &summary).await?;
    tx.execute("SELECT pg_notify($1, $2)", &[&DONE, &run_id.as_str()])
        .await
        .map_err(store.error("write to"))?;
    Ok(())
}
