//! A node task of a worker: what the worker's tasks share, and one claimed node run, resolved
//! and handed to the committer.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::{mpsc, oneshot};

use super::claim::Claimed;
use super::claimer::Outputs;
use super::control::Settings;
use super::execute::{RunOf, damaged_row, execute};
use super::lease::Lease;
use super::queue::retried;
use super::read::{self, KnownRun};
use super::resolution::{Heard, Item, Resolution, Resolved};
use super::served::Served;
use crate::call::guard::GuardedEvents;
use crate::run_id::RunId;
use crate::store::PostgresStore;

/// What one node task reports back.
pub(crate) enum Done {
    Resolved(Kind, Resolved),
    Lost,
}

/// How a node task resolved its node, for the worker's report.
#[derive(Clone, Copy)]
pub(crate) enum Kind {
    Completed,
    FailedAttempt,
    Skipped,
    Began,
    Opened,
}

impl Kind {
    fn of(resolution: &Resolution) -> Kind {
        match resolution {
            Resolution::Completed { .. } => Kind::Completed,
            Resolution::Retry { .. } | Resolution::Failed { .. } => Kind::FailedAttempt,
            Resolution::Skipped => Kind::Skipped,
            Resolution::Begin { .. } => Kind::Began,
            Resolution::Open { .. } => Kind::Opened,
        }
    }
}

/// What every node task of a worker shares.
pub(crate) struct Context {
    pub store: PostgresStore,
    pub served: Served,
    pub events: Arc<GuardedEvents>,
    pub fingerprints: Vec<String>,
    /// The served nodes with a limit: claimed only within it.
    pub limited: Vec<super::limits::Limited>,
    pub settings: Settings,
    /// Each run's decoded pipeline inputs and start time, read once per run.
    pub runs: std::sync::Mutex<HashMap<RunId, KnownRun>>,
    /// Where node tasks hand their resolutions to the committer.
    pub commits: mpsc::UnboundedSender<(Item, oneshot::Sender<Resolved>)>,
}

/// Runs one claimed node and resolves it: `committing` is set once it is handed to the
/// committer, `lease` is its claim's, `known` holds outputs it may read without the store.
pub(crate) async fn run_claimed(
    ctx: &Context,
    claimed: &Claimed,
    (committing, lease, known): (&AtomicBool, &Lease, Option<&Outputs>),
) -> Done {
    let Some(graph) = ctx.served.get(&claimed.fingerprint) else {
        return Done::Lost;
    };
    let Some((inputs, started_at_ms, trace)) = retried("read the run", || {
        read::run_inputs(&ctx.store, &ctx.runs, graph, claimed)
    })
    .await
    else {
        return Done::Lost;
    };
    let in_graph = (claimed.node as usize) < graph.nodes().len();
    let inputs = inputs
        .as_deref()
        .map(|v| v.as_slice())
        .map_err(String::as_str);
    let resolution = match in_graph {
        true => {
            let (worker, events) = (&ctx.settings.id, &*ctx.events);
            let execute = || {
                let run = RunOf {
                    inputs,
                    known,
                    trace: trace.as_ref(),
                    logs: ctx.settings.node_logs,
                };
                execute(&ctx.store, &**graph, claimed, run, worker, lease, events)
            };
            match retried("read the node's arguments", execute).await {
                Some(resolution) => resolution,
                None => {
                    tracing::warn!(
                        run = %claimed.run_id,
                        node = claimed.node,
                        "the lease lapsed before the node started; leaving it to the next claim"
                    );
                    return Done::Lost;
                }
            }
        }
        // A row naming a node the pipeline does not have: the run fails, naming the damage.
        false => damaged_row(claimed, graph.nodes().len(), &ctx.settings.id),
    };
    let kind = Kind::of(&resolution);
    let item = Item {
        heard: Heard::of(&resolution, claimed),
        claimed: claimed.clone(),
        resolution,
        graph: Arc::clone(graph),
        pipeline: graph.name().to_owned(),
        started_at_ms,
        trace,
    };
    committing.store(true, Ordering::SeqCst);
    let (answer, resolved) = oneshot::channel();
    if ctx.commits.send((item, answer)).is_err() {
        return Done::Lost;
    }
    match resolved.await {
        Ok(resolved) => Done::Resolved(kind, resolved),
        Err(_) => Done::Lost,
    }
}

/// The upstream outputs the nodes `claimed` read, in one statement for them all (each read its
/// own: a fan-out's nodes each read the same record again). `None` when fewer than two need any
/// (one read either way), or when the read fails: each node then reads its own, retrying.
pub(crate) async fn inputs_of(ctx: &Context, claimed: &[Claimed]) -> Option<Arc<Outputs>> {
    let mut wanted: HashMap<(&str, &str), (&RunId, u32)> = HashMap::new();
    let mut reading = 0;
    for claim in claimed.iter().filter(|c| !c.blocked && !c.began) {
        let Some(graph) = ctx.served.get(&claim.fingerprint) else {
            continue;
        };
        let nodes = graph.nodes();
        if claim.node as usize >= nodes.len() {
            continue;
        }
        let upstream = graph.upstream_of(claim.node);
        reading += usize::from(!upstream.is_empty());
        for &u in upstream {
            let key = (claim.run_id.as_str(), &*nodes[u as usize].id);
            wanted.insert(key, (&claim.run_id, u));
        }
    }
    if reading < 2 {
        return None;
    }
    let keys: Vec<(&str, &str)> = wanted.keys().copied().collect();
    let found = match read::outputs_of(&ctx.store, &keys).await {
        Ok(found) => found,
        Err(e) => {
            tracing::debug!(error = %e, "cannot read the claimed nodes' inputs at once");
            return None;
        }
    };
    let outputs = found
        .into_iter()
        .filter_map(|((run, node), json)| {
            let (run_id, u) = wanted.get(&(run.as_str(), node.as_str()))?;
            Some((((*run_id).clone(), *u), json))
        })
        .collect();
    Some(Arc::new(outputs))
}
