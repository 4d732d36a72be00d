//! The two store traits the engine writes through: [`Checkpointer`] (completed outputs, for
//! resume) and [`AuditLog`] (every attempt, for people), and their impls for `Arc`.

use super::filter::OutputFilter;
use std::sync::Arc;

use async_trait::async_trait;

use super::attempts::LastAttempts;
use super::cache::ResultCache;
use super::epoch::Epoch;
use super::error::{StoreError, StoreResult};
use super::keys::{KeyClaim, QueuePlace};
use super::place::CommitPlace;
use super::records::{AuditEntry, Checkpoint, NodeRecord, RunHeader, RunSummary};
use super::waits::{RunWaits, SignalRecord, SignalSent};
use crate::data::Json;
use crate::result::WaitingOn;
use crate::run_id::RunId;

/// A run taken for writing by [`Checkpointer::resume_run`]: what it holds so far, and the epoch
/// every write to it must carry.
#[derive(Clone, Debug)]
pub struct Resumed {
    /// The run's header and completed nodes.
    pub checkpoint: Checkpoint,
    /// The epoch of this takeover.
    pub epoch: Epoch,
    /// Bytes the store dropped from the end of the run's log before appending, if any.
    pub truncated: Option<Truncated>,
}

/// Bytes dropped from the end of a run's log: a torn tail (invalid bytes after the last valid
/// record, as a crash or power loss leaves them) or, with
/// [`Recovery::PointInTime`](super::Recovery::PointInTime), damage and everything after it.
/// The nodes recorded there run again on resume.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Truncated {
    /// Where the dropped bytes started.
    pub offset: u64,
    /// How many bytes were dropped.
    pub bytes: u64,
    /// Whether valid records were among them (only with point-in-time recovery).
    pub dropped_valid_records: bool,
}

/// Keeps each completed node's output so a run can resume without re-running it.
///
/// A store keeps one append-only log per run: a [`RunHeader`], then one [`NodeRecord`] per completed
/// node. The engine calls [`create_run`](Checkpointer::create_run) or
/// [`resume_run`](Checkpointer::resume_run) once, then [`save`](Checkpointer::save) after each node
/// succeeds, before any dependent node starts, then [`release_run`](Checkpointer::release_run).
///
/// One engine at a time may write a run: `create_run` and `resume_run` fail with
/// [`StoreError::Locked`] while another holds it. Taking a run yields an [`Epoch`] that grows with
/// every takeover and is kept with the run; `save` must refuse, with [`StoreError::Fenced`], a
/// record whose epoch is not the run's current one, so that a writer that lost the run never
/// writes into its new owner's. [`conformance::check_checkpointer`](super::conformance::check_checkpointer)
/// checks a store for all of this; run it in a test of a custom store (the built-in ones pass it).
#[async_trait]
pub trait Checkpointer: Send + Sync {
    /// Starts a new run at [`Epoch::FIRST`]; [`StoreError::RunExists`] when the id is taken.
    async fn create_run(&self, header: &RunHeader) -> Result<Epoch, StoreError>;

    /// Takes the run at its next epoch, loads it to resume it, and prepares to append to it (a
    /// file store drops a torn tail here). `Ok(None)` when the run is unknown.
    ///
    /// The checkpoint may leave out (as `null`) the outputs `filter` says the resume does not
    /// need; a store that cannot read a run piece by piece keeps them all, and so does every
    /// store given [`OutputFilter::default()`].
    async fn resume_run(
        &self,
        run_id: &RunId,
        filter: &OutputFilter,
    ) -> Result<Option<Resumed>, StoreError>;

    /// Appends one completed node, written by the holder of `epoch`;
    /// [`StoreError::Fenced`] when that is not the run's current epoch.
    async fn save(
        &self,
        run_id: &RunId,
        epoch: Epoch,
        record: &NodeRecord,
    ) -> Result<(), StoreError>;

