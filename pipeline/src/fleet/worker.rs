//! [`Worker`]: claims ready nodes of any run of the pipelines it serves, runs them, and resolves
//! each in one transaction; renews its leases while nodes run; stops gracefully.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::execute::execute;
use super::listen::Listener;
use super::queue::{self, Claimed, READY, Resolution, Resolved};
use super::served::{Served, ServedGraph};
use crate::data::Value;
use crate::definition::Pipeline;
use crate::engine::now_ms;
use crate::run_id::RunId;
use crate::store::{PostgresStore, RunSummary, StoreError, StoreResult};

/// Tells a [`Worker`] to stop: [`stop`](Shutdown::stop) lets the nodes in flight finish (within
/// the worker's drain deadline), [`stop_now`](Shutdown::stop_now) abandons them (their leases
/// expire and other workers take them over). Clones stop the same workers.
#[derive(Clone, Debug, Default)]
pub struct Shutdown {
    graceful: CancellationToken,
    now: CancellationToken,
}

impl Shutdown {
    /// A shutdown signal that has not fired.
    pub fn new() -> Shutdown {
        Shutdown::default()
    }

    /// Stop claiming nodes; finish those in flight, then return.
    pub fn stop(&self) {
        self.graceful.cancel();
    }

    /// Stop at once, abandoning the nodes in flight.
    pub fn stop_now(&self) {
        self.graceful.cancel();
        self.now.cancel();
    }

    /// A shutdown driven by Ctrl-C (SIGINT): the first stops gracefully, the second at once.
    /// The signal handler is in place when this returns.
    pub fn on_ctrl_c() -> Shutdown {
        let shutdown = Shutdown::new();
        let signal = shutdown.clone();
        #[cfg(unix)]
        let mut interrupts =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()).ok();
        tokio::spawn(async move {
            for stop_now in [false, true] {
                #[cfg(unix)]
                let received = match interrupts.as_mut() {
                    Some(interrupts) => interrupts.recv().await.is_some(),
                    None => false,
                };
                #[cfg(not(unix))]
                let received = tokio::signal::ctrl_c().await.is_ok();
                if !received {
                    return;
                }
                match stop_now {
                    false => {
                        tracing::info!(
                            "stopping: finishing the nodes in flight (Ctrl-C again to stop now)"
                        );
                        signal.stop();
                    }
                    true => signal.stop_now(),
                }
            }
        });
        shutdown
    }
}

/// What a worker did before it stopped.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WorkerReport {
    /// Nodes it completed.
    pub completed: u64,
    /// Attempts that failed (retried or not).
    pub failed_attempts: u64,
    /// Nodes it skipped (condition false, or an upstream node failed or was skipped).
    pub skipped: u64,
    /// Claims it lost before resolving them: the lease lapsed and another worker took the node,
    /// or the run was cancelled. Their results were not written.
    pub lost: u64,
    /// Claims it gave back unfinished when its drain deadline passed.
    pub released: u64,
}

/// A member of a fleet: claims ready nodes of any run of the pipelines it serves from a
/// [`PostgresStore`], runs them, and writes each node's checkpoint record, audit entry and its
/// dependents' readiness in one transaction.
///
/// Each claim is a lease that the worker renews while the node runs; if the worker dies, any
/// other worker claims the node again once the lease expires (a node runs at least once, and is
/// checkpointed exactly once: a worker whose lease lapsed cannot commit).
///
/// ```no_run
/// # async fn demo() -> Result<(), pipeline::StoreError> {
/// use pipeline::fleet::{Shutdown, Worker};
/// use pipeline::store::PostgresStore;
///
/// let store = PostgresStore::open("postgres://app@db.internal/pipelines")?;
/// let report = Worker::new(store)
///     .serve_registered()   // every `pipeline!` compiled into this binary
///     .concurrency(8)
///     .run(Shutdown::on_ctrl_c())
///     .await?;
/// println!("{report:?}");
/// # Ok(()) }
/// ```
pub struct Worker {
    store: PostgresStore,
    served: Served,
    id: String,
    concurrency: usize,
    lease: Duration,
    heartbeat: Duration,
    poll: Duration,
    drain: Duration,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("id", &self.id)
            .field("pipelines", &self.served.names())
            .field("concurrency", &self.concurrency)
            .finish_non_exhaustive()
    }
}

