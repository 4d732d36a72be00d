//! Every `#[node]` fn and `pipeline!` compiled into the program, collected at link time with
//! [`inventory`](https://docs.rs/inventory), so any binary can list, draw and run them.
//!
//! ```
//! for pipeline in pipeline::registry::pipelines() {
//!     println!("{} ({} nodes): {}", pipeline.name, pipeline.nodes.len(), pipeline.doc);
//! }
//! ```

mod dyn_pipeline;
mod json;

use std::marker::PhantomData;
use std::sync::Arc;

use async_trait::async_trait;
use serde::Serialize;

use crate::graph::GraphSignature;
pub use crate::store::Stores;

use crate::data::Json;
use crate::definition::Pipeline;
use crate::engine::{
    CancelHandle, EngineSettings, PipelineEngine, RunOptions, Signal, SignalOutcome,
};
use crate::error::PipelineError;
use crate::event::EventHandler;
use crate::result::PipelineResult;
use crate::run_id::RunId;
use crate::store::RunView;
pub use dyn_pipeline::DynPipeline;
#[cfg(feature = "schedules")]
pub use dyn_pipeline::ScheduleWith;
use json::{decode_inputs, to_json};

/// A named, typed value: a node parameter or a pipeline input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Param {
    /// The parameter's name.
    pub name: &'static str,
    /// Its Rust type, as written.
    pub type_name: &'static str,
}

/// A `#[node]` fn.
#[derive(Debug)]
pub struct NodeInfo {
    /// The fn's name.
    pub name: &'static str,
    /// The module it is defined in.
    pub module_path: &'static str,
    /// The source file it is defined in.
    pub file: &'static str,
    /// The line of its `#[node]` attribute.
    pub line: u32,
    /// Its inputs (a `NodeContext` parameter is not an input).
    pub inputs: &'static [Param],
    /// Its output type, as written (the `Ok` type of a `Result`).
    pub output_type: &'static str,
    /// Its doc comment.
    pub doc: &'static str,
    /// Whether it is a sync fn, run on tokio's blocking pool.
    pub blocking: bool,
}

/// A binding of a `pipeline!`: the node's id (the name it is bound to) and the `#[node]` fn it
/// calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Binding {
    /// The binding name (the node id).
    pub id: &'static str,
    /// The `#[node]` fn it calls, as written.
    pub kind: &'static str,
}

/// A `pipeline!`.
#[derive(Debug)]
pub struct PipelineInfo {
    /// The pipeline's name.
    pub name: &'static str,
    /// Its doc comment.
    pub doc: &'static str,
    /// The module it is defined in.
    pub module_path: &'static str,
    /// The source file it is defined in.
    pub file: &'static str,
    /// The line of its `pipeline!`.
    pub line: u32,
    /// Its inputs.
    pub inputs: &'static [Param],
    /// Its output type, as written.
    pub output_type: &'static str,
    /// Its nodes, in topological order.
    pub nodes: &'static [Binding],
    /// Its edges `(from, to)`: from an input or node to a node that reads it (as an argument or
    /// in its condition).
    pub edges: &'static [(&'static str, &'static str)],
    /// The fingerprint of its graph, computed at compile time from its inputs, nodes, edges and
    /// type names.
    pub fingerprint: u64,
    /// The pipeline itself, to run or resume with inputs given as JSON.
    pub pipeline: fn() -> Box<dyn DynPipeline>,
}

impl PipelineInfo {
    /// The fingerprint of the pipeline's graph as stored in its checkpoints: 16 hex digits.
    pub fn fingerprint(&self) -> String {
        format!("{:016x}", self.fingerprint)
    }
}

inventory::collect!(NodeInfo);
inventory::collect!(PipelineInfo);

/// Every `#[node]` fn in the program, by module path and name.
pub fn nodes() -> Vec<&'static NodeInfo> {
    let mut nodes: Vec<_> = inventory::iter::<NodeInfo>.into_iter().collect();
    nodes.sort_by_key(|n| (n.module_path, n.name));
    nodes
}

/// Every `pipeline!` in the program, by name.
pub fn pipelines() -> Vec<&'static PipelineInfo> {
    let mut pipelines: Vec<_> = inventory::iter::<PipelineInfo>.into_iter().collect();
    pipelines.sort_by_key(|p| (p.name, p.module_path));
    pipelines
}

/// The pipeline named `name`, if one is compiled in.
pub fn pipeline(name: &str) -> Option<&'static PipelineInfo> {
    inventory::iter::<PipelineInfo>
        .into_iter()
        .find(|p| p.name == name)
}

struct Registered<P> {
    settings: EngineSettings,
    pipeline: PhantomData<fn() -> P>,
}

impl<P: Pipeline + Default> Registered<P> {
    fn engine(&self, stores: Stores, events: Arc<dyn EventHandler>) -> PipelineEngine<P> {
        PipelineEngine::new(P::default())
            .settings(self.settings.clone())
            .checkpointer(stores.checkpointer)
            .audit_log(stores.audit)
            .event_handler(events)
    }
}

