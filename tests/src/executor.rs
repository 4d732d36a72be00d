//! One test, every executor: a run in one process over each store (in memory, files, SQLite,
//! PostgreSQL), and a run on a fleet of workers in this process. A shared test is written once,
//! as `async fn case(on: Executor)`, and [`on_every_executor!`](crate::on_every_executor)
//! instantiates it per executor; the fleet's instance also runs the case in one process and
//! compares every result the two made, node by node.
//!
//! A test that can only hold in one process (it counts tasks of one process, or reads a store
//! only one process has) is left out of the fleet's instance with `#[in_one_process("reason")]`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use pipeline::store::{
    FileCheckpointer, InMemoryAuditLog, InMemoryCheckpointer, PostgresStore, SignalSent,
    SqliteCheckpointer,
};
use pipeline::{
    EventHandler, Pipeline, PipelineEngine, PipelineError, PipelineResult, RunId, Signal,
    SignalOutcome,
};

use crate::fleet::Fleet;
use crate::postgres::TestDatabase;

/// Where a shared test runs its pipelines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Executor {
    /// One process, the in-memory stores.
    InMemory,
    /// One process, the file stores.
    Files,
    /// One process, SQLite.
    Sqlite,
    /// One process, PostgreSQL.
    Postgres,
    /// Two workers in this process, on PostgreSQL: runs are submitted and waited for.
    Fleet,
}

/// A node's failure: node, error, attempts, and its failed items (index, error, attempts).
pub type Failed = (String, String, u32, Vec<(u32, String, u32)>);

/// What a run's result says, without what differs between two runs of the same pipeline (ids,
/// times): compared between executors.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seen {
    pub status: String,
    pub nodes: Vec<(String, String)>,
    pub failures: Vec<Failed>,
    pub output: String,
    /// The waits a waiting run waits on.
    pub waiting: Vec<String>,
}

impl Seen {
    fn of<O: std::fmt::Debug>(result: &PipelineResult<O>) -> Seen {
        Seen {
            status: result.status.to_string(),
            nodes: result
                .nodes
                .iter()
                .map(|(id, status)| (id.to_owned(), status.to_string()))
                .collect(),
            failures: result
                .failures
                .iter()
                .map(|(id, f)| {
                    let items = f
                        .items
                        .iter()
                        .map(|i| (i.index, i.error.clone(), i.attempts));
                    (id.clone(), f.error.clone(), f.attempts, items.collect())
                })
                .collect(),
            output: format!("{:?}", result.output),
            waiting: result.waiting.iter().map(|w| w.wait.clone()).collect(),
        }
    }
}

tokio::task_local! {
    /// What the case running on this task has seen so far.
    static SEEN: Arc<Mutex<Vec<Seen>>>;
}

/// An engine on one executor, with what keeps its storage alive.
pub struct On<P: Pipeline> {
    pub engine: PipelineEngine<P>,
    pub executor: Executor,
    fleet: Option<Fleet>,
    /// The waits each run waited on when its last result came back.
    waiting: Mutex<HashMap<RunId, Vec<String>>>,
    _dir: Option<tempfile::TempDir>,
    _db: Option<TestDatabase>,
}

impl Executor {
    /// Every executor.
    pub const ALL: [Executor; 5] = [
        Executor::InMemory,
        Executor::Files,
        Executor::Sqlite,
        Executor::Postgres,
        Executor::Fleet,
    ];

    /// An engine for `graph` on this executor, set up by `configure` (its stores are this
    /// executor's, made for it: panics when they cannot be).
    pub async fn engine<P: Pipeline + Clone>(
        self,
        graph: P,
        configure: impl FnOnce(PipelineEngine<P>) -> PipelineEngine<P>,
    ) -> On<P> {
        self.engine_heard(graph, None, configure).await
    }

