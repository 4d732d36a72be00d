//! Reading the fleet's runs: a run's state and nodes, stored outputs, a run's header.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use deadpool_postgres::Transaction;

use super::claim::Claimed;
use serde_json::value::RawValue;

use crate::data::{Json, Value, json_list};
use crate::graph::ServedGraph;
use crate::machine::Phase;
use crate::result::ItemFailure;
use crate::run_id::RunId;
use crate::store::postgres::fleet::{STATE, phase};
use crate::store::{PostgresStore, RunHeader, StoreError, StoreResult};
use crate::trace::RunTrace;

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
    /// For a mapped node, its items that failed, in item order.
    pub failed_items: Vec<ItemFailure>,
    /// For a wait that began: when (ms since the Unix epoch), and when it is due (never when
    /// `None`: a signal without a timeout).
    pub began: Option<(u64, Option<u64>)>,
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
                "SELECT node_id, {STATE}, attempt, error, node, \
                 CASE WHEN began THEN (extract(epoch FROM started_at) * 1000)::float8 END, \
                 CASE WHEN not_before < 'infinity' \
                      THEN (extract(epoch FROM not_before) * 1000)::float8 END \
                 FROM pipeline_fleet_nodes WHERE run_id = $1 ORDER BY node"
            ),
            &[&id],
        )
        .await
        .map_err(store.error("read"))?;
    let failed = client
        .query(
            "SELECT node, item, coalesce(error, ''), attempt FROM pipeline_fleet_items \
             WHERE run_id = $1 AND state = 'failed' ORDER BY node, item",
            &[&id],
        )
        .await
        .map_err(store.error("read"))?;
    let mut failed_items: HashMap<i32, Vec<ItemFailure>> = HashMap::new();
    for r in &failed {
        let failed = super::items::failed_item(r, [1, 2, 3]);
        failed_items.entry(r.get(0)).or_default().push(failed);
    }
    let nodes = rows
        .iter()
        .map(|r| NodeRow {
            id: r.get(0),
            state: r.get(1),
            attempt: r.get::<_, i32>(2).max(0) as u32,
            error: r.get(3),
            failed_items: failed_items.remove(&r.get::<_, i32>(4)).unwrap_or_default(),
            began: r.get::<_, Option<f64>>(5).map(|at| {
                let due = r.get::<_, Option<f64>>(6).map(|due| due.max(0.0) as u64);
                (at.max(0.0) as u64, due)
            }),
        })
        .collect();
    Ok(Some(RunRow {
        state: run.get(0),
        nodes,
    }))
}

/// The stored outputs of `nodes` of a run, by node id: a node's whole output, or a mapped
/// node's list of its items' outputs in item order once every item has a record (a map's item
/// records all have its list's length: the records of another list are removed when it opens).
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
            &store
                .prepared(
                    &client,
                    "SELECT seq, node, output, item, items FROM pipeline_node_records \
                     WHERE run_id = $1 AND node = ANY($2) ORDER BY node, item",
                )
                .await?,
            &[&run_id.as_str(), &nodes],
        )
        .await
        .map_err(store.error("read"))?;
    let mut outputs = HashMap::new();
    let mut lists: HashMap<String, Vec<Box<RawValue>>> = HashMap::new();
    for row in rows {
        let json = store.stored_output(row.get(0), row.get(2))?;
        let (item, of): (i32, Option<i32>) = (row.get(3), row.get(4));
        match of {
            None => {
                outputs.insert(row.get(1), Arc::from(json));
            }
            Some(of) => {
                let list = lists.entry(row.get(1)).or_default();
                // In item order: a list is whole when item `i` is its `i`th record.
                if item as usize == list.len() && item < of {
                    list.push(json);
                    if list.len() == of as usize {
                        let whole = json_list(list.iter().map(|j| &**j));
                        if let (Some(whole), Some(node)) = (whole, row.get::<_, Option<String>>(1))
                        {
                            outputs.insert(node, whole);
                        }
                    }
                }
            }
        }
    }
    Ok(outputs)
}

/// The header of a stored run.
pub(crate) async fn header(
    store: &PostgresStore,
    run_id: &RunId,
) -> StoreResult<Option<RunHeader>> {
    let client = store.client().await?;
    store.header(&client, "pipeline_runs", run_id).await
}

/// Each node's phase in a run, by node id, read in a transaction.
pub(crate) async fn node_states(
    store: &PostgresStore,
    tx: &Transaction<'_>,
    run_id: &RunId,
) -> StoreResult<BTreeMap<String, Phase>> {
    let rows = tx
        .query(
            &store
                .prepared(
                    tx,
                    "SELECT node_id, state, began FROM pipeline_fleet_nodes WHERE run_id = $1",
                )
                .await?,
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

/// A run's pipeline input values, decoded once per run, or why they do not decode.
pub(crate) type RunInputs = Result<Arc<Vec<Value>>, String>;

/// What a worker keeps of a run it runs nodes of: its decoded inputs, its start, its trace.
pub(crate) type KnownRun = (RunInputs, u64, Option<RunTrace>);

/// The run's decoded pipeline inputs (or why they do not decode, which fails the node), its
/// start time and its trace; `None` when the run is gone.
/// `known` caches them by run.
pub(crate) async fn run_inputs(
    store: &PostgresStore,
    known: &Mutex<HashMap<RunId, KnownRun>>,
    graph: &Arc<dyn ServedGraph>,
    claimed: &Claimed,
) -> StoreResult<Option<KnownRun>> {
    if let Some(known) = crate::sync::lock(known).get(&claimed.run_id) {
        return Ok(Some(known.clone()));
    }
    // A damaged header fails the node (and so the run), naming the damage: retrying could only
    // leave the run running forever.
    let (inputs, started_at_ms, trace) = match header(store, &claimed.run_id).await {
        Ok(Some(header)) => {
            let inputs = graph
                .inputs(&header.inputs)
                .map(Arc::new)
                .map_err(|e| format!("the run's inputs do not decode: {e}"));
            (inputs, header.started_at_ms, header.trace)
        }
        Ok(None) => return Ok(None),
        Err(e @ StoreError::CorruptRow { .. }) => (
            Err(format!("the run's stored header is damaged: {e}")),
            crate::store::now_ms(),
            None,
        ),
        Err(e) => return Err(e),
    };
    let mut runs = crate::sync::lock(known);
    if runs.len() > 1024 {
        runs.clear();
    }
    let known = (inputs, started_at_ms, trace);
    runs.insert(claimed.run_id.clone(), known.clone());
    Ok(Some(known))
}
