//! One node's life, on the run's own task or on another: condition gate, attempts with timeout
//! and backoff, then its checkpoint record and audit entry, in that order.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use futures_util::FutureExt;
use futures_util::future::Either;

pub(crate) use super::attempt::NodeJob;
use super::attempt::{Attempt, Encoded, Ended};
use super::lifecycle::RunShared;
use super::limits;
use crate::cache::key::Probe;
use crate::call::guard::{caught, caught_sync};
use crate::call::{call, gate};
use crate::data::{Json, RoundTrip, Value};
use crate::event::EventHandler;
use crate::graph::NodeDef;
use crate::machine::retry_after;
use crate::node::{MapItem, NodeContext, NodeError};
use crate::result::{PersistenceWarning, WarningSource};
use crate::run_id::RunId;
use crate::store::now_ms;
use crate::trace::logs::{self, Captured};

pub(crate) enum Outcome {
    Completed {
        value: Value,
        json: Option<Json>,
        /// Whether the run's checkpoint holds the output.
        checkpointed: bool,
    },
    Failed {
        error: String,
        attempts: u32,
    },
    Skipped,
}

/// What a node task reports back to the scheduler.
pub(crate) struct Report {
    pub outcome: Outcome,
    pub warnings: Vec<PersistenceWarning>,
    pub ran: bool,
    /// A store refused a write because another engine took the run over.
    pub taken_over: bool,
    /// The item of a mapped node this report is about.
    pub item: Option<MapItem>,
    /// The run that computed the output, when it was restored from the cache.
    pub cached_from: Option<RunId>,
}

/// A node's life: gate, attempts, persistence. Not an `async fn`: its arguments are moved into
/// the future once (a node future is moved into its task whole, so its size counts).
pub(crate) fn run_node<'a>(
    shared: &'a RunShared,
    node: &'a NodeDef,
    job: NodeJob<'a>,
) -> impl Future<Output = Report> + Send + 'a {
    let task = NodeTask {
        shared,
        node,
        job,
        warnings: Vec::new(),
        taken_over: false,
        cache: None,
    };
    task.run()
}

/// A node's life (gate, attempts, persistence), with a panic anywhere in it a failed attempt.
pub(crate) fn report<'a>(
    shared: &'a RunShared,
    node: &'a NodeDef,
    job: NodeJob<'a>,
) -> impl Future<Output = Report> + Send + 'a {
    let item = job.item;
    caught(|| run_node(shared, node, job)).map(move |report| {
        report.unwrap_or_else(|error| Report {
            outcome: Outcome::Failed { error, attempts: 1 },
            warnings: Vec::new(),
            ran: true,
            taken_over: false,
            item,
            cached_from: None,
        })
    })
}

pub(super) struct NodeTask<'a> {
    pub shared: &'a RunShared,
    pub node: &'a NodeDef,
    pub job: NodeJob<'a>,
    pub warnings: Vec<PersistenceWarning>,
    pub taken_over: bool,
    /// A cached node's lookup: its key (to store the output under after a miss), or where a
    /// hit came from.
    /// (Boxed: every node's future holds the field, and only cached nodes fill it.)
    pub cache: Option<Box<Lookup>>,
}

