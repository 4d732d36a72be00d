//! Helpers shared by the integration tests of the `pipeline` workspace (in `tests/`): recording
//! stores and event handlers, failing stores, a PostgreSQL database per test, and the fingerprint check every test binary with
//! `pipeline!`s runs.

pub mod chaos;
pub mod executor;
pub mod fleet;
pub mod limited;
pub mod postgres;
pub mod web;

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use pipeline::store::*;
use pipeline::{EventHandler, PersistenceWarning, RunId, RunStatus};

/// `Ok` for infallible node bodies.
pub fn ok<T>(value: T) -> Result<T, Infallible> {
    Ok(value)
}

/// An ordered log of what happened, shared between nodes, stores and handlers.
#[derive(Clone, Default)]
pub struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    pub fn push(&self, line: impl Into<String>) {
        self.0.lock().unwrap().push(line.into());
    }
    pub fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
    pub fn position(&self, line: &str) -> Option<usize> {
        self.lines().iter().position(|l| l == line)
    }
    pub fn count(&self, line: &str) -> usize {
        self.lines().iter().filter(|l| *l == line).count()
    }
}

/// What a test checkpointer does with each save: log it, delay it, change it or fail it. Wrap
/// it in [`Hooked`] to get a [`Checkpointer`] that forwards everything else to [`inner`](OnSave::inner).
pub trait OnSave: Send + Sync + 'static {
    /// The store every other call goes to.
    fn inner(&self) -> &dyn Checkpointer;
    /// The save.
    fn save<'a>(
        &'a self,
        run_id: &'a RunId,
        epoch: Epoch,
        record: &'a NodeRecord,
    ) -> BoxFuture<'a, StoreResult<()>>;
}

/// A boxed future, as [`OnSave::save`] returns one.
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// The [`Checkpointer`] of an [`OnSave`].
#[derive(Clone, Default)]
pub struct Hooked<T>(pub T);

#[async_trait]
impl<T: OnSave> Checkpointer for Hooked<T> {
    async fn create_run(&self, header: &RunHeader) -> StoreResult<Epoch> {
        self.0.inner().create_run(header).await
    }
    async fn resume_run(
        &self,
        run_id: &RunId,
        filter: &OutputFilter,
    ) -> StoreResult<Option<Resumed>> {
        self.0.inner().resume_run(run_id, filter).await
    }
    async fn save(&self, run_id: &RunId, epoch: Epoch, record: &NodeRecord) -> StoreResult<()> {
        self.0.save(run_id, epoch, record).await
    }
    async fn load(&self, run_id: &RunId) -> StoreResult<Option<Checkpoint>> {
        self.0.inner().load(run_id).await
    }
    async fn list_runs(&self) -> StoreResult<Vec<RunId>> {
        self.0.inner().list_runs().await
    }
    fn release_run(&self, run_id: &RunId, epoch: Epoch) {
        self.0.inner().release_run(run_id, epoch)
    }
}

/// An in-memory checkpointer that logs `checkpoint:<node>` for each save (use it as
/// `Hooked(RecordingCheckpointer { .. })`).
#[derive(Clone)]
pub struct RecordingCheckpointer {
    pub inner: InMemoryCheckpointer,
    pub log: Log,
}

impl OnSave for RecordingCheckpointer {
    fn inner(&self) -> &dyn Checkpointer {
        &self.inner
    }
    fn save<'a>(
        &'a self,
        run_id: &'a RunId,
        epoch: Epoch,
        record: &'a NodeRecord,
    ) -> BoxFuture<'a, StoreResult<()>> {
        self.log.push(format!("checkpoint:{}", record.node));
        Box::pin(self.inner.save(run_id, epoch, record))
    }
}

/// An in-memory audit log that logs `audit:<node>:<status>` for each entry.
#[derive(Clone)]
pub struct RecordingAudit {
    pub inner: InMemoryAuditLog,
    pub log: Log,
}

