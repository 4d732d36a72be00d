//! Opening the stores a store spec names (`DIR` for files, `sqlite://FILE`, `postgres://...`):
//! the one parser that the CLI, the crash tests and any other tool share.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::Durability;
use super::error::{StoreError, StoreResult};
use super::file::FileCheckpointer;
use super::secret::{is_conninfo, redact};
use super::traits::{AuditLog, Checkpointer};

/// A checkpointer and an audit log that keep their runs in the same place: what a pipeline
/// started from the registry or the command line runs with.
///
/// ```
/// use pipeline::store::Stores;
///
/// let dir = tempfile::tempdir()?;
/// let stores = Stores::open(dir.path())?;
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

/// The spec as it is spelt, with a PostgreSQL password hidden (see [`redact`]).
///
/// ```
/// use pipeline::store::StoreSpec;
///
/// let spec = StoreSpec::parse("postgres://ops:hunter2@db/runs")?;
/// assert_eq!(spec.to_string(), "postgres://ops:***@db/runs");
/// assert_eq!(StoreSpec::parse("sqlite://runs.db")?.to_string(), "sqlite://runs.db");
/// # Ok::<(), pipeline::StoreError>(())
/// ```
impl std::fmt::Display for StoreSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreSpec::Directory(dir) => write!(f, "{}", dir.display()),
            StoreSpec::Sqlite(file) => write!(f, "sqlite://{}", file.display()),
            StoreSpec::Postgres(url) => f.write_str(&redact(url)),
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
            StoreSpec::Directory(dir) => {
                let checkpointer = FileCheckpointer::new(dir).durability(durability);
                let audit = checkpointer.audit_log();
                Ok(Stores {
                    checkpointer: Arc::new(checkpointer),
                    audit: Arc::new(audit),
                })
            }
            StoreSpec::Sqlite(path) => open_sqlite(path, durability),
            StoreSpec::Postgres(url) => open_postgres(url),
        }
    }
}

impl Stores {
    /// Opens the stores `spec` names, with [`Durability::Sync`]: a spec as text (a `&str` or
    /// `String`, read by [`StoreSpec::parse`]), a path (always a directory of run files), or a
    /// [`StoreSpec`]. For another durability, open the spec itself: [`StoreSpec::open`].
    /// - `sqlite://FILE`: one SQLite database (feature `sqlite`), created if missing;
    /// - `postgres://...`: a PostgreSQL database (feature `postgres`), its schema created on
    ///   first use (PostgreSQL makes every commit durable: `durability` does not apply);
    /// - anything else: a directory of run files, created when the first run starts.
    ///
    /// ```
    /// use pipeline::store::{Durability, StoreSpec, Stores};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let stores = Stores::open(dir.path())?; // a path: a directory store
    /// assert!(Stores::open("sqlite://").is_err()); // text is parsed: this names no file
    /// let stores = StoreSpec::parse("./runs")?.open(Durability::Async)?;
    /// # let _ = stores;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open<S>(spec: S) -> StoreResult<Stores>
    where
        S: TryInto<StoreSpec>,
        StoreError: From<S::Error>,
    {
        spec.try_into()?.open(Durability::Sync)
    }
}

impl TryFrom<&str> for StoreSpec {
    type Error = StoreError;

    /// [`StoreSpec::parse`].
    fn try_from(spec: &str) -> StoreResult<StoreSpec> {
        StoreSpec::parse(spec)
    }
}

impl TryFrom<String> for StoreSpec {
    type Error = StoreError;

    /// [`StoreSpec::parse`].
    fn try_from(spec: String) -> StoreResult<StoreSpec> {
        StoreSpec::parse(&spec)
    }
}

impl TryFrom<&String> for StoreSpec {
    type Error = StoreError;

    /// [`StoreSpec::parse`].
    fn try_from(spec: &String) -> StoreResult<StoreSpec> {
        StoreSpec::parse(spec)
    }
}

/// A path is a directory of run files, whatever its name looks like.
impl From<&Path> for StoreSpec {
    fn from(dir: &Path) -> StoreSpec {
        StoreSpec::Directory(dir.to_owned())
    }
}

/// A path is a directory of run files, whatever its name looks like.
impl From<PathBuf> for StoreSpec {
    fn from(dir: PathBuf) -> StoreSpec {
        StoreSpec::Directory(dir)
    }
}

/// A path is a directory of run files, whatever its name looks like.
impl From<&PathBuf> for StoreSpec {
    fn from(dir: &PathBuf) -> StoreSpec {
        StoreSpec::Directory(dir.clone())
    }
}

impl From<std::convert::Infallible> for StoreError {
    fn from(never: std::convert::Infallible) -> StoreError {
        match never {}
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
