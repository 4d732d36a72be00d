//! Cancelling a fleet run from any process: its unresolved nodes and items are not run, the
//! claims of its running nodes and items are fenced, its summary written and its waiters
//! notified.

use std::collections::BTreeMap;

use super::apply::{self, RunRows};
use super::queue::{DONE, write_summary};
use super::read::node_states;
use crate::machine::{Event, Unconnected};
use crate::result::NodeStatus;
use crate::run_id::RunId;
use crate::store::{PostgresStore, RunSummary, StoreResult};

/// Cancels a running run from any process: no node of it starts or commits any more (the
/// claims of running nodes are fenced). `Some(false)` when the run had already ended, `None`
/// when the fleet never had it.
pub(crate) async fn cancel(
    store: &PostgresStore,
    run_id: &RunId,
    summary: impl FnOnce(BTreeMap<String, NodeStatus>) -> RunSummary,
) -> StoreResult<Option<bool>> {
    let mut client = store.client().await?;
    let err = |op| store.error(op);
    let tx = client.transaction().await.map_err(err("write to"))?;
    let id = run_id.as_str();
    let Some((state, states)) = apply::lock_run(store, &tx, id).await? else {
        return Ok(None);
    };
    if state != "running" && state != "queued" {
        return Ok(Some(false));
    }
    // The machine decides which nodes do not run, and which claims are fenced; a cancel reads
    // every node and follows no edge.
    let shape = Unconnected(states.keys().map(|&n| n as usize + 1).max().unwrap_or(0));
    let mut rows = RunRows::default();
    rows.states = states;
    rows.decide(store, &tx, id, &shape, Event::Cancel).await?;
    let runs = BTreeMap::from([(id.to_owned(), rows)]);
    apply::write(store, &tx, "", &runs, 0).await?;
    // The items of its open maps do not run either: their claims are fenced too.
    tx.execute(
        "UPDATE pipeline_fleet_items SET state = 'not_run', lease_expires_at = NULL, \
         claim = nextval('pipeline_fleet_claims') \
         WHERE run_id = $1 AND state IN ('pending', 'ready', 'running')",
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
    let nodes = node_states(store, &tx, run_id).await?;
    let nodes = nodes.into_iter().map(|(id, p)| (id, p.status())).collect();
    write_summary(store, &tx, &summary(nodes)).await?;
    tx.execute("SELECT pg_notify($1, $2)", &[&DONE, &id])
        .await
        .map_err(err("write to"))?;
    // Its end lets queued runs of its key in.
    super::limits::admit_after(store, &tx, id).await?;
    tx.commit().await.map_err(err("write to"))?;
    // Its span ends with it (its nodes' spans name it as their parent).
    #[cfg(feature = "otel")]
    if let Ok(Some(header)) = super::read::header(store, run_id).await {
        let (pipeline, started) = (&header.pipeline, header.started_at_ms);
        crate::trace::run_ended(
            header.trace.as_ref(),
            pipeline,
            run_id,
            started,
            "cancelled",
        );
    }
    Ok(Some(true))
}
