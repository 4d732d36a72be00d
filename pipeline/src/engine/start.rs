//! The one way to start, resume and rerun a run: [`PipelineEngine::run`],
//! [`resume`](PipelineEngine::resume) and [`rerun`](PipelineEngine::rerun) each return a future
//! that takes its options by name before it is first polled. [`RunOptions`] is what a run is
//! started with, as a value, for code that passes it along (the registry, the command line,
//! `submit`).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::{CancelHandle, PipelineEngine};
use crate::definition::Pipeline;
use crate::error::PipelineError;
use crate::result::PipelineResult;
use crate::run_id::RunId;
use crate::trace::TraceParent;

/// What a new run is started with, besides its inputs: the same for
/// [`run`](PipelineEngine::run) and, on a fleet, `submit`.
///
/// ```
/// use pipeline::{RunId, RunOptions};
///
/// let id = RunId::new("nightly-2026-12-05")?;
/// let options = RunOptions::new().id(id.clone());
/// assert_eq!(options.run_id(), Some(&id));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RunOptions {
    id: Option<RunId>,
    key: Option<String>,
    key_retention: Option<std::time::Duration>,
    priority: i32,
    traceparent: Option<TraceParent>,
}

impl RunOptions {
    /// No option: a generated (UUID v7) run id.
    pub fn new() -> RunOptions {
        RunOptions::default()
    }

    /// Starts the run with the id `id`; [`PipelineError::RunExists`] when a store already has it.
    pub fn id(mut self, id: RunId) -> RunOptions {
        self.id = Some(id);
        self
    }

    /// The id set with [`id`](RunOptions::id), if any.
    pub fn run_id(&self) -> Option<&RunId> {
        self.id.as_ref()
    }

    /// Starts the run with idempotency key `key`, in place of any the pipeline names from its
    /// inputs ([`GraphBuilder::idempotent`](crate::GraphBuilder::idempotent)): when a run of
    /// the pipeline holds the key (it took it less than the engine's
    /// [`key_retention`](crate::EngineSettings::key_retention) ago), the start returns that
    /// run's id and result (once it ended) instead of starting another; it is neither a second
    /// run nor an error. An interrupted holder is resumed. Keys are kept in the checkpointer,
    /// so a start with a key needs one.
    ///
    /// ```
    /// use pipeline::RunOptions;
    ///
    /// let options = RunOptions::new().idempotency_key("order-1234");
    /// assert_eq!(options.key(), Some("order-1234"));
    /// ```
    pub fn idempotency_key(mut self, key: impl Into<String>) -> RunOptions {
        self.key = Some(key.into());
        self
    }

    /// The idempotency key set with [`idempotency_key`](RunOptions::idempotency_key), if any.
    pub fn key(&self) -> Option<&str> {
        self.key.as_deref()
    }

    /// Holds this start's idempotency key for `retention`, in place of the engine's
    /// [`key_retention`](crate::EngineSettings::key_retention). A schedule's ticks use it: a
    /// tick's key is held for as long as a scheduler may still look at the tick.
    ///
    /// ```
    /// use std::time::Duration;
    /// use pipeline::RunOptions;
    ///
    /// let week = Duration::from_secs(7 * 24 * 3600);
    /// let options = RunOptions::new().idempotency_key("2026-12-06").key_retention(week);
    /// assert_eq!(options.retention(), Some(week));
    /// ```
    pub fn key_retention(mut self, retention: std::time::Duration) -> RunOptions {
        self.key_retention = Some(retention);
        self
    }

    /// Gives the run priority `priority` (0 unless set; higher goes first). Where its work waits
    /// (for a fleet's workers, for a limited node's places, for its key's run limit), each point
    /// is worth a second of waiting ([`PRIORITY_STEP`](crate::PRIORITY_STEP)): it goes before
    /// work of lower priority that became ready less than that much before it. Waiting raises
    /// the others in turn, so low priority is never starved: a run of priority `p` waits at most
    /// `(p_max - p)` seconds behind work that came after it. A resumed run has priority 0.
    ///
    /// ```
    /// use pipeline::RunOptions;
    ///
    /// assert_eq!(RunOptions::new().priority(10).run_priority(), 10);
    /// ```
    pub fn priority(mut self, priority: i32) -> RunOptions {
        self.priority = priority;
        self
    }

    /// The priority set with [`priority`](RunOptions::priority).
    pub fn run_priority(&self) -> i32 {
        self.priority
    }

    /// The retention set with [`key_retention`](RunOptions::key_retention), if any.
    pub fn retention(&self) -> Option<std::time::Duration> {
        self.key_retention
    }

