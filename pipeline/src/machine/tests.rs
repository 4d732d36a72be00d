//! The machine driven directly: random graphs, random outcomes, random orders of events, and the
//! same decisions whether an executor holds every node's state or reads them as asked.

use std::collections::HashMap;
use std::time::Duration;

use proptest::prelude::*;

use super::*;

#[derive(Debug)]
struct TestGraph {
    up: Vec<Vec<u32>>,
    down: Vec<Vec<u32>>,
}

impl Shape for TestGraph {
    fn node_count(&self) -> usize {
        self.up.len()
    }
    fn upstream_of(&self, node: u32) -> &[u32] {
        &self.up[node as usize]
    }
    fn downstream_of(&self, node: u32) -> &[u32] {
        &self.down[node as usize]
    }
}

fn graph(n: usize, edges: &[(usize, usize)]) -> TestGraph {
    let mut up = vec![Vec::new(); n];
    let mut down = vec![Vec::new(); n];
    for &(a, b) in edges {
        let (a, b) = (a % n, b % n);
        let (from, to) = (a.min(b) as u32, a.max(b) as u32);
        if from != to && !up[to as usize].contains(&from) {
            up[to as usize].push(from);
            down[from as usize].push(to);
        }
    }
    TestGraph { up, down }
}

fn outcome(code: u8) -> Outcome {
    match code % 6 {
        0 => Outcome::Failed { stops: false },
        1 => Outcome::Skipped,
        _ => Outcome::Completed,
    }
}

/// The status each node must end with when nothing stops the run.
fn expected(graph: &TestGraph, outcomes: &[Outcome]) -> Vec<Phase> {
    let mut phases: Vec<Phase> = Vec::new();
    for (up, &outcome) in graph.up.iter().zip(outcomes) {
        let blocked = up.iter().any(|&u| phases[u as usize] != Phase::Completed);
        phases.push(match (blocked, outcome) {
            (true, _) => Phase::Skipped,
            (false, Outcome::Completed) => Phase::Completed,
            (false, Outcome::Failed { .. }) => Phase::Failed,
            (false, Outcome::Skipped) => Phase::Skipped,
            (false, Outcome::Stopped) => Phase::NotRun,
        });
    }
    phases
}

/// Decides `event` as the fleet does: from the states of the event's node only, reading more
/// as the decision asks for them.
fn decide_reading(graph: &TestGraph, all: &[NodeState], event: Event) -> Decision {
    let mut read: HashMap<u32, NodeState> = HashMap::new();
    if let Event::Started { node }
    | Event::Ended { node, .. }
    | Event::Retry { node, .. }
    | Event::ItemFailed { node, .. }
    | Event::Began { node, .. }
    | Event::Signalled { node } = event
    {
        read.insert(node, all[node as usize]);
    }
    loop {
        match decide(graph, &read, event) {
            Ok(decision) => return decision,
            Err(Missing(nodes)) => {
                assert!(!nodes.is_empty());
                for node in nodes {
                    assert!(read.insert(node, all[node as usize]).is_none());
                }
            }
        }
    }
}

/// An executor over memory: applies each decision, and checks it against the one an executor
/// reading rows on demand gets.
struct Executor<'a> {
    graph: &'a TestGraph,
    states: Vec<NodeState>,
    ready: Vec<u32>,
    running: Vec<u32>,
    remaining: u32,
    resolutions: Vec<u32>,
    stopped: Option<Stop>,
    started_after_stop: bool,
}

impl<'a> Executor<'a> {
    fn new(graph: &'a TestGraph) -> Self {
        let states = initial(graph, |_| false);
        let ready = (0..states.len() as u32)
            .filter(|&n| states[n as usize].phase == Phase::Ready)
            .collect();
        Executor {
            graph,
            remaining: states.len() as u32,
            resolutions: vec![0; states.len()],
            states,
            ready,
            running: Vec::new(),
            stopped: None,
            started_after_stop: false,
        }
    }

