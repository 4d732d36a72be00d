//! The fleet's queue in PostgreSQL: submitting a run, claiming ready nodes under a lease,
//! renewing leases, and resolving a node in one transaction with its checkpoint record, its audit
//! entry, the readiness of its dependents and, for the last node, the end of the run.

use std::collections::BTreeMap;
use std::time::Duration;

use deadpool_postgres::Transaction;
use tokio_postgres::types::ToSql;

use crate::result::{NodeStatus, RunStatus};
use crate::run_id::RunId;
use crate::store::{AuditEntry, NodeRecord, PostgresStore, RunHeader, RunSummary, StoreResult};

/// The channel a worker listens on for ready nodes.
pub(crate) const READY: &str = "pipeline_fleet_ready";
/// The channel a waiter listens on for ended runs (the payload is the run id).
pub(crate) const DONE: &str = "pipeline_fleet_done";

type Param<'a> = &'a (dyn ToSql + Sync);

/// A node a worker claimed.
#[derive(Clone, Debug)]
pub(crate) struct Claimed {
    pub run_id: RunId,
    pub node: u32,
    pub claim: i32,
    pub attempt: u32,
    pub blocked: bool,
    pub fail_fast: bool,
    pub fingerprint: String,
}

/// A node of a run to submit: its id, its number of distinct upstream nodes, and whether a
/// failure of it stops the run.
pub(crate) struct NewNode<'a> {
    pub id: &'a str,
    pub upstream: usize,
    pub fail_fast: bool,
}

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
}

/// What resolving a node did.
pub(crate) enum Resolved {
    /// The claim was no longer current (its lease lapsed and another worker claimed the node, or
    /// the run was cancelled): nothing was written.
    Fenced,
    /// Written; `ended` when it was the run's last node.
    Done { ended: bool },
}

/// A run as the fleet tables hold it.
pub(crate) struct RunRow {
    pub state: String,
    pub nodes: Vec<NodeRow>,
}

