//! A worker at work: claims ready nodes, runs each on a task of its own, commits their
//! resolutions in batches (one transaction for whatever finished meanwhile), renews its leases,
//! and drains when told to stop.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;

use super::claim::{Claimed, Hold};
use super::claimer::{ClaimArgs, Claimer};
use super::commit::committer;
use super::control::{Settings, Shutdown, WorkerReport};
use super::execute::{damaged_row, execute};
use super::lease::Lease;
use super::queue::{self, retried};
use super::read::{self, KnownRun};
use super::resolution::{Heard, Item, Resolution, Resolved};
use super::served::Served;
use crate::call::guard::GuardedEvents;
use crate::run_id::RunId;
use crate::store::postgres::Listener;
use crate::store::{PostgresStore, StoreResult};

/// How long a worker with fewer than half its slots free waits for more to free up before it
/// claims.
const GATHER: Duration = Duration::from_millis(3);

/// A claim's key: run, node, and the item for an item of a mapped node.
type Key = (RunId, u32, Option<u32>);

/// What one node task reports back.
enum Done {
    Resolved(Kind, Resolved),
    Lost,
}

/// How a node task resolved its node, for the worker's report.
#[derive(Clone, Copy)]
enum Kind {
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

/// A worker at work: its tasks, their claims, and what it did.
pub(crate) struct Running {
    ctx: Arc<Context>,
    committer: tokio::task::JoinHandle<()>,
    /// Cleared when the worker stops claiming (it drains): its commits then wake others.
    claiming: Arc<AtomicBool>,
    tasks: JoinSet<(Key, Done)>,
    claims: HashMap<Key, Held>,
    report: WorkerReport,
    warned: HashSet<(String, String)>,
    claimer: Claimer,
}

/// A claim in flight: its fencing token, its task, and whether the task is committing (a lost
/// lease then no longer aborts it: the commit's own fence decides).
struct Held {
    token: i64,
    task: tokio::task::AbortHandle,
    committing: Arc<AtomicBool>,
    lease: Arc<Lease>,
}

/// What every node task of a worker shares.
struct Context {
    store: PostgresStore,
    served: Served,
    events: Arc<GuardedEvents>,
    fingerprints: Vec<String>,
    /// The served nodes with a limit: claimed only within it.
    limited: Vec<super::limits::Limited>,
    settings: Settings,
    /// Each run's decoded pipeline inputs and start time, read once per run.
    runs: std::sync::Mutex<HashMap<RunId, KnownRun>>,
    /// Where node tasks hand their resolutions to the committer.
    commits: mpsc::UnboundedSender<(Item, oneshot::Sender<Resolved>)>,
}

impl Running {
    pub fn new(store: PostgresStore, served: Served, settings: Settings) -> Running {
        let fingerprints = served.fingerprints();
        let limited = served.limited();
        let (commits, queue) = mpsc::unbounded_channel();
        let events = Arc::new(GuardedEvents::new(settings.events.clone()));
        let worker = settings.id.clone();
        let claiming = Arc::new(AtomicBool::new(true));
        let committer = tokio::spawn(committer(
            store.clone(),
            worker,
            Arc::clone(&events),
            queue,
            Arc::clone(&claiming),
        ));
        Running {
            ctx: Arc::new(Context {
                store,
                served,
                events,
                fingerprints,
                limited,
                settings,
                runs: Default::default(),
                commits,
            }),
            committer,
            claiming,
            tasks: JoinSet::new(),
            claims: HashMap::new(),
            report: WorkerReport::default(),
            warned: HashSet::new(),
            claimer: Claimer::default(),
        }
    }

