//! What a commit writes beside the fleet's rows: the checkpoint records of the nodes and items
//! that completed, and the audit entries of every attempt.

use deadpool_postgres::Transaction;

use super::resolution::{Item, Resolution};
use crate::store::{AuditEntry, NodeRecord, PostgresStore, StoreError, StoreResult};
use tokio_postgres::types::ToSql;

/// A statement's parameter.
pub(crate) type Param<'a> = &'a (dyn ToSql + Sync);

/// The checkpoint records of the nodes and items of `items` that completed (a record already
/// there, from a claim that committed before, is kept).
pub(super) async fn insert_records(
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
    insert(store, tx, &records).await
}

/// Inserts `records`, each of its run.
pub(super) async fn insert(
    store: &PostgresStore,
    tx: &Transaction<'_>,
    records: &[(&str, &NodeRecord)],
) -> StoreResult<()> {
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
    let item: Vec<i32> = records
        .iter()
        .map(|r| r.1.item.map_or(-1, |i| i.index as i32))
        .collect();
    let of: Vec<Option<i32>> = records
        .iter()
        .map(|r| r.1.item.map(|i| i.of as i32))
        .collect();
    let digests: Vec<Option<&str>> = records.iter().map(|r| r.1.item_digest.as_deref()).collect();
    let params: [Param<'_>; 10] = [
        &ids, &nodes, &attempts, &started, &finished, &durations, &outputs, &item, &of, &digests,
    ];
    let statement = store
        .prepared(
            tx,
            "INSERT INTO pipeline_node_records (run_id, node, attempt, started_at_ms, \
             finished_at_ms, duration_us, output, item, items, item_digest) \
             SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::bigint[], \
                                  $5::bigint[], $6::bigint[], $7::bytea[], $8::int[], \
                                  $9::int[], $10::text[]) \
             ON CONFLICT (run_id, node, item) DO NOTHING",
        )
        .await?;
    tx.execute(&statement, &params)
        .await
        .map_err(store.error("write to"))?;
    Ok(())
}

/// The audit entries of `items`' attempts, by `worker`.
pub(super) async fn insert_entries(
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
    let statement = store
        .prepared(
            tx,
            "INSERT INTO pipeline_audit_entries (run_id, entry, node, attempt, worker) \
             SELECT r, e, n, a, $5 FROM unnest($1::text[], $2::bytea[], $3::text[], $4::int[]) \
             AS t (r, e, n, a)",
        )
        .await?;
    tx.execute(&statement, &[&ids, &bytes, &nodes, &attempts, &worker])
        .await
        .map_err(store.error("write to"))?;
    Ok(())
}
