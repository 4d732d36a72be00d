//! [`StoreError`]: everything a store can report, typed, with its source chained.

use std::path::PathBuf;

use super::epoch::Epoch;
use crate::run_id::RunId;

/// The result of a store operation.
pub type StoreResult<T> = Result<T, StoreError>;

/// Why a store could not do what was asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A file or directory operation failed.
    #[error("cannot {op} `{}`: {source}", path.display())]
    Io {
        /// What was being done ("create", "append to", "read", ...).
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The store's directory can be written by other users, who could plant files or links in it.
    #[error(
        "the store directory `{}` is writable by other users (mode {mode:04o}); make it \
         owner-only with `chmod 700 {}`, or use another directory",
        path.display(),
        path.display()
    )]
    InsecureDirectory {
        /// The directory.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// A record failed its checksum or could not be decoded.
    #[error("`{}` is corrupt at byte offset {offset}: {reason}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Where the bad record starts.
        offset: u64,
        /// What is wrong with it.
        reason: String,
    },
    /// The file was written by a newer (or unknown) format version.
    #[error(
        "`{}` has format version {found}, but this build reads only version {supported}; \
         use the pipeline version that wrote it",
        path.display()
    )]
    UnsupportedVersion {
        /// The file.
        path: PathBuf,
        /// The version in the file.
        found: u32,
        /// The version this build reads and writes.
        supported: u32,
    },
    /// The file does not start with this store's magic bytes.
    #[error("`{}` is not a pipeline {kind} file (wrong magic bytes)", path.display())]
    NotAStoreFile {
        /// The file.
        path: PathBuf,
        /// "checkpoint" or "audit".
        kind: &'static str,
    },
    /// A row of a database store could not be decoded.
    #[error(
        "`{}` is corrupt: the {what} in row {row} of table `{table}` cannot be decoded: {reason}",
        database.display()
    )]
    CorruptRow {
        /// The database file.
        database: PathBuf,
        /// The table.
        table: &'static str,
        /// The row's id.
        row: i64,
        /// What the row holds ("node record", "run header", ...).
        what: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A SQLite operation failed.
    #[cfg(feature = "sqlite")]
    #[error("cannot {op} the SQLite database `{}`: {source}", path.display())]
    Sqlite {
        /// What was being done ("open", "read", "write to", ...).
        op: &'static str,
        /// The database file.
        path: PathBuf,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// A PostgreSQL operation failed (feature `postgres`): the server is unreachable, refused
    /// the connection, or answered with an error.
    #[error("cannot {op} the PostgreSQL database {target}: {source}")]
    Postgres {
        /// What was being done ("connect to", "read", "write to", ...).
        op: &'static str,
        /// Where the store connects (never the password).
        target: String,
        /// The driver's or the pool's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The database was migrated by a newer build of the program than this one.
    #[error(
        "the PostgreSQL database {target} has schema version {found}, but this build knows \
         versions up to {supported}; run a build at least as new as the one that migrated it"
    )]
    SchemaTooNew {
        /// Where the store connects.
        target: String,
        /// The database's schema version.
        found: i64,
        /// The newest version this build knows.
        supported: i64,
    },
    /// A store spec (see [`Stores::open`](crate::store::Stores::open)) names a file where a
    /// directory or a `sqlite://` URL was expected.
    #[error("the store `{0}` is a file; give a directory or sqlite://FILE")]
    SpecIsAFile(String),
    /// A store spec that names no store this build can open (an unknown scheme, an empty path,
    /// an in-memory SQLite database that would keep nothing).
    #[error(
        "the store `{spec}` {reason}; give a directory, sqlite://FILE or postgres://USER@HOST/DB"
    )]
    BadSpec {
        /// The spec as given.
        spec: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A store that should exist does not: a command that only reads runs never creates one, and
    /// a new directory or database is made only inside a directory that exists.
    #[error("no store at `{}`: {reason}", path.display())]
    NoStore {
        /// Where it was looked for.
        path: std::path::PathBuf,
        /// Why it is not there, or cannot be made there.
        reason: String,
    },
    /// A store spec needs a cargo feature of `pipeline` this program was built without.
    #[error(
        "the store `{spec}` needs the `{feature}` feature of `pipeline`, which this program was \
         built without; use a directory store"
    )]
    FeatureDisabled {
        /// The spec.
        spec: String,
        /// The missing feature.
        feature: &'static str,
    },
    /// A run with this id already exists in the store.
    #[error("run `{0}` already exists")]
    RunExists(RunId),
    /// Another engine (in this process or another) is writing this run.
    #[error("run `{0}` is in use by another engine (in this or another process)")]
    Locked(RunId),
    /// A write carried an epoch that is not the run's current one: the writer lost the run (its
    /// future was dropped, and another engine resumed it). The write was refused.
    #[error(
        "run `{run_id}` was taken over: this writer holds epoch {epoch}, the run {}",
        match current {
            Some(current) => format!("is at epoch {current}"),
            None => "is no longer held in this process".to_owned(),
        }
    )]
    Fenced {
        /// The run.
        run_id: RunId,
        /// The epoch the refused write carried.
        epoch: Epoch,
        /// The run's current epoch, when the store knows it.
        current: Option<Epoch>,
    },
    /// A signal for a wait that has received another one: a wait takes one signal.
    #[error("run `{run_id}`: the wait `{wait}` has a signal already ({reason}); it holds {stored}")]
    SignalConflict {
        /// The run.
        run_id: RunId,
        /// The wait binding.
        wait: String,
        /// Why the new signal is refused.
        reason: &'static str,
        /// The payload stored first.
        stored: String,
    },
    /// The store cannot keep signals (a custom store that does not implement them).
    #[error("this store does not keep signals, so runs with waits cannot use it")]
    SignalsUnsupported,
    /// The store cannot delete runs (a custom store that does not implement it, or PostgreSQL,
    /// where a run is deleted with SQL: `DELETE FROM pipeline_runs WHERE run_id = ...`).
    #[error("this store cannot delete runs")]
    DeleteUnsupported,
    /// The store keeps no idempotency keys (a custom store that does not implement
    /// [`Checkpointer::claim_key`](super::Checkpointer::claim_key)).
    #[error("this store keeps no idempotency keys")]
    KeysUnsupported,
    /// The store cannot write a node's record and its audit entry in one commit (a custom store
    /// that gives no [`Checkpointer::commit_place`](super::Checkpointer::commit_place)).
    #[error("this store cannot write a record and an audit entry in one commit")]
    JointUnsupported,
    /// A run file names another run in its header: a file copied (or renamed) from another run,
    /// which would otherwise be resumed with that run's inputs.
    #[error(
        "`{path}` holds run `{found}`, not run `{expected}`: it was copied or renamed from another \
         run; move it back to `{found}`'s name, or delete it"
    )]
    ForeignRun {
        /// The file.
        path: PathBuf,
        /// The run its name says.
        expected: RunId,
        /// The run its header says.
        found: RunId,
    },
    /// The run was never created in this store.
    #[error("run `{0}` does not exist")]
    UnknownRun(RunId),
    /// A record could not be serialized.
    #[error("cannot encode a record: {0}")]
    Encode(#[source] serde_json::Error),
    /// An error from a custom backend.
    #[error(transparent)]
    Backend(Box<dyn std::error::Error + Send + Sync>),
}
