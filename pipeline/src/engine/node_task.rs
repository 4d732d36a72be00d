//! One node's life on its own tokio task: condition gate, attempts with timeout and backoff,
//! then its checkpoint record and audit entry, in that order.

use std::any::Any;
use std::collections::BTreeMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Instant;

use futures_util::FutureExt;
use futures_util::future::Either;

use super::lifecycle::{RunShared, now_ms};
use crate::data::{Json, Value};
use crate::graph::NodeDef;
use crate::node::{NodeContext, NodeError, TimeoutError};
use crate::result::{PersistenceWarning, StoreKind};
use crate::store::{AuditEntry, AuditStatus, NodeRecord, StoreError};

pub(crate) enum Outcome {
    Completed { value: Value, json: Option<Json> },
    Failed { error: String, attempts: u32 },
    Skipped,
}

/// What a node task reports back to the scheduler.
pub(crate) struct Report {
    pub outcome: Outcome,
    pub warnings: Vec<PersistenceWarning>,
    pub ran: bool,
    /// A store refused a write because another engine took the run over.
    pub taken_over: bool,
}

pub(crate) struct NodeJob {
    pub index: u32,
    pub args: Vec<Value>,
    pub gate_args: Vec<Value>,
    /// The JSON of each argument, by the name of its source, when there is an audit log.
    pub snapshot: Option<BTreeMap<String, Json>>,
}

struct Attempt {
    number: u32,
    started_at_ms: u64,
    clock: Instant,
}

/// When an attempt's own work ended, before anything was persisted.
#[derive(Clone, Copy)]
struct Ended {
    finished_at_ms: u64,
    duration: std::time::Duration,
}

impl Attempt {
    fn end(&self, wall_clock: bool) -> Ended {
        Ended {
            finished_at_ms: if wall_clock { now_ms() } else { 0 },
            duration: self.clock.elapsed(),
        }
    }
}

/// Starts a future with `start` and runs it, turning a panic in either into the error text the
/// audit trail records. The one place the engine catches panics: in node bodies, condition gates,
/// and its own code around them. Not an `async fn`, so the returned future is no bigger than the
/// started one plus a tag.
pub(crate) fn caught<F: Future>(
    start: impl FnOnce() -> F,
) -> impl Future<Output = Result<F::Output, String>> {
    match std::panic::catch_unwind(AssertUnwindSafe(start)) {
        Ok(future) => Either::Left(
            AssertUnwindSafe(future)
                .catch_unwind()
                .map(|result| result.map_err(panic_text)),
        ),
        Err(payload) => Either::Right(std::future::ready(Err(panic_text(payload)))),
    }
}

fn panic_text(payload: Box<dyn Any + Send>) -> String {
    let text = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-string panic payload".to_owned());
    format!("panicked: {text}")
}

pub(crate) async fn run_node(shared: Arc<RunShared>, node: &NodeDef, job: NodeJob) -> Report {
    let mut task = NodeTask {
        shared: &shared,
        node,
        job,
        warnings: Vec::new(),
        taken_over: false,
    };
    let (outcome, ran) = match task.gate().await {
        Ok(true) => (task.attempts().await, true),
        Ok(false) => (Outcome::Skipped, false),
        Err(error) => {
            let attempt = task.start(1);
            let ended = attempt.end(task.shared.persists());
            task.audit_failure(&attempt, ended, &error).await;
            task.shared
                .events
                .on_node_fail(&task.shared.run_id, &task.node.id, 1, &error);
            (Outcome::Failed { error, attempts: 1 }, true)
        }
    };
    Report {
        outcome,
        warnings: task.warnings,
        ran,
        taken_over: task.taken_over,
    }
}

struct NodeTask<'a> {
    shared: &'a RunShared,
    node: &'a NodeDef,
    job: NodeJob,
    warnings: Vec<PersistenceWarning>,
    taken_over: bool,
}

