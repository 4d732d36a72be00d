//! [`CommitPlace`]: whether a checkpointer and an audit log can write a node's record and its
//! audit entry in one commit.

use std::sync::Arc;

/// Where a store commits: a [`Checkpointer`](super::Checkpointer) and an [`AuditLog`](super::AuditLog) that give the same place keep
/// a run's records and its trail in one database, and the engine then writes a completed node's
/// record and its audit entry together, in one commit (one transaction, one `fsync`), with
/// [`Checkpointer::save_with_entry`](super::Checkpointer::save_with_entry). The built-in SQLite and PostgreSQL stores do, each pair
/// opened together ([`Stores::open`](super::Stores::open)).
///
/// A place is the address of a value both hold (see [`CommitPlace::of`]): it names the same
/// place for as long as they hold it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CommitPlace(usize);

impl CommitPlace {
    /// The place named by the value `shared` points to.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use pipeline::store::CommitPlace;
    ///
    /// let database = Arc::new("one database");
    /// let (a, b) = (Arc::clone(&database), Arc::new("another"));
    /// assert_eq!(CommitPlace::of(&database), CommitPlace::of(&a));
    /// assert_ne!(CommitPlace::of(&database), CommitPlace::of(&b));
    /// ```
    pub fn of<T: ?Sized>(shared: &Arc<T>) -> CommitPlace {
        CommitPlace(Arc::as_ptr(shared).cast::<()>() as usize)
    }
}