    /// [`engine`](Executor::engine), with `events` hearing of every node and item: the engine's
    /// event handler in one process, each worker's on a fleet.
    pub async fn engine_heard<P: Pipeline + Clone>(
        self,
        graph: P,
        events: Option<Arc<dyn EventHandler>>,
        configure: impl FnOnce(PipelineEngine<P>) -> PipelineEngine<P>,
    ) -> On<P> {
        let mut engine = PipelineEngine::new(graph.clone());
        if let (Some(events), false) = (&events, self == Executor::Fleet) {
            engine = engine.event_handler(Arc::clone(events));
        }
        let (mut dir, mut db, mut fleet) = (None, None, None);
        let engine = match self {
            Executor::InMemory => engine
                .checkpointer(InMemoryCheckpointer::new())
                .audit_log(InMemoryAuditLog::new()),
            Executor::Files => {
                let temp = tempfile::tempdir().expect("a temporary directory");
                // As `Stores::open` opens them: a record and its entry written together.
                let checkpointer = FileCheckpointer::new(temp.path());
                let engine = engine
                    .audit_log(checkpointer.audit_log())
                    .checkpointer(checkpointer);
                dir = Some(temp);
                engine
            }
            Executor::Sqlite => {
                let temp = tempfile::tempdir().expect("a temporary directory");
                let store = SqliteCheckpointer::open(temp.path().join("runs.db"))
                    .expect("a SQLite store in a temporary directory");
                let audit = store.audit_log();
                dir = Some(temp);
                engine.checkpointer(store).audit_log(audit)
            }
            Executor::Postgres => {
                let created = TestDatabase::create();
                let store = PostgresStore::open(&created.url).expect("the test database's URL");
                db = Some(created);
                engine.checkpointer(store.clone()).audit_log(store)
            }
            Executor::Fleet => {
                let started = Fleet::start_with(&graph, 2, |worker| match &events {
                    Some(events) => worker.event_handler(Arc::clone(events)),
                    None => worker,
                })
                .await;
                let engine = engine.fleet(started.store.clone());
                fleet = Some(started);
                engine
            }
        };
        On {
            engine: configure(engine),
            executor: self,
            fleet,
            waiting: Mutex::default(),
            _dir: dir,
            _db: db,
        }
    }
}

impl<P: Pipeline> On<P>
where
    P::Output: std::fmt::Debug,
{
    /// Runs `inputs` to its end: in one process, or submitted to the fleet and waited for.
    pub async fn run(&self, inputs: P::Inputs) -> Result<PipelineResult<P::Output>, PipelineError> {
        let result = match &self.fleet {
            None => self.engine.run(inputs).await,
            Some(_) => {
                let run_id = self.engine.submit(inputs).await?;
                self.wait(&run_id).await
            }
        };
        self.seen(result)
    }

    /// [`run`](On::run) with `options` (an id, an idempotency key): on a fleet, submitted with
    /// them and waited for.
    pub async fn run_with(
        &self,
        inputs: P::Inputs,
        options: pipeline::RunOptions,
    ) -> Result<PipelineResult<P::Output>, PipelineError> {
        let result = match &self.fleet {
            None => self.engine.run(inputs).options(options).await,
            Some(_) => {
                let run_id = self.engine.submit(inputs).options(options).await?;
                self.wait(&run_id).await
            }
        };
        self.seen(result)
    }

    /// Sends `signal` to `run_id`. In one process a signal for a wait the run waits on continues
    /// the run there; on a fleet a worker continues it, and this waits for its result, so both
    /// answer alike (a run that did not wait on it yet answers `None` on both).
    pub async fn signal(
        &self,
        run_id: &RunId,
        signal: Signal,
    ) -> Result<SignalOutcome<P::Output>, PipelineError> {
        let wait = signal.wait().to_owned();
        let mut outcome = self.engine.signal(run_id, signal).await?;
        let waited = self
            .waiting
            .lock()
            .unwrap()
            .get(run_id)
            .is_some_and(|w| w.contains(&wait));
        if self.fleet.is_some() && outcome.sent == SignalSent::Stored && waited {
            outcome.run = Some(self.wait(run_id).await?);
        }
        if let Some(run) = outcome.run.take() {
            outcome.run = Some(self.seen(Ok(run))?);
        }
        Ok(outcome)
    }

    /// Resumes `run_id` (on the fleet for a fleet run).
    pub async fn resume(&self, run_id: &RunId) -> Result<PipelineResult<P::Output>, PipelineError> {
        let resumed = tokio::time::timeout(
            std::time::Duration::from_secs(60),
            self.engine.resume(run_id),
        );
        self.seen(resumed.await.expect("the resume ended within a minute"))
    }

    /// Records what `result` says (for the comparison, and the waits its run waits on).
    fn seen(
        &self,
        result: Result<PipelineResult<P::Output>, PipelineError>,
    ) -> Result<PipelineResult<P::Output>, PipelineError> {
        if let Ok(result) = &result {
            let waits = result.waiting.iter().map(|w| w.wait.clone()).collect();
            self.waiting
                .lock()
                .unwrap()
                .insert(result.run_id.clone(), waits);
            let _ = SEEN.try_with(|seen| seen.lock().unwrap().push(Seen::of(result)));
        }
        result
    }

    async fn wait(&self, run_id: &RunId) -> Result<PipelineResult<P::Output>, PipelineError> {
        let waited =
            tokio::time::timeout(std::time::Duration::from_secs(60), self.engine.wait(run_id));
        waited.await.expect("the run ended within a minute")
    }
}

