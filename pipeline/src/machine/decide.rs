//! How a decision is made: the rules of [`Event`]s, over the states an executor holds (written
//! in place, as the scheduler of one process does) or has read (the changes kept aside, as the
//! fleet's commit does, which asks with [`Missing`] for the rows it lacks).

use std::time::Duration;

use super::{Decision, Event, Missing, NodeState, Outcome, Phase, Shape, States, Stop, started};

/// Decides what `event` changes in a run whose nodes are in `states` (all of them, or those the
/// executor read: the decision asks for the others with [`Missing`]).
#[cfg_attr(not(feature = "postgres"), allow(dead_code))]
pub(crate) fn decide<G, S>(shape: &G, states: &S, event: Event) -> Result<Decision, Missing>
where
    G: Shape + ?Sized,
    S: States + ?Sized,
{
    let (mut decision, mut changed) = (Decision::default(), Vec::new());
    let mut overlay = Overlay {
        states,
        changed: &mut changed,
    };
    let (mut missing, mut resolving) = (Vec::new(), Vec::new());
    decide_with(
        shape,
        &mut overlay,
        event,
        &mut missing,
        &mut resolving,
        &mut decision,
    )?;
    let changes = changed.into_iter();
    decision.changes = changes
        .filter(|&(node, state)| states.state(node) != Some(state))
        .collect();
    Ok(decision)
}

/// The buffers a decision works in, kept by an executor that decides often so that deciding
/// allocates nothing once they have grown.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    missing: Vec<u32>,
    resolving: Vec<(u32, Phase)>,
}

/// The same decision as [`decide`], written into `states` (every node's state, which the
/// executor holds) as it is made: `decision.changes` stays empty. The scheduler of one process
/// decides this way, without a copy of what changed.
///
/// `Missing` names only a node `states` does not have (an index out of range); no state is
/// changed then.
pub(crate) fn decide_in_place<G: Shape + ?Sized>(
    shape: &G,
    states: &mut [NodeState],
    event: Event,
    scratch: &mut Scratch,
    decision: &mut Decision,
) -> Result<(), Missing> {
    let Scratch { missing, resolving } = scratch;
    decide_with(shape, states, event, missing, resolving, decision)
}

/// Where a decision reads and writes the states of nodes.
trait Book {
    fn read(&self, node: u32) -> Option<NodeState>;
    fn write(&mut self, node: u32, state: NodeState);
}

/// Every node's state, written in place.
impl Book for [NodeState] {
    fn read(&self, node: u32) -> Option<NodeState> {
        self.get(node as usize).copied()
    }

    fn write(&mut self, node: u32, state: NodeState) {
        if let Some(slot) = self.get_mut(node as usize) {
            *slot = state;
        }
    }
}

/// The states an executor read (all of them or some), and the decision's writes kept aside,
/// sorted by node (a stop walks the nodes in order, so its writes append).
struct Overlay<'a, S: ?Sized> {
    states: &'a S,
    changed: &'a mut Vec<(u32, NodeState)>,
}

impl<S: States + ?Sized> Book for Overlay<'_, S> {
    fn read(&self, node: u32) -> Option<NodeState> {
        let changed = &self.changed;
        match changed.binary_search_by_key(&node, |c| c.0) {
            Ok(at) => Some(changed[at].1),
            Err(_) => self.states.state(node),
        }
    }

    fn write(&mut self, node: u32, state: NodeState) {
        let changed = &mut self.changed;
        match changed.binary_search_by_key(&node, |c| c.0) {
            Ok(at) => changed[at].1 = state,
            Err(at) => changed.insert(at, (node, state)),
        }
    }
}

