//! Stores that keep everything in memory: for tests, and for runs that need resume only within
//! one process. Clones share the same storage.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use super::error::StoreError;
use super::records::{AuditEntry, Checkpoint, NodeRecord, RunHeader, RunSummary};
use super::shared::lock;
use super::traits::{AuditLog, Checkpointer};
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
    runs: Arc<Mutex<BTreeMap<RunId, Checkpoint>>>,
    active: Arc<Mutex<BTreeSet<RunId>>>,
}

/// Marks `run_id` as written by an engine; [`StoreError::Locked`] when another already is.
fn take(active: &Mutex<BTreeSet<RunId>>, run_id: &RunId) -> Result<(), StoreError> {
    match lock(active).insert(run_id.clone()) {
        true => Ok(()),
        false => Err(StoreError::Locked(run_id.clone())),
    }
}

impl InMemoryCheckpointer {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl Checkpointer for InMemoryCheckpointer {
    async fn create_run(&self, header: &RunHeader) -> Result<(), StoreError> {
        let mut runs = lock(&self.runs);
        if runs.contains_key(&header.run_id) {
            return Err(StoreError::RunExists(header.run_id.clone()));
        }
        take(&self.active, &header.run_id)?;
        runs.insert(
            header.run_id.clone(),
            Checkpoint {
                header: header.clone(),
                nodes: Vec::new(),
            },
        );
        Ok(())
    }

    async fn resume_run(&self, run_id: &RunId) -> Result<Option<Checkpoint>, StoreError> {
        let Some(checkpoint) = self.load(run_id).await? else {
            return Ok(None);
        };
        take(&self.active, run_id)?;
        Ok(Some(checkpoint))
    }

    async fn save(&self, run_id: &RunId, record: &NodeRecord) -> Result<(), StoreError> {
        match lock(&self.runs).get_mut(run_id) {
            Some(checkpoint) => {
                checkpoint.nodes.push(record.clone());
                Ok(())
            }
            None => Err(StoreError::UnknownRun(run_id.clone())),
        }
    }

    async fn load(&self, run_id: &RunId) -> Result<Option<Checkpoint>, StoreError> {
        Ok(lock(&self.runs).get(run_id).cloned())
    }

    async fn list_runs(&self) -> Result<Vec<RunId>, StoreError> {
        Ok(lock(&self.runs).keys().cloned().collect())
    }

    fn release_run(&self, run_id: &RunId) {
        lock(&self.active).remove(run_id);
    }
}

/// An [`AuditLog`] in memory. Clones share the same trails.
#[derive(Clone, Default, Debug)]
pub struct InMemoryAuditLog {
    runs: Arc<Mutex<BTreeMap<RunId, Vec<AuditEntry>>>>,
    summaries: Arc<Mutex<BTreeMap<RunId, RunSummary>>>,
}

impl InMemoryAuditLog {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl AuditLog for InMemoryAuditLog {
    async fn create_run(&self, header: &RunHeader) -> Result<(), StoreError> {
        let mut runs = lock(&self.runs);
        if runs.contains_key(&header.run_id) {
            return Err(StoreError::RunExists(header.run_id.clone()));
        }
        runs.insert(header.run_id.clone(), Vec::new());
        Ok(())
    }

    async fn resume_run(&self, header: &RunHeader) -> Result<(), StoreError> {
        lock(&self.runs).entry(header.run_id.clone()).or_default();
        Ok(())
    }

    async fn append(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        match lock(&self.runs).get_mut(&entry.run_id) {
            Some(entries) => {
                entries.push(entry.clone());
                Ok(())
            }
            None => Err(StoreError::UnknownRun(entry.run_id.clone())),
        }
    }

    async fn entries(&self, run_id: &RunId) -> Result<Option<Vec<AuditEntry>>, StoreError> {
        Ok(lock(&self.runs).get(run_id).cloned())
    }

    async fn write_summary(&self, summary: &RunSummary) -> Result<(), StoreError> {
        lock(&self.summaries).insert(summary.run_id.clone(), summary.clone());
        Ok(())
    }

    async fn summary(&self, run_id: &RunId) -> Result<Option<RunSummary>, StoreError> {
        Ok(lock(&self.summaries).get(run_id).cloned())
    }

    async fn list_runs(&self) -> Result<Vec<RunId>, StoreError> {
        Ok(lock(&self.runs).keys().cloned().collect())
    }
}