#[async_trait]
impl AuditLog for RecordingAudit {
    async fn create_run(&self, header: &RunHeader) -> StoreResult<Epoch> {
        self.inner.create_run(header).await
    }
    async fn resume_run(&self, header: &RunHeader) -> StoreResult<Epoch> {
        self.inner.resume_run(header).await
    }
    async fn append(&self, epoch: Epoch, entry: &AuditEntry) -> StoreResult<()> {
        let status = match entry.status {
            AuditStatus::Completed => "completed",
            AuditStatus::Failed => "failed",
            // An entry of a kind this recording store does not know is logged as such.
            _ => "other",
        };
        self.log.push(format!("audit:{}:{status}", entry.node));
        self.inner.append(epoch, entry).await
    }
    async fn entries(&self, run_id: &RunId) -> StoreResult<Option<Vec<AuditEntry>>> {
        self.inner.entries(run_id).await
    }
    async fn list_runs(&self) -> StoreResult<Vec<RunId>> {
        self.inner.list_runs().await
    }
    fn release_run(&self, run_id: &RunId, epoch: Epoch) {
        self.inner.release_run(run_id, epoch)
    }
}

fn broken() -> StoreError {
    StoreError::Backend("disk on fire".into())
}

/// A checkpointer whose every call fails.
pub struct FailingCheckpointer;

#[async_trait]
impl Checkpointer for FailingCheckpointer {
    async fn create_run(&self, _: &RunHeader) -> StoreResult<Epoch> {
        Err(broken())
    }
    async fn resume_run(&self, _: &RunId, _: &OutputFilter) -> StoreResult<Option<Resumed>> {
        Err(broken())
    }
    async fn save(&self, _: &RunId, _: Epoch, _: &NodeRecord) -> StoreResult<()> {
        Err(broken())
    }
    async fn load(&self, _: &RunId) -> StoreResult<Option<Checkpoint>> {
        Err(broken())
    }
    async fn list_runs(&self) -> StoreResult<Vec<RunId>> {
        Err(broken())
    }
    fn release_run(&self, _: &RunId, _: Epoch) {}
}

/// A checkpointer that creates runs but fails every save (use it as `Hooked(FailingSaves::default())`).
#[derive(Clone, Default)]
pub struct FailingSaves(pub InMemoryCheckpointer);

impl OnSave for FailingSaves {
    fn inner(&self) -> &dyn Checkpointer {
        &self.0
    }
    fn save<'a>(
        &'a self,
        _: &'a RunId,
        _: Epoch,
        _: &'a NodeRecord,
    ) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(std::future::ready(Err(broken())))
    }
}

/// An audit log whose every call fails.
pub struct FailingAudit;

#[async_trait]
impl AuditLog for FailingAudit {
    async fn create_run(&self, _: &RunHeader) -> StoreResult<Epoch> {
        Err(broken())
    }
    async fn resume_run(&self, _: &RunHeader) -> StoreResult<Epoch> {
        Err(broken())
    }
    async fn append(&self, _: Epoch, _: &AuditEntry) -> StoreResult<()> {
        Err(broken())
    }
    async fn entries(&self, _: &RunId) -> StoreResult<Option<Vec<AuditEntry>>> {
        Err(broken())
    }
    async fn list_runs(&self) -> StoreResult<Vec<RunId>> {
        Err(broken())
    }
    fn release_run(&self, _: &RunId, _: Epoch) {}
}

/// An event handler that logs every callback.
#[derive(Clone, Default)]
pub struct RecordingEvents(pub Log);

impl EventHandler for RecordingEvents {
    fn on_pipeline_start(&self, pipeline: &str, _: &RunId, resumed: bool) {
        self.0.push(format!("pipeline_start:{pipeline}:{resumed}"));
    }
    fn on_pipeline_end(&self, pipeline: &str, _: &RunId, status: RunStatus) {
        self.0.push(format!("pipeline_end:{pipeline}:{status}"));
    }
    fn on_node_start(&self, _: &RunId, node: &str, attempt: u32) {
        self.0.push(format!("node_start:{node}:{attempt}"));
    }
    fn on_node_complete(&self, _: &RunId, node: &str, attempt: u32, _: Duration) {
        self.0.push(format!("node_complete:{node}:{attempt}"));
    }
    fn on_node_fail(&self, _: &RunId, node: &str, attempt: u32, _: &str) {
        self.0.push(format!("node_fail:{node}:{attempt}"));
    }
    fn on_node_retry(&self, _: &RunId, node: &str, attempt: u32, _: &str, _: Duration) {
        self.0.push(format!("node_retry:{node}:{attempt}"));
    }
    fn on_node_skip(&self, _: &RunId, node: &str) {
        self.0.push(format!("node_skip:{node}"));
    }
    fn on_persistence_warning(&self, _: &RunId, warning: &PersistenceWarning) {
        self.0.push(format!(
            "warning:{}",
            warning.node.as_deref().unwrap_or("header")
        ));
    }
}