/// The rules: what `event` does, read from and written to `book`.
fn decide_with<G: Shape + ?Sized, B: Book + ?Sized>(
    shape: &G,
    book: &mut B,
    event: Event,
    missing: &mut Vec<u32>,
    resolving: &mut Vec<(u32, Phase)>,
    decision: &mut Decision,
) -> Result<(), Missing> {
    missing.clear();
    resolving.clear();
    decision.clear();
    let mut run = Deciding {
        shape,
        book,
        missing,
        resolving,
        decision,
    };
    match event {
        Event::Started { node } => run.set(node, started),
        Event::Ended { node, outcome } => {
            if let Outcome::Failed { stops: true } = outcome {
                run.stop(Stop::FailFast, false);
            }
            let phase = match outcome {
                Outcome::Completed => Phase::Completed,
                Outcome::Failed { .. } => Phase::Failed,
                Outcome::Skipped => Phase::Skipped,
                Outcome::Stopped => Phase::NotRun,
            };
            run.resolve(node, phase);
        }
        Event::Retry { node, after } => run.ready(node, after),
        Event::ItemFailed { node: _, stops } => {
            if stops {
                run.stop(Stop::FailFast, false);
            }
        }
        Event::Began { node, signalled } => match signalled {
            true => run.ready(node, Duration::ZERO),
            false => run.set(node, |s| s.phase = Phase::Suspended),
        },
        Event::Signalled { node } => {
            if run.get(node).map(|s| s.phase) == Some(Phase::Suspended) {
                run.ready(node, Duration::ZERO);
            }
        }
        Event::Cancel => run.stop(Stop::Cancel, true),
    }
    match run.missing.is_empty() {
        true => Ok(()),
        false => {
            run.missing.sort_unstable();
            run.missing.dedup();
            Err(Missing(run.missing.clone()))
        }
    }
}

struct Deciding<'a, G: ?Sized, B: ?Sized> {
    shape: &'a G,
    book: &'a mut B,
    missing: &'a mut Vec<u32>,
    resolving: &'a mut Vec<(u32, Phase)>,
    decision: &'a mut Decision,
}

impl<G: Shape + ?Sized, B: Book + ?Sized> Deciding<'_, G, B> {
    fn get(&mut self, node: u32) -> Option<NodeState> {
        let state = self.book.read(node);
        if state.is_none() {
            self.missing.push(node);
        }
        state
    }

    fn put(&mut self, node: u32, state: NodeState) {
        self.book.write(node, state);
    }

    fn set(&mut self, node: u32, change: impl FnOnce(&mut NodeState)) {
        if let Some(mut state) = self.get(node) {
            change(&mut state);
            self.put(node, state);
        }
    }

    fn ready(&mut self, node: u32, after: Duration) {
        self.set(node, |s| s.phase = Phase::Ready);
        self.decision.ready.push((node, after));
    }

    /// Node `node` resolves as `phase`; its dependents learn it, and those left with no
    /// unresolved upstream node become ready, or are skipped (and so on down) when one of their
    /// upstream nodes did not complete.
    fn resolve(&mut self, node: u32, phase: Phase) {
        self.resolving.push((node, phase));
        while let Some((node, phase)) = self.resolving.pop() {
            match self.get(node) {
                Some(state) if !state.phase.resolved() => {}
                _ => continue,
            }
            self.set(node, |s| s.phase = phase);
            self.decision.resolved.push(node);
            let blocks = phase != Phase::Completed;
            // A node the graph does not have (a damaged row) has no dependents.
            let shape = self.shape;
            let downstream = match (node as usize) < shape.node_count() {
                true => shape.downstream_of(node),
                false => &[],
            };
            for &down in downstream {
                let Some(mut state) = self.get(down) else {
                    continue;
                };
                state.unresolved = state.unresolved.saturating_sub(1);
                state.blocked |= blocks;
                self.put(down, state);
                if state.unresolved == 0 && state.phase == Phase::Waiting {
                    match state.blocked {
                        true => {
                            self.decision.skipped.push(down);
                            self.resolving.push((down, Phase::Skipped));
                        }
                        false => self.ready(down, Duration::ZERO),
                    }
                }
            }
        }
    }

    /// The run stops: no node that has not started will; with `running`, nor is a running
    /// node's end kept (a cancel).
    fn stop(&mut self, why: Stop, running: bool) {
        self.decision.stop = Some(why);
        for node in 0..self.shape.node_count() as u32 {
            let Some(state) = self.get(node) else {
                continue;
            };
            let stops = match state.phase {
                Phase::Waiting | Phase::Ready | Phase::Suspended => true,
                Phase::Running => running,
                _ => false,
            };
            if stops {
                self.set(node, |s| s.phase = Phase::NotRun);
                self.decision.not_run.push(node);
                self.decision.resolved.push(node);
            }
        }
    }
}
