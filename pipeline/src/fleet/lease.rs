//! A claim's lease as the worker holding it knows it: live until a time on the worker's own
//! monotonic clock, counted from before the statement that took or renewed it (so never later
//! than the server's expiry), and checked before a node's body starts: a worker frozen between
//! its claim and the body (a GC pause, a stopped VM) does not start a node that another worker
//! may have taken over meanwhile.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub(crate) struct Lease {
    base: Instant,
    /// Microseconds after `base` until which the lease is surely held.
    until: AtomicU64,
}

impl Lease {
    /// A lease of `lease` taken by a statement sent at `sent`.
    pub fn new(sent: Instant, lease: Duration) -> Lease {
        let until = AtomicU64::new(lease.as_micros().try_into().unwrap_or(u64::MAX));
        Lease { base: sent, until }
    }

    /// Renewed for `lease` by a statement sent at `sent`.
    pub fn renewed(&self, sent: Instant, lease: Duration) {
        let until = sent.saturating_duration_since(self.base) + lease;
        let until = until.as_micros().try_into().unwrap_or(u64::MAX);
        self.until.fetch_max(until, Ordering::SeqCst);
    }

    /// Whether the lease is surely still held now.
    pub fn live(&self) -> bool {
        let now = self.base.elapsed().as_micros();
        now < u128::from(self.until.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_lapses_unless_renewed() {
        let start = Instant::now();
        let lease = Lease::new(start, Duration::from_millis(20));
        assert!(lease.live());
        std::thread::sleep(Duration::from_millis(25));
        assert!(!lease.live(), "lapsed");
        lease.renewed(Instant::now(), Duration::from_secs(60));
        assert!(lease.live(), "renewed");
        // A renewal sent before a later one never shortens the lease.
        lease.renewed(start, Duration::from_millis(1));
        assert!(lease.live());
    }
}