#[async_trait]
impl<P: Pipeline + Default> DynPipeline for Registered<P>
where
    P::Output: Serialize,
{
    fn signature(&self) -> GraphSignature {
        P::default().graph().signature().clone()
    }

    async fn stored_output(
        &self,
        stores: Stores,
        view: &RunView,
    ) -> Result<Option<Json>, PipelineError> {
        let engine = PipelineEngine::new(P::default()).settings(self.settings.clone());
        let output = engine.stored_output(&stores, view).await?;
        Ok(output.and_then(|output| crate::data::to_json(&output).ok()))
    }

    fn signal_template(&self, wait: &str) -> Option<String> {
        let graph = P::default().graph();
        let node = graph.inner.nodes.iter().find(|n| &*n.id == wait)?;
        match node.wait {
            Some(crate::graph::WaitDef::Signal(template)) => template(),
            _ => None,
        }
    }

    fn configure(&mut self, settings: EngineSettings) {
        self.settings = settings;
    }

    async fn run(
        &self,
        stores: Stores,
        inputs: &str,
        options: RunOptions,
        events: Arc<dyn EventHandler>,
        cancel: &CancelHandle,
    ) -> Result<PipelineResult<Json>, PipelineError> {
        let engine = self.engine(stores, events);
        let inputs = decode_inputs::<P>(&engine, inputs)?;
        let run = engine.run(inputs).options(options).cancel(cancel);
        run.await.map(to_json)
    }

    async fn rerun(
        &self,
        stores: Stores,
        run_id: &RunId,
        nodes: &[String],
        events: Arc<dyn EventHandler>,
    ) -> Result<PipelineResult<Json>, PipelineError> {
        self.engine(stores, events)
            .rerun(run_id, nodes)
            .await
            .map(to_json)
    }

    async fn resume(
        &self,
        stores: Stores,
        run_id: &RunId,
        events: Arc<dyn EventHandler>,
        cancel: &CancelHandle,
    ) -> Result<PipelineResult<Json>, PipelineError> {
        self.engine(stores, events)
            .resume(run_id)
            .cancel(cancel)
            .await
            .map(to_json)
    }

    async fn signal(
        &self,
        stores: Stores,
        run_id: &RunId,
        signal: Signal,
        events: Arc<dyn EventHandler>,
    ) -> Result<SignalOutcome<Json>, PipelineError> {
        let outcome = self.engine(stores, events).signal(run_id, signal).await?;
        Ok(SignalOutcome {
            sent: outcome.sent,
            run: outcome.run.map(to_json),
        })
    }

    async fn cancel_waiting(
        &self,
        stores: Stores,
        run_id: &RunId,
    ) -> Result<Option<PipelineResult<Json>>, PipelineError> {
        let events: Arc<dyn EventHandler> = Arc::new(crate::event::NoEvents);
        let ended = self.engine(stores, events).cancel_waiting(run_id).await?;
        Ok(ended.map(to_json))
    }

    #[cfg(feature = "postgres")]
    fn fleet_graph(&self) -> crate::graph::FleetGraph {
        crate::graph::FleetGraph::of(&P::default().graph())
    }

    #[cfg(feature = "postgres")]
    async fn resume_on_fleet(
        &self,
        store: crate::store::PostgresStore,
        run_id: &RunId,
        events: Arc<dyn EventHandler>,
        cancel: &CancelHandle,
    ) -> Result<PipelineResult<Json>, PipelineError> {
        PipelineEngine::new(P::default())
            .settings(self.settings.clone())
            .event_handler(events)
            .fleet(store)
            .resume(run_id)
            .cancel(cancel)
            .await
            .map(to_json)
    }

    #[cfg(feature = "postgres")]
    async fn submit(
        &self,
        store: crate::store::PostgresStore,
        inputs: &str,
        options: RunOptions,
    ) -> Result<RunId, PipelineError> {
        let engine = PipelineEngine::new(P::default())
            .settings(self.settings.clone())
            .fleet(store);
        let inputs = decode_inputs::<P>(&engine, inputs)?;
        engine.submit(inputs).options(options).await
    }

    #[cfg(feature = "postgres")]
    async fn wait(
        &self,
        store: crate::store::PostgresStore,
        run_id: &RunId,
    ) -> Result<PipelineResult<Json>, PipelineError> {
        let engine = PipelineEngine::new(P::default())
            .settings(self.settings.clone())
            .fleet(store);
        engine.wait(run_id).await.map(to_json)
    }

    #[cfg(feature = "schedules")]
    fn schedule(
        &self,
        scheduler: &mut crate::schedule::Scheduler,
        with: ScheduleWith,
    ) -> Result<(), crate::cron::ScheduleError> {
        let engine = match with {
            ScheduleWith::Stores(stores, events) => self.engine(stores, events),
            #[cfg(feature = "postgres")]
            ScheduleWith::Fleet(store) => PipelineEngine::new(P::default())
                .settings(self.settings.clone())
                .fleet(store),
        };
        scheduler.add(Arc::new(engine)).map(|_| ())
    }
}

/// The registry entry of pipeline `P` (used by `pipeline!`).
#[doc(hidden)]
pub fn dyn_pipeline<P: Pipeline + Default>() -> Box<dyn DynPipeline>
where
    P::Output: Serialize,
{
    Box::new(Registered::<P> {
        settings: EngineSettings::default(),
        pipeline: PhantomData,
    })
}
