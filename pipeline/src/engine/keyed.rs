//! Idempotent starts: a start with a key (given per start, or named by the pipeline from its
//! inputs) claims the key in the checkpointer for its run; a start that finds the key held by
//! another run returns that run's id and result instead of starting another: at once when it
//! ended, after it ends while another process runs it, and by resuming it when it was
//! interrupted. The same rule serves a fleet's `submit` (`fleet::submit`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use super::{CancelHandle, PipelineEngine, RunOptions};
use crate::definition::Pipeline;
use crate::error::PipelineError;
use crate::graph::Graph;
use crate::graph::Slot;
use crate::result::{
    ItemFailure, NodeFailure, NodeList, NodeNames, NodeStatus, NodeStatuses, PipelineResult,
    RunStatus,
};
use crate::run_id::RunId;
use crate::store::{AuditStatus, InMemoryAuditLog, KeyClaim, RunState, RunView, Stores, ms_after};

/// What key fn `key` (of a pipeline that names one) makes of `inputs`, as text; `what` names
/// it in the error of a key that does not serialize.
fn key_text<I>(
    key: Option<&crate::graph::KeyFn<I>>,
    inputs: &I,
    run_id: &RunId,
    what: &str,
) -> Result<Option<String>, PipelineError> {
    let Some(key) = key else {
        return Ok(None);
    };
    key(inputs)
        .map(Some)
        .map_err(|source| PipelineError::Decode {
            run_id: run_id.clone(),
            what: format!("{what} (it does not serialize)"),
            source,
        })
}

/// The longest pause between two looks at a run another process runs, while a start with its
/// key waits for it to end.
const MAX_PAUSE: Duration = Duration::from_secs(1);

impl<P: Pipeline> PipelineEngine<P> {
    /// The idempotency key of a start: the one given, or the one the pipeline makes of `inputs`.
    pub(crate) fn key_of(
        &self,
        options: &RunOptions,
        inputs: &P::Inputs,
        run_id: &RunId,
    ) -> Result<Option<String>, PipelineError> {
        if let Some(key) = options.key() {
            return Ok(Some(key.to_owned()));
        }
        let key = self.graph.inner.key.as_ref();
        key_text(key, inputs, run_id, "the idempotency key")
    }

    /// The key of a run of `inputs` under the pipeline's per-key run limit, and the limit; `None`
    /// when the pipeline limits no runs. The one reading of it, in one process and on a fleet.
    pub(crate) fn run_limit_key(
        &self,
        inputs: &P::Inputs,
        run_id: &RunId,
    ) -> Result<Option<(String, u32)>, PipelineError> {
        let Some(limit) = &self.graph.inner.run_limit else {
            return Ok(None);
        };
        let key = key_text(Some(&limit.key), inputs, run_id, "the run limit's key")?;
        Ok(key.map(|key| (key, limit.runs)))
    }

    /// The fairness key of a run of `inputs`: the pipeline's, if it names one
    /// ([`GraphBuilder::fair`](crate::GraphBuilder::fair)), else its run limit's key
    /// (`limit_key`), if any. The one reading of it, in one process and on a fleet.
    pub(crate) fn fair_key(
        &self,
        inputs: &P::Inputs,
        run_id: &RunId,
        limit_key: Option<&str>,
    ) -> Result<Option<String>, PipelineError> {
        let fair = self.graph.inner.fair.as_ref();
        let fair = key_text(fair, inputs, run_id, "the fairness key")?;
        Ok(fair.or_else(|| limit_key.map(str::to_owned)))
    }

    /// Claims `key` for run `run_id` in `store`, held for the start's retention (`options`) or
    /// the engine's: the id of the run that holds it now.
    pub(crate) async fn claim_key(
        &self,
        store: &dyn crate::store::Checkpointer,
        key: String,
        run_id: &RunId,
        options: &RunOptions,
    ) -> Result<RunId, PipelineError> {
        let now = self.clock.now_ms();
        let retention = options.retention().unwrap_or(self.key_retention);
        let claim = KeyClaim {
            pipeline: self.graph.name().to_owned(),
            key,
            run_id: run_id.clone(),
            expires_at_ms: ms_after(now, retention),
        };
        let held = store
            .claim_key(&claim, now)
            .await
            .map_err(|e| PipelineError::from_store(run_id, e))?;
        Ok(held.run_id)
    }

