//! A failed fleet run resumed on the fleet: its nodes that did not complete are made ready again
//! (or waiting for their upstream nodes) as the run's state machine starts a resumed run
//! (`machine::initial`), in one transaction with the run's state and summary, and the workers
//! are woken to run them.

use super::apply::lock_run;
use super::queue::{READY, write_summary};
use crate::machine::{self, Phase, Shape};
use crate::result::NodeNames;
use crate::run_id::RunId;
use crate::store::LastAttempts;
use crate::store::postgres::audit::last_attempts;
use crate::store::postgres::fleet::row_state;
use crate::store::{PostgresStore, RunSummary, StoreResult};

/// What reopening a run found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Reopened {
    /// The fleet never had the run.
    NotFleet,
    /// The run is running: nothing changed. The nodes it completed.
    Running(Vec<u32>),
    /// The run completed or was cancelled: nothing to run again. The nodes it completed.
    Ended(Vec<u32>),
    /// The run failed, and its nodes that did not complete are ready to run again. The nodes it
    /// had completed (the resumed run restores them).
    Again(Vec<u32>),
}

/// Reopens failed run `run_id` of a graph of shape `shape`; `summary` is the run's summary as
/// it starts again, given the indexes of the nodes that completed.
pub(crate) async fn reopen<G: Shape + NodeNames + ?Sized>(
    store: &PostgresStore,
    run_id: &RunId,
    shape: &G,
    summary: impl FnOnce(&[u32]) -> RunSummary,
) -> StoreResult<Reopened> {
    let mut client = store.client().await?;
    let err = |op| store.error(op);
    let tx = client.transaction().await.map_err(err("write to"))?;
    let id = run_id.as_str();
    let Some((state, rows)) = lock_run(store, &tx, id).await? else {
        return Ok(Reopened::NotFleet);
    };
    let mut done = vec![false; shape.node_count()];
    for (node, state) in rows {
        if let Some(done) = done.get_mut(node as usize) {
            *done = state.phase == Phase::Completed;
        }
    }
    let completed: Vec<u32> = (0..done.len() as u32)
        .filter(|&n| done[n as usize])
        .collect();
    match state.as_str() {
        "failed" => {}
        "running" => return Ok(Reopened::Running(completed)),
        _ => return Ok(Reopened::Ended(completed)),
    }
    let states = machine::initial(shape, |node| done[node as usize]);
    let again: Vec<(i32, &str, i32)> = (0..states.len())
        .filter(|&node| states[node].phase != Phase::Completed)
        .map(|node| {
            let state = states[node];
            let waiting = i32::try_from(state.unresolved).unwrap_or(i32::MAX);
            (node as i32, row_state(state.phase), waiting)
        })
        .collect();
    let nodes: Vec<i32> = again.iter().map(|a| a.0).collect();
    let row_states: Vec<&str> = again.iter().map(|a| a.1).collect();
    let waiting: Vec<i32> = again.iter().map(|a| a.2).collect();
    // Attempt numbers go on from the audit trail's, as in one process (`engine::lifecycle`).
    let last = last_attempts(&tx, run_id).await.map_err(err("read"))?;
    let before: Vec<i32> = nodes
        .iter()
        .map(|&n| clamp(last.last(shape.id(n as u32), None)))
        .collect();
    // An array literal per node (`{1,0,3}`, by item index from 1), or NULL: unnest takes no
    // array of arrays of different lengths.
    let item_before: Vec<Option<String>> = nodes
        .iter()
        .map(|&n| item_attempts(&last, shape.id(n as u32)))
        .collect();
    tx.execute(
        "UPDATE pipeline_fleet_nodes n SET state = u.state, waiting = u.waiting, blocked = false, \
         attempt = u.before + 1, attempts_before = u.before, \
         item_attempts_before = u.items::int[], error = NULL, worker = NULL, \
         lease_expires_at = NULL, began = false, resolved_at = NULL, not_before = now(), \
         items = NULL, items_left = NULL, started_at = NULL \
         FROM unnest($2::int[], $3::text[], $4::int[], $5::int[], $6::text[]) \
              AS u (node, state, waiting, before, items) \
         WHERE n.run_id = $1 AND n.node = u.node",
        &[&id, &nodes, &row_states, &waiting, &before, &item_before],
    )
    .await
    .map_err(err("write to"))?;
    // A mapped node opens again on its list: the items it completed keep their records, and
    // only the others run (see `items::open`).
    tx.execute(
        "DELETE FROM pipeline_fleet_items WHERE run_id = $1 AND node = ANY($2)",
        &[&id, &nodes],
    )
    .await
    .map_err(err("write to"))?;
    let remaining = i32::try_from(again.len()).unwrap_or(i32::MAX);
    tx.execute(
        "UPDATE pipeline_fleet_runs SET state = 'running', remaining = $2, ended_at = NULL \
         WHERE run_id = $1",
        &[&id, &remaining],
    )
    .await
    .map_err(err("write to"))?;
    let summary = summary(&completed);
    write_summary(store, &tx, &summary).await?;
    tx.execute(&format!("NOTIFY {READY}"), &[])
        .await
        .map_err(err("write to"))?;
    tx.commit().await.map_err(err("write to"))?;
    crate::metrics::run_started(&summary.pipeline);
    Ok(Reopened::Again(completed))
}

fn clamp(attempt: u32) -> i32 {
    i32::try_from(attempt).unwrap_or(i32::MAX)
}

/// The last attempts of mapped node `node`'s items as a PostgreSQL array literal, by item index
/// from 1 (0 for an item with none); `None` when no item made one.
fn item_attempts(last: &LastAttempts, node: &str) -> Option<String> {
    let items = last.items(node);
    let of = items.iter().map(|&(index, _)| index as usize + 1).max()?;
    let mut by_index = vec![0; of];
    for (index, attempt) in items {
        by_index[index as usize] = clamp(attempt);
    }
    let text: Vec<String> = by_index.iter().map(i32::to_string).collect();
    Some(format!("{{{}}}", text.join(",")))
}