impl Worker {
    /// A worker on `store` that serves no pipeline yet (see [`serve`](Worker::serve) and
    /// [`serve_registered`](Worker::serve_registered)), with concurrency 4, a 30 s lease renewed
    /// every 10 s, a 1 s polling fallback and a 30 s drain deadline.
    pub fn new(store: PostgresStore) -> Worker {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "worker".to_owned());
        Worker {
            store,
            served: Served::default(),
            id: format!("{host}-{}-{:04x}", std::process::id(), now_ms() & 0xffff),
            concurrency: 4,
            lease: Duration::from_secs(30),
            heartbeat: Duration::from_secs(10),
            poll: Duration::from_secs(1),
            drain: Duration::from_secs(30),
        }
    }

    /// Serves `pipeline`: runs nodes of its runs submitted by a build with the same fingerprint.
    pub fn serve<P: Pipeline>(mut self, pipeline: &P) -> Worker {
        self.served.add(&pipeline.graph());
        self
    }

    /// Serves every `pipeline!` compiled into the program (see [`registry`](crate::registry)).
    pub fn serve_registered(mut self) -> Worker {
        for info in crate::registry::pipelines() {
            if let Some(graph) = (info.pipeline)().fleet_graph() {
                self.served.insert(graph.0);
            }
        }
        self
    }

    /// Serves the registered pipelines named `names`;
    /// [`StoreError::Backend`] names one that is not compiled in.
    pub fn serve_registered_named<S: AsRef<str>>(mut self, names: &[S]) -> StoreResult<Worker> {
        for name in names {
            let name = name.as_ref();
            let info = crate::registry::pipeline(name).ok_or_else(|| {
                StoreError::Backend(format!("no pipeline named `{name}` is compiled in").into())
            })?;
            if let Some(graph) = (info.pipeline)().fleet_graph() {
                self.served.insert(graph.0);
            }
        }
        Ok(self)
    }

    /// Names the worker in leases, audit entries and logs (default: host, process id and a
    /// few random digits).
    pub fn id(mut self, id: impl Into<String>) -> Worker {
        self.id = id.into();
        self
    }

    /// How many nodes it runs at once (default 4).
    pub fn concurrency(mut self, n: usize) -> Worker {
        self.concurrency = n.max(1);
        self
    }

    /// How long a claim holds a node without a heartbeat (default 30 s), and how often the
    /// worker renews its claims (default 10 s; at most a third of the lease is sensible).
    pub fn lease(mut self, lease: Duration, heartbeat: Duration) -> Worker {
        self.lease = lease.max(Duration::from_millis(100));
        self.heartbeat = heartbeat.clamp(Duration::from_millis(10), self.lease);
        self
    }

    /// How often it looks for work without a notification (default 1 s): notifications are lost
    /// while a connection is down.
    pub fn poll_interval(mut self, poll: Duration) -> Worker {
        self.poll = poll.max(Duration::from_millis(1));
        self
    }

    /// How long a graceful stop waits for the nodes in flight (default 30 s) before it gives
    /// their claims back for other workers.
    pub fn drain_deadline(mut self, deadline: Duration) -> Worker {
        self.drain = deadline;
        self
    }

    /// The worker's id.
    pub fn worker_id(&self) -> &str {
        &self.id
    }

    /// The names of the pipelines it serves.
    pub fn pipelines(&self) -> Vec<String> {
        self.served.names()
    }

    /// Works until `shutdown` fires. Store errors (a server restart) are logged and retried,
    /// never fatal; an error is returned only when nothing is served.
    pub async fn run(self, shutdown: Shutdown) -> StoreResult<WorkerReport> {
        if self.served.is_empty() {
            return Err(StoreError::Backend(
                "the worker serves no pipeline: call `serve` or `serve_registered`".into(),
            ));
        }
        tracing::info!(worker = %self.id, pipelines = ?self.served.names(), "worker started");
        let listener = Listener::start(self.store.config().clone(), READY);
        let mut state = Running::new(self);
        state.work(&listener, &shutdown).await;
        Ok(state.drain(&shutdown).await)
    }
}

