//! A worker at work: claims ready nodes, runs each on a task of its own, commits their
//! resolutions in batches (one transaction for whatever finished meanwhile), renews its leases,
//! and drains when told to stop.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::claim::{Claimed, Hold};
use super::claimer::{ClaimArgs, Claimer, Continuation, Continued, Outputs};
use super::commit::committer;
use super::control::{Settings, Shutdown, WorkerReport};
use super::lease::Lease;
use super::queue;
use super::resolution::Resolved;
use super::served::Served;
use super::task::{Context, Done, Kind, run_claimed};
use crate::call::guard::GuardedEvents;
use crate::run_id::RunId;
use crate::store::postgres::Listener;
use crate::store::{PostgresStore, StoreResult};

/// How long a worker with fewer than half its slots free waits for more to free up before it
/// claims.
const GATHER: Duration = Duration::from_millis(3);

/// A claim's key: run, node, and the item for an item of a mapped node.
type Key = (RunId, u32, Option<u32>);

/// A worker at work: its tasks, their claims, and what it did.
pub(crate) struct Running {
    ctx: Arc<Context>,
    committer: tokio::task::JoinHandle<()>,
    /// Cleared when the worker stops claiming (it drains): its commits then wake others.
    claiming: Arc<AtomicBool>,
    /// The nodes its commits claimed (when they continue its runs: see `commit::committer`).
    continued: mpsc::UnboundedReceiver<Continued>,
    /// Whether its commits claim for it.
    continues: bool,
    /// Whether a claim may find something: set when woken, at a poll or a heartbeat, when a
    /// claim filled every slot it had, when a task ends whose slot no commit filled; cleared
    /// when a claim left slots empty (nothing else was claimable then).
    want: bool,
    /// When the next node left is due.
    next_due: Option<tokio::time::Instant>,
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

impl Running {
    pub fn new(store: PostgresStore, served: Served, settings: Settings) -> Running {
        let fingerprints = served.fingerprints();
        let limited = served.limited();
        let (commits, queue) = mpsc::unbounded_channel();
        let (to, continued) = mpsc::unbounded_channel();
        let events = Arc::new(GuardedEvents::new(settings.events.clone()));
        let worker = settings.id.clone();
        let claiming = Arc::new(AtomicBool::new(true));
        // A limited node's room is read and reserved under its own lock, on the worker's claim
        // connection: a worker serving one claims after its commits instead.
        let continuation = limited.is_empty().then(|| Continuation {
            fingerprints: fingerprints.clone(),
            lease: settings.lease,
            to,
        });
        let continues = continuation.is_some();
        let committer = tokio::spawn(committer(
            store.clone(),
            worker,
            Arc::clone(&events),
            queue,
            (Arc::clone(&claiming), continuation),
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
            continued,
            continues,
            want: true,
            next_due: None,
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
            // What the commits claimed first: their slots are not free.
            while let Ok(continued) = self.continued.try_recv() {
                self.take(continued);
            }
            let free = self
                .ctx
                .settings
                .concurrency
                .saturating_sub(self.tasks.len());
            let now = tokio::time::Instant::now();
            if self.next_due.is_some_and(|at| at <= now) {
                (self.want, self.next_due) = (true, None);
            }
            let mut pause = self.ctx.settings.poll;
            // Claim in batches: at once when half the slots are free (or all are), otherwise a
            // few milliseconds later, so one claim serves several finished nodes.
            let eager = free * 2 >= self.ctx.settings.concurrency || self.tasks.is_empty();
            let wait = match (free > 0 && self.want && !eager, gather) {
                (false, _) => None,
                (true, None) => Some(now + GATHER),
                (true, Some(at)) => Some(at),
            };
            gather = wait.filter(|at| *at > now);
            if let Some(at) = gather {
                pause = at - now;
            } else if free > 0 && self.want {
                match self.claim(free).await {
                    Ok((claimed, _)) if claimed == free => pause = Duration::ZERO,
                    Ok((_, due)) => {
                        self.want = false;
                        self.due_in(due);
                    }
                    Err(e) => {
                        tracing::warn!(worker = %self.ctx.settings.id, error = %e, "cannot claim nodes")
                    }
                }
            }
            if let Some(at) = self.next_due {
                pause = pause.min(at.saturating_duration_since(now));
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
                _ = heartbeat.tick() => {
                    self.renew().await;
                    self.want = true; // a lease of another worker may have lapsed
                }
                () = woken => self.want = true,
                () = tokio::time::sleep(pause) => self.want = true,
            }
        }
    }

    /// Starts what a commit claimed. Its slots were its own nodes' (no claim of the worker's is
    /// owed for them): what became ready beyond them woke the workers, this one too.
    fn take(&mut self, continued: Continued) {
        self.due_in(continued.due);
        self.start(continued.claimed, continued.sent, Some(continued.outputs));
    }

    /// Notes that the next node left is due in `due`.
    fn due_in(&mut self, due: Option<Duration>) {
        if let Some(at) = due.and_then(|d| tokio::time::Instant::now().checked_add(d)) {
            self.next_due = Some(self.next_due.map_or(at, |next| next.min(at)));
        }
    }

    /// Claims up to `free` nodes and starts a task for each; returns how many it claimed, and
    /// when the next node left waits to be claimable.
    async fn claim(&mut self, free: usize) -> StoreResult<(usize, Option<Duration>)> {
        let ctx = &self.ctx;
        // Connecting takes no time off the leases of the nodes claimed.
        self.claimer.open(&ctx.store).await?;
        let sent = Instant::now();
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
        let known = super::task::inputs_of(ctx, &claimed).await;
        self.start(claimed, sent, known);
        Ok((n, due))
    }

    /// Starts a task for each node `claimed` by a statement sent at `sent`; `known`: outputs
    /// they may read without the store (those a commit that claimed them wrote).
    fn start(&mut self, claimed: Vec<Claimed>, sent: Instant, known: Option<Arc<Outputs>>) {
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
            let known = known.clone();
            let task = Box::pin(async move {
                let held = (&*flag, &*held_lease, known.as_deref());
                let done = run_claimed(&ctx, &claim, held).await;
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
    }

    fn finished(&mut self, joined: Result<(Key, Done), tokio::task::JoinError>) {
        // A slot a commit did not fill (it claims only for what it resolved) is claimed for.
        let committed = matches!(joined, Ok((_, Done::Resolved(..))));
        self.want |= !(committed && self.continues);
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
                // Claimed by a commit before the drain began: in flight like the others.
                Some(continued) = self.continued.recv() => self.take(continued),
                Some(joined) = self.tasks.join_next() => self.finished(joined),
                _ = heartbeat.tick() => self.renew().await,
            }
        }
        let mut unstarted = Vec::new();
        while let Ok(continued) = self.continued.try_recv() {
            unstarted.extend(continued.claimed.iter().map(Claimed::hold));
        }
        if !self.claims.is_empty() || !unstarted.is_empty() {
            self.tasks.abort_all();
            let mut held = self.held();
            held.extend(unstarted);
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
