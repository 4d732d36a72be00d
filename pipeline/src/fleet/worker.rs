//! [`Worker`]: what a member of a fleet serves and how (its work loop is in `running`).

use std::time::Duration;

use super::control::{Settings, Shutdown, WorkerReport};
use super::queue::READY;
use super::running::Running;
use super::served::Served;
use crate::definition::Pipeline;
use crate::event::EventHandler;
use crate::store::now_ms;
use crate::store::postgres::Listener;
use crate::store::{PostgresStore, StoreError, StoreResult};

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
    settings: Settings,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("id", &self.settings.id)
            .field("pipelines", &self.served.names())
            .field("concurrency", &self.settings.concurrency)
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
            settings: Settings {
                id: format!("{host}-{}-{:04x}", std::process::id(), now_ms() & 0xffff),
                concurrency: 4,
                lease: Duration::from_secs(30),
                heartbeat: Duration::from_secs(10),
                poll: Duration::from_secs(1),
                drain: Duration::from_secs(30),
                events: None,
                node_logs: crate::trace::LogLimits::default(),
            },
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
            self.serve_info(info);
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
            self.serve_info(info);
        }
        Ok(self)
    }

    fn serve_info(&mut self, info: &crate::registry::PipelineInfo) {
        self.served.insert((info.pipeline)().fleet_graph().0);
    }

    /// Names the worker in leases, audit entries and logs (default: host, process id and a
    /// few random digits).
    pub fn id(mut self, id: impl Into<String>) -> Worker {
        self.settings.id = id.into();
        self
    }

    /// Calls `handler` for the nodes this worker runs, as an engine calls its handler for a run
    /// in one process: a node's attempts start (`on_node_start`) and, once its outcome is
    /// committed, it completes, fails, is retried or skipped; the nodes a commit skips because a
    /// node failed or was skipped are heard of by the worker that committed it. A worker hears of
    /// no run as a whole (`on_pipeline_start`, `on_pipeline_end`): runs span workers. A panic in
    /// the handler is logged and changes nothing.
    pub fn event_handler(mut self, handler: impl EventHandler + 'static) -> Worker {
        self.settings.events = Some(std::sync::Arc::new(handler));
        self
    }

    /// How many nodes it runs at once (default 4).
    pub fn concurrency(mut self, n: usize) -> Worker {
        self.settings.concurrency = n.max(1);
        self
    }

    /// How long a claim holds a node without a heartbeat (default 30 s), and how often the
    /// worker renews its claims (default 10 s; at most a third of the lease is sensible).
    ///
    /// Keep the lease well above the server's `deadlock_timeout` (1 s by default). The worker's
    /// statements lock its claimed rows in key order and cannot deadlock with each other, but a
    /// lock held by another application makes a heartbeat wait, and a deadlock is only detected
    /// after `deadlock_timeout`: a lease shorter than that wait lapses, and the node runs again
    /// elsewhere.
    pub fn lease(mut self, lease: Duration, heartbeat: Duration) -> Worker {
        self.settings.lease = lease.max(Duration::from_millis(100));
        self.settings.heartbeat = heartbeat.clamp(Duration::from_millis(10), self.settings.lease);
        self
    }

    /// How often it looks for work without a notification (default 1 s): notifications are lost
    /// while a connection is down.
    pub fn poll_interval(mut self, poll: Duration) -> Worker {
        self.settings.poll = poll.max(Duration::from_millis(1));
        self
    }

    /// How long a graceful stop waits for the nodes in flight (default 30 s) before it gives
    /// their claims back for other workers.
    pub fn drain_deadline(mut self, deadline: Duration) -> Worker {
        self.settings.drain = deadline;
        self
    }

    /// How much of the `tracing` events each attempt's body emits its audit entry keeps
    /// (default [`LogLimits::default`](crate::trace::LogLimits::default); see
    /// [`EngineSettings::node_logs`](crate::EngineSettings::node_logs)).
    pub fn node_logs(mut self, limits: crate::trace::LogLimits) -> Worker {
        self.settings.node_logs = limits;
        self
    }

    /// The worker's id.
    pub fn worker_id(&self) -> &str {
        &self.settings.id
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
        tracing::info!(worker = %self.settings.id, pipelines = ?self.served.names(), "worker started");
        let listener = Listener::start(self.store.config().clone(), READY);
        let mut state = Running::new(self.store, self.served, self.settings);
        state.work(&listener, &shutdown).await;
        Ok(state.drain(&shutdown).await)
    }
}