type Key = (RunId, u32);
type RunInputs = Result<Arc<Vec<Value>>, String>;

/// What one node task reports back.
enum Done {
    Resolved(Kind, Resolved),
    Lost,
}

/// How a node task resolved its node, for the worker's report.
#[derive(Clone, Copy)]
enum Kind {
    Completed,
    FailedAttempt,
    Skipped,
}

impl Kind {
    fn of(resolution: &Resolution) -> Kind {
        match resolution {
            Resolution::Completed { .. } => Kind::Completed,
            Resolution::Retry { .. } | Resolution::Failed { .. } => Kind::FailedAttempt,
            Resolution::Skipped => Kind::Skipped,
        }
    }
}

/// A worker at work: its tasks, their claims, and what it did.
struct Running {
    ctx: Arc<Context>,
    tasks: JoinSet<(Key, Done)>,
    claims: HashMap<Key, Held>,
    report: WorkerReport,
    warned: HashSet<(String, String)>,
}

/// A claim in flight: its fencing token, its task, and whether the task is committing (a lost
/// lease then no longer aborts it: the commit's own fence decides).
struct Held {
    token: i32,
    task: tokio::task::AbortHandle,
    committing: Arc<std::sync::atomic::AtomicBool>,
}

/// What every node task of a worker shares.
struct Context {
    store: PostgresStore,
    served: Served,
    fingerprints: Vec<String>,
    id: String,
    concurrency: usize,
    lease: Duration,
    heartbeat: Duration,
    poll: Duration,
    drain: Duration,
    /// Each run's decoded pipeline inputs and start time, read once per run.
    runs: std::sync::Mutex<HashMap<RunId, (RunInputs, u64)>>,
}

impl Running {
    fn new(worker: Worker) -> Running {
        let fingerprints = worker.served.fingerprints();
        Running {
            ctx: Arc::new(Context {
                store: worker.store,
                served: worker.served,
                fingerprints,
                id: worker.id,
                concurrency: worker.concurrency,
                lease: worker.lease,
                heartbeat: worker.heartbeat,
                poll: worker.poll,
                drain: worker.drain,
                runs: Default::default(),
            }),
            tasks: JoinSet::new(),
            claims: HashMap::new(),
            report: WorkerReport::default(),
            warned: HashSet::new(),
        }
    }

    /// Claims and runs nodes until a stop is asked for.
    async fn work(&mut self, listener: &Listener, shutdown: &Shutdown) {
        let mut heartbeat = tokio::time::interval(self.ctx.heartbeat);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_check = None::<tokio::time::Instant>;
        loop {
            let woken = listener.armed();
            let free = self.ctx.concurrency.saturating_sub(self.tasks.len());
            let mut pause = self.ctx.poll;
            if free > 0 {
                match self.claim(free).await {
                    Ok(claimed) if claimed == free => pause = Duration::ZERO,
                    Ok(_) => {
                        let due = queue::next_due(&self.ctx.store, &self.ctx.fingerprints).await;
                        if let Ok(Some(due)) = due {
                            pause = pause.min(due);
                        }
                    }
                    Err(e) => {
                        tracing::warn!(worker = %self.ctx.id, error = %e, "cannot claim nodes")
                    }
                }
            }
            if last_check.is_none_or(|t| t.elapsed() > Duration::from_secs(60)) {
                self.warn_unserved().await;
                last_check = Some(tokio::time::Instant::now());
            }
            if pause.is_zero() && !shutdown.graceful.is_cancelled() {
                continue;
            }
            tokio::select! {
                biased;
                () = shutdown.graceful.cancelled() => return,
                Some(joined) = self.tasks.join_next(), if !self.tasks.is_empty() => {
                    self.finished(joined);
                }
                _ = heartbeat.tick() => self.renew().await,
                () = woken => {}
                () = tokio::time::sleep(pause) => {}
            }
        }
    }