    /// Where this store commits, when it can write a node's record together with an audit
    /// entry of the [`AuditLog`] that gives the same place (see [`CommitPlace`]). The default:
    /// `None`, and the engine writes the two one after the other.
    fn commit_place(&self) -> Option<CommitPlace> {
        None
    }

    /// Appends one completed node (as [`save`](Checkpointer::save) does, by the holder of
    /// `epoch`) and its audit entry (as [`AuditLog::append`] does, by the holder of
    /// `audit_epoch`) in one commit: both or neither. [`StoreError::Fenced`] when either epoch
    /// is not the run's current one, and nothing is written. The engine calls it only when this
    /// store and its audit log give the same [`commit_place`](Checkpointer::commit_place); the
    /// default refuses ([`StoreError::JointUnsupported`]).
    async fn save_with_entry(
        &self,
        run_id: &RunId,
        epoch: Epoch,
        record: &NodeRecord,
        audit_epoch: Epoch,
        entry: &AuditEntry,
    ) -> StoreResult<()> {
        let _ = (run_id, epoch, record, audit_epoch, entry);
        Err(StoreError::JointUnsupported)
    }

    /// Reads a run without preparing to write. `Ok(None)` when the run is unknown.
    async fn load(&self, run_id: &RunId) -> Result<Option<Checkpoint>, StoreError>;

    /// The run's checkpoint with every output left out (`null`): its header, and which nodes and
    /// items completed, when, after which attempt. What a reader that shows a run needs (the
    /// run viewer, `show`): the built-in stores read no output for it (a directory store skips
    /// each record's output on disk). `Ok(None)` for an unknown run. The default loads the whole
    /// checkpoint and drops its outputs.
    async fn load_records(&self, run_id: &RunId) -> StoreResult<Option<Checkpoint>> {
        Ok(self.load(run_id).await?.map(Checkpoint::without_outputs))
    }

    /// What node `node` of run `run_id` stored (see [`Checkpoint::output_of`]), reading no other
    /// node's output in the built-in stores; `Ok(None)` when it stored nothing or the run is
    /// unknown. The default loads the whole checkpoint.
    async fn load_output(&self, run_id: &RunId, node: &str) -> StoreResult<Option<Json>> {
        Ok(self
            .load(run_id)
            .await?
            .and_then(|checkpoint| checkpoint.output_of(node)))
    }

    /// Every run in the store, oldest first for generated (UUID v7) ids.
    async fn list_runs(&self) -> Result<Vec<RunId>, StoreError>;

    /// The holder of `epoch` is done with the run (it ended, or its future was dropped): release
    /// what is held for it (its lock, open files). Called exactly once per successful
    /// `create_run` or `resume_run`; a release by a holder whose epoch is no longer current
    /// releases nothing.
    fn release_run(&self, run_id: &RunId, epoch: Epoch);

    /// Stores a signal for a wait of run `run_id`, durably, by anyone (no epoch: the sender
    /// does not hold the run). A wait takes one signal: the same key and payload again is
    /// [`SignalSent::Duplicate`], anything else for that wait [`StoreError::SignalConflict`].
    /// [`StoreError::UnknownRun`] when the run does not exist. The default keeps none.
    async fn send_signal(&self, run_id: &RunId, signal: &SignalRecord) -> StoreResult<SignalSent> {
        let _ = (run_id, signal);
        Err(StoreError::SignalsUnsupported)
    }

    /// Checks that the store can be used now (reached, its schema one this build reads), without
    /// writing anything: what the command line does before it starts a run. The default: `Ok`.
    async fn check(&self) -> StoreResult<()> {
        Ok(())
    }

    /// The run's header alone (what ran, on which inputs), without reading its records: what a
    /// signal is checked against before it is stored. `Ok(None)` when the run is unknown. The
    /// default loads the whole checkpoint; the built-in stores read the header only.
    async fn header(&self, run_id: &RunId) -> StoreResult<Option<RunHeader>> {
        Ok(self.load(run_id).await?.map(|checkpoint| checkpoint.header))
    }

