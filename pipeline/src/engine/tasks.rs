//! Where the scheduler's nodes run when there is parallel work to give away: tokio tasks, each
//! running one node or, when many nodes are ready at once, a share of them polled together; each
//! node's report comes back on one channel as soon as it is done. Aborted when the run is
//! cancelled or its future dropped.

use std::future::Future;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::node_task::Report;

/// A node's report, by node index.
pub(crate) type Reported = (u32, Report);

/// The run's node tasks and the channel their reports come back on.
pub(crate) struct Tasks {
    handles: Vec<JoinHandle<()>>,
    sender: mpsc::UnboundedSender<Reported>,
    receiver: mpsc::UnboundedReceiver<Reported>,
    /// Nodes started on tasks whose reports have not come back yet.
    running: usize,
}

/// Up to this many tasks per batch of nodes that became ready together (at least one per core);
/// a larger batch is shared out among them. A tokio task costs far more than a no-op node, and a
/// few dozen tasks already keep every core busy.
fn max_tasks() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (4 * cores).max(64)
}

impl Tasks {
    pub fn new() -> Self {
        let (sender, receiver) = mpsc::unbounded_channel();
        Tasks {
            handles: Vec::new(),
            sender,
            receiver,
            running: 0,
        }
    }

    /// How many nodes are running on tasks.
    pub fn running(&self) -> usize {
        self.running
    }

    /// Starts `nodes` (each a node's index and future) on tasks of their own, or, for a large
    /// batch, shared out among [`max_tasks`] tasks.
    pub fn spawn<F>(&mut self, nodes: Vec<(u32, F)>)
    where
        F: Future<Output = Report> + Send + 'static,
    {
        self.running += nodes.len();
        // Finished tasks' handles are dropped now and then, so a long run keeps only live ones.
        if self.handles.len() >= 2 * max_tasks() {
            self.handles.retain(|handle| !handle.is_finished());
        }
        let share = nodes.len().div_ceil(max_tasks());
        if share <= 1 {
            for (index, node) in nodes {
                let sender = self.sender.clone();
                self.handles.push(tokio::spawn(async move {
                    // The receiver goes only with the run, which aborts its tasks first.
                    let _ = sender.send((index, node.await));
                }));
            }
            return;
        }
        let mut nodes = nodes.into_iter();
        loop {
            let share: FuturesUnordered<_> = nodes
                .by_ref()
                .take(share)
                .map(|(index, node)| async move { (index, node.await) })
                .collect();
            if share.is_empty() {
                break;
            }
            let sender = self.sender.clone();
            self.handles.push(tokio::spawn(async move {
                let mut share = share;
                while let Some(reported) = share.next().await {
                    let _ = sender.send(reported);
                }
            }));
        }
    }

    /// The next report of a node running on a task; `None` when none is running.
    pub async fn next(&mut self) -> Option<Reported> {
        if self.running == 0 {
            return None;
        }
        let reported = self.receiver.recv().await;
        self.running -= 1;
        reported
    }

    /// Aborts every task and waits until each has stopped, so that no node of the run is still
    /// running (or writing to a store) when this returns.
    pub async fn abort(&mut self) {
        for handle in &self.handles {
            handle.abort();
        }
        for handle in self.handles.drain(..) {
            let _ = handle.await;
        }
        self.running = 0;
    }
}

impl Drop for Tasks {
    /// A run whose future is dropped stops its nodes too.
    fn drop(&mut self) {
        for handle in &self.handles {
            handle.abort();
        }
    }
}