    /// Claims up to `free` nodes and starts a task for each; returns how many it claimed.
    async fn claim(&mut self, free: usize) -> StoreResult<usize> {
        let ctx = &self.ctx;
        let claimed = queue::claim(&ctx.store, &ctx.id, &ctx.fingerprints, free, ctx.lease).await?;
        let n = claimed.len();
        for claim in claimed {
            let key = (claim.run_id.clone(), claim.node);
            let token = claim.claim;
            let ctx = Arc::clone(&self.ctx);
            let committing = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let flag = Arc::clone(&committing);
            let task = Box::pin(async move {
                let done = run_claimed(&ctx, &claim, &flag).await;
                ((claim.run_id, claim.node), done)
            });
            let task = self.tasks.spawn(task);
            let held = Held {
                token,
                task,
                committing,
            };
            self.claims.insert(key, held);
        }
        Ok(n)
    }

    fn finished(&mut self, joined: Result<(Key, Done), tokio::task::JoinError>) {
        let Ok((key, done)) = joined else {
            return; // aborted: counted where it was aborted
        };
        if self.claims.remove(&key).is_none() {
            return; // its lease was found lost meanwhile, and counted then
        }
        match done {
            Done::Resolved(_, Resolved::Fenced) | Done::Lost => self.report.lost += 1,
            Done::Resolved(resolution, Resolved::Done { ended }) => {
                if ended {
                    tracing::info!(worker = %self.ctx.id, run = %key.0, "run ended");
                }
                match resolution {
                    Kind::Completed => self.report.completed += 1,
                    Kind::FailedAttempt => self.report.failed_attempts += 1,
                    Kind::Skipped => self.report.skipped += 1,
                }
            }
        }
    }

    fn held(&self) -> Vec<(RunId, u32, i32)> {
        self.claims
            .iter()
            .map(|((run, node), held)| (run.clone(), *node, held.token))
            .collect()
    }

    /// Renews the leases of the nodes in flight; aborts those whose claim was lost while they
    /// still run the node (one that is committing, or done, is left to its commit's fence).
    async fn renew(&mut self) {
        let held = self.held();
        match queue::heartbeat(&self.ctx.store, &held, self.ctx.lease).await {
            Ok(kept) => {
                let kept: HashSet<Key> = kept.into_iter().map(|(r, n, _)| (r, n)).collect();
                self.claims.retain(|key, held| {
                    let busy = !held.task.is_finished()
                        && !held.committing.load(std::sync::atomic::Ordering::SeqCst);
                    if kept.contains(key) || !busy {
                        return true;
                    }
                    tracing::warn!(run = %key.0, node = key.1, "lease lost; abandoning the node");
                    held.task.abort();
                    self.report.lost += 1;
                    false
                });
            }
            Err(e) => tracing::warn!(worker = %self.ctx.id, error = %e, "cannot renew leases"),
        }
    }

    /// Logs, once per version, the runs of a pipeline this worker knows by name that wait for a
    /// worker of another build (their fingerprint differs): it leaves their nodes alone.
    async fn warn_unserved(&mut self) {
        let names = self.ctx.served.names();
        let Ok(client) = self.ctx.store.client().await else {
            return;
        };
        let rows = client
            .query(
                "SELECT DISTINCT pipeline, fingerprint FROM pipeline_fleet_runs \
                 WHERE state = 'running' AND pipeline = ANY($1) AND fingerprint <> ALL($2)",
                &[&names, &self.ctx.fingerprints],
            )
            .await;
        for row in rows.iter().flatten() {
            let key: (String, String) = (row.get(0), row.get(1));
            if self.warned.insert(key.clone()) {
                tracing::warn!(
                    worker = %self.ctx.id,
                    pipeline = key.0,
                    fingerprint = key.1,
                    "runs of this pipeline were submitted by another build (fingerprint \
                     differs); this worker leaves their nodes for a worker of that build"
                );
            }
        }
    }