    /// Claims and runs nodes until a stop is asked for.
    pub async fn work(&mut self, listener: &Listener, shutdown: &Shutdown) {
        let mut heartbeat = tokio::time::interval(self.ctx.settings.heartbeat);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_check = None::<tokio::time::Instant>;
        let mut gather = None::<tokio::time::Instant>;
        loop {
            let woken = listener.armed();
            let free = self
                .ctx
                .settings
                .concurrency
                .saturating_sub(self.tasks.len());
            let mut pause = self.ctx.settings.poll;
            // Claim in batches: at once when half the slots are free (or all are), otherwise a
            // few milliseconds later, so one claim serves several finished nodes.
            let now = tokio::time::Instant::now();
            let eager = free * 2 >= self.ctx.settings.concurrency || self.tasks.is_empty();
            let wait = match (free > 0 && !eager, gather) {
                (false, _) => None,
                (true, None) => Some(now + GATHER),
                (true, Some(at)) => Some(at),
            };
            gather = wait.filter(|at| *at > now);
            if let Some(at) = gather {
                pause = at - now;
            } else if free > 0 {
                match self.claim(free).await {
                    Ok((claimed, _)) if claimed == free => pause = Duration::ZERO,
                    Ok((_, due)) => pause = pause.min(due.unwrap_or(pause)),
                    Err(e) => {
                        tracing::warn!(worker = %self.ctx.settings.id, error = %e, "cannot claim nodes")
                    }
                }
            }
            if last_check.is_none_or(|t| t.elapsed() > Duration::from_secs(60)) {
                self.warn_unserved().await;
                last_check = Some(tokio::time::Instant::now());
            }
            if pause.is_zero() && !shutdown.graceful.is_cancelled() {
                continue;
            }
            tokio::select! {
                biased;
                () = shutdown.graceful.cancelled() => return,
                Some(joined) = self.tasks.join_next(), if !self.tasks.is_empty() => {
                    self.finished(joined);
                }
                _ = heartbeat.tick() => self.renew().await,
                () = woken => {}
                () = tokio::time::sleep(pause) => {}
            }
        }
    }

    /// Claims up to `free` nodes and starts a task for each; returns how many it claimed, and
    /// when the next node left waits to be claimable.
    async fn claim(&mut self, free: usize) -> StoreResult<(usize, Option<Duration>)> {
        let ctx = &self.ctx;
        // Connecting takes no time off the leases of the nodes claimed.
        self.claimer.open(&ctx.store).await?;
        let sent = std::time::Instant::now();
        let args = ClaimArgs {
            worker: &ctx.settings.id,
            fingerprints: &ctx.fingerprints,
            lease: ctx.settings.lease,
        };
        let (claimed, due) = self
            .claimer
            .claim(&ctx.store, &args, free, &ctx.limited)
            .await?;
        let n = claimed.len();
        for claim in claimed {
            let key = (
                claim.run_id.clone(),
                claim.node,
                claim.item.map(|i| i.index),
            );
            let token = claim.claim;
            let ctx = Arc::clone(&self.ctx);
            let committing = Arc::new(AtomicBool::new(false));
            let lease = Arc::new(Lease::new(sent, ctx.settings.lease));
            let (flag, held_lease) = (Arc::clone(&committing), Arc::clone(&lease));
            let task = Box::pin(async move {
                let done = run_claimed(&ctx, &claim, &flag, &held_lease).await;
                let item = claim.item.map(|i| i.index);
                ((claim.run_id, claim.node, item), done)
            });
            let task = self.tasks.spawn(task);
            let held = Held {
                token,
                task,
                committing,
                lease,
            };
            self.claims.insert(key, held);
        }
        Ok((n, due))
    }

    fn finished(&mut self, joined: Result<(Key, Done), tokio::task::JoinError>) {
        let Ok((key, done)) = joined else {
            return; // aborted: counted where it was aborted
        };
        if self.claims.remove(&key).is_none() {
            return; // its lease was found lost meanwhile, and counted then
        }
        match done {
            Done::Resolved(_, Resolved::Fenced) => {
                tracing::warn!(
                    worker = %self.ctx.settings.id, run = %key.0, node = key.1,
                    "commit refused: the claim is no longer current (its lease lapsed and \
                     another worker took the node, or the run was cancelled)"
                );
                crate::metrics::fleet_commit_refused();
                self.lost();
            }
            Done::Lost => self.lost(),
            Done::Resolved(resolution, Resolved::Done { ended }) => {
                if ended {
                    tracing::info!(worker = %self.ctx.settings.id, run = %key.0, "run ended");
                }
                match resolution {
                    Kind::Completed => self.report.completed += 1,
                    Kind::FailedAttempt => self.report.failed_attempts += 1,
                    Kind::Skipped => self.report.skipped += 1,
                    Kind::Began => self.report.waits_begun += 1,
                    Kind::Opened => {}
                }
            }
        }
    }

    /// A claim lost before it was resolved.
    fn lost(&mut self) {
        crate::metrics::fleet_lease_lost();
        self.report.lost += 1;
    }

    fn held(&self) -> Vec<Hold> {
        self.claims
            .iter()
            .map(|((run, node, item), held)| (run.clone(), *node, *item, held.token))
            .collect()
    }

