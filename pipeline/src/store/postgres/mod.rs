//! [`PostgresStore`]: the checkpointer, audit log and run summaries in one PostgreSQL database,
//! shared by every process that connects to it (feature `postgres`).
//!
//! - [`schema`]: versioned migrations embedded in the build and recorded in the database.
//! - [`locks`]: which process writes a run, as session-level advisory locks.
//! - [`checkpointer`] and [`audit`]: the two store traits over the tables.
//! - [`driver`]: errors that say what the server said.

pub(crate) mod audit;
mod cache;
mod checkpointer;
mod driver;
pub(crate) mod fleet;
mod joint;
mod keys;
mod listen;
mod locks;
mod records;
mod schema;
mod waits;

pub(crate) use joint::Prepare;
pub(crate) use listen::Listener;

use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime};
use tokio::sync::OnceCell;
use tokio_postgres::NoTls;

use crate::store::error::{StoreError, StoreResult};
use driver::DriverError;
use locks::Locks;
pub use schema::SCHEMA_VERSION;

/// How a [`PostgresStore`] connects: pool size and timeouts.
///
/// ```
/// use std::time::Duration;
/// use pipeline::store::PostgresOptions;
///
/// let options = PostgresOptions::default()
///     .max_connections(8)
///     .connect_timeout(Duration::from_secs(5));
/// # let _ = options;
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct PostgresOptions {
    /// The most connections the pool opens (default 16). A fleet worker on the store opens two
    /// more of its own: one to `LISTEN` on, one to claim nodes on.
    pub max_connections: usize,
    /// How long opening one connection may take (default 10 s).
    pub connect_timeout: Duration,
    /// How long an operation waits for a free connection of the pool (default 30 s).
    pub acquire_timeout: Duration,
    /// How long taking a run waits for another process to release it before it reports
    /// [`StoreError::Locked`] (default 1 s): a run released a moment ago is taken, not refused.
    pub lock_wait: Duration,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        PostgresOptions {
            max_connections: 16,
            connect_timeout: Duration::from_secs(10),
            acquire_timeout: Duration::from_secs(30),
            lock_wait: Duration::from_secs(1),
        }
    }
}

impl PostgresOptions {
    /// Sets [`max_connections`](PostgresOptions::max_connections).
    pub fn max_connections(mut self, n: usize) -> Self {
        self.max_connections = n.max(1);
        self
    }

    /// Sets [`connect_timeout`](PostgresOptions::connect_timeout).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Sets [`acquire_timeout`](PostgresOptions::acquire_timeout).
    pub fn acquire_timeout(mut self, timeout: Duration) -> Self {
        self.acquire_timeout = timeout;
        self
    }

    /// Sets [`lock_wait`](PostgresOptions::lock_wait).
    pub fn lock_wait(mut self, wait: Duration) -> Self {
        self.lock_wait = wait;
        self
    }
}

