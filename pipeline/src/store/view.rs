//! What a reader can tell about a run from its stores alone ([`RunView`]): how it ended, or, for
//! a run that has not, whether a process holds it (running) or none does (interrupted), and each
//! node's state from the checkpoint, the audit trail and the run's waits.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::error::StoreResult;
use super::records::{AuditEntry, AuditStatus, Checkpoint, RunSummary};
use super::spec::Stores;
use super::state::{NodeState, RunState};
use crate::result::{NodeStatus, RunStatus};
use crate::run_id::RunId;

/// A run as a reader sees it: its checkpoint, its audit trail, its summary, where it is, and
/// where each node is. See [`Stores::view`].
#[derive(Clone, Debug)]
pub struct RunView {
    /// The run's checkpoint, its outputs left out (`null`: read one with
    /// [`Checkpointer::load_output`](super::Checkpointer::load_output)).
    pub checkpoint: Checkpoint,
    /// Its audit trail; `None` when it was run without an audit log.
    pub trail: Option<Vec<AuditEntry>>,
    /// Its summary as stored, or as its checkpoint implies (then with no final status).
    pub summary: RunSummary,
    /// Where the run is.
    pub state: RunState,
    /// Where each node is, by node id.
    pub nodes: BTreeMap<String, NodeState>,
}

/// A run in brief, as a list of runs shows it: its summary, where it is, and how many of its
/// nodes completed, failed and were skipped. See [`Stores::overview`].
#[derive(Clone, Debug)]
pub struct RunOverview {
    /// Its summary as stored, or as its checkpoint implies.
    pub summary: RunSummary,
    /// Where the run is.
    pub state: RunState,
    /// Its completed nodes (those whose output came from the cache too).
    pub completed: usize,
    /// Its failed nodes.
    pub failed: usize,
    /// Its skipped nodes.
    pub skipped: usize,
    /// Its nodes in all.
    pub nodes: usize,
}

impl RunOverview {
    fn ended(summary: RunSummary, status: RunStatus) -> RunOverview {
        let count = |s| summary.count(s);
        RunOverview {
            completed: count(NodeStatus::Completed) + count(NodeStatus::Cached),
            failed: count(NodeStatus::Failed),
            skipped: count(NodeStatus::Skipped),
            nodes: summary.nodes.len(),
            state: RunState::Ended(status),
            summary,
        }
    }

    fn of(view: RunView) -> RunOverview {
        let count = |s| view.count(s);
        RunOverview {
            completed: count(NodeState::Completed) + count(NodeState::Cached),
            failed: count(NodeState::Failed),
            skipped: count(NodeState::Skipped),
            nodes: view.nodes.len(),
            state: view.state,
            summary: view.summary,
        }
    }
}

impl RunView {
    /// How many nodes are in `state`.
    pub fn count(&self, state: NodeState) -> usize {
        self.nodes.values().filter(|s| **s == state).count()
    }

    /// Each node's state as the nearest [`NodeStatus`] (for pictures that colour by status).
    pub fn statuses(&self) -> BTreeMap<String, NodeStatus> {
        self.nodes
            .iter()
            .map(|(id, state)| (id.clone(), state.status()))
            .collect()
    }
}

impl Stores {
    /// Deletes run `run_id` from both stores (refused with
    /// [`StoreError::Locked`](super::StoreError::Locked) while a process holds it); whether
    /// either had it.
    pub async fn delete_run(&self, run_id: &RunId) -> StoreResult<bool> {
        let checkpoint = self.checkpointer.delete_run(run_id).await?;
        let audit = self.audit.delete_run(run_id).await?;
        Ok(checkpoint || audit)
    }

    /// Run `run_id` in brief (see [`RunOverview`]); `Ok(None)` for an unknown run. A run that
    /// ended is read from its summary alone, one that has not from all it left (see
    /// [`view`](Stores::view)).
    pub async fn overview(&self, run_id: &RunId) -> StoreResult<Option<RunOverview>> {
        if let Some(summary) = self.audit.summary(run_id).await?
            && let Some(status) = summary.status
        {
            return Ok(Some(RunOverview::ended(summary, status)));
        }
        Ok(self.view(run_id).await?.map(RunOverview::of))
    }