    /// Says this worker is alive and what it serves (see `fleet::unserved_runs`).
    async fn announce(&self) {
        let (names, fingerprints) = self.ctx.served.served();
        let announced = super::presence::announce(
            &self.ctx.store,
            &self.ctx.settings.id,
            &names,
            &fingerprints,
        );
        if let Err(e) = announced.await {
            tracing::warn!(worker = %self.ctx.settings.id, error = %e, "cannot announce the worker");
        }
    }

    /// Renews the leases of the nodes in flight; aborts those whose claim was lost while they
    /// still run the node (one that is committing, or done, is left to its commit's fence).
    async fn renew(&mut self) {
        self.announce().await;
        super::waiting::count_ready(&self.ctx.store);
        let held = self.held();
        let (sent, lease) = (std::time::Instant::now(), self.ctx.settings.lease);
        match queue::heartbeat(&self.ctx.store, &held, lease).await {
            Ok(kept) => {
                let kept: HashSet<Key> = kept.into_iter().map(|(r, n, i, _)| (r, n, i)).collect();
                self.claims.retain(|key, held| {
                    let busy = !held.task.is_finished() && !held.committing.load(Ordering::SeqCst);
                    if kept.contains(key) {
                        held.lease.renewed(sent, lease);
                        return true;
                    }
                    if !busy {
                        return true;
                    }
                    tracing::warn!(run = %key.0, node = key.1, "lease lost; abandoning the node");
                    held.task.abort();
                    crate::metrics::fleet_lease_lost();
                    self.report.lost += 1;
                    false
                });
            }
            Err(e) => {
                tracing::warn!(worker = %self.ctx.settings.id, error = %e, "cannot renew leases")
            }
        }
    }

    /// Logs, once per version, the runs of a pipeline this worker knows by name that wait for a
    /// worker of another build (their fingerprint differs): it leaves their nodes alone.
    async fn warn_unserved(&mut self) {
        let names = self.ctx.served.names();
        let fingerprints = &self.ctx.fingerprints;
        for key in super::waiting::other_builds(&self.ctx.store, &names, fingerprints).await {
            if self.warned.insert(key.clone()) {
                tracing::warn!(
                    worker = %self.ctx.settings.id,
                    pipeline = key.0,
                    fingerprint = key.1,
                    "runs of this pipeline were submitted by another build (fingerprint \
                     differs); this worker leaves their nodes for a worker of that build"
                );
            }
        }
    }

    /// Finishes the nodes in flight within the drain deadline (or none, on a stop now), gives
    /// the rest back, and reports.
    pub async fn drain(mut self, shutdown: &Shutdown) -> WorkerReport {
        self.claiming.store(false, Ordering::SeqCst);
        let deadline = tokio::time::sleep(self.ctx.settings.drain);
        tokio::pin!(deadline);
        let mut heartbeat = tokio::time::interval(self.ctx.settings.heartbeat);
        while !self.tasks.is_empty() {
            tokio::select! {
                biased;
                () = shutdown.now.cancelled() => {
                    self.tasks.abort_all();
                    self.committer.abort();
                    tracing::warn!(worker = %self.ctx.settings.id, "stopped at once; leases will expire");
                    return self.report;
                }
                () = &mut deadline => break,
                Some(joined) = self.tasks.join_next() => self.finished(joined),
                _ = heartbeat.tick() => self.renew().await,
            }
        }
        if !self.claims.is_empty() {
            self.tasks.abort_all();
            let held = self.held();
            self.report.released += held.len() as u64;
            if let Err(e) = queue::release(&self.ctx.store, &held).await {
                tracing::warn!(worker = %self.ctx.settings.id, error = %e, "cannot release leases");
            }
        }
        if let Err(e) = super::presence::retire(&self.ctx.store, &self.ctx.settings.id).await {
            tracing::warn!(worker = %self.ctx.settings.id, error = %e, "cannot retire the worker");
        }
        tracing::info!(worker = %self.ctx.settings.id, report = ?self.report, "worker stopped");
        self.report
    }
}

/// Runs one claimed node and resolves it.
async fn run_claimed(
    ctx: &Context,
    claimed: &Claimed,
    committing: &AtomicBool,
    lease: &Lease,
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
            let run = (inputs, trace.as_ref(), ctx.settings.node_logs);
            let execute = || execute(&ctx.store, &**graph, claimed, run, worker, lease, events);
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