impl<'a> NodeTask<'a> {
    /// The node's life. Not an `async fn`: the async block holds the task once (an `async fn`
    /// would hold its argument twice, and a node's future is moved whole into its task).
    #[allow(clippy::manual_async_fn)] // on purpose: see above
    fn run(mut self) -> impl Future<Output = Report> + Send + 'a {
        async move {
            let (outcome, ran) = match self.gate() {
                Ok(true) => match Box::pin(self.restore_cached()).await {
                    Some(outcome) => (outcome, false),
                    None => (self.attempts().await, true),
                },
                Ok(false) => (Outcome::Skipped, false),
                Err(error) => (Box::pin(self.gate_failed(error)).await, true),
            };
            Report {
                outcome,
                warnings: self.warnings,
                ran,
                taken_over: self.taken_over,
                item: self.job.item,
                cached_from: self.cache.and_then(|lookup| lookup.hit()),
            }
        }
    }

    /// A condition gate that panicked or saw a value of an unexpected type: the node fails,
    /// without retries.
    async fn gate_failed(&mut self, error: String) -> Outcome {
        let number = self.attempts_before() + 1;
        let attempt = self.start(number);
        let ended = attempt.end(self.shared.persists());
        self.audit_failure(&attempt, ended, &error, None).await;
        self.shared
            .events
            .on_node_fail(&self.shared.run_id, &self.node.id, number, &error);
        Outcome::Failed {
            error,
            attempts: number,
        }
    }

    /// The attempts this node (item) made in the run's earlier starts: this start numbers its
    /// attempts on from them, with a retry budget of its own.
    pub(super) fn attempts_before(&self) -> u32 {
        let item = self.job.item.map(|item| item.index);
        self.shared.attempts_before(&self.node.id, item)
    }

    /// The node's gate; an item's map was let through it before its items started.
    fn gate(&self) -> Result<bool, String> {
        match (self.job.item, &self.job.given) {
            (None, None) => gate(self.node, &self.job.gate_args),
            _ => Ok(true),
        }
    }

    fn start(&self, number: u32) -> Attempt {
        if self.job.item.is_none() {
            self.shared
                .events
                .on_node_start(&self.shared.run_id, &self.node.id, number);
        }
        Attempt {
            number,
            // Wall-clock times are only recorded in stores; without one, skip the clock read.
            started_at_ms: if self.shared.persists() { now_ms() } else { 0 },
            clock: (self.shared.persists() || self.shared.events.active()).then(Instant::now),
            logs: None,
        }
    }

    async fn attempts(&mut self) -> Outcome {
        let before = self.attempts_before();
        let mut number = before + 1;
        loop {
            // A limited node's execution waits for its place (by its run's rank) before it
            // starts (and is timed).
            // (Boxed only when limited: no allocation per node otherwise.)
            let permit = match self.node.options.limit {
                Some(n) => Some(Box::pin(limits::node_place(self.shared, &self.node.id, n)).await),
                None => None,
            };
            if let Some(rate) = self.node.options.rate {
                let (pipeline, node) = (&self.shared.pipeline, &self.node.id);
                Box::pin(limits::rate_turn(pipeline, node, rate.interval())).await;
            }
            let mut attempt = self.start(number);
            let span = crate::trace::attempt_span(number);
            let call = crate::trace::traced(span.clone(), self.call(number));
            // With an audit log, the body's events are kept in the attempt's entry.
            let limits = self.shared.node_logs;
            let result = match self.shared.audit.is_some() && limits.on() && logs::watched() {
                true => {
                    let (result, kept) = Captured::new(call, limits).await;
                    attempt.logs = kept.into_entry();
                    result
                }
                false => call.await,
            };
            if let (Some(span), Err(e)) = (&span, &result) {
                crate::trace::failed(Some(span), &e.to_string());
            }
            drop((permit, span));
            let ended = attempt.end(self.shared.persists());
            if attempt.clock.is_some() {
                self.node
                    .metrics(&self.shared.pipeline)
                    .attempt(ended.duration);
            }
            // Encoding runs user `Serialize` code: a panic there fails this attempt too.
            let result = result.and_then(|value| Ok((self.encode(&value)?, value)));
            match result {
                Ok((encoded, value)) => {
                    let checkpointed = match self.shared.persists() {
                        // Boxed: the records are large, and a node's future is moved whole.
                        true => Box::pin(self.persist(&attempt, ended, &encoded, None)).await,
                        false => false,
                    };
                    if self.cache.is_some() {
                        Box::pin(self.store_cached(&encoded)).await;
                    }
                    return self.completed(&attempt, ended, value, encoded, checkpointed);
                }
                Err(error) => {
                    let error = error.to_string();
                    let retry = retry_after(&self.node.options, number - before, true);
                    Box::pin(self.audit_failure(&attempt, ended, &error, retry)).await;
                    let (run_id, id) = (&self.shared.run_id, &*self.node.id);
                    let Some(delay) = retry else {
                        match self.job.item {
                            Some(item) => {
                                let events = &self.shared.events;
                                events.on_item_end(run_id, id, item, number, Some(&error));
                                tracing::warn!(
                                    node = id,
                                    item = item.index,
                                    attempt = number,
                                    error,
                                    "item failed"
                                );
                            }
                            None => {
                                self.shared.events.on_node_fail(run_id, id, number, &error);
                                tracing::warn!(node = id, attempt = number, error, "node failed");
                            }
                        }
                        return Outcome::Failed {
                            error,
                            attempts: number,
                        };
                    };
                    self.shared
                        .events
                        .on_node_retry(run_id, id, number, &error, delay);
                    self.node.metrics(&self.shared.pipeline).retry();
                    tracing::info!(node = id, attempt = number, error, ?delay, "retrying node");
                    // Boxed: a `Sleep` is large, and only retries need one.
                    Box::pin(tokio::time::sleep(delay)).await;
                    number += 1;
                }
            }
        }
    }

    fn call(&self, attempt: u32) -> impl Future<Output = Result<Value, NodeError>> + 'static {
        let given = self
            .job
            .given
            .clone()
            .map(|given| given.map_err(NodeError::from));
        let ctx = NodeContext {
            run_id: self.shared.run_id.clone(),
            node_id: Arc::clone(&self.node.id),
            attempt,
            item: self.job.item,
            claim: None,
        };
        match given {
            Some(given) => Either::Left(std::future::ready(given)),
            None => Either::Right(call(self.node, &self.job.args, ctx)),
        }
    }

    /// The output as the stores will hold it, when any store is configured: its JSON, and whether
    /// that JSON may be checkpointed (it reads back as the same value). `Err` only when user
    /// `Serialize`/`Deserialize` code panicked, which fails the attempt.
    fn encode(&mut self, value: &Value) -> Result<Encoded, NodeError> {
        if !self.shared.persists() {
            return Ok(Encoded::default());
        }
        let codec = match (self.job.item, &self.node.map) {
            (Some(_), Some(map)) => &map.item_codec,
            _ => &self.node.codec,
        };
        let json = match caught_sync(|| (codec.encode)(value)) {
            Ok(Ok(json)) => json,
            Ok(Err(e)) => {
                let message = format!("cannot serialize the output: {e}");
                self.warn(WarningSource::Checkpoint, message, false);
                return Ok(Encoded::default());
            }
            Err(panic) => return Err(format!("serializing the output {panic}").into()),
        };
        // Only a checkpoint is read back: without one, or trusted, there is nothing to check
        // (a cached output is always checked: an entry is shared with other runs).
        let trusted = self.shared.round_trip == RoundTrip::Trust && self.cache.is_none();
        if self.shared.checkpointer.is_none() || trusted {
            return Ok(Encoded::new(json, true));
        }
        match caught_sync(|| (codec.verify)(value, &json)) {
            Ok(Ok(())) => Ok(Encoded::new(json, true)),
            Ok(Err(reason)) => {
                let message =
                    format!("output not checkpointed, the node runs again on resume: {reason}");
                self.warn(WarningSource::Checkpoint, message, false);
                Ok(Encoded::new(json, false))
            }
            Err(panic) => Err(format!("reading the output back {panic}").into()),
        }
    }

    /// A completed attempt, its output persisted (`checkpointed`: into the checkpoint).
    fn completed(
        &self,
        attempt: &Attempt,
        ended: Ended,
        value: Value,
        encoded: Encoded,
        checkpointed: bool,
    ) -> Outcome {
        let (run_id, id) = (&self.shared.run_id, &*self.node.id);
        match self.job.item {
            Some(item) => {
                let events = &self.shared.events;
                events.on_item_end(run_id, id, item, attempt.number, None);
            }
            None => {
                let events = &self.shared.events;
                events.on_node_complete(run_id, id, attempt.number, ended.duration);
            }
        }
        Outcome::Completed {
            value,
            json: encoded.json,
            checkpointed,
        }
    }
}

/// A cached node's lookup, as its task keeps it.
pub(crate) enum Lookup {
    /// Missed: the output is stored under this key once computed; `stale` when an entry that
    /// expired or no longer decodes holds the key (it is replaced).
    Miss { probe: Probe, stale: bool },
    /// Hit: the output came from this run.
    Hit(RunId),
}

impl Lookup {
    /// The run a hit's output came from.
    pub fn hit(self) -> Option<RunId> {
        match self {
            Lookup::Hit(from) => Some(from),
            Lookup::Miss { .. } => None,
        }
    }
}
