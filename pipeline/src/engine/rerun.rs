//! Running nodes of a stored run again on purpose: [`PipelineEngine::rerun`] copies the run's
//! checkpoint, without the named nodes and every node downstream of them, into a new run and
//! resumes that. The original run is left as it was, so its checkpoint and audit trail still tell
//! what happened the first time. A run of a fleet runs again on the fleet (`Remote::rerun`).

use std::collections::BTreeSet;

use super::PipelineEngine;
use super::lifecycle;
use crate::definition::Pipeline;
use crate::error::PipelineError;
use crate::result::PipelineResult;
use crate::run_id::RunId;
use crate::store::now_ms;

impl<P: Pipeline> PipelineEngine<P> {
    /// Runs `nodes` of run `run_id` again as the new run `new_id` (see [`PipelineEngine::rerun`]).
    pub(super) async fn rerun_inner(
        &self,
        run_id: &RunId,
        nodes: &[&str],
        new_id: RunId,
    ) -> Result<PipelineResult<P::Output>, PipelineError> {
        let checkpointer = self
            .checkpointer
            .as_ref()
            .ok_or_else(|| PipelineError::NoCheckpointer(run_id.clone()))?;
        let store_error = |id: &RunId| {
            let id = id.clone();
            move |e| PipelineError::from_store(&id, e)
        };
        let Some(stored) = checkpointer
            .load(run_id)
            .await
            .map_err(store_error(run_id))?
        else {
            return Err(PipelineError::UnknownRun(run_id.clone()));
        };
        let again = self.downstream_of(run_id, nodes)?;
        self.check_rerun(&stored.header, &again)?;
        let inputs = stored.header.inputs.clone();
        // A new run, with a trace of its own (under the caller's span, if any).
        let trace = crate::trace::begin(None);
        let header = lifecycle::header(&self.graph, &new_id, inputs, now_ms(), trace);
        // A run of a fleet runs again on the fleet.
        if let Some(remote) = &self.remote {
            let kept = stored.nodes.iter().filter(|r| !again.contains(&r.node));
            let kept = kept.cloned().collect();
            if let Some(result) = remote.rerun(self, run_id, header.clone(), kept).await {
                return result;
            }
        }
        let epoch = checkpointer
            .create_run(&header)
            .await
            .map_err(store_error(&new_id))?;
        let kept = stored.nodes.iter().filter(|r| !again.contains(&r.node));
        for record in kept {
            if let Err(e) = checkpointer.save(&new_id, epoch, record).await {
                checkpointer.release_run(&new_id, epoch);
                return Err(PipelineError::from_store(&new_id, e));
            }
        }
        checkpointer.release_run(&new_id, epoch);
        self.resume(&new_id).await
    }

    /// Refuses a run of another pipeline or graph, except that the nodes to run again may have
    /// another version now (their new code is why they run again).
    fn check_rerun(
        &self,
        header: &crate::store::RunHeader,
        again: &BTreeSet<String>,
    ) -> Result<(), PipelineError> {
        let current = self.graph.signature();
        let mut stored = (*header.graph).clone();
        for node in stored.nodes.iter_mut().filter(|n| again.contains(&n.id)) {
            if let Some(now) = current.nodes.iter().find(|n| n.id == node.id) {
                node.version.clone_from(&now.version);
            }
        }
        let mut header = header.clone();
        if stored.fingerprint() == current.fingerprint() {
            header.fingerprint = current.fingerprint();
            header.graph = std::sync::Arc::new(stored);
        }
        lifecycle::check_header(&self.graph, &header)
    }

    /// The ids of `nodes` and of every node downstream of them.
    fn downstream_of(
        &self,
        run_id: &RunId,
        nodes: &[&str],
    ) -> Result<BTreeSet<String>, PipelineError> {
        let graph = &self.graph.inner;
        let mut pending = Vec::new();
        for &name in nodes {
            let index = graph
                .node_index(name)
                .ok_or_else(|| PipelineError::UnknownNode {
                    run_id: run_id.clone(),
                    node: name.to_owned(),
                    nodes: graph.nodes.iter().map(|n| n.id.to_string()).collect(),
                })?;
            pending.push(index);
        }
        let mut seen = BTreeSet::new();
        while let Some(index) = pending.pop() {
            if seen.insert(index) {
                pending.extend_from_slice(graph.downstream.of(index));
            }
        }
        Ok(seen
            .into_iter()
            .map(|i| graph.nodes[i as usize].id.to_string())
            .collect())
    }
}