    fn apply(&mut self, event: Event) -> Result<(), TestCaseError> {
        let decision = decide(self.graph, self.states.as_slice(), event)
            .map_err(|missing| TestCaseError::fail(format!("every state is held: {missing:?}")))?;
        prop_assert_eq!(
            decide_reading(self.graph, &self.states, event),
            decision.clone()
        );
        // The scheduler's way: the same decision, written into every node's state as it is made.
        let mut in_place = self.states.clone();
        let mut decided = Decision::default();
        decide_in_place(
            self.graph,
            &mut in_place,
            event,
            &mut Scratch::default(),
            &mut decided,
        )
        .map_err(|missing| TestCaseError::fail(format!("every state is held: {missing:?}")))?;
        prop_assert!(decided.changes.is_empty());
        decided.changes.clone_from(&decision.changes);
        prop_assert_eq!(&decided, &decision);
        let mut newly = Vec::new();
        for &(node, state) in &decision.changes {
            let before = self.states[node as usize].phase;
            if state.phase.resolved() && !before.resolved() {
                self.resolutions[node as usize] += 1;
                newly.push(node);
            }
            self.states[node as usize] = state;
        }
        prop_assert_eq!(&in_place, &self.states);
        // `resolved` names exactly the nodes whose state became resolved, each once.
        let mut named = decision.resolved.clone();
        named.sort_unstable();
        prop_assert_eq!(named, newly);
        self.ready.extend(decision.ready.iter().map(|&(n, _)| n));
        self.ready
            .retain(|&n| self.states[n as usize].phase == Phase::Ready);
        self.running
            .retain(|&n| self.states[n as usize].phase == Phase::Running);
        let resolved = decision.resolved.len() as u32;
        assert!(resolved <= self.remaining);
        self.remaining -= resolved;
        if decision.stop.is_some() {
            self.stopped = self.stopped.or(decision.stop);
        }
        Ok(())
    }

    fn start(&mut self, node: u32) -> Result<(), TestCaseError> {
        self.started_after_stop |= self.stopped.is_some();
        self.apply(Event::Started { node })?;
        self.running.push(node);
        Ok(())
    }

    fn idle(&self) -> bool {
        self.ready.is_empty() && self.running.is_empty()
    }
}

