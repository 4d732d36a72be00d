//! The tokio tasks a run's nodes run on when there is parallel work to give away: each runs one
//! node or, when many nodes are ready at once, a share of them polled together, and sends the
//! nodes' reports back on one channel as they finish (those of a quick succession together).
//! Aborted when the run is cancelled or its future dropped.

use std::future::Future;
use std::ops::Range;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use futures_util::future::OptionFuture;
use futures_util::stream::FuturesUnordered;
use futures_util::{FutureExt, StreamExt};
use tokio::sync::mpsc::{self, UnboundedSender};
use tokio::task::JoinHandle;
use tracing::Span;

use super::attempt::AuditedInputs;
use super::lifecycle::RunShared;
use super::node_task::{NodeJob, Report, report};
use crate::call::args::Values;
use crate::data::Value;
use crate::graph::GraphInner;
use crate::node::MapItem;

/// A node's report, by node index.
pub(crate) type Reported = (u32, Report);

/// What a task sends back: reports, in the order their nodes finished.
pub(crate) type Sent = Vec<Reported>;

/// How long a batch gathers the reports of nodes that finished on their first poll before it
/// sends them together (checked after each first poll, and at the end of the pass): one message
/// for a run of quick nodes, instead of one each; the dependents of a quick node wait at most
/// this long, or until the first poll of the node after it ends.
const GATHER: Duration = Duration::from_micros(50);

/// The run's node tasks and the channel their reports come back on.
pub(crate) struct Tasks {
    handles: Vec<JoinHandle<()>>,
    sender: mpsc::UnboundedSender<Sent>,
    receiver: mpsc::UnboundedReceiver<Sent>,
    /// Reports received and not handed out yet.
    received: std::vec::IntoIter<Reported>,
    /// Nodes started on tasks whose reports have not been handed out yet.
    running: usize,
}

/// Up to this many tasks per batch of nodes that became ready together: four per core, so that
/// CPU-bound nodes spread over every core (tokio moves tasks between them); a larger batch is
/// shared out among them. A tokio task costs far more than a no-op node.
fn max_tasks() -> usize {
    // Asking for the cores reads files (cgroup quotas): ask once.
    static MAX: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *MAX.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        4 * cores
    })
}

impl Tasks {
    pub fn new() -> Self {
        let (sender, receiver) = mpsc::unbounded_channel();
        Tasks {
            handles: Vec::new(),
            sender,
            receiver,
            received: Vec::new().into_iter(),
            running: 0,
        }
    }

    /// How many nodes are running on tasks.
    pub fn running(&self) -> usize {
        self.running
    }

    /// How many tasks a batch of `nodes` ready nodes is shared out among: one per node, up to
    /// [`max_tasks`].
    pub fn shares(nodes: usize) -> usize {
        nodes.min(max_tasks())
    }

    /// Where a task sends the reports of its nodes.
    pub fn sender(&self) -> mpsc::UnboundedSender<Sent> {
        self.sender.clone()
    }

    /// Starts `task`, which runs `nodes` nodes and sends a report for each.
    pub fn spawn(&mut self, nodes: usize, task: impl Future<Output = ()> + Send + 'static) {
        self.running += nodes;
        // Finished tasks' handles are dropped now and then, so a long run keeps only live ones.
        if self.handles.len() >= 2 * max_tasks() {
            self.handles.retain(|handle| !handle.is_finished());
        }
        self.handles.push(tokio::spawn(task));
    }

