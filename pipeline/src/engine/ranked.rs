//! A semaphore whose waiters are served by rank (the smallest first; in the order they came
//! among equal ranks): what a limit in one process hands its places out with, so that priority
//! and fairness ([`super::rank`]) order the runs that wait for it as they order a fleet's claims.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::oneshot;

/// Places and the waiters for them.
#[derive(Debug)]
pub(crate) struct Ranked {
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    free: usize,
    next: u64,
    waiting: BTreeMap<(i64, u64), oneshot::Sender<()>>,
}

/// A place, given back when dropped.
#[derive(Debug)]
pub(crate) struct Place {
    of: Arc<Ranked>,
}

impl Drop for Place {
    fn drop(&mut self) {
        self.of.give_back();
    }
}

impl Ranked {
    /// A semaphore of `places` places.
    pub fn new(places: usize) -> Arc<Ranked> {
        Arc::new(Ranked {
            state: Mutex::new(State {
                free: places,
                next: 0,
                waiting: BTreeMap::new(),
            }),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A place, for a waiter of rank `rank`: at once when one is free and nobody waits, else
    /// when every waiter of a smaller rank (or the same rank, before it) had one.
    pub async fn acquire(self: &Arc<Ranked>, rank: i64) -> Place {
        let (ticket, receiver) = {
            let mut state = self.lock();
            if state.free > 0 && state.waiting.is_empty() {
                state.free -= 1;
                return Place {
                    of: Arc::clone(self),
                };
            }
            let (sender, receiver) = oneshot::channel();
            let ticket = (rank, state.next);
            state.next += 1;
            state.waiting.insert(ticket, sender);
            (ticket, receiver)
        };
        let mut waiter = Waiter {
            of: self,
            ticket,
            receiver,
            served: false,
        };
        // The sender is kept in the map until a place is handed over: it cannot be dropped.
        let _ = (&mut waiter.receiver).await;
        waiter.served = true;
        Place {
            of: Arc::clone(self),
        }
    }

    /// A place came back: to the first waiter still waiting, or free.
    fn give_back(&self) {
        let mut state = self.lock();
        while let Some((_, sender)) = state.waiting.pop_first() {
            if sender.send(()).is_ok() {
                return;
            }
        }
        state.free += 1;
    }

    /// How many wait (for tests).
    #[cfg(test)]
    pub(crate) fn waiting(&self) -> usize {
        self.lock().waiting.len()
    }
}

/// A waiter; dropped before it is done (its acquire was cancelled), it leaves the queue, or gives
/// back the place it was handed meanwhile.
struct Waiter<'a> {
    of: &'a Arc<Ranked>,
    ticket: (i64, u64),
    receiver: oneshot::Receiver<()>,
    /// It was handed its place, which the caller now holds.
    served: bool,
}

impl Drop for Waiter<'_> {
    fn drop(&mut self) {
        if self.served {
            return;
        }
        let removed = self.of.lock().waiting.remove(&self.ticket).is_some();
        if !removed && self.receiver.try_recv().is_ok() {
            self.of.give_back();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waiters_are_served_smallest_rank_first_and_a_cancelled_one_gives_its_turn_on() {
        let places = Ranked::new(1);
        let held = places.acquire(0).await;
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for rank in [30, 10, 20, 10] {
            let (mine, order) = (Arc::clone(&places), Arc::clone(&order));
            tasks.push(tokio::spawn(async move {
                let _place = mine.acquire(rank).await;
                order.lock().unwrap().push(rank);
            }));
            while places.waiting() < tasks.len() {
                tokio::task::yield_now().await;
            }
        }
        // A waiter of rank 15 that gives up leaves no hole.
        let cancelled = tokio::time::timeout(std::time::Duration::ZERO, places.acquire(15)).await;
        assert!(cancelled.is_err());
        assert_eq!(places.waiting(), 4);
        drop(held);
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(*order.lock().unwrap(), [10, 10, 20, 30]);
        // Every place came back.
        let _one = places.acquire(0).await;
    }
}
