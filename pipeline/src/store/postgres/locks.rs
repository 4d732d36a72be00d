//! Which process writes a run: a session-level advisory lock per (store, run), held on one
//! connection per [`PostgresStore`](super::PostgresStore). The server drops a session's locks
//! when its connection ends, so a killed process releases its runs, as an OS file lock does.
//! Within the process, a table of held runs keeps two engines on one store apart (advisory
//! locks are re-entrant within a session).

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_postgres::{Client, Config, NoTls, Statement};

use super::driver::DriverError;
use crate::run_id::RunId;
use crate::store::epoch::Epoch;
use crate::store::error::{StoreError, StoreResult};
use crate::store::shared::lock;

/// Which of the store's logs a lock is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) enum Kind {
    Checkpoint,
    Audit,
}

impl Kind {
    pub(super) fn key(self, run_id: &RunId) -> String {
        match self {
            Kind::Checkpoint => format!("pipeline:checkpoint:{run_id}"),
            Kind::Audit => format!("pipeline:audit:{run_id}"),
        }
    }
}

/// `None` while a run is being taken, then the epoch it was taken at.
type Held = HashMap<(Kind, RunId), Option<Epoch>>;

pub(super) struct Locks {
    config: Config,
    target: String,
    wait: Duration,
    session: Arc<tokio::sync::Mutex<Option<Session>>>,
    held: Mutex<Held>,
}

/// The lock session's connection, with its two statements prepared once.
struct Session {
    client: Client,
    lock: Statement,
    unlock: Statement,
}

impl Locks {
    pub fn new(config: Config, target: String, wait: Duration) -> Locks {
        Locks {
            config,
            target,
            wait,
            session: Arc::default(),
            held: Mutex::default(),
        }
    }

    fn error(&self, op: &'static str) -> impl FnOnce(tokio_postgres::Error) -> StoreError + '_ {
        move |source| StoreError::Postgres {
            op,
            target: self.target.clone(),
            source: DriverError::boxed(source),
        }
    }

    /// Tries once to take the server lock on `key` on the lock session (reconnecting it if it
    /// closed); `false` when another session holds it.
    async fn try_lock(&self, key: &str) -> StoreResult<bool> {
        let mut session = self.session.lock().await;
        let session = match session.as_ref().filter(|s| !s.client.is_closed()) {
            Some(session) => session,
            None => {
                let (client, connection) = self
                    .config
                    .connect(NoTls)
                    .await
                    .map_err(self.error("connect to"))?;
                tokio::spawn(async move {
                    if let Err(e) = connection.await {
                        tracing::warn!(error = %e, "the PostgreSQL lock session ended");
                    }
                });
                let lock = client
                    .prepare("SELECT pg_try_advisory_lock(hashtextextended($1, 0))")
                    .await
                    .map_err(self.error("lock a run in"))?;
                let unlock = client
                    .prepare("SELECT pg_advisory_unlock(hashtextextended($1, 0))")
                    .await
                    .map_err(self.error("lock a run in"))?;
                session.insert(Session {
                    client,
                    lock,
                    unlock,
                })
            }
        };
        let row = session
            .client
            .query_one(&session.lock, &[&key])
            .await
            .map_err(self.error("lock a run in"))?;
        Ok(row.get(0))
    }

    /// Takes the server lock on `key`, trying again with growing pauses for at most the
    /// configured wait (a run its last holder released a moment ago is being unlocked on a
    /// task); `false` when another session still holds it then.
    async fn lock(&self, key: &str) -> StoreResult<bool> {
        let deadline = tokio::time::Instant::now() + self.wait;
        let mut pause = Duration::from_millis(2);
        loop {
            if self.try_lock(key).await? {
                return Ok(true);
            }
            if tokio::time::Instant::now() + pause > deadline {
                return Ok(false);
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(100));
        }
    }

    /// Runs `take` holding `(kind, run_id)`, and keeps it at the epoch `take` returns (none when
    /// it returns `None`); [`StoreError::Locked`] when this or another process holds the run.
    pub async fn take<T>(
        &self,
        kind: Kind,
        run_id: &RunId,
        take: impl Future<Output = StoreResult<Option<(T, Epoch)>>>,
    ) -> StoreResult<Option<(T, Epoch)>> {
        let entry = (kind, run_id.clone());
        {
            let mut held = lock(&self.held);
            if held.contains_key(&entry) {
                return Err(StoreError::Locked(run_id.clone()));
            }
            held.insert(entry.clone(), None);
        }
        // Until the run is taken, giving up (an error, a refusal, or this future dropped midway)
        // forgets the entry and releases the server lock, which may have been taken.
        let mut taking = Taking {
            locks: self,
            entry: Some(entry),
            key: kind.key(run_id),
            server_lock: true, // not known until `lock` answers
        };
        let taken = match self.lock(&taking.key).await {
            Ok(true) => take.await,
            Ok(false) => {
                taking.server_lock = false;
                Err(StoreError::Locked(run_id.clone()))
            }
            Err(e) => Err(e),
        };
        if let Ok(Some((_, epoch))) = &taken
            && let Some(entry) = taking.entry.take()
        {
            lock(&self.held).insert(entry, Some(*epoch));
        }
        taken
    }

    /// Releases `(kind, run_id)` if it is held at `epoch`.
    pub fn release(&self, kind: Kind, run_id: &RunId, epoch: Epoch) {
        let entry = (kind, run_id.clone());
        let mut held = lock(&self.held);
        if held.get(&entry) == Some(&Some(epoch)) {
            held.remove(&entry);
            drop(held);
            self.unlock(kind.key(run_id));
        }
    }

    /// Releases the server lock on `key`, on a task: `release_run` is called from `Drop`.
    /// Without a runtime the lock is released when the session's connection closes.
    fn unlock(&self, key: String) {
        let session = Arc::clone(&self.session);
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        runtime.spawn(async move {
            let session = session.lock().await;
            if let Some(session) = session.as_ref().filter(|s| !s.client.is_closed())
                && let Err(e) = session.client.execute(&session.unlock, &[&key]).await
            {
                tracing::warn!(error = %e, key, "cannot release a run's PostgreSQL lock");
            }
        });
    }
}

/// A run being taken: dropped before it is taken, it undoes what taking did (the server lock
/// too, unless the server refused it: unlocking a lock another take of this session holds would
/// release that one).
struct Taking<'a> {
    locks: &'a Locks,
    entry: Option<(Kind, RunId)>,
    key: String,
    server_lock: bool,
}

impl Drop for Taking<'_> {
    fn drop(&mut self) {
        if let Some(entry) = self.entry.take() {
            lock(&self.locks.held).remove(&entry);
            if self.server_lock {
                self.locks.unlock(std::mem::take(&mut self.key));
            }
        }
    }
}
