//! Checks a store against the protocol the engine relies on, for the authors of custom stores:
//! a run id is taken once, one writer holds a run at a time, ownership epochs fence a writer
//! that lost its run, and an idempotency key is held by one run until it expires. Call [`check_checkpointer`] and [`check_audit_log`] from a test of your
//! store; the built-in stores pass them in this crate's backend suite.
//!
//! ```
//! use std::sync::Arc;
//! use pipeline::store::{conformance, Checkpointer, InMemoryCheckpointer};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let store = InMemoryCheckpointer::new();
//! let open = || Arc::new(store.clone()) as Arc<dyn Checkpointer>;
//! conformance::check_checkpointer(open).await.expect("the in-memory store conforms");
//! # }
//! ```

mod fixtures;
mod joint;
mod keys;
mod violation;

use fixtures::{entry, header, item_record, record};
pub use joint::check_joint;

pub use violation::Violation;
use violation::expect;

use std::sync::Arc;

use super::epoch::Epoch;
use super::error::{StoreError, StoreResult};
use super::filter::OutputFilter;
use super::records::{AuditEntry, Checkpoint};
use super::traits::{AuditLog, Checkpointer};
use super::waits::{SignalRecord, SignalSent};
use crate::data::Json;
use crate::node::MapItem;
use crate::result::WaitingOn;
use crate::run_id::RunId;

/// Checks a checkpointer; `open` gives a new handle on the same storage each call, as another
/// engine (or process) would hold.
pub async fn check_checkpointer(open: impl Fn() -> Arc<dyn Checkpointer>) -> Result<(), Violation> {
    let (first, other) = (open(), open());
    let h = header();
    let id = &h.run_id;
    let created = first.create_run(&h).await;
    expect(
        matches!(created, Ok(Epoch::FIRST)),
        "create_run starts a run at Epoch::FIRST",
        &created,
    )?;
    let again = other.create_run(&h).await;
    expect(
        matches!(again, Err(StoreError::RunExists(_) | StoreError::Locked(_))),
        "a run id is taken once",
        &again,
    )?;
    let held = other
        .resume_run(id, &OutputFilter::default())
        .await
        .map(|r| r.map(|r| r.epoch));
    expect(
        matches!(held, Err(StoreError::Locked(_))),
        "resume_run refuses a run another holder writes",
        &held,
    )?;
    first
        .save(id, Epoch::FIRST, &record("a"))
        .await
        .map_err(|e| Violation {
            rule: "save accepts the holder's epoch",
            answer: e.to_string(),
        })?;
    first.release_run(id, Epoch::FIRST);
    let resumed = other.resume_run(id, &OutputFilter::default()).await;
    let second = match &resumed {
        Ok(Some(r)) if r.epoch > Epoch::FIRST && r.checkpoint.nodes.len() == 1 => r.epoch,
        _ => {
            let rule = "resume_run takes a released run at a greater epoch, with its records";
            return Err(Violation {
                rule,
                answer: format!("{:?}", resumed.map(|r| r.map(|r| r.epoch))),
            });
        }
    };
    let stale = first.save(id, Epoch::FIRST, &record("b")).await;
    expect(
        matches!(stale, Err(StoreError::Fenced { .. })),
        "save refuses a stale epoch with StoreError::Fenced",
        &stale,
    )?;
    first.release_run(id, Epoch::FIRST);
    let still_held = open()
        .resume_run(id, &OutputFilter::default())
        .await
        .map(|r| r.map(|r| r.epoch));
    expect(
        matches!(still_held, Err(StoreError::Locked(_))),
        "release_run with a stale epoch releases nothing",
        &still_held,
    )?;
    other
        .save(id, second, &record("c"))
        .await
        .map_err(|e| Violation {
            rule: "save accepts the new holder's epoch",
            answer: e.to_string(),
        })?;
    for index in [1, 0] {
        other
            .save(id, second, &item_record("m", index))
            .await
            .map_err(|e| Violation {
                rule: "save accepts one record per item of a mapped node",
                answer: e.to_string(),
            })?;
    }
    other.release_run(id, second);
    let nodes: Vec<(String, Option<u32>, Option<String>)> = match open().load(id).await {
        Ok(Some(c)) => c
            .nodes
            .into_iter()
            .map(|n| (n.node, n.item.map(|i| i.index), n.item_digest))
            .collect(),
        other => {
            return Err(Violation {
                rule: "load reads a released run",
                answer: format!("{:?}", other.map(|c| c.map(|c| c.nodes.len()))),
            });
        }
    };
    let digest = |i: u32| Some(format!("digest-of-item-{i}"));
    let expected = [
        ("a", None, None),
        ("c", None, None),
        ("m", Some(1), digest(1)),
        ("m", Some(0), digest(0)),
    ];
    expect(
        nodes
            .iter()
            .map(|(n, i, d)| (n.as_str(), *i, d.clone()))
            .eq(expected),
        "records (with their items and item digests) are kept in order, and a refused one is not kept",
        nodes,
    )?;
    check_reads(&open, id).await?;
    check_signals(&open, id).await?;
    keys::check_keys(&open).await
}