    /// What the stores tell of run `run_id` (see [`RunView`]); `Ok(None)` for an unknown run.
    /// A run that has not ended is `Running` while a process holds it (its lock tells) and
    /// `Interrupted` otherwise; its nodes' states come from the checkpoint (completed), the
    /// audit trail (a last attempt that failed), its waits, and its graph (a node whose inputs
    /// were all complete had an attempt in flight, or about to be).
    pub async fn view(&self, run_id: &RunId) -> StoreResult<Option<RunView>> {
        // Its records, not its outputs: a reader never holds a whole checkpoint.
        let Some(checkpoint) = self.checkpointer.load_records(run_id).await? else {
            return Ok(None);
        };
        let trail = self.audit.entries(run_id).await?;
        let mut summary = match self.audit.summary(run_id).await? {
            Some(summary) => summary,
            None => checkpoint.summary(),
        };
        if summary.status.is_none() {
            // A run that has not ended was last written by its last record or audit entry (its
            // summary is the one written as it started).
            let records = checkpoint.nodes.iter().map(|r| r.finished_at_ms);
            let entries = trail.iter().flatten().map(|e| e.finished_at_ms);
            let last = records.chain(entries).max().unwrap_or_default();
            summary.updated_at_ms = summary.updated_at_ms.max(last);
        }
        if let Some(status) = summary.status {
            let nodes = summary
                .nodes
                .iter()
                .map(|(id, s)| (id.clone(), (*s).into()));
            return Ok(Some(RunView {
                state: RunState::Ended(status),
                nodes: nodes.collect(),
                checkpoint,
                trail,
                summary,
            }));
        }
        let graph = &checkpoint.header.graph;
        let completed: HashSet<&str> = checkpoint.completed().collect();
        let state = if graph
            .nodes
            .iter()
            .all(|n| completed.contains(n.id.as_str()))
        {
            RunState::Ended(RunStatus::Completed)
        } else {
            match (self.checkpointer.is_held(run_id).await?, &trail) {
                (Some(true), _) => RunState::Running,
                (Some(false), Some(_)) => RunState::Interrupted,
                (Some(false), None) => RunState::Stopped,
                (None, _) => RunState::Unknown,
            }
        };
        let waits = self.checkpointer.waits(run_id).await?;
        let waiting: HashSet<&str> = waits.waiting.iter().map(|w| w.wait.as_str()).collect();
        let ids: HashSet<&str> = graph.nodes.iter().map(|n| n.id.as_str()).collect();
        let entries = trail.as_deref().unwrap_or_default();
        // Failed: the last attempt of the node (of one of a mapped node's items) failed, and none
        // was to follow (one in backoff, waiting to try again, had not failed).
        let mut last: HashMap<(&str, Option<u32>), &AuditEntry> = HashMap::new();
        for entry in entries {
            last.insert((entry.node.as_str(), entry.item.map(|i| i.index)), entry);
        }
        let failed: HashSet<&str> = last
            .iter()
            .filter(|(_, e)| e.status == AuditStatus::Failed && e.retry_at_ms.is_none())
            .map(|((node, _), _)| *node)
            .collect();
        let last_failed = |id: &str| failed.contains(id);
        // Whole nodes whose last entry says their output came from the cache.
        let cached = super::records::cached_from(entries);
        let in_flight = match state {
            RunState::Running => NodeState::Running,
            _ => NodeState::NoOutcome,
        };
        let mut nodes = BTreeMap::new();
        for node in &graph.nodes {
            let id = node.id.as_str();
            let ready = || {
                let mut upstream = node.inputs.iter().chain(&node.condition_inputs);
                upstream.all(|u| !ids.contains(u.as_str()) || completed.contains(u.as_str()))
            };
            let node_state = if completed.contains(id) && cached.contains_key(id) {
                NodeState::Cached
            } else if completed.contains(id) {
                NodeState::Completed
            } else if waiting.contains(id) {
                NodeState::Waiting
            } else if last_failed(id) {
                NodeState::Failed
            } else if ready() {
                in_flight
            } else {
                NodeState::NotRun
            };
            nodes.insert(node.id.clone(), node_state);
        }
        // A store that runs the run itself (a fleet) knows better than the derivation.
        if let Some(live) = self.checkpointer.live_nodes(run_id).await? {
            nodes.extend(live);
            // Its rows say completed; the trail says where the output came from.
            for node in cached.keys() {
                if let Some(state @ NodeState::Completed) = nodes.get_mut(node) {
                    *state = NodeState::Cached;
                }
            }
        }
        Ok(Some(RunView {
            checkpoint,
            trail,
            summary,
            state,
            nodes,
        }))
    }
}