    /// Puts the run in the trace of `parent`, a W3C `traceparent` the caller was handed (an
    /// HTTP request's header, say): its span is a child of that span. Without it, a run started
    /// inside a span that is in a trace hangs under that span. Traces are exported with the
    /// feature `otel` ([`crate::trace`]); without it, this changes nothing.
    ///
    /// ```
    /// use pipeline::RunOptions;
    ///
    /// let parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".parse()?;
    /// let options = RunOptions::new().traceparent(parent);
    /// assert_eq!(options.trace_parent(), Some(parent));
    /// # Ok::<(), pipeline::trace::TraceParentError>(())
    /// ```
    pub fn traceparent(mut self, parent: TraceParent) -> RunOptions {
        self.traceparent = Some(parent);
        self
    }

    /// The parent set with [`traceparent`](RunOptions::traceparent).
    pub fn trace_parent(&self) -> Option<TraceParent> {
        self.traceparent
    }

    /// The run's id: the one set, or a new one.
    pub(crate) fn take_id(&mut self) -> RunId {
        self.id.take().unwrap_or_else(RunId::generate)
    }
}

/// What a call runs once it is first polled.
pub(crate) type Running<'a, T> =
    Pin<Box<dyn Future<Output = Result<T, PipelineError>> + Send + 'a>>;

/// A call's state: its arguments until it is first polled, then what it runs. Options set after
/// the first poll are not seen.
pub(crate) enum Call<'a, A, T> {
    Set(A),
    Running(Running<'a, T>),
    /// Only while the arguments move into what runs.
    Moving,
}

impl<'a, A, T> Call<'a, (A, RunOptions), T> {
    /// Changes the run's options with `change`, while they can still be changed.
    pub(crate) fn options(&mut self, change: impl FnOnce(RunOptions) -> RunOptions) {
        if let Call::Set((_, options)) = self {
            *options = change(std::mem::take(options));
        }
    }
}

impl<'a, A, T> Call<'a, A, T> {
    /// The arguments, while they can still be changed.
    pub(crate) fn args(&mut self) -> Option<&mut A> {
        match self {
            Call::Set(args) => Some(args),
            _ => None,
        }
    }

    /// Polls what runs, starting it from the arguments with `start` on the first poll.
    pub(crate) fn poll(
        &mut self,
        cx: &mut Context<'_>,
        start: impl FnOnce(A) -> Running<'a, T>,
    ) -> Poll<Result<T, PipelineError>> {
        if let Call::Set(_) = self
            && let Call::Set(args) = std::mem::replace(self, Call::Moving)
        {
            *self = Call::Running(start(args));
        }
        match self {
            Call::Running(running) => running.as_mut().poll(cx),
            // Not reached: `Set` became `Running` above.
            Call::Set(_) | Call::Moving => Poll::Pending,
        }
    }
}

/// A new run of a pipeline: [`PipelineEngine::run`]. A future: it starts when first polled.
#[must_use = "a run starts only when awaited"]
pub struct Start<'a, P: Pipeline> {
    engine: &'a PipelineEngine<P>,
    call: Call<'a, (StartArgs<P>, RunOptions), PipelineResult<P::Output>>,
}

/// A new run's inputs, and the handle that can cancel it.
type StartArgs<P> = (<P as Pipeline>::Inputs, Option<CancelHandle>);

impl<'a, P: Pipeline> Start<'a, P> {
    /// Starts the run with the id `id` (see [`RunOptions::id`]).
    pub fn id(mut self, id: RunId) -> Self {
        self.call.options(|options| options.id(id));
        self
    }

    /// Starts the run with idempotency key `key` (see [`RunOptions::idempotency_key`]).
    pub fn idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.call.options(|options| options.idempotency_key(key));
        self
    }

    /// Puts the run in the caller's trace (see [`RunOptions::traceparent`]).
    pub fn traceparent(mut self, parent: TraceParent) -> Self {
        self.call.options(|options| options.traceparent(parent));
        self
    }

    /// Starts the run with priority `priority` (see [`RunOptions::priority`]).
    pub fn priority(mut self, priority: i32) -> Self {
        self.call.options(|options| options.priority(priority));
        self
    }

    /// Starts the run with `options`, in place of any set before.
    pub fn options(mut self, options: RunOptions) -> Self {
        self.call.options(|_| options);
        self
    }

    /// Lets `cancel` stop the run: the nodes running are aborted, and the run ends
    /// [`Cancelled`](crate::RunStatus::Cancelled), resumable.
    pub fn cancel(mut self, cancel: &CancelHandle) -> Self {
        if let Some(((_, handle), _)) = self.call.args() {
            *handle = Some(cancel.clone());
        }
        self
    }
}

/// No field is pinned: the arguments move out before anything is polled, and what runs is boxed.
impl<P: Pipeline> Unpin for Start<'_, P> {}

impl<'a, P: Pipeline> Future for Start<'a, P> {
    type Output = Result<PipelineResult<P::Output>, PipelineError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let engine = this.engine;
        this.call.poll(cx, |((inputs, cancel), options)| {
            Box::pin(engine.start_with(options, inputs, cancel))
        })
    }
}

/// A resume of a stored run: [`PipelineEngine::resume`]. A future: it runs when first polled.
#[must_use = "a run is resumed only when awaited"]
pub struct Resume<'a, P: Pipeline> {
    engine: &'a PipelineEngine<P>,
    run_id: &'a RunId,
    call: Call<'a, Option<CancelHandle>, PipelineResult<P::Output>>,
}

