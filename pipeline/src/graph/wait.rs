//! Waits: bindings that wait for something from outside the run instead of running code. A
//! signal wait ([`NodeBuilder::signal`]) completes with the payload sent to it
//! (`PipelineEngine::signal`), a timer ([`NodeBuilder::sleep`]) when it is due; a wait begins once
//! the bindings it comes after completed, and a run with nothing left to do but wait ends
//! `Waiting`, holding nothing, until a signal or `resume_due` continues it.

use std::time::Duration;

use super::built::WaitDef;
use super::deps::{Deps, Handle};
use super::node_builder::NodeBuilder;
use crate::data::{Codec, Data};

impl<I: Data> NodeBuilder<'_, I> {
    /// Adds a wait for a signal whose payload, a `T`, is this binding's output. The wait begins
    /// once the nodes of `after` completed (their values are not read); until a signal arrives
    /// the binding is `Waiting`, and a run with nothing else to do ends `RunStatus::Waiting`,
    /// holding no lock, task or file. [`PipelineEngine::signal`](crate::PipelineEngine::signal)
    /// stores the payload first and then continues the run; a signal sent before the wait began
    /// is kept and consumed when it begins. The payload is the binding's checkpoint record and
    /// audit entry. A [`timeout`](NodeBuilder::timeout) fails the binding once that long has
    /// passed since the wait began (checked whenever the run runs or resumes); retries do not
    /// apply. A pipeline with waits needs a checkpointer.
    ///
    /// ```
    /// use pipeline::{GraphBuilder, InMemoryCheckpointer, PipelineEngine, RunStatus, Signal};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let mut g = GraphBuilder::<u64>::new("payout");
    /// let amount = g.input("amount", |a: &u64| *a);
    /// let plan = g.node("plan").run(amount, |a, _| async move { Ok::<_, std::io::Error>(a * 100) });
    /// let approved = g.node("approval").signal::<bool, _>(plan);
    /// let paid = g.node("pay").run((plan, approved), |(plan, ok), _| async move {
    ///     Ok::<_, std::io::Error>(if ok { plan } else { 0 })
    /// });
    /// let engine = PipelineEngine::new(g.build(paid)?).checkpointer(InMemoryCheckpointer::new());
    ///
    /// let waiting = engine.run(7).await?;
    /// assert_eq!(waiting.status, RunStatus::Waiting);
    /// let sent = engine.signal(&waiting.run_id, Signal::new("approval", &true)?).await?;
    /// assert_eq!(sent.run.map(|r| r.output), Some(Some(700)));
    /// # Ok(())
    /// # }
    /// ```
    pub fn signal<T: Data, D: Deps>(mut self, after: D) -> Handle<T> {
        self.builder.resolve_args(&self.id, &after);
        self.options.retries = 0;
        self.kind.get_or_insert_with(|| "signal".into());
        self.add_wait(
            WaitDef::Signal(crate::data::template::<T>),
            Codec::of::<T>(),
        )
    }

    /// Adds a durable timer: the binding completes (with `()`) `duration` after the nodes of
    /// `after` completed. The due time is stored when the timer begins, so it survives crashes
    /// and resumes. A timer due within the engine's
    /// [`wait_in_process`](crate::EngineSettings::wait_in_process) threshold is awaited in the
    /// process; a longer one ends the run `Waiting`, and
    /// [`PipelineEngine::resume_due`](crate::PipelineEngine::resume_due) continues it once due.
    pub fn sleep<D: Deps>(mut self, duration: Duration, after: D) -> Handle<()> {
        self.builder.resolve_args(&self.id, &after);
        self.options.retries = 0;
        self.options.timeout = None;
        self.kind.get_or_insert_with(|| "sleep".into());
        self.add_wait(WaitDef::Timer(duration), Codec::of::<()>())
    }
}