impl NodeTask<'_> {
    /// Evaluates the condition gate; a panicking or mistyped gate fails the node.
    async fn gate(&self) -> Result<bool, String> {
        let Some(gate) = &self.node.gate else {
            return Ok(true);
        };
        let values: Vec<&Value> = self.job.gate_args.iter().collect();
        match caught(|| std::future::ready((gate.pred)(&values))).await {
            Ok(Some(open)) => Ok(open),
            Ok(None) => Err("internal error: a condition input has an unexpected type".into()),
            Err(panic) => Err(format!("condition {panic}")),
        }
    }

    fn start(&self, number: u32) -> Attempt {
        self.shared
            .events
            .on_node_start(&self.shared.run_id, &self.node.id, number);
        Attempt {
            number,
            // Wall-clock times are only recorded in stores; without one, skip the clock read.
            started_at_ms: if self.shared.persists() { now_ms() } else { 0 },
            clock: Instant::now(),
        }
    }

    async fn attempts(&mut self) -> Outcome {
        let max = self.node.options.max_attempts();
        let mut number = 1;
        loop {
            let attempt = self.start(number);
            let result = self.call(number).await;
            let ended = attempt.end(self.shared.persists());
            match result {
                Ok(value) => return self.complete(&attempt, ended, value).await,
                Err(error) => {
                    let error = error.to_string();
                    Box::pin(self.audit_failure(&attempt, ended, &error)).await;
                    let (run_id, id) = (&self.shared.run_id, &*self.node.id);
                    if number >= max {
                        self.shared.events.on_node_fail(run_id, id, number, &error);
                        tracing::warn!(node = id, attempt = number, error, "node failed");
                        return Outcome::Failed {
                            error,
                            attempts: number,
                        };
                    }
                    let delay = self.node.options.backoff.delay(number);
                    self.shared
                        .events
                        .on_node_retry(run_id, id, number, &error, delay);
                    tracing::info!(node = id, attempt = number, error, ?delay, "retrying node");
                    // Boxed: a `Sleep` is large, and only retries need one.
                    Box::pin(tokio::time::sleep(delay)).await;
                    number += 1;
                }
            }
        }
    }

    /// One call of the node fn, with its panics caught and its timeout applied.
    async fn call(&self, attempt: u32) -> Result<Value, NodeError> {
        let ctx = NodeContext {
            run_id: self.shared.run_id.clone(),
            node_id: Arc::clone(&self.node.id),
            attempt,
        };
        let values: Vec<&Value> = self.job.args.iter().collect();
        let future = caught(|| (self.node.run)(&values, ctx));
        let result = match self.node.options.timeout {
            // Boxed: a `Timeout` is large, and only nodes with a timeout need one.
            Some(limit) => Box::pin(tokio::time::timeout(limit, future))
                .await
                .map_err(|_| Box::new(TimeoutError(limit)) as NodeError)?,
            None => future.await,
        };
        result.map_err(NodeError::from)?
    }

    async fn complete(&mut self, attempt: &Attempt, ended: Ended, value: Value) -> Outcome {
        let json = if self.shared.persists() {
            // Boxed: the records are large, and a node future is copied when it is spawned.
            Box::pin(self.persist(attempt, ended, &value)).await
        } else {
            None
        };
        self.shared.events.on_node_complete(
            &self.shared.run_id,
            &self.node.id,
            attempt.number,
            ended.duration,
        );
        Outcome::Completed { value, json }
    }

    /// Serializes the output once, then writes the checkpoint record and the audit entry, in
    /// that order.
    async fn persist(&mut self, attempt: &Attempt, ended: Ended, value: &Value) -> Option<Json> {
        let json = match (self.node.codec.encode)(value) {
            Ok(json) => Some(json),
            Err(e) => {
                self.warn(
                    StoreKind::Checkpoint,
                    format!("cannot serialize the output: {e}"),
                );
                None
            }
        };
        if let (Some(checkpointer), Some(output)) = (&self.shared.checkpointer, &json) {
            let record = NodeRecord {
                node: self.node.id.to_string(),
                attempt: attempt.number,
                started_at_ms: attempt.started_at_ms,
                finished_at_ms: ended.finished_at_ms,
                duration_us: ended.duration.as_micros() as u64,
                output: Arc::clone(output),
            };
            let epoch = self.shared.checkpoint_epoch;
            if let Err(e) = checkpointer.save(&self.shared.run_id, epoch, &record).await {
                self.store_failed(StoreKind::Checkpoint, e);
            }
        }
        if self.shared.audit.is_some() {
            let mut entry = self.entry(attempt, ended, AuditStatus::Completed);
            entry.output = json.clone();
            self.append(entry).await;
        }
        json
    }

    async fn audit_failure(&mut self, attempt: &Attempt, ended: Ended, error: &str) {
        if self.shared.audit.is_some() {
            let mut entry = self.entry(attempt, ended, AuditStatus::Failed);
            entry.error = Some(error.to_owned());
            self.append(entry).await;
        }
    }

    fn entry(&self, attempt: &Attempt, ended: Ended, status: AuditStatus) -> AuditEntry {
        AuditEntry {
            run_id: self.shared.run_id.clone(),
            node: self.node.id.to_string(),
            status,
            attempt: attempt.number,
            started_at_ms: attempt.started_at_ms,
            finished_at_ms: ended.finished_at_ms,
            duration_us: ended.duration.as_micros() as u64,
            inputs: self.job.snapshot.clone().unwrap_or_default(),
            output: None,
            error: None,
        }
    }

    async fn append(&mut self, entry: AuditEntry) {
        if let Some(audit) = &self.shared.audit
            && let Err(e) = audit.append(self.shared.audit_epoch, &entry).await
        {
            self.store_failed(StoreKind::Audit, e);
        }
    }

    /// A store refused a write: a persistence warning, and, when the refusal says another engine
    /// took the run over, the end of this run's scheduling.
    fn store_failed(&mut self, store: StoreKind, error: StoreError) {
        if matches!(error, StoreError::Fenced { .. }) {
            self.taken_over = true;
        }
        self.warn(store, error.to_string());
    }

    fn warn(&mut self, store: StoreKind, message: String) {
        let warning = PersistenceWarning {
            store,
            node: Some(self.node.id.to_string()),
            message,
        };
        tracing::warn!(node = &*self.node.id, %warning, "persistence failed");
        self.shared
            .events
            .on_persistence_warning(&self.shared.run_id, &warning);
        self.warnings.push(warning);
    }
}