    /// Removes the signal stored for wait `wait` of run `run_id` (an operator's repair of a
    /// signal that does not fit the run): whether there was one. [`StoreError::UnknownRun`]
    /// when the run does not exist. The default keeps none.
    async fn remove_signal(&self, run_id: &RunId, wait: &str) -> StoreResult<bool> {
        let _ = (run_id, wait);
        Err(StoreError::SignalsUnsupported)
    }

    /// The run's signals and what it waits on. The default: none.
    async fn waits(&self, run_id: &RunId) -> StoreResult<RunWaits> {
        let _ = run_id;
        Ok(RunWaits::default())
    }

    /// Marks the run cancelled (by anyone: a waiting run has no holder), so that no signal
    /// continues it. [`StoreError::UnknownRun`] when the run does not exist.
    async fn cancel_waits(&self, run_id: &RunId) -> StoreResult<()> {
        let _ = run_id;
        Err(StoreError::SignalsUnsupported)
    }

    /// Replaces what the run waits on, written by the holder of `epoch` when the run suspends
    /// (and with an empty list when it goes on).
    async fn set_waiting(
        &self,
        run_id: &RunId,
        epoch: Epoch,
        waiting: &[WaitingOn],
    ) -> StoreResult<()> {
        let _ = (run_id, epoch);
        match waiting.is_empty() {
            true => Ok(()),
            false => Err(StoreError::SignalsUnsupported),
        }
    }

    /// Where each node of a run that has not ended is, as a store that runs it knows (a worker
    /// fleet's rows: a node claimed is running, a wait that began is waiting); `Ok(None)` when
    /// the store runs nothing itself (the default), and a reader derives the states from the
    /// checkpoint, the trail and the lock (see [`Stores::view`](super::Stores::view)).
    async fn live_nodes(
        &self,
        run_id: &RunId,
    ) -> StoreResult<Option<std::collections::BTreeMap<String, super::state::NodeState>>> {
        let _ = run_id;
        Ok(None)
    }

    /// Deletes the run and everything this store keeps of it (records, epochs, signals), taking
    /// its lock first: [`StoreError::Locked`] while a process holds it. `Ok(false)` for an
    /// unknown run. The default cannot delete ([`StoreError::DeleteUnsupported`]).
    async fn delete_run(&self, run_id: &RunId) -> StoreResult<bool> {
        let _ = run_id;
        Err(StoreError::DeleteUnsupported)
    }

    /// Claims idempotency key `claim.key` of `claim.pipeline` for run `claim.run_id` until
    /// `claim.expires_at_ms`, unless a claim that still holds at `now_ms` has it: returns the
    /// claim that holds the key now (`claim` itself when it took it). Atomic across every process
    /// that uses the store: of many claims of one key at once, one takes it and all the others
    /// get that one. The default keeps no keys ([`StoreError::KeysUnsupported`]).
    async fn claim_key(&self, claim: &KeyClaim, now_ms: u64) -> StoreResult<KeyClaim> {
        let _ = (claim, now_ms);
        Err(StoreError::KeysUnsupported)
    }

    /// Where run `run_id` waits, when it is queued behind runs of its key (a fleet run over its
    /// pipeline's per-key run limit); `Ok(None)` when it is not queued, or the store queues none.
    async fn queue_place(&self, run_id: &RunId) -> StoreResult<Option<QueuePlace>> {
        let _ = run_id;
        Ok(None)
    }

    /// Where this store keeps cached node outputs (`#[node(cache)]`), shared by every run that
    /// uses it; `None` (the default) when it keeps none, and cached nodes then always run.
    fn cache(&self) -> Option<&dyn ResultCache> {
        None
    }

