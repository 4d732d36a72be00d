//! Reading a run an engine's stores hold: its checkpoint, as stored or typed, and its audit
//! trail.

use super::PipelineEngine;
use crate::definition::{FromCheckpoint, Pipeline};
use crate::error::PipelineError;
use crate::run_id::RunId;
use crate::store::{AuditEntry, Checkpoint};

impl<P: Pipeline> PipelineEngine<P> {
    /// The checkpoint of run `run_id` as stored; `Ok(None)` for an unknown run.
    pub async fn load_checkpoint(
        &self,
        run_id: &RunId,
    ) -> Result<Option<Checkpoint>, PipelineError> {
        let checkpointer = self
            .checkpointer
            .as_ref()
            .ok_or_else(|| PipelineError::NoCheckpointer(run_id.clone()))?;
        checkpointer
            .load(run_id)
            .await
            .map_err(|e| PipelineError::from_store(run_id, e))
    }

    /// The typed checkpoint of run `run_id` (for a `pipeline!`, its generated `<Name>Checkpoint`:
    /// the inputs and each completed node's output); `Ok(None)` for an unknown run.
    pub async fn checkpoint(&self, run_id: &RunId) -> Result<Option<P::Checkpoint>, PipelineError> {
        let Some(stored) = self.load_checkpoint(run_id).await? else {
            return Ok(None);
        };
        P::Checkpoint::from_checkpoint(&stored)
            .map(Some)
            .map_err(|source| PipelineError::Decode {
                run_id: run_id.clone(),
                what: "checkpoint".into(),
                source,
            })
    }

    /// The audit trail of run `run_id`; `Ok(None)` for an unknown run or an engine without an
    /// audit log.
    pub async fn audit_trail(
        &self,
        run_id: &RunId,
    ) -> Result<Option<Vec<AuditEntry>>, PipelineError> {
        match &self.audit {
            Some(audit) => audit
                .entries(run_id)
                .await
                .map_err(|e| PipelineError::from_store(run_id, e)),
            None => Ok(None),
        }
    }
}
