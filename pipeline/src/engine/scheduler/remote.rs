//! A cancel asked for by another process: stored with the run (`Checkpointer::cancel_waits`,
//! which `PipelineEngine::cancel_waiting` writes), and read by the process that holds the run
//! every [`CHECK_EVERY`] while it runs, so a cancel reaches a run wherever it runs.
//!
//! The checks are paced by one thread of the process that ticks twice a second (started on first
//! use), not by tokio's timer: an engine runs on a runtime without its time driver too.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::run_id::RunId;
use crate::store::Checkpointer;

/// How often a run's holder reads whether another process asked to cancel the run.
pub(crate) const CHECK_EVERY: Duration = Duration::from_secs(1);

pub(super) struct RemoteCancel {
    checkpointer: Option<Arc<dyn Checkpointer>>,
    run_id: RunId,
    base: Instant,
    /// When to read next, in microseconds after `base`: kept across the futures that wait for
    /// it, so a run whose nodes end faster than [`CHECK_EVERY`] still reads on time.
    next: AtomicU64,
}

impl RemoteCancel {
    pub fn new(checkpointer: Option<Arc<dyn Checkpointer>>, run_id: RunId) -> Self {
        RemoteCancel {
            checkpointer,
            run_id,
            base: Instant::now(),
            next: AtomicU64::new(CHECK_EVERY.as_micros() as u64),
        }
    }

    /// Completes once another process asked to cancel the run; never for a run stored nowhere.
    /// A store that cannot be read now is read again at the next check.
    pub async fn requested(&self) {
        let Some(checkpointer) = &self.checkpointer else {
            return std::future::pending().await;
        };
        loop {
            let next = self.base + Duration::from_micros(self.next.load(Ordering::SeqCst));
            while Instant::now() < next {
                let tick = ticks().notified();
                tokio::pin!(tick);
                tick.as_mut().enable();
                if Instant::now() >= next {
                    break;
                }
                tick.await;
            }
            let asked = matches!(checkpointer.waits(&self.run_id).await, Ok(w) if w.cancelled);
            let after = (self.base.elapsed() + CHECK_EVERY).as_micros();
            self.next
                .store(after.try_into().unwrap_or(u64::MAX), Ordering::SeqCst);
            if asked {
                tracing::info!(run_id = %self.run_id, "another process asked to cancel the run");
                return;
            }
        }
    }
}

/// The process's ticks: woken twice every [`CHECK_EVERY`] by a thread of their own.
fn ticks() -> &'static Notify {
    static TICKS: OnceLock<Arc<Notify>> = OnceLock::new();
    TICKS.get_or_init(|| {
        let ticks = Arc::new(Notify::new());
        let ticking = Arc::clone(&ticks);
        let started = std::thread::Builder::new()
            .name("pipeline-ticks".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(CHECK_EVERY / 2);
                    ticking.notify_waiters();
                }
            });
        if let Err(e) = started {
            // Without the thread no check is paced: a cancel from elsewhere is not read.
            tracing::warn!(error = %e, "cannot start the thread that paces cancel checks");
        }
        ticks
    })
}
