//! The queue of a SQLite database's joint writes (a node's record and its audit entry), which
//! [`super::joint`] commits group by group.

use tokio::sync::oneshot;

use crate::run_id::RunId;
use crate::store::epoch::Epoch;
use crate::store::error::StoreResult;

/// The joint writes waiting for the next transaction, and whether a writer is at work.
#[derive(Debug, Default)]
pub(super) struct Queue {
    pub(super) queued: Vec<Joint>,
    pub(super) writer: bool,
}

/// A record and an entry (their JSON) to write together, and who waits for them.
#[derive(Debug)]
pub(super) struct Joint {
    pub run_id: RunId,
    pub epoch: Epoch,
    pub record: String,
    pub audit_epoch: Epoch,
    pub entry: String,
    pub done: oneshot::Sender<StoreResult<()>>,
}