impl<'a, P: Pipeline> Resume<'a, P> {
    /// Lets `cancel` stop the resumed run (see [`Start::cancel`]).
    pub fn cancel(mut self, cancel: &CancelHandle) -> Self {
        if let Some(args) = self.call.args() {
            *args = Some(cancel.clone());
        }
        self
    }
}

/// No field is pinned (see [`Start`]).
impl<P: Pipeline> Unpin for Resume<'_, P> {}

impl<'a, P: Pipeline> Future for Resume<'a, P> {
    type Output = Result<PipelineResult<P::Output>, PipelineError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let (engine, run_id) = (this.engine, this.run_id);
        this.call
            .poll(cx, |cancel| Box::pin(engine.resume_inner(run_id, cancel)))
    }
}

/// Nodes of a stored run run again as a new run: [`PipelineEngine::rerun`]. A future: it starts
/// when first polled.
#[must_use = "a rerun starts only when awaited"]
pub struct Rerun<'a, P: Pipeline> {
    engine: &'a PipelineEngine<P>,
    run_id: &'a RunId,
    call: Call<'a, (Vec<String>, RunOptions), PipelineResult<P::Output>>,
}

impl<'a, P: Pipeline> Rerun<'a, P> {
    /// Gives the new run the id `id` (see [`RunOptions::id`]).
    pub fn id(mut self, id: RunId) -> Self {
        self.call.options(|options| options.id(id));
        self
    }

    /// Starts the new run with `options`, in place of any set before.
    pub fn options(mut self, options: RunOptions) -> Self {
        self.call.options(|_| options);
        self
    }
}

/// No field is pinned (see [`Start`]).
impl<P: Pipeline> Unpin for Rerun<'_, P> {}

impl<'a, P: Pipeline> Future for Rerun<'a, P> {
    type Output = Result<PipelineResult<P::Output>, PipelineError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let (engine, run_id) = (this.engine, this.run_id);
        this.call.poll(cx, |(nodes, mut options)| {
            Box::pin(async move {
                let nodes: Vec<&str> = nodes.iter().map(String::as_str).collect();
                engine.rerun_inner(run_id, &nodes, options.take_id()).await
            })
        })
    }
}

impl<P: Pipeline> PipelineEngine<P> {
    /// Starts a run of the pipeline on `inputs` when awaited, with a generated (UUID v7) id
    /// unless [`id`](Start::id) names one; [`cancel`](Start::cancel) lets a handle stop it.
    ///
    /// ```
    /// # use pipeline::{CancelHandle, GraphBuilder, PipelineEngine, RunId, RunStatus};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let mut g = GraphBuilder::<u64>::new("p");
    /// # let x = g.input("x", |x: &u64| *x);
    /// # let engine = PipelineEngine::new(g.build(x)?);
    /// let result = engine.run(2).await?;
    /// assert_eq!(result.output, Some(2));
    ///
    /// let cancel = CancelHandle::new();
    /// let id = RunId::new("second")?;
    /// let result = engine.run(3).id(id.clone()).cancel(&cancel).await?;
    /// assert_eq!((result.run_id, result.status), (id, RunStatus::Completed));
    /// # Ok(())
    /// # }
    /// ```
    pub fn run(&self, inputs: P::Inputs) -> Start<'_, P> {
        Start {
            engine: self,
            call: Call::Set(((inputs, None), RunOptions::new())),
        }
    }

    /// Resumes run `run_id` when awaited: restores the outputs of its completed nodes and runs
    /// only the rest (condition gates are evaluated again). A completed run runs nothing and
    /// returns its output. [`cancel`](Resume::cancel) lets a handle stop it.
    pub fn resume<'a>(&'a self, run_id: &'a RunId) -> Resume<'a, P> {
        Resume {
            engine: self,
            run_id,
            call: Call::Set(None),
        }
    }

    /// Runs `nodes` of run `run_id` again, with every node downstream of them, as a new run
    /// (its id is the result's `run_id`, or the one [`id`](Rerun::id) names) that restores the
    /// original's other completed nodes. The original run is not changed.
    ///
    /// This is the way to recompute after fixing a node's body: a checkpoint's fingerprint
    /// covers the graph's shape, not its code, so a plain [`resume`](PipelineEngine::resume)
    /// restores the outputs the old code produced. [`PipelineError::UnknownNode`] names a node
    /// the pipeline does not have; the run must be of this pipeline and graph, as for a resume.
    pub fn rerun<'a, S: AsRef<str>>(&'a self, run_id: &'a RunId, nodes: &[S]) -> Rerun<'a, P> {
        let nodes = nodes.iter().map(|n| n.as_ref().to_owned()).collect();
        Rerun {
            engine: self,
            run_id,
            call: Call::Set((nodes, RunOptions::new())),
        }
    }
}
