//! Opening the stores a store spec names (`DIR` for files, `sqlite://FILE`): the one parser that
//! the CLI, the crash tests and any other tool share.

use std::path::Path;
use std::sync::Arc;

use super::Durability;
use super::error::StoreError;
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

impl Stores {
    /// Opens the stores `spec` names, with [`Durability::Sync`]:
    /// - `sqlite://FILE`: one SQLite database (feature `sqlite`), created if missing;
    /// - anything else: a directory of run files, created when the first run starts.
    ///
    /// [`StoreError::SpecIsAFile`] when a directory spec names an existing file, and
    /// [`StoreError::FeatureDisabled`] for `sqlite://` in a build without the feature.
    pub fn open(spec: &str) -> Result<Stores, StoreError> {
        Stores::open_with(spec, Durability::Sync)
    }

    /// [`open`](Stores::open) with the given durability.
    pub fn open_with(spec: &str, durability: Durability) -> Result<Stores, StoreError> {
        if let Some(path) = spec.strip_prefix("sqlite://") {
            return open_sqlite(spec, path, durability);
        }
        if Path::new(spec).is_file() {
            return Err(StoreError::SpecIsAFile(spec.to_owned()));
        }
        Ok(Stores {
            checkpointer: Arc::new(FileCheckpointer::new(spec).durability(durability)),
            audit: Arc::new(FileAuditLog::new(spec).durability(durability)),
        })
    }
}

#[cfg(feature = "sqlite")]
fn open_sqlite(_spec: &str, path: &str, durability: Durability) -> Result<Stores, StoreError> {
    let checkpointer = super::sqlite::SqliteCheckpointer::open_with(path, durability)?;
    let audit = checkpointer.audit_log();
    Ok(Stores {
        checkpointer: Arc::new(checkpointer),
        audit: Arc::new(audit),
    })
}

#[cfg(not(feature = "sqlite"))]
fn open_sqlite(spec: &str, _path: &str, _durability: Durability) -> Result<Stores, StoreError> {
    Err(StoreError::FeatureDisabled {
        spec: spec.to_owned(),
        feature: "sqlite",
    })
}
