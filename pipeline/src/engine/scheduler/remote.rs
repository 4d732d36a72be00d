//! A cancel asked for by another process: stored with the run (`Checkpointer::cancel_waits`,
//! which `PipelineEngine::cancel_waiting` writes), and read by the process that holds the run
//! every [`CHECK_EVERY`] while it runs, on a task of its own beside the run (nothing on the path
//! of each node), which cancels the run's token when the request comes.
//!
//! The checks are paced by one thread of the process that ticks twice a second (started on first
//! use), not by tokio's timer: an engine runs on a runtime without its time driver too.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::run_id::RunId;
use crate::store::Checkpointer;

/// How often a run's holder reads whether another process asked to cancel the run.
pub(crate) const CHECK_EVERY: Duration = Duration::from_secs(1);

/// The task that watches for a cancel from elsewhere, aborted when the run ends.
pub(super) struct Watch(Option<tokio::task::JoinHandle<()>>);

impl Drop for Watch {
    fn drop(&mut self) {
        if let Some(task) = &self.0 {
            task.abort();
        }
    }
}

/// Watches the run's store for a cancel another process asked for, and cancels `token` when one
/// comes; nothing for a run stored nowhere. A store that cannot be read now is read again at the
/// next check.
pub(super) fn watch(
    checkpointer: Option<Arc<dyn Checkpointer>>,
    run_id: RunId,
    token: CancellationToken,
) -> Watch {
    let Some(checkpointer) = checkpointer else {
        return Watch(None);
    };
    Watch(Some(tokio::spawn(async move {
        loop {
            let next = Instant::now() + CHECK_EVERY;
            while Instant::now() < next {
                let tick = ticks().notified();
                tokio::pin!(tick);
                tick.as_mut().enable();
                if Instant::now() >= next {
                    break;
                }
                tick.await;
            }
            if matches!(checkpointer.waits(&run_id).await, Ok(w) if w.cancelled) {
                tracing::info!(run_id = %run_id, "another process asked to cancel the run");
                token.cancel();
                return;
            }
        }
    })))
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
