//! Node limits in one process ([`NodeOptions::limit`](crate::NodeOptions::limit)): an execution
//! of a limited node holds a permit of one semaphore per pipeline and node, shared by every
//! engine of the process, so that the limit holds across all their runs. Permits are handed out
//! in the order they were asked for (tokio's semaphore is fair). A fleet applies the same limit
//! across its workers when it claims (`fleet::queue`).

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

type Key = (Arc<str>, Arc<str>);

static LIMITS: LazyLock<Mutex<HashMap<Key, Arc<Semaphore>>>> = LazyLock::new(Mutex::default);

/// A permit to run node `node` of pipeline `pipeline`, of which at most `limit` run at once;
/// waits for one when all are taken. The first limit asked for a node is the one kept. (`None`
/// only if the semaphore were closed, which it never is.)
pub(crate) async fn permit(
    pipeline: &Arc<str>,
    node: &Arc<str>,
    limit: u32,
) -> Option<OwnedSemaphorePermit> {
    let semaphore = {
        let mut limits = LIMITS.lock().unwrap_or_else(PoisonError::into_inner);
        let key = (Arc::clone(pipeline), Arc::clone(node));
        Arc::clone(
            limits
                .entry(key)
                .or_insert_with(|| Arc::new(Semaphore::new(limit.max(1) as usize))),
        )
    };
    semaphore.acquire_owned().await.ok()
}