    /// Finishes the nodes in flight within the drain deadline (or none, on a stop now), gives
    /// the rest back, and reports.
    async fn drain(mut self, shutdown: &Shutdown) -> WorkerReport {
        let deadline = tokio::time::sleep(self.ctx.drain);
        tokio::pin!(deadline);
        let mut heartbeat = tokio::time::interval(self.ctx.heartbeat);
        while !self.tasks.is_empty() {
            tokio::select! {
                biased;
                () = shutdown.now.cancelled() => {
                    self.tasks.abort_all();
                    tracing::warn!(worker = %self.ctx.id, "stopped at once; leases will expire");
                    return self.report;
                }
                () = &mut deadline => break,
                Some(joined) = self.tasks.join_next() => self.finished(joined),
                _ = heartbeat.tick() => self.renew().await,
            }
        }
        if !self.claims.is_empty() {
            self.tasks.abort_all();
            let held = self.held();
            self.report.released += held.len() as u64;
            if let Err(e) = queue::release(&self.ctx.store, &held).await {
                tracing::warn!(worker = %self.ctx.id, error = %e, "cannot release leases");
            }
        }
        tracing::info!(worker = %self.ctx.id, report = ?self.report, "worker stopped");
        self.report
    }
}

/// Retries a store operation until it succeeds: the server may be restarting. The node's lease
/// decides meanwhile whether this worker still holds the node.
async fn retried<T, F: Future<Output = StoreResult<T>>>(
    what: &str,
    mut op: impl FnMut() -> F,
) -> T {
    let mut pause = Duration::from_millis(50);
    loop {
        match op().await {
            Ok(value) => return value,
            Err(e) => {
                tracing::warn!(error = %e, "cannot {what}; trying again");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(2));
            }
        }
    }
}

use std::future::Future;

/// Runs one claimed node and resolves it.
async fn run_claimed(
    ctx: &Context,
    claimed: &Claimed,
    committing: &std::sync::atomic::AtomicBool,
) -> Done {
    let Some(graph) = ctx.served.get(&claimed.fingerprint) else {
        return Done::Lost;
    };
    let Some((inputs, started_at_ms)) =
        retried("read the run", || run_inputs(ctx, graph, claimed)).await
    else {
        return Done::Lost;
    };
    let resolution = retried("read the node's arguments", || {
        let inputs = inputs
            .as_deref()
            .map(|v| v.as_slice())
            .map_err(String::as_str);
        execute(&ctx.store, &**graph, claimed, inputs, &ctx.id)
    })
    .await;
    let downstream = &graph.downstream()[claimed.node as usize];
    committing.store(true, std::sync::atomic::Ordering::SeqCst);
    let resolved = retried("commit the node", || {
        let summary = |status, nodes| RunSummary {
            run_id: claimed.run_id.clone(),
            pipeline: graph.name().to_owned(),
            status: Some(status),
            started_at_ms,
            updated_at_ms: now_ms(),
            nodes,
        };
        queue::resolve(
            &ctx.store,
            &ctx.id,
            claimed,
            &resolution,
            downstream,
            summary,
        )
    })
    .await;
    Done::Resolved(Kind::of(&resolution), resolved)
}

/// The run's decoded pipeline inputs (or why they do not decode, which fails the node) and its
/// start time; `None` when the run is gone.
async fn run_inputs(
    ctx: &Context,
    graph: &Arc<dyn ServedGraph>,
    claimed: &Claimed,
) -> StoreResult<Option<(RunInputs, u64)>> {
    if let Some(known) = crate::sync::lock(&ctx.runs).get(&claimed.run_id) {
        return Ok(Some(known.clone()));
    }
    let Some(header) = queue::header(&ctx.store, &claimed.run_id).await? else {
        return Ok(None);
    };
    let inputs = graph
        .inputs(&header.inputs)
        .map(Arc::new)
        .map_err(|e| format!("the run's inputs do not decode: {e}"));
    let mut runs = crate::sync::lock(&ctx.runs);
    if runs.len() > 1024 {
        runs.clear();
    }
    let known = (inputs, header.started_at_ms);
    runs.insert(claimed.run_id.clone(), known.clone());
    Ok(Some(known))
}
