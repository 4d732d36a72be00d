//! The scheduler applying the run's state machine (`machine`): a node's report becomes an event,
//! and the decision is carried out in memory (states set, outputs nobody will read dropped,
//! nodes made ready, skips reported, the run stopped).

use super::Run;
use crate::engine::node_task::{Outcome, Report};
use crate::event::EventHandler;
use crate::machine::{self, Event, Phase};
use crate::result::NodeFailure;

impl<I: Send + Sync + 'static, O: Send + 'static> Run<I, O> {
    /// Node `index` starts (its items, for a mapped node; its waiting, for a wait): the
    /// machine's `Started`, which changes that node's state alone, applied in place.
    pub(super) fn start(&mut self, index: u32) {
        if let Some(state) = self.nodes.get_mut(index as usize) {
            machine::started(state);
        }
    }

    pub(super) fn on_report(&mut self, index: u32, mut report: Report) {
        self.warnings.append(&mut report.warnings);
        if report.taken_over {
            // Another engine owns the run now: whatever this one computes can no longer be kept.
            self.taken_over = true;
            self.stopped = true;
        }
        if let Some(item) = report.item {
            return self.on_item(index, item, report);
        }
        if report.ran {
            self.executed.push(index);
        }
        if let Some(from) = report.cached_from {
            self.cached.push((index, from));
        }
        match report.outcome {
            Outcome::Completed {
                value,
                json,
                checkpointed,
            } => {
                self.values[index as usize] = Some(value);
                self.json[index as usize] = json.filter(|_| self.keep_json(checkpointed));
                self.checkpointed[index as usize] = checkpointed;
                self.end(index, machine::Outcome::Completed);
            }
            Outcome::Skipped => self.skip(index),
            Outcome::Failed { error, attempts } => {
                let id = self.graph.nodes[index as usize].id.as_ref().to_owned();
                let failure = NodeFailure {
                    error,
                    attempts,
                    items: Vec::new(),
                };
                self.failures.insert(id, failure);
                self.fail(index);
            }
        }
    }

    /// Whether a failure of node `index` stops the run: its own policy, or the run's.
    pub(super) fn stops(&self, index: u32) -> bool {
        machine::stops_run(&self.graph.nodes[index as usize].options, self.on_error)
    }

    /// Node `index` failed (its failure is recorded).
    pub(super) fn fail(&mut self, index: u32) {
        let stops = self.stops(index);
        self.end(index, machine::Outcome::Failed { stops });
    }

    /// Node `index`'s gate was false.
    pub(super) fn skip(&mut self, index: u32) {
        self.shared
            .events
            .on_node_skip(&self.shared.run_id, &self.graph.nodes[index as usize].id);
        self.end(index, machine::Outcome::Skipped);
    }

    pub(super) fn end(&mut self, index: u32, outcome: machine::Outcome) {
        self.apply(Event::Ended {
            node: index,
            outcome,
        });
    }

    /// Decides `event` and carries the decision out.
    pub(super) fn apply(&mut self, event: Event) {
        // The run's buffers, reused: deciding allocates nothing once they have grown, and writes
        // the nodes' states as it goes.
        let decided = machine::decide_in_place(
            &*self.graph,
            &mut self.nodes,
            event,
            &mut self.scratch,
            &mut self.decision,
        );
        if let Err(missing) = decided {
            // The scheduler holds every node's state: only an index out of range gets here, and
            // it changed nothing.
            tracing::error!(
                ?event,
                ?missing,
                "an event about nodes the run does not have"
            );
            return;
        }
        // Indexed, not iterated: carrying a decision out borrows the run mutably.
        for at in 0..self.decision.resolved.len() {
            self.release_upstream(self.decision.resolved[at]);
        }
        for at in 0..self.decision.skipped.len() {
            let node = self.decision.skipped[at];
            let id = &self.graph.nodes[node as usize].id;
            self.shared.events.on_node_skip(&self.shared.run_id, id);
        }
        if !self.decision.not_run.is_empty() {
            let (graph, nodes) = (&self.graph, &self.nodes);
            self.suspended.retain(|waiting| {
                graph
                    .node_index(&waiting.wait)
                    .is_none_or(|i| nodes[i as usize].phase == Phase::Suspended)
            });
        }
        for at in 0..self.decision.ready.len() {
            self.make_ready(self.decision.ready[at].0);
        }
        if self.decision.stop.is_some() {
            self.stopped = true;
        }
    }

    /// Node `index` will read its upstream outputs no more: drops each one no other node needs,
    /// so a run holds only its live frontier.
    pub(super) fn release_upstream(&mut self, index: u32) {
        for &up in self.graph.upstream.of(index) {
            let readers = &mut self.readers[up as usize];
            *readers = readers.saturating_sub(1);
            if *readers == 0 && !self.pinned[up as usize] {
                self.values[up as usize] = None;
                self.json[up as usize] = None;
            }
        }
    }
}
