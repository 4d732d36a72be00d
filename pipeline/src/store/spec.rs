//! Opening the stores a store spec names (`DIR` for files, `sqlite://FILE`, `postgres://...`):
//! the one parser that the CLI, the crash tests and any other tool share.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::Durability;
use super::error::{StoreError, StoreResult};
use super::file::{FileAuditLog, FileCheckpointer};
use super::traits::{AuditLog, Checkpointer};

/// A checkpointer and an audit log that keep their runs in the same place: what a pipeline
/// started from the registry or the command line runs with.
///
/// ```
/// use pipeline::store::Stores;
///
/// let dir = tempfile::tempdir()?;
/// let stores = Stores::open(&dir.path().display().to_string())?;
/// # let _ = stores;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Stores {
    /// Where completed nodes are checkpointed.
    pub checkpointer: Arc<dyn Checkpointer>,
    /// Where attempts and run summaries are recorded.
    pub audit: Arc<dyn AuditLog>,
}

impl std::fmt::Debug for Stores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stores").finish_non_exhaustive()
    }
}

/// Where a store spec says runs are kept.
///
/// ```
/// use pipeline::store::StoreSpec;
///
/// assert!(matches!(StoreSpec::parse("sqlite://runs.db")?, StoreSpec::Sqlite(_)));
/// assert!(matches!(StoreSpec::parse("./.pipeline")?, StoreSpec::Directory(_)));
/// # Ok::<(), pipeline::StoreError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreSpec {
    /// A directory of run files (`FileCheckpointer`, `FileAuditLog`).
    Directory(PathBuf),
    /// One SQLite database file, spelled `sqlite://FILE` (feature `sqlite`).
    Sqlite(PathBuf),
    /// A PostgreSQL database, spelled as its URL, `postgres://...` or `postgresql://...`
    /// (feature `postgres`).
    Postgres(String),
}

impl StoreSpec {
    /// Reads `DIR`, `sqlite://FILE` or a `postgres://` URL; [`StoreError::SpecIsAFile`] when a
    /// directory spec names an existing file.
    pub fn parse(spec: &str) -> StoreResult<StoreSpec> {
        if spec.starts_with("postgres://") || spec.starts_with("postgresql://") {
            return Ok(StoreSpec::Postgres(spec.to_owned()));
        }
        if let Some(path) = spec.strip_prefix("sqlite://") {
            return Ok(StoreSpec::Sqlite(path.into()));
        }
        if Path::new(spec).is_file() {
            return Err(StoreError::SpecIsAFile(spec.to_owned()));
        }
        Ok(StoreSpec::Directory(spec.into()))
    }

    /// Opens the stores this spec names; [`StoreError::FeatureDisabled`] for SQLite in a build
    /// without the `sqlite` feature.
    pub fn open(&self, durability: Durability) -> StoreResult<Stores> {
        match self {
            StoreSpec::Directory(dir) => Ok(Stores {
                checkpointer: Arc::new(FileCheckpointer::new(dir).durability(durability)),
                audit: Arc::new(FileAuditLog::new(dir).durability(durability)),
            }),
            StoreSpec::Sqlite(path) => open_sqlite(path, durability),
            StoreSpec::Postgres(url) => open_postgres(url),
        }
    }
}

impl Stores {
    /// Opens the stores `spec` names (see [`StoreSpec`]), with [`Durability::Sync`]:
    /// - `sqlite://FILE`: one SQLite database (feature `sqlite`), created if missing;
    /// - `postgres://...`: a PostgreSQL database (feature `postgres`), its schema created on
    ///   first use (PostgreSQL makes every commit durable: `durability` does not apply);
    /// - anything else: a directory of run files, created when the first run starts.
    pub fn open(spec: &str) -> StoreResult<Stores> {
        Stores::open_with(spec, Durability::Sync)
    }

    /// [`open`](Stores::open) with the given durability.
    pub fn open_with(spec: &str, durability: Durability) -> StoreResult<Stores> {
        StoreSpec::parse(spec)?.open(durability)
    }
}

#[cfg(feature = "sqlite")]
fn open_sqlite(path: &Path, durability: Durability) -> StoreResult<Stores> {
    let checkpointer = super::sqlite::SqliteCheckpointer::open_with(path, durability)?;
    let audit = checkpointer.audit_log();
    Ok(Stores {
        checkpointer: Arc::new(checkpointer),
        audit: Arc::new(audit),
    })
}

#[cfg(not(feature = "sqlite"))]
fn open_sqlite(path: &Path, _durability: Durability) -> StoreResult<Stores> {
    Err(StoreError::FeatureDisabled {
        spec: format!("sqlite://{}", path.display()),
        feature: "sqlite",
    })
}

#[cfg(feature = "postgres")]
fn open_postgres(url: &str) -> StoreResult<Stores> {
    let store = super::postgres::PostgresStore::open(url)?;
    Ok(Stores {
        checkpointer: Arc::new(store.clone()),
        audit: Arc::new(store),
    })
}

#[cfg(not(feature = "postgres"))]
fn open_postgres(url: &str) -> StoreResult<Stores> {
    Err(StoreError::FeatureDisabled {
        spec: url.to_owned(),
        feature: "postgres",
    })
}
