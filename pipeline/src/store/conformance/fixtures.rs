//! What the conformance checks write: a run's header, records and audit entries.

use std::sync::Arc;

use crate::data::Json;
use crate::graph::GraphSignature;
use crate::node::MapItem;
use crate::run_id::RunId;
use crate::store::records::{AuditEntry, AuditStatus, FORMAT_VERSION, NodeRecord, RunHeader};
use crate::trace::{LogLine, RunTrace, TraceParent};

pub(super) fn header() -> RunHeader {
    RunHeader {
        format_version: FORMAT_VERSION,
        run_id: RunId::generate(),
        pipeline: "conformance".into(),
        fingerprint: "0".repeat(16),
        graph: std::sync::Arc::new(GraphSignature {
            inputs: Vec::new(),
            nodes: Vec::new(),
        }),
        inputs: Arc::from(serde_json::value::RawValue::NULL.to_owned()),
        started_at_ms: 0,
        // Stored as it is, as every field: a run's trace crosses processes in it.
        trace: TraceParent::new(0xabc, 0xdef, true).map(|run| RunTrace {
            run,
            parent: TraceParent::new(0xabc, 0x123, false),
        }),
    }
}

pub(super) fn record(node: &str) -> NodeRecord {
    NodeRecord {
        node: node.into(),
        attempt: 1,
        started_at_ms: 0,
        finished_at_ms: 0,
        duration_us: 0,
        output: json(node),
        item: None,
        item_digest: None,
    }
}

/// `value` as JSON (`null` if it could not be written, which a string or a number never is).
pub(super) fn json(value: impl serde::Serialize) -> Json {
    crate::data::to_json(&value)
        .unwrap_or_else(|_| Arc::from(serde_json::value::RawValue::NULL.to_owned()))
}

/// The record of item `index` of 2 of mapped node `node`.
pub(super) fn item_record(node: &str, index: u32) -> NodeRecord {
    NodeRecord {
        item: Some(MapItem { index, of: 2 }),
        item_digest: Some(format!("digest-of-item-{index}")),
        output: json(index),
        ..record(node)
    }
}

/// Attempt 1 of node `node` of run `run_id`, completed, with a log.
pub(super) fn entry(run_id: &RunId, node: &str) -> AuditEntry {
    AuditEntry {
        run_id: run_id.clone(),
        node: node.into(),
        item: None,
        status: AuditStatus::Completed,
        attempt: 1,
        started_at_ms: 0,
        finished_at_ms: 0,
        duration_us: 0,
        inputs: Default::default(),
        input_refs: Vec::new(),
        output: None,
        output_in_checkpoint: false,
        error: None,
        worker: None,
        retry_at_ms: None,
        cached_from: None,
        // Kept as they are, as every field: the attempt's log is in its entry.
        logs: vec![LogLine {
            at_ms: 1,
            level: "WARN".into(),
            target: "app::fetch".into(),
            message: "slow \"answer\" ms=950".into(),
        }],
        logs_dropped: 2,
    }
}