/// A node as the fleet tables hold it.
pub(crate) struct NodeRow {
    pub id: String,
    pub state: String,
    pub attempt: u32,
    pub error: Option<String>,
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Records a new run for the fleet: the checkpoint and audit headers, the run, one row per node
/// (those without upstream nodes ready), and the first summary; wakes the workers.
pub(crate) async fn submit(
    store: &PostgresStore,
    header: &RunHeader,
    nodes: &[NewNode<'_>],
    summary: &RunSummary,
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
            "INSERT INTO pipeline_runs (run_id, pipeline, started_at_ms, header) \
             VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            &[&id, &header.pipeline, &started, &bytes],
        )
        .await
        .map_err(store.error("submit a run to"))?;
    if inserted == 0 {
        return Err(crate::store::StoreError::RunExists(header.run_id.clone()));
    }
    let remaining = nodes.len() as i32;
    let statements: [(&str, Vec<Param<'_>>); 2] = [
        (
            "INSERT INTO pipeline_audit_runs (run_id, header) VALUES ($1, $2)",
            vec![&id, &bytes],
        ),
        (
            "INSERT INTO pipeline_fleet_runs (run_id, pipeline, fingerprint, remaining) \
             VALUES ($1, $2, $3, $4)",
            vec![&id, &header.pipeline, &header.fingerprint, &remaining],
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
    tx.execute(
        "INSERT INTO pipeline_fleet_nodes \
         (run_id, node, node_id, fingerprint, state, waiting, fail_fast) \
         SELECT $1, n, id, $2, CASE WHEN w = 0 THEN 'ready' ELSE 'waiting' END, w, f \
         FROM unnest($3::int[], $4::text[], $5::int[], $6::bool[]) AS t (n, id, w, f)",
        &[&id, &header.fingerprint, &index, &ids, &waiting, &fail_fast],
    )
    .await
    .map_err(store.error("submit a run to"))?;
    write_summary(store, &tx, summary).await?;
    tx.execute(&format!("NOTIFY {READY}"), &[])
        .await
        .map_err(store.error("submit a run to"))?;
    tx.commit().await.map_err(write)
}

async fn write_summary(
    store: &PostgresStore,
    tx: &Transaction<'_>,
    summary: &RunSummary,
) -> StoreResult<()> {
    let bytes = serde_json::to_vec(summary).map_err(crate::store::StoreError::Encode)?;
    tx.execute(
        "INSERT INTO pipeline_run_summaries (run_id, summary) VALUES ($1, $2) \
         ON CONFLICT (run_id) DO UPDATE SET summary = EXCLUDED.summary",
        &[&summary.run_id.as_str(), &bytes],
    )
    .await
    .map_err(store.error("write to"))?;
    Ok(())
}

/// Claims up to `limit` ready nodes of the pipelines `fingerprints` name, or running nodes whose
/// lease expired (their worker died), each under a lease of `lease`.
pub(crate) async fn claim(
    store: &PostgresStore,
    worker: &str,
    fingerprints: &[String],
    limit: usize,
    lease: Duration,
) -> StoreResult<Vec<Claimed>> {
    let client = store.client().await?;
    let rows = client
        .query(
            "UPDATE pipeline_fleet_nodes n SET state = 'running', claim = n.claim + 1, \
             worker = $1, lease_expires_at = now() + make_interval(secs => $4::float8 / 1000.0) \
             FROM (SELECT run_id, node FROM pipeline_fleet_nodes \
                   WHERE fingerprint = ANY($2) AND ((state = 'ready' AND not_before <= now()) \
                      OR (state = 'running' AND lease_expires_at < now())) \
                   ORDER BY not_before LIMIT $3 FOR UPDATE SKIP LOCKED) c \
             WHERE n.run_id = c.run_id AND n.node = c.node \
             RETURNING n.run_id, n.node, n.claim, n.attempt, n.blocked, n.fail_fast, n.fingerprint",
            &[&worker, &fingerprints, &(limit as i64), &millis(lease)],
        )
        .await
        .map_err(store.error("claim nodes in"))?;
    Ok(rows
        .iter()
        .filter_map(|row| {
            Some(Claimed {
                run_id: RunId::new(row.get::<_, String>(0)).ok()?,
                node: u32::try_from(row.get::<_, i32>(1)).ok()?,
                claim: row.get(2),
                attempt: u32::try_from(row.get::<_, i32>(3)).ok()?,
                blocked: row.get(4),
                fail_fast: row.get(5),
                fingerprint: row.get(6),
            })
        })
        .collect())
}

/// When the next ready node of `fingerprints` becomes claimable (a retry's backoff), if any is
/// waiting for its time.
pub(crate) async fn next_due(
    store: &PostgresStore,
    fingerprints: &[String],
) -> StoreResult<Option<Duration>> {
    let client = store.client().await?;
    let row = client
        .query_one(
            "SELECT extract(epoch FROM min(not_before) - now())::float8 FROM pipeline_fleet_nodes \
             WHERE state = 'ready' AND fingerprint = ANY($1)",
            &[&fingerprints],
        )
        .await
        .map_err(store.error("read"))?;
    Ok(row
        .get::<_, Option<f64>>(0)
        .map(|secs| Duration::from_secs_f64(secs.max(0.0))))
}

/// Renews the leases of `claims`; returns those still held (a claim missing from the answer was
/// lost: its lease lapsed and another worker took the node, or the run was cancelled).
pub(crate) async fn heartbeat(
    store: &PostgresStore,
    claims: &[(RunId, u32, i32)],
    lease: Duration,
) -> StoreResult<Vec<(RunId, u32, i32)>> {
    if claims.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<&str> = claims.iter().map(|c| c.0.as_str()).collect();
    let nodes: Vec<i32> = claims.iter().map(|c| c.1 as i32).collect();
    let tokens: Vec<i32> = claims.iter().map(|c| c.2).collect();
    let client = store.client().await?;
    let rows = client
        .query(
            "UPDATE pipeline_fleet_nodes n \
             SET lease_expires_at = now() + make_interval(secs => $4::float8 / 1000.0) \
             FROM unnest($1::text[], $2::int[], $3::int[]) AS c (run_id, node, claim) \
             WHERE n.run_id = c.run_id AND n.node = c.node AND n.claim = c.claim \
               AND n.state = 'running' \
             RETURNING n.run_id, n.node, n.claim",
            &[&ids, &nodes, &tokens, &millis(lease)],
        )
        .await
        .map_err(store.error("renew leases in"))?;
    Ok(rows
        .iter()
        .filter_map(|r| {
            let id = RunId::new(r.get::<_, String>(0)).ok()?;
            Some((id, r.get::<_, i32>(1) as u32, r.get(2)))
        })
        .collect())
}

/// Resolves a claimed node as `resolution` says, in one transaction, if the claim is still
/// current; `downstream` are the node's dependents, `summary` builds the run's summary when this
/// was its last node.
pub(crate) async fn resolve(
    store: &PostgresStore,
    worker: &str,
    claimed: &Claimed,
    resolution: &Resolution,
    downstream: &[u32],
    summary: impl FnOnce(RunStatus, BTreeMap<String, NodeStatus>) -> RunSummary,
) -> StoreResult<Resolved> {
    let mut client = store.client().await?;
    let err = |op| store.error(op);
    let tx = client.transaction().await.map_err(err("write to"))?;
    let id = claimed.run_id.as_str();
    let node = claimed.node as i32;
    let (state, error, delay) = match resolution {
        Resolution::Completed { .. } => ("completed", None, 0.0),
        Resolution::Retry { entry, delay } => ("ready", entry.error.as_deref(), millis(*delay)),
        Resolution::Failed { entry } => ("failed", entry.error.as_deref(), 0.0),
        Resolution::Skipped => ("skipped", None, 0.0),
    };
    let retry = matches!(resolution, Resolution::Retry { .. });
    let updated = tx
        .execute(
            "UPDATE pipeline_fleet_nodes SET state = $4, error = $5, lease_expires_at = NULL, \
             worker = $6, attempt = attempt + $7::int, \
             not_before = now() + make_interval(secs => $8::float8 / 1000.0), \
             resolved_at = CASE WHEN $4 = 'ready' THEN NULL ELSE now() END \
             WHERE run_id = $1 AND node = $2 AND claim = $3 AND state = 'running'",
            &[
                &id,
                &node,
                &claimed.claim,
                &state,
                &error,
                &worker,
                &(retry as i32),
                &delay,
            ],
        )
        .await
        .map_err(err("write to"))?;
    if updated == 0 {
        return Ok(Resolved::Fenced);
    }
    match resolution {
        Resolution::Completed { record, entry } => {
            insert_record(store, &tx, id, record).await?;
            insert_entry(store, &tx, worker, entry).await?;
        }
        Resolution::Retry { entry, .. } | Resolution::Failed { entry } => {
            insert_entry(store, &tx, worker, entry).await?;
        }
        Resolution::Skipped => {}
    }
    if retry {
        tx.commit().await.map_err(err("write to"))?;
        return Ok(Resolved::Done { ended: false });
    }
    let blocked = !matches!(resolution, Resolution::Completed { .. });
    let down: Vec<i32> = downstream.iter().map(|&d| d as i32).collect();
    let readied = tx
        .query(
            "UPDATE pipeline_fleet_nodes SET waiting = waiting - 1, blocked = blocked OR $3, \
             state = CASE WHEN waiting = 1 AND state = 'waiting' THEN 'ready' ELSE state END, \
             not_before = now() \
             WHERE run_id = $1 AND node = ANY($2) RETURNING state",
            &[&id, &down, &blocked],
        )
        .await
        .map_err(err("write to"))?;
    if readied.iter().any(|r| r.get::<_, &str>(0) == "ready") {
        tx.execute(&format!("NOTIFY {READY}"), &[])
            .await
            .map_err(err("write to"))?;
    }
    let mut resolved = 1i32;
    if let (Resolution::Failed { .. }, true) = (resolution, claimed.fail_fast) {
        // Fail-fast: no node of the run starts any more; those running finish.
        let stopped = tx
            .execute(
                "UPDATE pipeline_fleet_nodes SET state = 'not_run', resolved_at = now() \
                 WHERE run_id = $1 AND state IN ('waiting', 'ready')",
                &[&id],
            )
            .await
            .map_err(err("write to"))?;
        resolved += stopped as i32;
    }
    // Last, so the run's row is locked only for the end of the transaction: the commits of one
    // run serialize here, and exactly one of them sees the count reach zero.
    let remaining: i32 = tx
        .query_one(
            "UPDATE pipeline_fleet_runs SET remaining = remaining - $2 WHERE run_id = $1 \
             RETURNING remaining",
            &[&id, &resolved],
        )
        .await
        .map_err(err("write to"))?
        .get(0);
    let ended = remaining <= 0;
    if ended {
        finish(store, &tx, &claimed.run_id, summary).await?;
    }
    tx.commit().await.map_err(err("write to"))?;
    Ok(Resolved::Done { ended })
}

async fn insert_record(
    store: &PostgresStore,
    tx: &Transaction<'_>,
    id: &str,
    record: &NodeRecord,
) -> StoreResult<()> {
    let params: [Param<'_>; 7] = [
        &id,
        &record.node,
        &(record.attempt as i32),
        &(record.started_at_ms as i64),
        &(record.finished_at_ms as i64),
        &(record.duration_us as i64),
        &record.output.get().as_bytes(),
    ];
    tx.execute(
        "INSERT INTO pipeline_node_records \
         (run_id, node, attempt, started_at_ms, finished_at_ms, duration_us, output) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (run_id, node) DO NOTHING",
        &params,
    )
    .await
    .map_err(store.error("write to"))?;
    Ok(())
}

async fn insert_entry(
    store: &PostgresStore,
    tx: &Transaction<'_>,
    worker: &str,
    entry: &AuditEntry,
) -> StoreResult<()> {
    let bytes = serde_json::to_vec(entry).map_err(crate::store::StoreError::Encode)?;
    tx.execute(
        "INSERT INTO pipeline_audit_entries (run_id, entry, node, attempt, worker) \
         VALUES ($1, $2, $3, $4, $5)",
        &[
            &entry.run_id.as_str(),
            &bytes,
            &entry.node,
            &(entry.attempt as i32),
            &worker,
        ],
    )
    .await
    .map_err(store.error("write to"))?;
    Ok(())
}

/// Ends a run whose last node just resolved: its state, its summary, and a notification for
/// its waiters.
async fn finish(
    store: &PostgresStore,
    tx: &Transaction<'_>,
    run_id: &RunId,
    summary: impl FnOnce(RunStatus, BTreeMap<String, NodeStatus>) -> RunSummary,
) -> StoreResult<()> {
    let rows = tx
        .query(
            "SELECT node_id, state FROM pipeline_fleet_nodes WHERE run_id = $1",
            &[&run_id.as_str()],
        )
        .await
        .map_err(store.error("read"))?;
    let nodes: BTreeMap<String, NodeStatus> = rows
        .iter()
        .map(|r| (r.get(0), node_status(r.get(1))))
        .collect();
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
    write_summary(store, tx, &summary(status, nodes)).await?;
    tx.execute("SELECT pg_notify($1, $2)", &[&DONE, &run_id.as_str()])
        .await
        .map_err(store.error("write to"))?;
    Ok(())
}

/// A node state of the fleet tables as a [`NodeStatus`] (a node not resolved is not run).
pub(crate) fn node_status(state: &str) -> NodeStatus {
    match state {
        "completed" => NodeStatus::Completed,
        "failed" => NodeStatus::Failed,
        "skipped" => NodeStatus::Skipped,
        _ => NodeStatus::NotRun,
    }
}

/// Cancels a running run from any process: no node of it starts or commits any more (the
/// claims of running nodes are fenced). `false` when the run had already ended.
pub(crate) async fn cancel(
    store: &PostgresStore,
    run_id: &RunId,
    summary: impl FnOnce(BTreeMap<String, NodeStatus>) -> RunSummary,
) -> StoreResult<Option<bool>> {
    let mut client = store.client().await?;
    let err = |op| store.error(op);
    let tx = client.transaction().await.map_err(err("write to"))?;
    let id = run_id.as_str();
    let Some(row) = tx
        .query_opt(
            "SELECT state FROM pipeline_fleet_runs WHERE run_id = $1 FOR UPDATE",
            &[&id],
        )
        .await
        .map_err(err("read"))?
    else {
        return Ok(None);
    };
    if row.get::<_, &str>(0) != "running" {
        return Ok(Some(false));
    }
    tx.batch_execute("SET LOCAL lock_timeout = '30s'")
        .await
        .map_err(err("write to"))?;
    tx.execute(
        "UPDATE pipeline_fleet_nodes SET state = 'not_run', claim = claim + 1, \
         lease_expires_at = NULL, resolved_at = now() \
         WHERE run_id = $1 AND state IN ('waiting', 'ready', 'running')",
        &[&id],
    )
    .await
    .map_err(err("write to"))?;
    tx.execute(
        "UPDATE pipeline_fleet_runs SET state = 'cancelled', remaining = 0, ended_at = now() \
         WHERE run_id = $1",
        &[&id],
    )
    .await
    .map_err(err("write to"))?;
    let rows = tx
        .query(
            "SELECT node_id, state FROM pipeline_fleet_nodes WHERE run_id = $1",
            &[&id],
        )
        .await
        .map_err(err("read"))?;
    let nodes = rows
        .iter()
        .map(|r| (r.get(0), node_status(r.get(1))))
        .collect();
    write_summary(store, &tx, &summary(nodes)).await?;
    tx.execute("SELECT pg_notify($1, $2)", &[&DONE, &id])
        .await
        .map_err(err("write to"))?;
    tx.commit().await.map_err(err("write to"))?;
    Ok(Some(true))
}

/// The run's state and its nodes, in graph order; `None` when the fleet never had the run.
pub(crate) async fn run_row(store: &PostgresStore, run_id: &RunId) -> StoreResult<Option<RunRow>> {
    let client = store.client().await?;
    let id = run_id.as_str();
    let Some(run) = client
        .query_opt(
            "SELECT state FROM pipeline_fleet_runs WHERE run_id = $1",
            &[&id],
        )
        .await
        .map_err(store.error("read"))?
    else {
        return Ok(None);
    };
    let rows = client
        .query(
            "SELECT node_id, state, attempt, error FROM pipeline_fleet_nodes \
             WHERE run_id = $1 ORDER BY node",
            &[&id],
        )
        .await
        .map_err(store.error("read"))?;
    let nodes = rows
        .iter()
        .map(|r| NodeRow {
            id: r.get(0),
            state: r.get(1),
            attempt: r.get::<_, i32>(2).max(0) as u32,
            error: r.get(3),
        })
        .collect();
    Ok(Some(RunRow {
        state: run.get(0),
        nodes,
    }))
}

/// The stored outputs of `nodes` of a run, by node id.
pub(crate) async fn outputs(
    store: &PostgresStore,
    run_id: &RunId,
    nodes: &[&str],
) -> StoreResult<std::collections::HashMap<String, crate::data::Json>> {
    if nodes.is_empty() {
        return Ok(Default::default());
    }
    let client = store.client().await?;
    let rows = client
        .query(
            "SELECT seq, node, output FROM pipeline_node_records \
             WHERE run_id = $1 AND node = ANY($2)",
            &[&run_id.as_str(), &nodes],
        )
        .await
        .map_err(store.error("read"))?;
    let mut outputs = std::collections::HashMap::new();
    for row in rows {
        let seq: i64 = row.get(0);
        let text = String::from_utf8(row.get::<_, Vec<u8>>(2))
            .map_err(|e| store.corrupt("pipeline_node_records", seq, "node output", e))?;
        let json = serde_json::value::RawValue::from_string(text)
            .map_err(|e| store.corrupt("pipeline_node_records", seq, "node output", e))?;
        outputs.insert(row.get(1), std::sync::Arc::from(json));
    }
    Ok(outputs)
}

/// The header of a stored run.
pub(crate) async fn header(
    store: &PostgresStore,
    run_id: &RunId,
) -> StoreResult<Option<RunHeader>> {
    let client = store.client().await?;
    store.header(&**client, "pipeline_runs", run_id).await
}

/// Gives back the leases of claims this worker will not finish (it is shutting down): their
/// nodes are ready for another worker at once, instead of when the leases expire.
pub(crate) async fn release(
    store: &PostgresStore,
    claims: &[(RunId, u32, i32)],
) -> StoreResult<()> {
    if claims.is_empty() {
        return Ok(());
    }
    let ids: Vec<&str> = claims.iter().map(|c| c.0.as_str()).collect();
    let nodes: Vec<i32> = claims.iter().map(|c| c.1 as i32).collect();
    let tokens: Vec<i32> = claims.iter().map(|c| c.2).collect();
    let client = store.client().await?;
    client
        .execute(
            "UPDATE pipeline_fleet_nodes n SET state = 'ready', worker = NULL, \
             lease_expires_at = NULL, not_before = now() \
             FROM unnest($1::text[], $2::int[], $3::int[]) AS c (run_id, node, claim) \
             WHERE n.run_id = c.run_id AND n.node = c.node AND n.claim = c.claim \
               AND n.state = 'running'",
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