/// The reads of a viewer: records without outputs, one node's output, the header.
async fn check_reads(
    open: &impl Fn() -> Arc<dyn Checkpointer>,
    id: &RunId,
) -> Result<(), Violation> {
    let store = open();
    let records = store.load_records(id).await;
    let fields = |c: &Checkpoint| -> Vec<(String, Option<u32>)> {
        c.nodes
            .iter()
            .map(|n| (n.node.clone(), n.item.map(|i| i.index)))
            .collect()
    };
    let whole = store.load(id).await.ok().flatten();
    expect(
        matches!((&records, &whole), (Ok(Some(r)), Some(w))
            if fields(r) == fields(w) && r.nodes.iter().all(|n| n.output.get() == "null")),
        "load_records gives every record, each output null",
        records.as_ref().map(|r| r.as_ref().map(fields)),
    )?;
    let outputs = (
        store.load_output(id, "c").await,
        store.load_output(id, "m").await,
        store.load_output(id, "no-such-node").await,
    );
    let text = |o: &StoreResult<Option<Json>>| match o {
        Ok(Some(json)) => Some(json.get().to_owned()),
        _ => None,
    };
    expect(
        text(&outputs.0).as_deref() == Some("\"c\"")
            && text(&outputs.1).as_deref() == Some("[0,1]")
            && matches!(outputs.2, Ok(None)),
        "load_output gives a node's output, a mapped node's items in order, and none for a node without records",
        (text(&outputs.0), text(&outputs.1), text(&outputs.2)),
    )?;
    let header = store.header(id).await;
    expect(
        matches!(&header, Ok(Some(h)) if h.run_id == *id && h.trace == self::header().trace),
        "header reads the run's header, its trace too",
        header.map(|h| h.map(|h| (h.run_id, h.trace))),
    )
}

fn signal(key: &str, payload: &str) -> SignalRecord {
    SignalRecord {
        wait: "approval".into(),
        key: key.into(),
        payload: Arc::from(
            serde_json::value::RawValue::from_string(payload.into())
                .unwrap_or_else(|_| serde_json::value::RawValue::NULL.to_owned()),
        ),
        sent_at_ms: 1,
    }
}

/// Signals: stored by anyone, one per wait, idempotent by key; what a run waits on, written by
/// its holder only. `id` is a released run of the store.
async fn check_signals(
    open: &impl Fn() -> Arc<dyn Checkpointer>,
    id: &RunId,
) -> Result<(), Violation> {
    let unknown = RunId::new("conformance-no-such-run").map_err(|e| Violation {
        rule: "a valid run id",
        answer: e.to_string(),
    })?;
    let sent = open().send_signal(&unknown, &signal("k", "1")).await;
    expect(
        matches!(sent, Err(StoreError::UnknownRun(_))),
        "a signal for an unknown run is refused with StoreError::UnknownRun",
        &sent,
    )?;
    let sent = open().send_signal(id, &signal("k", "1")).await;
    expect(
        matches!(sent, Ok(SignalSent::Stored)),
        "a first signal is stored",
        &sent,
    )?;
    let again = open().send_signal(id, &signal("k", "1")).await;
    expect(
        matches!(again, Ok(SignalSent::Duplicate)),
        "the same key and payload again is a duplicate",
        &again,
    )?;
    for (key, payload) in [("k", "2"), ("other", "1")] {
        let conflict = open().send_signal(id, &signal(key, payload)).await;
        expect(
            matches!(conflict, Err(StoreError::SignalConflict { .. })),
            "another signal for a wait that has one is refused with StoreError::SignalConflict",
            &conflict,
        )?;
    }
    let waits = open().waits(id).await;
    expect(
        matches!(&waits, Ok(w) if w.signals.len() == 1 && w.signal("approval").is_some_and(|s| s.payload.get() == "1")),
        "waits returns the one stored signal, to another handle",
        &waits,
    )?;
    let holder = open();
    let epoch = match holder.resume_run(id, &OutputFilter::default()).await {
        Ok(Some(resumed)) => resumed.epoch,
        other => {
            return Err(Violation {
                rule: "resume_run takes a released run",
                answer: format!("{:?}", other.map(|r| r.map(|r| r.epoch))),
            });
        }
    };
    let waiting = [
        WaitingOn {
            wait: "approval".into(),
            began_at_ms: 5,
            deadline_ms: Some(10),
            timer: false,
        },
        WaitingOn {
            wait: "cooled".into(),
            began_at_ms: 5,
            deadline_ms: Some(20),
            timer: true,
        },
    ];
    let set = holder.set_waiting(id, epoch, &waiting).await;
    expect(set.is_ok(), "set_waiting accepts the holder's epoch", &set)?;
    let stale = holder.set_waiting(id, Epoch::FIRST, &[]).await;
    expect(
        matches!(stale, Err(StoreError::Fenced { .. })),
        "set_waiting refuses a stale epoch with StoreError::Fenced",
        &stale,
    )?;
    holder.release_run(id, epoch);
    let waits = open().waits(id).await;
    expect(
        matches!(&waits, Ok(w) if w.waiting == waiting && w.signals.len() == 1 && !w.cancelled),
        "waits returns what the run waits on and keeps its signals",
        &waits,
    )?;
    let cancel = open().cancel_waits(&unknown).await;
    expect(
        matches!(cancel, Err(StoreError::UnknownRun(_))),
        "cancel_waits of an unknown run is refused with StoreError::UnknownRun",
        &cancel,
    )?;
    let cancel = open().cancel_waits(id).await;
    expect(
        cancel.is_ok(),
        "cancel_waits marks a run cancelled",
        &cancel,
    )?;
    let waits = open().waits(id).await;
    expect(
        matches!(&waits, Ok(w) if w.cancelled && w.signals.len() == 1),
        "waits says the run was cancelled, and keeps its signals",
        &waits,
    )
}