/// Asserts that every `pipeline!` registered in this binary has the same fingerprint at compile
/// time (what the registry lists) as at run time (what a run stores and resume compares), and
/// that each of `expected` is among them. A drift between the two would refuse every stored run
/// on resume.
pub fn assert_compile_time_fingerprints_agree(expected: &[&str]) {
    let registered = pipeline::registry::pipelines();
    for name in expected {
        assert!(
            registered.iter().any(|p| p.name == *name),
            "pipeline `{name}` is not registered"
        );
    }
    for info in registered {
        let run_time = (info.pipeline)().signature().fingerprint();
        assert_eq!(
            info.fingerprint(),
            run_time,
            "pipeline `{}`: compile-time and run-time fingerprints differ",
            info.name
        );
    }
}

/// x -> a -> {b, c} -> d (a diamond), and x -> e (an independent branch); output `d`. Each
/// node's body is `node(id, f)`, where `f` computes its output from its two arguments.
pub fn diamond<N, Fut>(
    node: impl Fn(&'static str, fn(u64, u64) -> u64) -> N,
) -> pipeline::Graph<u64, u64>
where
    N: Fn((u64, u64), pipeline::NodeContext) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<u64, std::io::Error>> + Send + 'static,
{
    let mut g = pipeline::GraphBuilder::<u64>::new("diamond");
    let x = g.input("x", |x: &u64| *x);
    let a = g.node("a").run((x, x), node("a", |x, _| x + 1));
    let b = g.node("b").run((a, a), node("b", |a, _| a * 2));
    let c = g.node("c").run((a, a), node("c", |a, _| a * 3));
    let d = g.node("d").run((b, c), node("d", |b, c| b + c));
    let _e = g.node("e").run((x, x), node("e", |x, _| x * 10));
    g.build(d).expect("the diamond is a valid graph")
}

/// `fail` fails (after telling `slow`, which runs meanwhile, to finish) and `slow` completes;
/// `after_fail` and `after_slow` read them. Under fail-fast, neither `after_` node runs.
pub fn fail_fast(release: &Arc<tokio::sync::Notify>) -> pipeline::Graph<u64, ()> {
    let mut g = pipeline::GraphBuilder::<u64>::new("fail_fast");
    let x = g.input("x", |x: &u64| *x);
    let r = Arc::clone(release);
    let fail = g.node("fail").run(x, move |_, _| {
        let r = Arc::clone(&r);
        async move {
            r.notify_one(); // `slow` is running now and finishes after this failure
            Err::<u64, _>(std::io::Error::other("fail"))
        }
    });
    let r = Arc::clone(release);
    let slow = g.node("slow").run(x, move |x, _| {
        let r = Arc::clone(&r);
        async move {
            r.notified().await;
            ok(x)
        }
    });
    let _after = g.node("after_slow").run(slow, |s, _| async move { ok(s) });
    let _after_fail = g.node("after_fail").run(fail, |s, _| async move { ok(s) });
    g.build(()).expect("the fail-fast graph is valid")
}

/// amount -> plan -> cooled (a timer of `after`) -> done.
pub fn cooling(after: Duration) -> pipeline::Graph<u64, u64> {
    let mut g = pipeline::GraphBuilder::<u64>::new("cooling");
    let amount = g.input("amount", |a: &u64| *a);
    let plan = g
        .node("plan")
        .run(amount, |a, _| async move { Ok::<_, std::io::Error>(a * 2) });
    let cooled = g.node("cooled").sleep(after, plan);
    let done = g
        .node("done")
        .run((plan, cooled), |(plan, ()), _| async move {
            Ok::<_, std::io::Error>(plan + 1)
        });
    g.build(done).unwrap()
}

/// Whether `error` is a store's refusal of a second, different signal for a wait.
pub fn is_signal_conflict(error: &pipeline::PipelineError) -> bool {
    matches!(
        error,
        pipeline::PipelineError::Store {
            source: StoreError::SignalConflict { .. },
            ..
        }
    )
}
