//! What a node's life writes to the stores: its checkpoint record and its audit entries (one
//! per attempt), and the warnings a failed write leaves.

use std::sync::Arc;

use super::attempt::{Attempt, AuditedInputs, Encoded, Ended};
use super::node_task::NodeTask;
use crate::data::canonical_digest;
use crate::event::EventHandler;
use crate::metrics::{self, Record};
use crate::result::{PersistenceWarning, WarningSource};
use crate::run_id::RunId;
use crate::store::{AuditDetail, AuditEntry, AuditStatus, NodeRecord, StoreError};

impl NodeTask<'_> {
    /// Writes the checkpoint record (when the output round-trips) and the audit entry, sharing
    /// the one encoding: in one commit when the stores commit in one place
    /// ([`Checkpointer::save_with_entry`](crate::store::Checkpointer::save_with_entry)), else
    /// the record first. Returns whether the checkpoint now holds the output. `cached_from`: the
    /// output was restored from the cache, computed by that run.
    pub(super) async fn persist(
        &mut self,
        attempt: &Attempt,
        ended: Ended,
        encoded: &Encoded,
        cached_from: Option<&RunId>,
    ) -> bool {
        let json = &encoded.json;
        let record = match (&self.shared.checkpointer, json, encoded.checkpoint) {
            (Some(_), Some(output), true) => Some(NodeRecord {
                node: self.node.id.as_ref().to_owned(),
                attempt: attempt.number,
                started_at_ms: attempt.started_at_ms,
                finished_at_ms: ended.finished_at_ms,
                duration_us: ended.duration.as_micros() as u64,
                output: Arc::clone(output),
                item: self.job.item,
                item_digest: self.item_digest(),
            }),
            _ => None,
        };
        let mut entry = self.shared.audit.is_some().then(|| {
            let status = match cached_from {
                Some(_) => AuditStatus::Cached,
                None => AuditStatus::Completed,
            };
            let mut entry = self.entry(attempt, ended, status, true);
            entry.cached_from = cached_from.cloned();
            match self.shared.audit_detail {
                AuditDetail::None => {}
                // Set below, once the record is in the checkpoint.
                AuditDetail::References if record.is_some() => {}
                _ => entry.output = json.clone(),
            }
            entry
        });
        let mut checkpointed = false;
        if let (Some(checkpointer), Some(record)) = (&self.shared.checkpointer, &record) {
            let (run_id, epoch) = (&self.shared.run_id, self.shared.checkpoint_epoch);
            let saved = match &mut entry {
                Some(entry) if self.shared.joint => {
                    let timer = metrics::store_write_timer(Record::Both);
                    let by_reference = self.shared.audit_detail == AuditDetail::References;
                    entry.output_in_checkpoint = by_reference;
                    let audit_epoch = self.shared.audit_epoch;
                    let saved = checkpointer
                        .save_with_entry(run_id, epoch, record, audit_epoch, entry)
                        .await;
                    metrics::store_write(Record::Both, timer);
                    match saved {
                        Ok(()) => return true,
                        // Neither was written: the entry is appended alone below, and holds the
                        // output itself.
                        Err(e) => {
                            entry.output_in_checkpoint = false;
                            Err(e)
                        }
                    }
                }
                _ => {
                    let timer = metrics::store_write_timer(Record::Checkpoint);
                    let saved = checkpointer.save(run_id, epoch, record).await;
                    metrics::store_write(Record::Checkpoint, timer);
                    saved
                }
            };
            match saved {
                Ok(()) => checkpointed = true,
                Err(e) => self.store_failed(WarningSource::Checkpoint, e),
            }
        }
        if let Some(mut entry) = entry {
            match self.shared.audit_detail {
                AuditDetail::References if checkpointed => entry.output_in_checkpoint = true,
                AuditDetail::References => entry.output = json.clone(),
                _ => {}
            }
            self.append(entry).await;
        }
        checkpointed
    }

    /// The canonical digest of this call's item, for its record: a resume reuses the record only
    /// for an item with this digest. `None` for an ordinary node, or an item that does not
    /// serialize (its record is then never reused).
    pub(super) fn item_digest(&self) -> Option<String> {
        let (item, map) = (self.job.item?, self.node.map.as_ref()?);
        let json = (map.item_input)(self.job.args.get(map.each), map.each, item.index)?;
        canonical_digest(json.get()).ok()
    }

    /// The audit entry of a failed attempt; `retry`, the backoff before the next attempt (`None`
    /// when this was the last).
    pub(super) async fn audit_failure(
        &mut self,
        attempt: &Attempt,
        ended: Ended,
        error: &str,
        retry: Option<std::time::Duration>,
    ) {
        if self.shared.audit.is_some() {
            let mut entry = self.entry(attempt, ended, AuditStatus::Failed, retry.is_none());
            entry.error = Some(error.to_owned());
            entry.retry_at_ms =
                retry.map(|delay| crate::store::ms_after(entry.finished_at_ms, delay));
            self.append(entry).await;
        }
    }

    /// The audit entry of an attempt; `last` when the node makes no other (its recorded
    /// arguments are then moved into the entry, not copied).
    pub(super) fn entry(
        &mut self,
        attempt: &Attempt,
        ended: Ended,
        status: AuditStatus,
        last: bool,
    ) -> AuditEntry {
        let inputs = match last {
            true => self.job.inputs.take(),
            false => self.job.inputs.as_ref().map(|i| AuditedInputs {
                copies: i.copies.clone(),
                refs: i.refs.clone(),
                keyed: None,
            }),
        };
        let inputs = inputs.unwrap_or_default();
        AuditEntry {
            run_id: self.shared.run_id.clone(),
            node: self.node.id.as_ref().to_owned(),
            item: self.job.item,
            status,
            attempt: attempt.number,
            started_at_ms: attempt.started_at_ms,
            finished_at_ms: ended.finished_at_ms,
            duration_us: ended.duration.as_micros() as u64,
            inputs: inputs.copies,
            input_refs: inputs.refs,
            output: None,
            output_in_checkpoint: false,
            error: None,
            worker: None,
            retry_at_ms: None,
            cached_from: None,
            logs: attempt.logs.as_ref().map_or_else(Vec::new, |l| l.0.clone()),
            logs_dropped: attempt.logs.as_ref().map_or(0, |l| l.1),
        }
    }

    pub(super) async fn append(&mut self, entry: AuditEntry) {
        let Some(audit) = &self.shared.audit else {
            return;
        };
        let timer = metrics::store_write_timer(Record::Audit);
        let appended = audit.append(self.shared.audit_epoch, &entry).await;
        metrics::store_write(Record::Audit, timer);
        if let Err(e) = appended {
            self.store_failed(WarningSource::Audit, e);
        }
    }

    /// A store refused a write: a persistence warning, and, when the refusal says another engine
    /// took the run over, the end of this run's scheduling.
    pub(super) fn store_failed(&mut self, source: WarningSource, error: StoreError) {
        if matches!(error, StoreError::Fenced { .. }) {
            self.taken_over = true;
        }
        self.warn(source, error.to_string(), true);
    }

    /// A warning about this node's persistence; `lost` when a store failed a write.
    pub(super) fn warn(&mut self, source: WarningSource, message: String, lost: bool) {
        let message = match self.job.item {
            Some(item) => format!("{item}: {message}"),
            None => message,
        };
        let warning = PersistenceWarning {
            source,
            node: Some(self.node.id.as_ref().to_owned()),
            message,
            lost,
        };
        tracing::warn!(node = &*self.node.id, %warning, "persistence failed");
        self.shared
            .events
            .on_persistence_warning(&self.shared.run_id, &warning);
        self.warnings.push(warning);
    }
}
