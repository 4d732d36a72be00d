//! The rules of a store that writes a node's record and its audit entry in one commit
//! ([`Checkpointer::save_with_entry`]): both or neither, each under its own epoch.

use std::sync::Arc;

use super::violation::{Violation, expect};
use super::{entry, header, record};
use crate::store::error::StoreError;
use crate::store::filter::OutputFilter;
use crate::store::traits::{AuditLog, Checkpointer};

/// Checks [`Checkpointer::save_with_entry`] of a checkpointer and audit log that give the same
/// [`commit_place`](Checkpointer::commit_place) (a pair that does not passes): `open` gives a new
/// pair on the same storage each call, as another engine (or process) would hold.
pub async fn check_joint(
    open: impl Fn() -> (Arc<dyn Checkpointer>, Arc<dyn AuditLog>),
) -> Result<(), Violation> {
    let (checkpointer, audit) = open();
    if checkpointer.commit_place().is_none() || checkpointer.commit_place() != audit.commit_place()
    {
        return Ok(());
    }
    let h = header();
    let id = &h.run_id;
    let (epoch, audit_epoch) = match (
        checkpointer.create_run(&h).await,
        audit.create_run(&h).await,
    ) {
        (Ok(c), Ok(a)) => (c, a),
        other => {
            return Err(Violation {
                rule: "create_run starts a run in both",
                answer: format!("{other:?}"),
            });
        }
    };
    let saved = checkpointer
        .save_with_entry(id, epoch, &record("a"), audit_epoch, &entry(id, "a"))
        .await;
    expect(
        saved.is_ok(),
        "save_with_entry writes for the holder of both epochs",
        &saved,
    )?;

    // The trail is taken over: the record must not be written without its entry.
    audit.release_run(id, audit_epoch);
    let (_, other_audit) = open();
    let taken = other_audit.resume_run(&h).await;
    let Ok(new_audit) = taken else {
        return Err(Violation {
            rule: "resume_run takes a released trail",
            answer: format!("{taken:?}"),
        });
    };
    let stale = checkpointer
        .save_with_entry(id, epoch, &record("b"), audit_epoch, &entry(id, "b"))
        .await;
    expect(
        matches!(stale, Err(StoreError::Fenced { .. })),
        "save_with_entry refuses a stale audit epoch with StoreError::Fenced",
        &stale,
    )?;
    // The run is taken over: the entry must not be written without its record.
    checkpointer.release_run(id, epoch);
    let (other, _) = open();
    let resumed = other.resume_run(id, &OutputFilter::default()).await;
    let new_epoch = match resumed {
        Ok(Some(r)) if r.epoch > epoch => r.epoch,
        other => {
            return Err(Violation {
                rule: "resume_run takes a released run at a greater epoch",
                answer: format!("{other:?}"),
            });
        }
    };
    let stale = other
        .save_with_entry(id, epoch, &record("c"), new_audit, &entry(id, "c"))
        .await;
    expect(
        matches!(stale, Err(StoreError::Fenced { .. })),
        "save_with_entry refuses a stale checkpoint epoch with StoreError::Fenced",
        &stale,
    )?;
    other.release_run(id, new_epoch);
    other_audit.release_run(id, new_audit);
    let (reader, reader_audit) = open();
    let nodes = reader
        .load(id)
        .await
        .map(|c| c.map(|c| c.nodes.iter().map(|n| n.node.clone()).collect::<Vec<_>>()));
    expect(
        matches!(&nodes, Ok(Some(n)) if n == &["a"]),
        "a refused save_with_entry keeps no record",
        &nodes,
    )?;
    let entries = reader_audit
        .entries(id)
        .await
        .map(|e| e.map(|e| e.iter().map(|e| e.node.clone()).collect::<Vec<_>>()));
    expect(
        matches!(&entries, Ok(Some(n)) if n == &["a"]),
        "a refused save_with_entry keeps no entry",
        &entries,
    )?;
    Ok(())
}