fn dag() -> impl Strategy<Value = (TestGraph, Vec<Outcome>)> {
    (1usize..24).prop_flat_map(|n| {
        (
            proptest::collection::vec((0..n, 0..n), 0..n * 3),
            proptest::collection::vec(any::<u8>(), n),
        )
            .prop_map(move |(edges, codes)| {
                (graph(n, &edges), codes.into_iter().map(outcome).collect())
            })
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    /// Without a stop, whatever the order of events: every node resolves exactly once, as the
    /// semantics say (skipped when an upstream node did not complete), and the run's count of
    /// unresolved nodes reaches zero exactly when nothing is left to run.
    #[test]
    fn every_order_resolves_every_node_as_the_semantics_say(
        (graph, outcomes) in dag(),
        choices in proptest::collection::vec(any::<u16>(), 64),
    ) {
        let mut run = Executor::new(&graph);
        let mut step = 0;
        while !run.idle() {
            let choice = choices[step % choices.len()] as usize + step;
            step += 1;
            let pool = run.ready.len() + run.running.len();
            let pick = choice % pool;
            if pick < run.ready.len() {
                let node = run.ready.swap_remove(pick);
                run.start(node)?;
            } else {
                let node = run.running[pick - run.ready.len()];
                run.apply(Event::Ended { node, outcome: outcomes[node as usize] })?;
            }
        }
        let phases: Vec<Phase> = run.states.iter().map(|s| s.phase).collect();
        prop_assert_eq!(phases, expected(&graph, &outcomes));
        prop_assert_eq!(run.remaining, 0);
        prop_assert!(run.resolutions.iter().all(|&r| r == 1));
    }

    /// A fail-fast failure or a cancel stops the run: nothing starts after it, every node that
    /// had not started is not run, the nodes running then end (a cancel keeps none), and the run
    /// ends with every node resolved once.
    #[test]
    fn a_stop_starts_nothing_more(
        (graph, outcomes) in dag(),
        choices in proptest::collection::vec(any::<u16>(), 64),
        cancel_at in 0usize..40,
        fail_fast in any::<bool>(),
    ) {
        let mut run = Executor::new(&graph);
        let mut step = 0;
        while !run.idle() {
            if step == cancel_at {
                run.apply(Event::Cancel)?;
                prop_assert!(run.idle());
                break;
            }
            let choice = choices[step % choices.len()] as usize + step;
            step += 1;
            let pool = run.ready.len() + run.running.len();
            let pick = choice % pool;
            if pick < run.ready.len() && run.stopped.is_none() {
                let node = run.ready.swap_remove(pick);
                run.start(node)?;
            } else if !run.running.is_empty() {
                let node = run.running[pick % run.running.len()];
                let outcome = match outcomes[node as usize] {
                    Outcome::Failed { .. } => Outcome::Failed { stops: fail_fast },
                    other => other,
                };
                run.apply(Event::Ended { node, outcome })?;
            }
        }
        prop_assert!(!run.started_after_stop);
        prop_assert_eq!(run.remaining, 0);
        prop_assert!(run.resolutions.iter().all(|&r| r == 1));
        if run.stopped.is_some() {
            prop_assert!(run.states.iter().any(|s| s.phase == Phase::NotRun)
                || run.states.iter().all(|s| s.phase.resolved()));
        }
    }

    /// Retries and waits: a node tried again is ready again, not resolved; a wait suspends and
    /// goes on when its signal comes; none of it changes how the run ends.
    #[test]
    fn retries_and_waits_only_delay(
        (graph, outcomes) in dag(),
        detours in proptest::collection::vec(0u8..5, 24),
    ) {
        let mut run = Executor::new(&graph);
        let mut taken = vec![false; graph.node_count()];
        while let Some(node) = run.ready.pop() {
            run.start(node)?;
            if !std::mem::replace(&mut taken[node as usize], true) {
                match detours[node as usize] {
                    1 => {
                        run.apply(Event::Retry { node, after: Duration::from_millis(5) })?;
                        prop_assert_eq!(run.states[node as usize].phase, Phase::Ready);
                        continue;
                    }
                    2 => {
                        run.apply(Event::Began { node, signalled: false })?;
                        prop_assert_eq!(run.states[node as usize].phase, Phase::Suspended);
                        prop_assert!(!run.ready.contains(&node));
                        // Its signal came: the executor goes on with it.
                        run.apply(Event::Started { node })?;
                        prop_assert_eq!(run.states[node as usize].phase, Phase::Running);
                    }
                    3 => {
                        run.apply(Event::Began { node, signalled: true })?;
                        prop_assert!(run.ready.contains(&node));
                        continue;
                    }
                    4 => {
                        // A signal while it runs changes nothing; once it waits, it is due.
                        run.apply(Event::Signalled { node })?;
                        prop_assert_eq!(run.states[node as usize].phase, Phase::Running);
                        run.apply(Event::Began { node, signalled: false })?;
                        run.apply(Event::Signalled { node })?;
                        prop_assert!(run.ready.contains(&node));
                        continue;
                    }
                    _ => {}
                }
            }
            run.apply(Event::Ended { node, outcome: outcomes[node as usize] })?;
            run.running.retain(|&n| n != node);
        }
        let phases: Vec<Phase> = run.states.iter().map(|s| s.phase).collect();
        prop_assert_eq!(phases, expected(&graph, &outcomes));
        prop_assert_eq!(run.remaining, 0);
    }
}

#[test]
fn a_resumed_run_starts_where_its_checkpoint_ends() {
    // 0 → 1 → 2, 0 → 3: with 0 and 1 completed, 2 and 3 are ready and nothing else.
    let graph = graph(4, &[(0, 1), (1, 2), (0, 3)]);
    let states = initial(&graph, |n| n < 2);
    let phases: Vec<Phase> = states.iter().map(|s| s.phase).collect();
    assert_eq!(
        phases,
        [
            Phase::Completed,
            Phase::Completed,
            Phase::Ready,
            Phase::Ready
        ]
    );
}

#[test]
fn a_run_status_is_failed_then_waiting_then_completed() {
    use crate::result::RunStatus;
    let status = |phases: &[Phase]| run_status(phases.iter().copied());
    assert_eq!(
        status(&[Phase::Completed, Phase::Skipped]),
        RunStatus::Completed
    );
    assert_eq!(
        status(&[Phase::Suspended, Phase::Completed]),
        RunStatus::Waiting
    );
    assert_eq!(
        status(&[Phase::Suspended, Phase::Failed]),
        RunStatus::Failed
    );
}

#[test]
fn a_node_the_graph_does_not_have_resolves_alone() -> Result<(), Missing> {
    // A damaged fleet row names node 7 of a 2-node graph: it fails, and stops the run, without
    // reading past the graph's end.
    let graph = graph(2, &[(0, 1)]);
    let mut states: HashMap<u32, NodeState> = HashMap::new();
    states.insert(7, NodeState::new(Phase::Running));
    states.insert(0, NodeState::new(Phase::Ready));
    states.insert(
        1,
        NodeState {
            phase: Phase::Waiting,
            unresolved: 1,
            blocked: false,
        },
    );
    let event = Event::Ended {
        node: 7,
        outcome: Outcome::Failed { stops: true },
    };
    let decision = decide(&graph, &states, event)?;
    assert_eq!(decision.not_run, [0, 1]);
    assert_eq!(decision.resolved.len(), 3);
    assert_eq!(decision.stop, Some(Stop::FailFast));
    Ok(())
}