    /// A new run, or, when its idempotency key is held, the run that holds it.
    pub(crate) async fn start_with(
        &self,
        mut options: RunOptions,
        inputs: P::Inputs,
        cancel: Option<CancelHandle>,
    ) -> Result<PipelineResult<P::Output>, PipelineError> {
        let run_id = options.take_id();
        let Some(key) = self.key_of(&options, &inputs, &run_id)? else {
            return self
                .start(
                    run_id,
                    inputs,
                    cancel,
                    options.run_priority(),
                    options.trace_parent(),
                )
                .await;
        };
        let Some(store) = self.checkpointer.clone() else {
            return Err(PipelineError::NoCheckpointer(run_id));
        };
        let holder = self.claim_key(&*store, key, &run_id, &options).await?;
        let stores = Stores {
            checkpointer: store,
            audit: match &self.audit {
                Some(audit) => Arc::clone(audit),
                None => Arc::new(InMemoryAuditLog::new()),
            },
        };
        let mut pause = Duration::from_millis(5);
        loop {
            // The holder is created by whichever start comes first: its claimer, or (when that
            // one died between its claim and its start) another.
            match self
                .start(
                    holder.clone(),
                    inputs.clone(),
                    cancel.clone(),
                    options.run_priority(),
                    options.trace_parent(),
                )
                .await
            {
                Err(PipelineError::RunExists(_) | PipelineError::RunLocked(_)) => {}
                started => return started,
            }
            if let Some(attached) = self.attach(&stores, &holder, &cancel, &mut pause).await {
                return attached;
            }
        }
    }

    /// The result of run `run_id`, which another start created: once it ended; resumed here
    /// when nobody runs it and it has not ended. `None` when the store does not have it (yet):
    /// its claimer may not have created it.
    async fn attach(
        &self,
        stores: &Stores,
        run_id: &RunId,
        cancel: &Option<CancelHandle>,
        pause: &mut Duration,
    ) -> Option<Result<PipelineResult<P::Output>, PipelineError>> {
        loop {
            let view = match stores.view(run_id).await {
                Ok(Some(view)) => view,
                Ok(None) => break,
                Err(e) => return Some(Err(PipelineError::from_store(run_id, e))),
            };
            match view.state {
                RunState::Ended(status) => {
                    return Some(self.stored_result(stores, view, status).await);
                }
                // Nobody runs it, or the store cannot tell (then its lock refuses the resume
                // while somebody does).
                RunState::Interrupted | RunState::Stopped | RunState::Unknown => {
                    let mut resume = self.resume(run_id);
                    if let Some(cancel) = cancel {
                        resume = resume.cancel(cancel);
                    }
                    match resume.await {
                        // Another start resumed it first: wait for that one.
                        Err(PipelineError::RunLocked(_)) => {}
                        resumed => return Some(resumed),
                    }
                }
                RunState::Running => {}
            }
            back_off(pause).await;
        }
        back_off(pause).await;
        None
    }

    /// The output of run `view`, read from its output nodes' stored outputs: `None` when one of
    /// them has none (it was skipped, or the run has not completed).
    pub(crate) async fn stored_output(
        &self,
        stores: &Stores,
        view: &RunView,
    ) -> Result<Option<P::Output>, PipelineError> {
        let run_id = &view.checkpoint.header.run_id;
        let mut stored = BTreeMap::new();
        for node in self.graph.output_nodes() {
            let id = &*self.graph.inner.nodes[node as usize].id;
            let output = stores.checkpointer.load_output(run_id, id).await;
            if let Some(json) = output.map_err(|e| PipelineError::from_store(run_id, e))? {
                stored.insert(id.to_owned(), json);
            }
        }
        let inputs = Some(serde_json::from_str(view.checkpoint.header.inputs.get()));
        output_from_store(&self.graph, run_id, inputs, &stored)
    }

    /// The result run `run_id` ended with, read from its stores: nothing ran in this call, and
    /// every completed node's output is restored.
    async fn stored_result(
        &self,
        stores: &Stores,
        view: RunView,
        status: RunStatus,
    ) -> Result<PipelineResult<P::Output>, PipelineError> {
        let run_id = &view.checkpoint.header.run_id;
        let graph = &self.graph.inner;
        let names: Arc<dyn NodeNames> = graph.clone();
        let statuses: Vec<NodeStatus> = graph
            .nodes
            .iter()
            .map(|node| {
                view.nodes
                    .get(&*node.id)
                    .map_or(NodeStatus::NotRun, |s| s.status())
            })
            .collect();
        let restored: Vec<u32> = (0..statuses.len() as u32)
            .filter(|&i| statuses[i as usize] == NodeStatus::Completed)
            .collect();
        let failures = failures(&view, &statuses, &self.graph);
        let cached = crate::store::cached_from(view.trail.iter().flatten());
        let output = match status {
            RunStatus::Completed => self.stored_output(stores, &view).await?,
            _ => None,
        };
        let waiting = match status {
            RunStatus::Waiting => {
                let waits = stores.checkpointer.waits(run_id).await;
                waits
                    .map_err(|e| PipelineError::from_store(run_id, e))?
                    .waiting
            }
            _ => Vec::new(),
        };
        Ok(PipelineResult {
            run_id: run_id.clone(),
            status,
            output,
            nodes: NodeStatuses::new(Arc::clone(&names), statuses),
            failures,
            restored: NodeList::new(Arc::clone(&names), restored),
            cached,
            executed: NodeList::new(names, Vec::new()),
            warnings: Vec::new(),
            waiting,
            stored: true,
        })
    }
}