/// Checks an audit log like [`check_checkpointer`].
pub async fn check_audit_log(open: impl Fn() -> Arc<dyn AuditLog>) -> Result<(), Violation> {
    let (first, other) = (open(), open());
    let h = header();
    let id = &h.run_id;
    let entry = entry(id, "a");
    let created = first.create_run(&h).await;
    expect(
        matches!(created, Ok(Epoch::FIRST)),
        "create_run starts a trail at Epoch::FIRST",
        &created,
    )?;
    let held = other.resume_run(&h).await;
    expect(
        matches!(held, Err(StoreError::Locked(_))),
        "resume_run refuses a trail another holder writes",
        &held,
    )?;
    first.release_run(id, Epoch::FIRST);
    let second = other.resume_run(&h).await;
    let second = match second {
        Ok(epoch) if epoch > Epoch::FIRST => epoch,
        other => {
            return Err(Violation {
                rule: "resume_run takes a released trail at a greater epoch",
                answer: format!("{other:?}"),
            });
        }
    };
    let stale = first.append(Epoch::FIRST, &entry).await;
    expect(
        matches!(stale, Err(StoreError::Fenced { .. })),
        "append refuses a stale epoch with StoreError::Fenced",
        &stale,
    )?;
    // Attempt 1 of node `a`, attempts 2 and 1 of its item 3 (out of order), attempt 1 of item 0.
    let item = |index, attempt| AuditEntry {
        item: Some(MapItem { index, of: 4 }),
        attempt,
        ..entry.clone()
    };
    for entry in [entry.clone(), item(3, 2), item(3, 1), item(0, 1)] {
        other.append(second, &entry).await.map_err(|e| Violation {
            rule: "append accepts the holder's epoch",
            answer: e.to_string(),
        })?;
    }
    other.release_run(id, second);
    let entries = open().entries(id).await;
    expect(
        matches!(&entries, Ok(Some(e)) if e.len() == 4),
        "a refused entry is not kept",
        entries.as_ref().map(|e| e.as_ref().map(Vec::len)),
    )?;
    let first_entry = entries.ok().flatten().and_then(|e| e.into_iter().next());
    expect(
        matches!(&first_entry, Some(e) if e.logs == entry.logs && e.logs_dropped == 2),
        "an entry reads back with its log",
        first_entry.map(|e| (e.logs, e.logs_dropped)),
    )?;
    let last = open().last_attempts(id).await;
    expect(
        matches!(&last, Ok(l) if l.last("a", None) == 1 && l.last("a", Some(3)) == 2
            && l.last("a", Some(0)) == 1 && l.last("a", Some(1)) == 0 && l.last("b", None) == 0),
        "last_attempts gives each node's and item's highest attempt number",
        &last,
    )
}