/// A [`Checkpointer`](crate::store::Checkpointer) and [`AuditLog`](crate::store::AuditLog)
/// (with run summaries) in one PostgreSQL database: every process connected to it sees the same
/// runs, and a run taken by one process is [`Locked`](StoreError::Locked) for the others until
/// it is released or that process's connection ends (a killed process releases its runs).
///
/// Opening connects nothing: the first operation connects, and creates or migrates the schema
/// (see [`SCHEMA_VERSION`]); call [`migrate`](PostgresStore::migrate) to do that up front.
/// Clones share one connection pool. A pooled connection is driven by a task on the tokio
/// runtime that opened it: use a store within one runtime (open another store for another
/// runtime), or a runtime that stalls stalls the connections it opened for everyone.
///
/// ```no_run
/// # async fn demo() -> Result<(), pipeline::StoreError> {
/// use pipeline::store::PostgresStore;
///
/// let store = PostgresStore::open("postgres://app@db.internal/pipelines")?;
/// store.migrate().await?; // fail now, not at the first run, if the server is unreachable
/// // engine.checkpointer(store.clone()).audit_log(store)
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct PostgresStore {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    config: tokio_postgres::Config,
    /// Where the store connects, without the password, for messages.
    target: String,
    migrated: OnceCell<()>,
    locks: Locks,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// A store on the database `url` names (`postgres://user@host:port/db?options`, or the
    /// key-value form `host=... dbname=...`), with [`PostgresOptions::default`].
    pub fn open(url: &str) -> StoreResult<PostgresStore> {
        PostgresStore::open_with(url, PostgresOptions::default())
    }

    /// A store on the database `url` names, with `options`.
    pub fn open_with(url: &str, options: PostgresOptions) -> StoreResult<PostgresStore> {
        let mut config: tokio_postgres::Config =
            url.parse().map_err(|source| StoreError::Postgres {
                op: "parse the URL of",
                target: crate::store::redact(url),
                source: DriverError::boxed(source),
            })?;
        config.connect_timeout(options.connect_timeout);
        if config.get_application_name().is_none() {
            config.application_name("pipeline");
        }
        let target = describe(&config);
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(options.max_connections)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(options.acquire_timeout))
            .create_timeout(Some(options.connect_timeout))
            .build()
            .map_err(|source| StoreError::Postgres {
                op: "build a connection pool for",
                target: target.clone(),
                source: DriverError::boxed(source),
            })?;
        let locks = Locks::new(config.clone(), target.clone(), options.lock_wait);
        Ok(PostgresStore {
            inner: Arc::new(Inner {
                pool,
                config,
                target,
                migrated: OnceCell::new(),
                locks,
            }),
        })
    }

    /// Connects, and creates or migrates the schema to this build's [`SCHEMA_VERSION`];
    /// [`StoreError::SchemaTooNew`] when a newer build already migrated the database further.
    /// Every operation does this first, once per store.
    pub async fn migrate(&self) -> StoreResult<()> {
        self.inner
            .migrated
            .get_or_try_init(|| async {
                let mut client = self.connection().await?;
                schema::migrate(&mut client, &self.inner.target).await
            })
            .await
            .map(|_| ())
    }

    /// Where the store connects (user, host, port and database; never the password).
    pub fn target(&self) -> &str {
        &self.inner.target
    }

    /// How to open a connection of its own (to `LISTEN` on it).
    pub(crate) fn config(&self) -> &tokio_postgres::Config {
        &self.inner.config
    }

    /// A pooled connection to a migrated database.
    pub(crate) async fn client(&self) -> StoreResult<Object> {
        self.migrate().await?;
        self.connection().await
    }

    async fn connection(&self) -> StoreResult<Object> {
        self.inner
            .pool
            .get()
            .await
            .map_err(|source| StoreError::Postgres {
                op: "connect to",
                target: self.inner.target.clone(),
                source: DriverError::boxed(source),
            })
    }

    /// The typed error of operation `op`.
    pub(crate) fn error(
        &self,
        op: &'static str,
    ) -> impl FnOnce(tokio_postgres::Error) -> StoreError {
        let target = self.inner.target.clone();
        move |source| StoreError::Postgres {
            op,
            target,
            source: DriverError::boxed(source),
        }
    }

    /// The error for a stored value that does not decode.
    pub(crate) fn corrupt(
        &self,
        table: &'static str,
        row: i64,
        what: &'static str,
        reason: impl std::fmt::Display,
    ) -> StoreError {
        StoreError::CorruptRow {
            database: self.inner.target.clone().into(),
            table,
            row,
            what,
            reason: reason.to_string(),
        }
    }
}

/// `user@host:port/db`, for messages: what the store connects to, never the password.
fn describe(config: &tokio_postgres::Config) -> String {
    use tokio_postgres::config::Host;
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(host)) => host.clone(),
        Some(Host::Unix(path)) => path.display().to_string(),
        None => "localhost".to_owned(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let user = config.get_user().unwrap_or("(default user)");
    let db = config.get_dbname().unwrap_or(user);
    format!("postgres://{user}@{host}:{port}/{db}")
}
