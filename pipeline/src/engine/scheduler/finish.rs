//! The result of a run, from the scheduler's state when it ends.

use std::sync::Arc;

use super::Run;
use crate::data::Value;
use crate::graph::Slot;
use crate::machine;
use crate::result::{NodeList, NodeNames, NodeStatus, NodeStatuses, PipelineResult, RunStatus};

impl<I: Send + Sync + 'static, O: Send + 'static> Run<I, O> {
    /// The run's result; `cancelled` says whether it was cancelled.
    pub(super) fn finish(self, cancelled: bool) -> PipelineResult<O> {
        let mut statuses: Vec<_> = self
            .nodes
            .iter()
            .map(|state| state.phase.status())
            .collect();
        for (index, _) in &self.cached {
            statuses[*index as usize] = NodeStatus::Cached;
        }
        let cached = self
            .cached
            .iter()
            .map(|(index, from)| {
                (
                    self.graph.nodes[*index as usize].id.to_string(),
                    from.clone(),
                )
            })
            .collect();
        let status = if self.taken_over {
            RunStatus::TakenOver
        } else if cancelled {
            RunStatus::Cancelled
        } else {
            machine::run_status(self.nodes.iter().map(|state| state.phase))
        };
        let output = self.output();
        let names: Arc<dyn NodeNames> = self.graph.clone();
        PipelineResult {
            run_id: self.shared.run_id.clone(),
            status,
            output,
            nodes: NodeStatuses::new(Arc::clone(&names), statuses),
            failures: self.failures,
            restored: NodeList::new(Arc::clone(&names), self.restored),
            cached,
            executed: NodeList::new(names, self.executed),
            warnings: self.warnings,
            waiting: self.suspended,
            stored: self.shared.checkpointer.is_some(),
        }
    }

    pub(super) fn output(&self) -> Option<O> {
        let values: Option<Vec<&Value>> = self
            .graph
            .output_slots
            .iter()
            .map(|&slot| match slot {
                Slot::Input(i) => self.input_values.get(i as usize),
                Slot::Node(i) => self.values[i as usize].as_ref(),
            })
            .collect();
        (self.graph.output)(&values?)
    }
}
