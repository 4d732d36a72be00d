//! Stores that keep everything in memory: for tests, and for runs that need resume only within
//! one process. Clones share the same storage.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use super::epoch::Epoch;
use super::error::{StoreError, StoreResult};
use super::filter::OutputFilter;
use super::keys::KeyClaim;
use super::records::{AuditEntry, Checkpoint, NodeRecord, RunHeader, RunSummary};
use super::shared::{Holders, lock};
use super::traits::{AuditLog, Checkpointer, Resumed};
use super::waits::{RunWaits, SignalRecord, SignalSent};
use crate::result::WaitingOn;
use crate::run_id::RunId;

/// A [`Checkpointer`] in memory. Clones share the same runs.
///
/// ```
/// use pipeline::InMemoryCheckpointer;
///
/// let store = InMemoryCheckpointer::new();
/// let shared = store.clone(); // hand one to the engine, keep one to look at
/// # let _ = shared;
/// ```
#[derive(Clone, Default, Debug)]
pub struct InMemoryCheckpointer {
    runs: Arc<Mutex<BTreeMap<RunId, (Checkpoint, Epoch)>>>,
    waits: Arc<Mutex<BTreeMap<RunId, RunWaits>>>,
    holders: Arc<Holders>,
    keys: Arc<Mutex<BTreeMap<(String, String), KeyClaim>>>,
    cache: Arc<super::MemoryCache>,
}

impl InMemoryCheckpointer {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl Checkpointer for InMemoryCheckpointer {
    fn cache(&self) -> Option<&dyn super::ResultCache> {
        Some(&*self.cache)
    }

    async fn claim_key(&self, claim: &KeyClaim, now_ms: u64) -> StoreResult<KeyClaim> {
        let mut keys = lock(&self.keys);
        let slot = (claim.pipeline.clone(), claim.key.clone());
        let kept = claim.against(keys.get(&slot), now_ms).clone();
        keys.insert(slot, kept.clone());
        Ok(kept)
    }

    async fn create_run(&self, header: &RunHeader) -> StoreResult<Epoch> {
        let mut runs = lock(&self.runs);
        if runs.contains_key(&header.run_id) {
            return Err(StoreError::RunExists(header.run_id.clone()));
        }
        self.holders.take(&header.run_id, Epoch::FIRST)?;
        let checkpoint = Checkpoint {
            header: header.clone(),
            nodes: Vec::new(),
        };
        runs.insert(header.run_id.clone(), (checkpoint, Epoch::FIRST));
        Ok(Epoch::FIRST)
    }

    /// Keeps every output (`filter` is not used: they are in memory already).
    async fn resume_run(
        &self,
        run_id: &RunId,
        _filter: &OutputFilter,
    ) -> StoreResult<Option<Resumed>> {
        let mut runs = lock(&self.runs);
        let Some((checkpoint, epoch)) = runs.get_mut(run_id) else {
            return Ok(None);
        };
        let next = epoch.next();
        self.holders.take(run_id, next)?;
        *epoch = next;
        Ok(Some(Resumed {
            checkpoint: checkpoint.clone(),
            epoch: next,
            truncated: None,
        }))
    }

    async fn save(&self, run_id: &RunId, epoch: Epoch, record: &NodeRecord) -> StoreResult<()> {
        let mut runs = lock(&self.runs);
        let Some((checkpoint, _)) = runs.get_mut(run_id) else {
            return Err(StoreError::UnknownRun(run_id.clone()));
        };
        self.holders.check(run_id, epoch)?;
        checkpoint.nodes.push(record.clone());
        Ok(())
    }

    async fn load(&self, run_id: &RunId) -> StoreResult<Option<Checkpoint>> {
        Ok(lock(&self.runs).get(run_id).map(|(c, _)| c.clone()))
    }

    async fn list_runs(&self) -> StoreResult<Vec<RunId>> {
        Ok(lock(&self.runs).keys().cloned().collect())
    }

    fn release_run(&self, run_id: &RunId, epoch: Epoch) {
        self.holders.release(run_id, epoch);
    }

