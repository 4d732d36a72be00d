//! Stores that keep one append-only file per run in a directory: the log writer ([`log`]), the
//! decoders of whole files ([`decode`]), and the two trait adapters over them.

mod audit;
mod cache;
mod checkpointer;
mod decode;
mod delete;
mod group;
mod keys;
mod log;
mod stream;
mod waits;

pub use audit::FileAuditLog;
pub use checkpointer::FileCheckpointer;
pub use decode::{decode_audit_file, decode_checkpoint_file};
pub use log::{Repair, StoreStats};
