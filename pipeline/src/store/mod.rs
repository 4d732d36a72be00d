//! Where runs are kept: the [`Checkpointer`] (completed node outputs, for resume) and the
//! [`AuditLog`] (every attempt, for people), with in-memory, file, SQLite and PostgreSQL backends.

mod attempts;
mod cache;
pub mod conformance;
mod epoch;
mod error;
mod file;
mod filter;
mod framing;
mod fs;
mod keys;
mod memory;
mod place;
#[cfg(feature = "postgres")]
pub(crate) mod postgres;
mod records;
mod secret;
mod shared;
mod spec;
#[cfg(feature = "sqlite")]
mod sqlite;
mod state;
mod summary;
mod traits;
mod view;
mod waits;

pub use attempts::LastAttempts;
pub(crate) use cache::MemoryCache;
pub use cache::{CacheEntry, CacheFilter, CacheHit, InputDigest, ResultCache};
pub use epoch::Epoch;
pub use error::{StoreError, StoreResult};
pub use file::{
    FileAuditLog, FileCheckpointer, Repair, StoreStats, decode_audit_file, decode_checkpoint_file,
};
pub use filter::OutputFilter;
pub use keys::{DEFAULT_KEY_RETENTION, KeyClaim, QueuePlace};
pub use memory::{InMemoryAuditLog, InMemoryCheckpointer};
pub use place::CommitPlace;
#[cfg(feature = "postgres")]
pub use postgres::{PostgresOptions, PostgresStore, SCHEMA_VERSION};
pub use records::{
    AuditDetail, AuditEntry, AuditStatus, Checkpoint, FORMAT_VERSION, NodeRecord, RunHeader,
    RunSummary, StoredNode,
};
pub(crate) use records::{cached_from, ms_after, now_ms, now_ms_signed};
pub use secret::redact;
pub use spec::{StoreSpec, Stores};
#[cfg(feature = "sqlite")]
pub use sqlite::{SqliteAuditLog, SqliteCheckpointer};
pub use state::{NodeState, RunState};
pub use traits::{AuditLog, Checkpointer, Resumed, Truncated};
pub use view::{RunOverview, RunView};
pub use waits::{RunWaits, SignalRecord, SignalSent};

/// How hard a store on disk works to make each record survive a crash.
///
/// Both settings survive a crash of the process (kill -9, panic, OOM): a record written with
/// `write(2)` is in the OS page cache and reaches the disk without the process.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Durability {
    /// `fsync` each record (and, when a run's file is created, its directory) before the engine
    /// starts any node that depends on it. Survives power loss and kernel crashes: a node that
    /// was reported completed is never run again.
    ///
    /// Exactly what is on disk when a dependent starts: the node's checkpoint record and, when
    /// the run keeps an audit trail, its audit entry. Stores that commit in one place (SQLite,
    /// PostgreSQL, and a directory's [`FileCheckpointer::audit_log`]; see [`CommitPlace`]) write
    /// the two together: one transaction for SQLite and PostgreSQL, the two files flushed at
    /// once for a directory. Records completed at the same time share one commit (one `fsync`
    /// for a group of them, across runs of one store), and each waits for the one that covers
    /// it. PostgreSQL always commits durably (`synchronous_commit` as the server sets it); this
    /// setting does not apply to it.
    #[default]
    Sync,
    /// Leave flushing to the OS. Faster; on power loss or a kernel crash the last few seconds of
    /// records may be lost, so the nodes they recorded run again on resume (a torn last record is
    /// detected and dropped, never misread).
    Async,
}

/// What to do with a run file whose damage is followed by valid records (a torn tail, damage with
/// nothing valid after it, is always dropped).
///
/// A checkpoint is a cache of completed work: dropping a suffix of it only costs running those
/// nodes again on resume. An audit trail loses the dropped attempts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Recovery {
    /// Refuse the file: an error names it and the offset of the damage. Use
    /// [`FileCheckpointer::repair`] (or the CLI's `repair RUN`) to keep the valid prefix.
    #[default]
    Strict,
    /// Keep the valid prefix before the damage and drop the rest (point-in-time recovery).
    PointInTime,
}