impl<P: Pipeline> Drop for On<P> {
    fn drop(&mut self) {
        if let Some(fleet) = &self.fleet {
            fleet.shutdown.stop_now();
        }
    }
}

/// Runs `case` on `executor`, recording what its runs ended with.
pub async fn recorded<F: std::future::Future<Output = ()>>(
    case: impl FnOnce(Executor) -> F,
    executor: Executor,
) -> Vec<Seen> {
    let log = Arc::new(Mutex::new(Vec::new()));
    SEEN.scope(Arc::clone(&log), case(executor)).await;
    log.lock().unwrap().clone()
}

/// Runs `case` in one process (in memory) and on the fleet, and compares every result the two
/// made, node by node.
pub async fn compared<F: std::future::Future<Output = ()>>(case: impl Fn(Executor) -> F) {
    let here = recorded(&case, Executor::InMemory).await;
    let there = recorded(&case, Executor::Fleet).await;
    assert_eq!(
        here.len(),
        there.len(),
        "as many results in one process as on the fleet"
    );
    for (i, (here, there)) in here.iter().zip(&there).enumerate() {
        assert_eq!(
            here, there,
            "result {i}: in one process (left) and on the fleet (right)"
        );
    }
}

/// Instantiates a shared test per executor: `in_memory`, `files`, `sqlite`, `postgres`, and
/// `fleet` (which also compares the fleet's results with one process's).
///
/// ```text
/// tests::on_every_executor! {
///     async fn a_case(on: Executor) { let on = on.engine(graph(), |e| e).await; ... }
/// }
/// ```
#[macro_export]
macro_rules! on_every_executor {
    ($($(#[in_one_process($why:literal)])? async fn $name:ident($on:ident: Executor $(,)?) $body:block)*) => {$(
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            use $crate::executor::Executor;

            pub(super) async fn case($on: Executor) $body

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn in_memory() {
                case(Executor::InMemory).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn files() {
                case(Executor::Files).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                case(Executor::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            #[cfg_attr(no_postgres, ignore = "needs PostgreSQL, which did not answer when the tests were built: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start")]
            async fn postgres() {
                case(Executor::Postgres).await
            }
            $crate::on_every_executor!(@fleet $($why)?);
        }
    )*};
    (@fleet) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        #[cfg_attr(no_postgres, ignore = "needs PostgreSQL, which did not answer when the tests were built: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start")]
        async fn fleet() {
            $crate::executor::compared(case).await
        }
    };
    (@fleet $why:literal) => {};
}
