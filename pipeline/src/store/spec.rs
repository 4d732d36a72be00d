//! Opening the stores a store spec names (`DIR` for files, `sqlite://FILE`, `postgres://...`):
//! the one parser that the CLI, the crash tests and any other tool share.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::Durability;
use super::error::{StoreError, StoreResult};
use super::file::{FileAuditLog, FileCheckpointer};
use super::secret::{is_conninfo, redact};
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
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreSpec {
    /// A directory of run files (`FileCheckpointer`, `FileAuditLog`).
    Directory(PathBuf),
    /// One SQLite database file, spelled `sqlite://FILE` (feature `sqlite`).
    Sqlite(PathBuf),
    /// A PostgreSQL database, spelled as its URL, `postgres://...` or `postgresql://...`
    /// (feature `postgres`).
    Postgres(String),
}

/// Shows a PostgreSQL spec with its password hidden (see [`redact`]).
impl std::fmt::Debug for StoreSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreSpec::Directory(dir) => f.debug_tuple("Directory").field(dir).finish(),
            StoreSpec::Sqlite(file) => f.debug_tuple("Sqlite").field(file).finish(),
            StoreSpec::Postgres(url) => f.debug_tuple("Postgres").field(&redact(url)).finish(),
        }
    }
}

impl StoreSpec {
    /// Reads `DIR`, `sqlite://FILE` or a `postgres://` URL; [`StoreError::SpecIsAFile`] when a
    /// directory spec names an existing file.
    ///
    /// Refused with [`StoreError::BadSpec`]: an empty spec, a scheme other than these (such as
    /// `sqlite:runs.db` or `mysql://..`), `sqlite://` without a path, and in-memory SQLite
    /// (`sqlite://:memory:`), which would keep nothing.
    pub fn parse(spec: &str) -> StoreResult<StoreSpec> {
        let bad = |reason: &str| StoreError::BadSpec {
            spec: redact(spec),
            reason: reason.to_owned(),
        };
        if spec.trim().is_empty() {
            return Err(bad("is empty"));
        }
        if spec.starts_with("postgres://") || spec.starts_with("postgresql://") {
            return Ok(StoreSpec::Postgres(spec.to_owned()));
        }
        // `host=... dbname=...`: PostgreSQL's key-value form, never a directory (whose name
        // would then hold the password).
        if is_conninfo(spec) {
            return Ok(StoreSpec::Postgres(spec.to_owned()));
        }
        if let Some(path) = spec.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err(bad("names no database file"));
            }
            if path.contains(":memory:") || path.contains("mode=memory") {
                return Err(bad("is an in-memory database, which keeps nothing"));
            }
            return Ok(StoreSpec::Sqlite(path.into()));
        }
        if let Some(scheme) = scheme(spec) {
            let hint = match scheme {
                "sqlite" | "postgres" | "postgresql" => {
                    format!(
                        "; did you mean `{scheme}://{}`?",
                        spec[scheme.len() + 1..].trim_start_matches('/')
                    )
                }
                _ => String::new(),
            };
            return Err(bad(&format!(
                "has the unknown scheme `{scheme}:`{}",
                redact(&hint)
            )));
        }
        if Path::new(spec).is_file() {
            return Err(StoreError::SpecIsAFile(spec.to_owned()));
        }
        Ok(StoreSpec::Directory(spec.into()))
    }

    /// Checks that the store exists, without creating anything ([`StoreError::NoStore`] with
    /// the path looked at): what a command that only reads runs does first. A PostgreSQL store is
    /// checked when it is opened.
    pub fn check_exists(&self) -> StoreResult<()> {
        let missing = |path: &Path, reason: &str| StoreError::NoStore {
            path: path.to_owned(),
            reason: reason.to_owned(),
        };
        match self {
            StoreSpec::Directory(dir) if dir.is_dir() => Ok(()),
            StoreSpec::Directory(dir) if dir.exists() => Err(missing(dir, "it is not a directory")),
            StoreSpec::Directory(dir) => Err(missing(
                dir,
                "no such directory (runs are stored \
                 where `run` was given this store)",
            )),
            StoreSpec::Sqlite(file) if file.is_file() => Ok(()),
            StoreSpec::Sqlite(file) => Err(missing(file, "no such database file")),
            StoreSpec::Postgres(_) => Ok(()),
        }
    }

    /// Checks that runs can be written here, creating a directory store (not its parents) when
    /// it is missing: [`StoreError::NoStore`] when the parent does not exist, or the place is not
    /// a directory that can be written (`/dev/null`, `/proc/self`). What `run` does first.
    pub fn check_writable(&self) -> StoreResult<()> {
        let refuse = |path: &Path, reason: String| StoreError::NoStore {
            path: path.to_owned(),
            reason,
        };
        let parent_exists = |path: &Path| {
            let parent = match path.parent() {
                Some(p) if !p.as_os_str().is_empty() => p,
                _ => Path::new("."),
            };
            match parent.is_dir() {
                true => Ok(()),
                false => Err(refuse(
                    path,
                    format!("its parent `{}` is not a directory", parent.display()),
                )),
            }
        };
        match self {
            StoreSpec::Directory(dir) => {
                if !dir.exists() {
                    parent_exists(dir)?;
                    super::fs::create_private_dir(dir)?;
                }
                if !dir.is_dir() {
                    return Err(refuse(dir, "it is not a directory".into()));
                }
                probe(dir).map_err(|e| refuse(dir, format!("cannot write in it: {e}")))
            }
            StoreSpec::Sqlite(file) if file.exists() => Ok(()),
            StoreSpec::Sqlite(file) => parent_exists(file),
            StoreSpec::Postgres(_) => Ok(()),
        }
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
    /// A directory of run files (a [`FileCheckpointer`] and a [`FileAuditLog`] on `dir`),
    /// created when the first run starts; what `--store DIR` opens on the command line.
    pub fn directory(dir: impl Into<PathBuf>) -> Stores {
        let dir = dir.into();
        Stores {
            checkpointer: Arc::new(FileCheckpointer::new(&dir)),
            audit: Arc::new(FileAuditLog::new(&dir)),
        }
    }

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
        spec: redact(url),
        feature: "postgres",
    })
}

/// The scheme of a spec shaped like a URL (`name:` with a name of two or more letters, so a
/// Windows drive `C:` is a path).
fn scheme(spec: &str) -> Option<&str> {
    let (name, _) = spec.split_once(':')?;
    let url_like = name.len() >= 2
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    url_like.then_some(name)
}

/// Creates and removes a file in `dir` (exclusively and without following links, as every store
/// file is made): whether runs can be stored there.
fn probe(dir: &Path) -> std::io::Result<()> {
    let path = dir.join(format!(
        ".pipeline-probe-{}-{}",
        std::process::id(),
        crate::store::now_ms()
    ));
    super::fs::private_options()
        .write(true)
        .create_new(true)
        .open(&path)?;
    std::fs::remove_file(&path)
}
