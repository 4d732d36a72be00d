//! A fleet run run again on purpose ([`PipelineEngine::rerun`]): the new run is submitted to the
//! fleet with the original's records of the nodes it keeps, those nodes resolved from the start,
//! so the workers run only the named nodes and the nodes downstream of them. The original run is
//! not changed.

use std::collections::HashSet;

use super::sql;
use crate::definition::Pipeline;
use crate::engine::PipelineEngine;
use crate::error::PipelineError;
use crate::result::PipelineResult;
use crate::run_id::RunId;
use crate::store::{Checkpoint, NodeRecord, PostgresStore, RunHeader, RunSummary};

impl<P: Pipeline> PipelineEngine<P> {
    /// Runs run `run_id` of the fleet on `store` again as the new run `header` names, keeping
    /// `kept` (the original's records of the nodes that do not run again); `None` when the fleet
    /// never had the run (it is run again in this process).
    pub(crate) async fn rerun_on_fleet(
        &self,
        store: &PostgresStore,
        run_id: &RunId,
        header: RunHeader,
        kept: Vec<NodeRecord>,
    ) -> Option<Result<PipelineResult<P::Output>, PipelineError>> {
        match sql::run_row(store, run_id).await {
            Ok(Some(_)) => {}
            Ok(None) => return None,
            Err(e) => return Some(Err(PipelineError::from_store(run_id, e))),
        }
        let new_id = header.run_id.clone();
        let checkpoint = Checkpoint {
            header,
            nodes: kept,
        };
        let completed: HashSet<&str> = checkpoint.completed().collect();
        let graph = &self.graph.inner;
        let done: Vec<bool> = graph
            .nodes
            .iter()
            .map(|n| completed.contains(&*n.id))
            .collect();
        let header = &checkpoint.header;
        let summary = RunSummary::in_progress(
            new_id.clone(),
            self.graph.name(),
            header.started_at_ms,
            header.started_at_ms,
            self.graph.node_ids(),
            completed.iter().copied(),
        );
        let nodes = self.new_nodes(&done);
        let submitted = sql::submit(
            store,
            header,
            &nodes,
            &summary,
            &checkpoint.nodes,
            None,
            super::order::Order::default(),
        )
        .await;
        if let Err(e) = submitted {
            return Some(Err(PipelineError::from_store(&new_id, e)));
        }
        let kept = (0..done.len() as u32)
            .filter(|&i| done[i as usize])
            .collect();
        Some(self.wait(&new_id).await.map(|r| self.since(r, kept)))
    }
}
