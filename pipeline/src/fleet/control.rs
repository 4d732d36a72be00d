//! How a worker works (`Settings`), how it is told to stop ([`Shutdown`]) and what it reports
//! when it has ([`WorkerReport`]).

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::event::EventHandler;

/// How a worker works (see `Worker`'s builder methods).
pub(crate) struct Settings {
    pub id: String,
    pub concurrency: usize,
    pub lease: Duration,
    pub heartbeat: Duration,
    pub poll: Duration,
    pub drain: Duration,
    /// Hears of the nodes this worker runs.
    pub events: Option<Arc<dyn EventHandler>>,
    /// How much of each attempt's log its audit entry keeps.
    pub node_logs: crate::trace::LogLimits,
}

/// Tells a [`Worker`](super::Worker) to stop: [`stop`](Shutdown::stop) lets the nodes in flight finish (within
/// the worker's drain deadline), [`stop_now`](Shutdown::stop_now) abandons them (their leases
/// expire and other workers take them over). Clones stop the same workers.
#[derive(Clone, Debug, Default)]
pub struct Shutdown {
    pub(crate) graceful: CancellationToken,
    pub(crate) now: CancellationToken,
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
    /// Waits it began (a timer, or a wait for a signal): each is claimed again, by any worker,
    /// when it is due or signalled, and then counts as completed or failed.
    pub waits_begun: u64,
}
