//! What the viewer's handlers share: the stores, the token, the run index, and the runs this
//! server is continuing.

use std::collections::HashMap;

use tokio::sync::Mutex;

use super::index::RunIndex;
use crate::engine::{CancelHandle, EngineSettings};
use crate::run_id::RunId;
use crate::store::Stores;

pub(super) struct AppState {
    pub stores: Stores,
    pub settings: EngineSettings,
    pub token: String,
    /// Whether reading needs the token too (the server listens beyond this machine).
    pub private: bool,
    pub index: RunIndex,
    /// Runs this server is resuming, with the handle that cancels each.
    pub active: Mutex<HashMap<RunId, CancelHandle>>,
    /// Why the last action of this server on a run failed, shown on its page.
    pub notes: Mutex<HashMap<RunId, String>>,
    /// Reads of a run's stores in progress at once (a page, its status, a node's values): each
    /// takes a permit, so a burst of requests queues instead of reading everything at once.
    pub reads: tokio::sync::Semaphore,
}

/// How many reads of runs [`AppState::reads`] lets run at once.
pub(super) const READS_AT_ONCE: usize = 4;
