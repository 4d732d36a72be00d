//! Node limits on a fleet ([`NodeOptions::limit`](crate::NodeOptions::limit)): the executions of
//! a limited node (its claimed rows, or its map's claimed items) across every worker stay within
//! its limit. A worker claims the rows of a limited node apart from the others: under a
//! transaction-scoped advisory lock of the pipeline and node (so two workers never count at once),
//! it counts the executions whose lease holds and claims at most the rest of the limit. The same
//! limit in one process is `engine::limits`.

use deadpool_postgres::Transaction;

use crate::graph::ServedGraph;
use crate::store::{PostgresStore, StoreResult};

/// A node with a limit, of a pipeline a worker serves.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Limited {
    pub pipeline: String,
    pub node_id: String,
    pub fingerprint: String,
    pub node: u32,
    pub limit: u32,
}

impl Limited {
    /// The limited nodes of `graph`.
    pub fn of(graph: &dyn ServedGraph) -> Vec<Limited> {
        let nodes = graph.nodes().iter().enumerate();
        nodes
            .filter_map(|(index, node)| {
                Some(Limited {
                    pipeline: graph.name().to_owned(),
                    node_id: node.id.to_string(),
                    fingerprint: graph.fingerprint().to_owned(),
                    node: index as u32,
                    limit: node.options.limit?,
                })
            })
            .collect()
    }

    /// How the claim statement names the node's rows and items: `fingerprint/node`.
    pub fn key(&self) -> String {
        format!("{}/{}", self.fingerprint, self.node)
    }
}

/// The claim statement's filter on the node of a row or item: `$6` names the one node to claim
/// (`fingerprint/node`; NULL for any), `$5` the nodes never to claim here (the limited ones).
macro_rules! limited_filter {
    () => {
        "($6::text IS NULL OR fingerprint || '/' || node = $6) \
         AND NOT (fingerprint || '/' || node = ANY($5::text[]))"
    };
}
pub(crate) use limited_filter;

/// How many more executions of `node` may start now, under its lock (held until `tx` ends).
pub(crate) async fn room(
    store: &PostgresStore,
    tx: &Transaction<'_>,
    node: &Limited,
) -> StoreResult<usize> {
    // The lock first, in a statement of its own: the count's statement then sees every claim
    // committed by the worker that held the lock before.
    tx.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended('pipeline:limit:' || $1 || '/' || $2, 0))",
        &[&node.pipeline, &node.node_id],
    )
    .await
    .map_err(store.error("claim nodes in"))?;
    let row = tx
        .query_one(
            "SELECT (SELECT count(*) FROM pipeline_fleet_nodes n \
                  JOIN pipeline_fleet_runs r ON r.run_id = n.run_id \
                  WHERE r.pipeline = $1 AND n.node_id = $2 AND n.state = 'running' \
                    AND n.items IS NULL AND n.lease_expires_at >= now()) + \
               (SELECT count(*) FROM pipeline_fleet_items i \
                  JOIN pipeline_fleet_nodes n ON n.run_id = i.run_id AND n.node = i.node \
                  JOIN pipeline_fleet_runs r ON r.run_id = i.run_id \
                  WHERE r.pipeline = $1 AND n.node_id = $2 AND i.state = 'running' \
                    AND i.lease_expires_at >= now())",
            &[&node.pipeline, &node.node_id],
        )
        .await
        .map_err(store.error("claim nodes in"))?;
    let running = row.get::<_, i64>(0).max(0) as usize;
    Ok((node.limit as usize).saturating_sub(running))
}
