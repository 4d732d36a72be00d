//! Submitting a run for the fleet's workers: [`PipelineEngine::submit`] and its [`Submit`]
//! call, which takes the run's options by name as a run in one process does.

use super::sql;
use crate::data::to_json;
use crate::definition::Pipeline;
use crate::engine::{Call, PipelineEngine, RunOptions, lifecycle};
use crate::error::PipelineError;
use crate::run_id::RunId;
use crate::store::{RunSummary, StoreError, now_ms};

impl<P: Pipeline> PipelineEngine<P> {
    /// Records a run of `inputs` for the fleet when awaited and returns its id at once; any
    /// worker that serves this pipeline (same fingerprint) runs its nodes. The run is given a
    /// generated id unless [`id`](Submit::id) names one ([`PipelineError::RunExists`] when it
    /// is taken).
    pub fn submit(&self, inputs: P::Inputs) -> Submit<'_, P> {
        Submit {
            engine: self,
            call: Call::Set((inputs, RunOptions::new())),
        }
    }

    async fn submit_inner(
        &self,
        mut options: RunOptions,
        inputs: P::Inputs,
    ) -> Result<RunId, PipelineError> {
        let run_id = options.take_id();
        let store = self.fleet_store(&run_id)?;
        // With an idempotency key, the run that holds it: submitted by whichever submit comes
        // first (its claimer, or this one when that one died between its claim and its submit).
        let key = self.key_of(&options, &inputs, &run_id)?;
        let keyed = key.is_some();
        let run_id = match key {
            Some(key) => self.claim_key(store, key, &run_id, &options).await?,
            None => run_id,
        };
        let json = to_json(&inputs).map_err(|source| PipelineError::Decode {
            run_id: run_id.clone(),
            what: "inputs (they do not serialize)".into(),
            source,
        })?;
        let started_at_ms = now_ms();
        let trace = crate::trace::begin(options.trace_parent());
        let header = lifecycle::header(&self.graph, &run_id, json, started_at_ms, trace);
        let nodes = self.new_nodes(&vec![false; self.graph.inner.nodes.len()]);
        let summary = RunSummary::in_progress(
            run_id.clone(),
            self.graph.name(),
            started_at_ms,
            started_at_ms,
            self.graph.node_ids(),
            [],
        );
        // Its key under the pipeline's per-key run limit: over the limit, it is queued.
        let limit_key = self.run_limit_key(&inputs, &run_id)?;
        let limit = limit_key
            .as_ref()
            .map(|(key, runs)| super::limits::RunLimitKey {
                pipeline: self.graph.name(),
                key,
                runs: *runs,
            });
        // Its place in the order of claims: its priority, and a turn of its fairness key (the
        // pipeline's, or its run limit's).
        let limited = limit_key.as_ref().map(|(key, _)| key.as_str());
        let fair = self.fair_key(&inputs, &run_id, limited)?;
        let order = super::order::Order {
            priority: options.run_priority(),
            fair_key: fair.as_deref(),
        };
        match sql::submit(store, &header, &nodes, &summary, &[], limit, order).await {
            Ok(()) => {
                crate::metrics::run_started(self.graph.name());
                Ok(run_id)
            }
            Err(StoreError::RunExists(_)) if keyed => Ok(run_id),
            Err(e) => Err(PipelineError::from_store(&run_id, e)),
        }
    }
}

/// A run recorded for the fleet: [`PipelineEngine::submit`]. A future: it is submitted when
/// first polled.
#[must_use = "a run is submitted only when awaited"]
pub struct Submit<'a, P: Pipeline> {
    engine: &'a PipelineEngine<P>,
    call: Call<'a, (P::Inputs, RunOptions), RunId>,
}

impl<'a, P: Pipeline> Submit<'a, P> {
    /// Gives the run the id `id` (see [`RunOptions::id`]).
    pub fn id(mut self, id: RunId) -> Self {
        self.call.options(|options| options.id(id));
        self
    }

    /// Submits the run with idempotency key `key` (see [`RunOptions::idempotency_key`]): when a
    /// run of the pipeline holds the key, its id is returned and nothing is submitted.
    pub fn idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.call.options(|options| options.idempotency_key(key));
        self
    }

    /// Submits the run with priority `priority` (see [`RunOptions::priority`]): its nodes are
    /// claimed as if they became ready `priority` seconds earlier.
    pub fn priority(mut self, priority: i32) -> Self {
        self.call.options(|options| options.priority(priority));
        self
    }

    /// Submits the run with `options`, in place of any set before.
    pub fn options(mut self, options: RunOptions) -> Self {
        self.call.options(|_| options);
        self
    }
}

/// No field is pinned: the arguments move out before anything is polled, and what runs is boxed.
impl<P: Pipeline> Unpin for Submit<'_, P> {}

impl<'a, P: Pipeline> std::future::Future for Submit<'a, P> {
    type Output = Result<RunId, PipelineError>;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let this = self.get_mut();
        let engine = this.engine;
        this.call.poll(cx, |(inputs, options)| {
            Box::pin(engine.submit_inner(options, inputs))
        })
    }
}
