//! Reading [`PostgresStore`]'s checkpoints: a run's header, and its records with the outputs a
//! reader asks for (all, none, or one node's), fetched from the server only when asked for.

use std::sync::Arc;

use serde_json::value::RawValue;

use super::PostgresStore;
use crate::node::MapItem;
use crate::run_id::RunId;
use crate::store::error::StoreResult;
use crate::store::records::{Checkpoint, NodeRecord, RunHeader};

const RECORDS: &str = "pipeline_node_records";

/// Which outputs a checkpoint read fetches from the server.
#[derive(Clone, Copy)]
pub(super) enum Fetch<'a> {
    /// Every record's.
    All,
    /// None: every output `null`.
    NoOutputs,
    /// Only the records of this node, with their outputs.
    Node(&'a str),
}

impl PostgresStore {
    /// The header of `run_id` in `table` (`pipeline_runs` or `pipeline_audit_runs`), by a
    /// statement prepared once per connection.
    pub(crate) async fn header(
        &self,
        client: &deadpool_postgres::Object,
        table: &'static str,
        run_id: &RunId,
    ) -> StoreResult<Option<RunHeader>> {
        let sql = match table {
            "pipeline_audit_runs" => "SELECT header FROM pipeline_audit_runs WHERE run_id = $1",
            _ => "SELECT header FROM pipeline_runs WHERE run_id = $1",
        };
        let statement = self.prepared(client, sql).await?;
        let row = client
            .query_opt(&statement, &[&run_id.as_str()])
            .await
            .map_err(self.error("read"))?;
        row.map(|row| {
            serde_json::from_slice(row.get::<_, &[u8]>(0))
                .map_err(|e| self.corrupt(table, 0, "run header", e))
        })
        .transpose()
    }

    /// The run's checkpoint, with the outputs `keep` does not want left out as `null`.
    pub(super) async fn checkpoint(
        &self,
        client: &deadpool_postgres::Object,
        run_id: &RunId,
        keep: impl Fn(&str) -> bool,
    ) -> StoreResult<Option<Checkpoint>> {
        self.checkpoint_fetching(client, run_id, Fetch::All, keep)
            .await
    }

    /// The run's checkpoint as `fetch` reads it from the server, with the outputs `keep` does not
    /// want left out as `null`.
    pub(super) async fn checkpoint_fetching(
        &self,
        client: &deadpool_postgres::Object,
        run_id: &RunId,
        fetch: Fetch<'_>,
        keep: impl Fn(&str) -> bool,
    ) -> StoreResult<Option<Checkpoint>> {
        let Some(header) = self.header(client, "pipeline_runs", run_id).await? else {
            return Ok(None);
        };
        let columns = "SELECT seq, node, attempt, started_at_ms, finished_at_ms, duration_us";
        let rest = "item, items, item_digest FROM pipeline_node_records WHERE run_id = $1";
        let rows = match fetch {
            Fetch::All => {
                let sql = format!("{columns}, output, {rest} ORDER BY seq");
                client.query(&sql, &[&run_id.as_str()]).await
            }
            Fetch::NoOutputs => {
                let sql = format!("{columns}, NULL::bytea, {rest} ORDER BY seq");
                client.query(&sql, &[&run_id.as_str()]).await
            }
            Fetch::Node(node) => {
                let sql = format!("{columns}, output, {rest} AND node = $2 ORDER BY seq");
                client.query(&sql, &[&run_id.as_str(), &node]).await
            }
        }
        .map_err(self.error("read"))?;
        let mut nodes = Vec::with_capacity(rows.len());
        for row in rows {
            let seq: i64 = row.get(0);
            let node: String = row.get(1);
            let item = match (row.get::<_, i32>(7), row.get::<_, Option<i32>>(8)) {
                (-1, None) => None,
                (index, Some(of)) if (0..of).contains(&index) => Some(MapItem {
                    index: index as u32,
                    of: of as u32,
                }),
                (index, of) => {
                    let reason = format!("item {index} of {of:?} is not an item of a list");
                    return Err(self.corrupt(RECORDS, seq, "node record", &reason));
                }
            };
            let output = match (keep(&node), row.get::<_, Option<Vec<u8>>>(6)) {
                (true, Some(bytes)) => self.stored_output(seq, bytes)?,
                _ => null(),
            };
            nodes.push(NodeRecord {
                node,
                attempt: row.get::<_, i32>(2).try_into().unwrap_or(0),
                started_at_ms: non_negative(row.get::<_, i64>(3)),
                finished_at_ms: non_negative(row.get::<_, i64>(4)),
                duration_us: non_negative(row.get::<_, i64>(5)),
                output: Arc::from(output),
                item,
                item_digest: row.get(9),
            });
        }
        Ok(Some(Checkpoint { header, nodes }))
    }

    /// The output of node record `seq`, as its stored bytes (which must be JSON text) say.
    pub(crate) fn stored_output(&self, seq: i64, bytes: Vec<u8>) -> StoreResult<Box<RawValue>> {
        let corrupt = |e: &dyn std::fmt::Display| self.corrupt(RECORDS, seq, "node output", e);
        let text = String::from_utf8(bytes).map_err(|e| corrupt(&e))?;
        RawValue::from_string(text).map_err(|e| corrupt(&e))
    }
}

fn null() -> Box<RawValue> {
    RawValue::from_string("null".to_owned()).unwrap_or_else(|_| unreachable!("`null` is JSON"))
}

/// A count or time read from a signed column: negative (never written so) reads as 0.
pub(super) fn non_negative<T: TryInto<u64> + Copy>(n: T) -> u64 {
    n.try_into().unwrap_or(0)
}