    /// Whether some process holds the run now (it is running there), as its lock tells:
    /// `Ok(None)` when the store cannot tell. A reader uses it to say "interrupted" only of a run
    /// nobody holds. The default cannot tell.
    async fn is_held(&self, run_id: &RunId) -> StoreResult<Option<bool>> {
        let _ = run_id;
        Ok(None)
    }
}

/// Records every node attempt (completed or failed) with its inputs, output or error, and timing.
///
/// Like a [`Checkpointer`], a log hands out an [`Epoch`] when a run is taken and refuses, with
/// [`StoreError::Fenced`], an entry or summary whose epoch is not the run's current one.
#[async_trait]
pub trait AuditLog: Send + Sync {
    /// Starts the trail of a new run at [`Epoch::FIRST`]; [`StoreError::RunExists`] when the id
    /// is taken.
    async fn create_run(&self, header: &RunHeader) -> Result<Epoch, StoreError>;

    /// Takes the trail of a resumed run at its next epoch, creating it if it does not exist yet.
    async fn resume_run(&self, header: &RunHeader) -> Result<Epoch, StoreError>;

    /// Appends one entry, written by the holder of `epoch`.
    async fn append(&self, epoch: Epoch, entry: &AuditEntry) -> Result<(), StoreError>;

    /// Where this log commits (see [`Checkpointer::commit_place`]). The default: `None`.
    fn commit_place(&self) -> Option<CommitPlace> {
        None
    }

    /// A run's entries in the order they were written; `Ok(None)` when the run is unknown.
    async fn entries(&self, run_id: &RunId) -> Result<Option<Vec<AuditEntry>>, StoreError>;

    /// Every run in the store.
    async fn list_runs(&self) -> Result<Vec<RunId>, StoreError>;

    /// The number of the last attempt of each node and item in the run's trail (none for an
    /// unknown run): a resumed run numbers its next attempts on from them. The default reads
    /// every entry; a store that can count without decoding them overrides it.
    async fn last_attempts(&self, run_id: &RunId) -> StoreResult<LastAttempts> {
        let entries = self.entries(run_id).await?.unwrap_or_default();
        Ok(LastAttempts::of_entries(&entries))
    }

    /// Replaces the run's summary (see [`RunSummary`]), written by the holder of `epoch`. Stores
    /// that keep none ignore it.
    async fn write_summary(&self, epoch: Epoch, summary: &RunSummary) -> StoreResult<()> {
        let _ = (epoch, summary);
        Ok(())
    }

    /// The run's latest summary, if the store keeps one.
    async fn summary(&self, run_id: &RunId) -> StoreResult<Option<RunSummary>> {
        let _ = run_id;
        Ok(None)
    }

    /// Deletes the run's trail and summary. `Ok(false)` for an unknown run. The default cannot
    /// delete ([`StoreError::DeleteUnsupported`]).
    async fn delete_run(&self, run_id: &RunId) -> StoreResult<bool> {
        let _ = run_id;
        Err(StoreError::DeleteUnsupported)
    }

    /// The holder of `epoch` is done with the run: release what is held for it. Called exactly
    /// once per successful `create_run` or `resume_run`.
    fn release_run(&self, run_id: &RunId, epoch: Epoch);
}

