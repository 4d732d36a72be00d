//! Stores in one SQLite database (WAL mode, one transaction per record), so that listing runs
//! is a query instead of a directory scan: the database ([`database`]) and the two trait
//! adapters over it.

mod audit;
mod cache;
mod checkpointer;
mod database;
mod joint;
mod keys;
mod locks;
mod queue;
mod waits;

pub use audit::SqliteAuditLog;
pub use checkpointer::SqliteCheckpointer;