/// Sleeps `pause`, then doubles it (up to [`MAX_PAUSE`]) for the next look.
async fn back_off(pause: &mut Duration) {
    tokio::time::sleep(*pause).await;
    *pause = (*pause * 2).min(MAX_PAUSE);
}

/// Why each failed node of `view` failed, by its audit trail: the last attempt's error, and for
/// a mapped node the items whose last attempt failed.
fn failures<I, O>(
    view: &RunView,
    statuses: &[NodeStatus],
    graph: &Graph<I, O>,
) -> BTreeMap<String, NodeFailure> {
    let mut failures = BTreeMap::new();
    let Some(trail) = &view.trail else {
        return failures;
    };
    for (index, node) in graph.inner.nodes.iter().enumerate() {
        if statuses[index] != NodeStatus::Failed {
            continue;
        }
        let entries = trail.iter().filter(|e| e.node == *node.id);
        // Each item's last entry, and the node's own.
        let mut items: BTreeMap<u32, (u32, &crate::store::AuditEntry)> = BTreeMap::new();
        let mut whole = None;
        for entry in entries {
            match entry.item {
                Some(item) => {
                    items.insert(item.index, (item.of, entry));
                }
                None => whole = Some(entry),
            }
        }
        let failed = |e: &crate::store::AuditEntry| e.status == AuditStatus::Failed;
        let failed_items: Vec<ItemFailure> = items
            .iter()
            .filter(|(_, (_, e))| failed(e))
            .map(|(&index, (_, e))| ItemFailure {
                index,
                error: e.error.clone().unwrap_or_default(),
                attempts: e.attempt,
            })
            .collect();
        let failure = match (whole.filter(|e| failed(e)), failed_items.is_empty()) {
            (Some(entry), _) => NodeFailure {
                error: entry.error.clone().unwrap_or_default(),
                attempts: entry.attempt,
                items: Vec::new(),
            },
            (None, false) => {
                let of = items.values().map(|(of, _)| *of).max().unwrap_or(0);
                NodeFailure::of_items(of, failed_items)
            }
            (None, true) => continue,
        };
        failures.insert(node.id.to_string(), failure);
    }
    failures
}

/// The pipeline's output from the stored outputs of the nodes it reads (by node id) and the
/// run's inputs (read only when the output holds one; `None` when they were not): `None` when
/// something it reads is missing. The one reading of a stored output, in one process and on a
/// fleet.
pub(crate) fn output_from_store<I: serde::de::DeserializeOwned, O>(
    graph: &Graph<I, O>,
    run_id: &RunId,
    inputs: Option<Result<I, serde_json::Error>>,
    stored: &BTreeMap<String, crate::data::Json>,
) -> Result<Option<O>, PipelineError> {
    let graph = &graph.inner;
    let decode = |what: String, source| PipelineError::Decode {
        run_id: run_id.clone(),
        what,
        source,
    };
    let mut inputs = inputs;
    let mut decoded: Option<I> = None;
    let mut values = Vec::new();
    for slot in &graph.output_slots {
        match *slot {
            Slot::Input(i) => {
                if let Some(read) = inputs.take() {
                    decoded = Some(read.map_err(|e| decode("inputs".into(), e))?);
                }
                let Some(inputs) = &decoded else {
                    return Ok(None);
                };
                values.push((graph.inputs[i as usize].extract)(inputs));
            }
            Slot::Node(i) => {
                let node = &graph.nodes[i as usize];
                let Some(json) = stored.get(&*node.id) else {
                    return Ok(None);
                };
                let value = (node.codec.decode)(json)
                    .map_err(|e| decode(format!("output of `{}`", node.id), e))?;
                values.push(value);
            }
        }
    }
    let refs: Vec<&crate::data::Value> = values.iter().collect();
    Ok((graph.output)(&refs))
}