#[async_trait]
impl<C: Checkpointer + ?Sized> Checkpointer for Arc<C> {
    async fn create_run(&self, header: &RunHeader) -> StoreResult<Epoch> {
        (**self).create_run(header).await
    }
    async fn resume_run(
        &self,
        run_id: &RunId,
        filter: &OutputFilter,
    ) -> StoreResult<Option<Resumed>> {
        (**self).resume_run(run_id, filter).await
    }
    async fn save(&self, run_id: &RunId, epoch: Epoch, record: &NodeRecord) -> StoreResult<()> {
        (**self).save(run_id, epoch, record).await
    }
    fn commit_place(&self) -> Option<CommitPlace> {
        (**self).commit_place()
    }
    async fn save_with_entry(
        &self,
        run_id: &RunId,
        epoch: Epoch,
        record: &NodeRecord,
        audit_epoch: Epoch,
        entry: &AuditEntry,
    ) -> StoreResult<()> {
        (**self)
            .save_with_entry(run_id, epoch, record, audit_epoch, entry)
            .await
    }
    async fn load(&self, run_id: &RunId) -> StoreResult<Option<Checkpoint>> {
        (**self).load(run_id).await
    }
    async fn list_runs(&self) -> StoreResult<Vec<RunId>> {
        (**self).list_runs().await
    }
    fn release_run(&self, run_id: &RunId, epoch: Epoch) {
        (**self).release_run(run_id, epoch)
    }
    async fn send_signal(&self, run_id: &RunId, signal: &SignalRecord) -> StoreResult<SignalSent> {
        (**self).send_signal(run_id, signal).await
    }
    async fn waits(&self, run_id: &RunId) -> StoreResult<RunWaits> {
        (**self).waits(run_id).await
    }
    async fn cancel_waits(&self, run_id: &RunId) -> StoreResult<()> {
        (**self).cancel_waits(run_id).await
    }
    async fn set_waiting(
        &self,
        run_id: &RunId,
        epoch: Epoch,
        waiting: &[WaitingOn],
    ) -> StoreResult<()> {
        (**self).set_waiting(run_id, epoch, waiting).await
    }
    async fn is_held(&self, run_id: &RunId) -> StoreResult<Option<bool>> {
        (**self).is_held(run_id).await
    }
    fn cache(&self) -> Option<&dyn ResultCache> {
        (**self).cache()
    }
    async fn claim_key(&self, claim: &KeyClaim, now_ms: u64) -> StoreResult<KeyClaim> {
        (**self).claim_key(claim, now_ms).await
    }
    async fn queue_place(&self, run_id: &RunId) -> StoreResult<Option<QueuePlace>> {
        (**self).queue_place(run_id).await
    }
    async fn delete_run(&self, run_id: &RunId) -> StoreResult<bool> {
        (**self).delete_run(run_id).await
    }
    async fn live_nodes(
        &self,
        run_id: &RunId,
    ) -> StoreResult<Option<std::collections::BTreeMap<String, super::state::NodeState>>> {
        (**self).live_nodes(run_id).await
    }
}

#[async_trait]
impl<A: AuditLog + ?Sized> AuditLog for Arc<A> {
    async fn create_run(&self, header: &RunHeader) -> StoreResult<Epoch> {
        (**self).create_run(header).await
    }
    async fn resume_run(&self, header: &RunHeader) -> StoreResult<Epoch> {
        (**self).resume_run(header).await
    }
    async fn append(&self, epoch: Epoch, entry: &AuditEntry) -> StoreResult<()> {
        (**self).append(epoch, entry).await
    }
    fn commit_place(&self) -> Option<CommitPlace> {
        (**self).commit_place()
    }
    async fn entries(&self, run_id: &RunId) -> StoreResult<Option<Vec<AuditEntry>>> {
        (**self).entries(run_id).await
    }
    async fn last_attempts(&self, run_id: &RunId) -> StoreResult<LastAttempts> {
        (**self).last_attempts(run_id).await
    }
    async fn write_summary(&self, epoch: Epoch, summary: &RunSummary) -> StoreResult<()> {
        (**self).write_summary(epoch, summary).await
    }
    async fn summary(&self, run_id: &RunId) -> StoreResult<Option<RunSummary>> {
        (**self).summary(run_id).await
    }
    async fn list_runs(&self) -> StoreResult<Vec<RunId>> {
        (**self).list_runs().await
    }
    async fn delete_run(&self, run_id: &RunId) -> StoreResult<bool> {
        (**self).delete_run(run_id).await
    }
    fn release_run(&self, run_id: &RunId, epoch: Epoch) {
        (**self).release_run(run_id, epoch)
    }
}
