//! The clock that says when a wait is due: [`SystemClock`] in production, a [`ManualClock`] that
//! a test moves forward, so a 48-hour timer is tested without waiting 48 hours (or 3 seconds).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::Notify;

/// What says when a timer or a signal's timeout is due: when a wait began, whether a waiting run
/// is due (`resume_due`, the command line's `resume-due`), and how long a run waits in its
/// process for a wait due soon. Set it with
/// [`EngineSettings::clock`](crate::EngineSettings::clock).
///
/// Attempts' start times and durations in the audit trail are always the system's: they record
/// what happened. A fleet's workers take a timer as due by the database server's clock.
pub trait Clock: std::fmt::Debug + Send + Sync {
    /// Now, in milliseconds since the Unix epoch.
    fn now_ms(&self) -> u64;

    /// Completes once this clock has moved on by `duration` (or sooner: callers check the time
    /// again when it completes).
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>>;
}

/// The system's clock: the wall clock for the time, tokio's timer for sleeping.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        crate::store::now_ms()
    }

    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(tokio::time::sleep(duration))
    }
}

/// A clock that stands still until it is moved: [`advance`](ManualClock::advance) wakes every
/// run waiting in its process for a wait that the move makes due. Clones share one time.
///
/// ```
/// use std::time::Duration;
/// use pipeline::{Clock, ManualClock};
///
/// let clock = ManualClock::starting_at(1_000);
/// clock.advance(Duration::from_secs(2));
/// assert_eq!(clock.now_ms(), 3_000);
/// ```
#[derive(Clone, Debug, Default)]
pub struct ManualClock {
    inner: Arc<Manual>,
}

#[derive(Debug, Default)]
struct Manual {
    now_ms: AtomicU64,
    moved: Notify,
}

impl ManualClock {
    /// A clock standing at `now_ms` (milliseconds since the Unix epoch).
    pub fn starting_at(now_ms: u64) -> ManualClock {
        let clock = ManualClock::default();
        clock.inner.now_ms.store(now_ms, Ordering::SeqCst);
        clock
    }

    /// A clock standing at the system's time now.
    pub fn now() -> ManualClock {
        ManualClock::starting_at(crate::store::now_ms())
    }

    /// Moves the clock on by `by`, and wakes what sleeps on it.
    pub fn advance(&self, by: Duration) {
        let moved = |now: u64| Some(crate::store::ms_after(now, by));
        // `moved` always gives a time: the update cannot be refused.
        let _ = self
            .inner
            .now_ms
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, moved);
        self.inner.moved.notify_waiters();
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.inner.now_ms.load(Ordering::SeqCst)
    }

    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        let until = crate::store::ms_after(self.now_ms(), duration);
        Box::pin(async move {
            loop {
                // Armed before the time is read: a move in between is not missed.
                let moved = self.inner.moved.notified();
                if self.now_ms() >= until {
                    return;
                }
                moved.await;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_sleep_on_a_manual_clock_ends_when_the_clock_is_moved_past_it() {
        use futures_util::FutureExt;
        let clock = ManualClock::starting_at(0);
        let mut sleep = clock.sleep(Duration::from_millis(500));
        clock.advance(Duration::from_millis(499));
        assert!((&mut sleep).now_or_never().is_none(), "499 ms of 500");
        clock.advance(Duration::from_millis(1));
        assert!(sleep.now_or_never().is_some(), "500 ms of 500");
        assert_eq!(clock.now_ms(), 500);
    }

    #[tokio::test]
    async fn a_task_sleeping_on_a_manual_clock_is_woken_when_it_is_moved()
    -> Result<(), tokio::task::JoinError> {
        let clock = ManualClock::starting_at(0);
        let (asleep, mut started) = tokio::sync::oneshot::channel();
        let sleeping = {
            let clock = clock.clone();
            tokio::spawn(async move {
                let sleep = clock.sleep(Duration::from_secs(60));
                let _ = asleep.send(());
                sleep.await
            })
        };
        // The sleep's end is fixed once it is made: move the clock only after that (a task that
        // ended before it, closing the channel, is reported by the join below).
        while let Err(tokio::sync::oneshot::error::TryRecvError::Empty) = started.try_recv() {
            tokio::task::yield_now().await;
        }
        clock.advance(Duration::from_secs(60));
        sleeping.await
    }
}