    /// The next report of a node running on a task; `None` when none is running.
    pub async fn next(&mut self) -> Option<Reported> {
        if self.running == 0 {
            return None;
        }
        loop {
            if let Some(reported) = self.received.next() {
                self.running -= 1;
                return Some(reported);
            }
            // The run holds a sender itself: the channel never closes while it waits.
            self.received = self.receiver.recv().await?.into_iter();
        }
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
        self.received = Vec::new().into_iter();
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

/// Nodes started together on one task, with copies of the values they read.
#[derive(Default)]
pub(crate) struct Batch {
    values: Vec<Value>,
    nodes: Vec<Started>,
}

impl Batch {
    /// How many nodes the batch holds.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Adds node `index`, with copies of its arguments and gate values.
    pub fn push(
        &mut self,
        index: u32,
        args: impl Iterator<Item = Value>,
        gate_args: impl Iterator<Item = Value>,
        inputs: Option<AuditedInputs>,
        span: Option<Span>,
        item: Option<MapItem>,
    ) {
        let start = self.values.len();
        self.values.extend(args);
        let gate = self.values.len();
        self.values.extend(gate_args);
        self.nodes.push(Started {
            index,
            args: start..gate,
            gate: gate..self.values.len(),
            inputs,
            span,
            item,
        });
    }

    /// The node added last, if any.
    pub fn last(&self) -> Option<u32> {
        self.nodes.last().map(|started| started.index)
    }

    /// Adds node `index`, which reads the same values as the node added last: it shares their
    /// copies (many readers of one value, as in a fan-out, clone it once per batch).
    pub fn push_like_last(
        &mut self,
        index: u32,
        inputs: Option<AuditedInputs>,
        span: Option<Span>,
        item: Option<MapItem>,
    ) {
        let Some(last) = self.nodes.last() else {
            return;
        };
        let (args, gate) = (last.args.clone(), last.gate.clone());
        self.nodes.push(Started {
            index,
            args,
            gate,
            inputs,
            span,
            item,
        });
    }
}

/// A node of a batch: where its arguments and gate values are in the batch's values.
struct Started {
    index: u32,
    args: Range<usize>,
    gate: Range<usize>,
    inputs: Option<AuditedInputs>,
    span: Option<Span>,
    item: Option<MapItem>,
}

/// Runs the nodes of `batch` together (their waits overlap) and sends their reports as they
/// finish: those of nodes that finish on their first poll gathered for up to [`GATHER`], the
/// others one by one.
pub(crate) async fn run_batch<I, O>(
    graph: Arc<GraphInner<I, O>>,
    shared: Arc<RunShared>,
    batch: Batch,
    sender: UnboundedSender<Sent>,
) {
    let Batch { values, nodes } = batch;
    let (graph, shared, values) = (&*graph, &*shared, &values[..]);
    let run = |started: Started| {
        let job = NodeJob {
            args: Values::Slice(&values[started.args]),
            gate_args: Values::Slice(&values[started.gate]),
            inputs: started.inputs,
            item: started.item,
            given: None,
        };
        let (index, node) = (started.index, &graph.nodes[started.index as usize]);
        crate::trace::traced(
            started.span,
            report(shared, node, job).map(move |r| (index, r)),
        )
    };
    // The receiver goes only with the run, which aborts its tasks first: a send cannot fail.
    if nodes.len() == 1 {
        for started in nodes {
            let _ = sender.send(vec![run(started).await]);
        }
        return;
    }
    // Each node is polled once as it starts, in a slot that is reused while nodes finish on
    // that first poll (no-op and CPU-bound nodes do); a node that waits keeps its slot and joins
    // the set polled together, where its wake-ups find it.
    let mut waiting = FuturesUnordered::new();
    let mut slot = Box::pin(OptionFuture::from(None));
    let (mut done, mut since) = (Vec::new(), Instant::now());
    for started in nodes {
        slot.set(OptionFuture::from(Some(run(started))));
        match std::future::poll_fn(|cx| Poll::Ready(slot.as_mut().poll(cx))).await {
            Poll::Ready(reported) => done.extend(reported),
            Poll::Pending => {
                let fresh = Box::pin(OptionFuture::from(None));
                waiting.push(std::mem::replace(&mut slot, fresh));
            }
        }
        if !done.is_empty() && since.elapsed() >= GATHER {
            let _ = sender.send(std::mem::take(&mut done));
            since = Instant::now();
        }
    }
    drop(slot);
    if !done.is_empty() {
        let _ = sender.send(done);
    }
    while let Some(reported) = waiting.next().await {
        let _ = sender.send(reported.into_iter().collect());
    }
}