    async fn send_signal(&self, run_id: &RunId, signal: &SignalRecord) -> StoreResult<SignalSent> {
        if !lock(&self.runs).contains_key(run_id) {
            return Err(StoreError::UnknownRun(run_id.clone()));
        }
        let mut waits = lock(&self.waits);
        let waits = waits.entry(run_id.clone()).or_default();
        waits.add(run_id, signal).map(|(sent, _)| sent)
    }

    async fn remove_signal(&self, run_id: &RunId, wait: &str) -> StoreResult<bool> {
        if !lock(&self.runs).contains_key(run_id) {
            return Err(StoreError::UnknownRun(run_id.clone()));
        }
        let mut waits = lock(&self.waits);
        let waits = waits.entry(run_id.clone()).or_default();
        waits.remove(wait).map(|(removed, _)| removed)
    }

    async fn waits(&self, run_id: &RunId) -> StoreResult<RunWaits> {
        Ok(lock(&self.waits).get(run_id).cloned().unwrap_or_default())
    }

    async fn cancel_waits(&self, run_id: &RunId) -> StoreResult<()> {
        if !lock(&self.runs).contains_key(run_id) {
            return Err(StoreError::UnknownRun(run_id.clone()));
        }
        lock(&self.waits)
            .entry(run_id.clone())
            .or_default()
            .cancelled = true;
        Ok(())
    }

    async fn set_waiting(
        &self,
        run_id: &RunId,
        epoch: Epoch,
        waiting: &[WaitingOn],
    ) -> StoreResult<()> {
        self.holders.check(run_id, epoch)?;
        lock(&self.waits).entry(run_id.clone()).or_default().waiting = waiting.to_vec();
        Ok(())
    }
}

/// A run's audit entries and its current epoch.
type Trail = (Vec<AuditEntry>, Epoch);

/// An [`AuditLog`] in memory. Clones share the same trails.
#[derive(Clone, Default, Debug)]
pub struct InMemoryAuditLog {
    runs: Arc<Mutex<BTreeMap<RunId, Trail>>>,
    summaries: Arc<Mutex<BTreeMap<RunId, RunSummary>>>,
    holders: Arc<Holders>,
}

impl InMemoryAuditLog {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl AuditLog for InMemoryAuditLog {
    async fn create_run(&self, header: &RunHeader) -> StoreResult<Epoch> {
        let mut runs = lock(&self.runs);
        if runs.contains_key(&header.run_id) {
            return Err(StoreError::RunExists(header.run_id.clone()));
        }
        self.holders.take(&header.run_id, Epoch::FIRST)?;
        runs.insert(header.run_id.clone(), (Vec::new(), Epoch::FIRST));
        Ok(Epoch::FIRST)
    }

    async fn resume_run(&self, header: &RunHeader) -> StoreResult<Epoch> {
        let mut runs = lock(&self.runs);
        let (_, epoch) = runs
            .entry(header.run_id.clone())
            .or_insert((Vec::new(), Epoch::new(0)));
        let next = epoch.next();
        self.holders.take(&header.run_id, next)?;
        *epoch = next;
        Ok(next)
    }

    async fn append(&self, epoch: Epoch, entry: &AuditEntry) -> StoreResult<()> {
        let mut runs = lock(&self.runs);
        let Some((entries, _)) = runs.get_mut(&entry.run_id) else {
            return Err(StoreError::UnknownRun(entry.run_id.clone()));
        };
        self.holders.check(&entry.run_id, epoch)?;
        entries.push(entry.clone());
        Ok(())
    }

    async fn entries(&self, run_id: &RunId) -> StoreResult<Option<Vec<AuditEntry>>> {
        Ok(lock(&self.runs).get(run_id).map(|(e, _)| e.clone()))
    }

    async fn write_summary(&self, epoch: Epoch, summary: &RunSummary) -> StoreResult<()> {
        self.holders.check(&summary.run_id, epoch)?;
        lock(&self.summaries).insert(summary.run_id.clone(), summary.clone());
        Ok(())
    }

    async fn summary(&self, run_id: &RunId) -> StoreResult<Option<RunSummary>> {
        Ok(lock(&self.summaries).get(run_id).cloned())
    }

    async fn list_runs(&self) -> StoreResult<Vec<RunId>> {
        Ok(lock(&self.runs).keys().cloned().collect())
    }

    fn release_run(&self, run_id: &RunId, epoch: Epoch) {
        self.holders.release(run_id, epoch);
    }
}
