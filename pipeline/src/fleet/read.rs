//! Reading the fleet's runs: a run's state and nodes, stored outputs, a run's header.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use deadpool_postgres::Transaction;

use crate::data::Json;
use crate::machine::Phase;
use crate::run_id::RunId;
use crate::store::postgres::fleet::{STATE, phase};
use crate::store::{PostgresStore, RunHeader, StoreResult};

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
            &format!(
                "SELECT node_id, {STATE}, attempt, error FROM pipeline_fleet_nodes \
                 WHERE run_id = $1 ORDER BY node"
            ),
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
) -> StoreResult<HashMap<String, Json>> {
    if nodes.is_empty() {
        return Ok(HashMap::new());
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
    let mut outputs = HashMap::new();
    for row in rows {
        let json = store.stored_output(row.get(0), row.get(2))?;
        outputs.insert(row.get(1), Arc::from(json));
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

/// Each node's phase in a run, by node id, read in a transaction.
pub(crate) async fn node_states(
    store: &PostgresStore,
    tx: &Transaction<'_>,
    run_id: &RunId,
) -> StoreResult<BTreeMap<String, Phase>> {
    let rows = tx
        .query(
            "SELECT node_id, state, began FROM pipeline_fleet_nodes WHERE run_id = $1",
            &[&run_id.as_str()],
        )
        .await
        .map_err(store.error("read"))?;
    Ok(rows
        .iter()
        .map(|r| {
            let phase = phase(r.get(1), r.get(2)).unwrap_or(Phase::NotRun);
            (r.get(0), phase)
        })
        .collect())
}
