//! The run's state machine (`machine`) applied to the fleet's rows: a node row read as a
//! [`NodeState`], the rows a decision needs read and locked (in key order, as every statement
//! of the fleet locks them), the decision's changes written back in one statement. What the rows
//! become is decided in Rust by the machine, never in SQL.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use deadpool_postgres::Transaction;

use super::claim::millis;
use crate::machine::{self, Decision, Event, Missing, NodeState, Phase, Shape};
use crate::store::postgres::fleet::{phase, row_state};
use crate::store::{PostgresStore, StoreError, StoreResult};

/// How a claimed node's own row ends its claim, beside its new state.
#[derive(Clone, Debug, Default)]
pub(crate) struct ClaimEnd {
    pub error: Option<String>,
    /// A failed attempt with attempts left.
    pub retry: bool,
    /// A wait that began, and when it is due (never when `None`).
    pub began: Option<Option<Duration>>,
}

/// One run's node rows as a commit has read them, and what it changes in them.
#[derive(Default)]
pub(crate) struct RunRows {
    pub states: HashMap<u32, NodeState>,
    /// The rows to write: their new state is in `states`.
    changed: BTreeMap<u32, Change>,
    /// How many nodes the decisions resolved.
    pub resolved: i32,
    /// How many nodes became claimable at once.
    pub ready_now: usize,
}

#[derive(Default)]
struct Change {
    /// When the node is claimable: in this long (`INFINITY`: never), or as it was (`None`).
    delay: Option<f64>,
    claim: Option<ClaimEnd>,
    /// A running row whose claim a cancel fences.
    fence: bool,
}

impl RunRows {
    /// Records that this commit holds node `node`'s claim, whose row is in `state`.
    pub fn claimed(&mut self, node: u32, state: NodeState) {
        self.states.insert(node, state);
    }

    /// Decides `event`, reading the rows the decision needs from `tx`; applies it to the rows.
    pub async fn decide<G: Shape + ?Sized>(
        &mut self,
        store: &PostgresStore,
        tx: &Transaction<'_>,
        run_id: &str,
        shape: &G,
        event: Event,
    ) -> StoreResult<Decision> {
        let decision = loop {
            match machine::decide(shape, &self.states, event) {
                Ok(decision) => break decision,
                Err(Missing(nodes)) => {
                    let keys: Vec<(&str, u32)> = nodes.iter().map(|&n| (run_id, n)).collect();
                    for (_, node, state) in read(store, tx, &keys).await? {
                        self.states.insert(node, state);
                    }
                    // A node without a row (the row was damaged: its index changed) is one the
                    // run will not run: no row to write, nothing to count.
                    for node in nodes {
                        if self.states.contains_key(&node) {
                            continue;
                        }
                        tracing::warn!(run_id, node, "the run has no row for this node index");
                        self.states.insert(node, NodeState::new(Phase::NotRun));
                    }
                }
            }
        };
        for &(node, state) in &decision.changes {
            let was = self.states.insert(node, state).map(|s| s.phase);
            let change = self.changed.entry(node).or_default();
            if was == Some(Phase::Running) && state.phase == Phase::NotRun {
                change.fence = true;
            }
        }
        for &(node, after) in &decision.ready {
            self.changed.entry(node).or_default().delay = Some(millis(after));
            self.ready_now += usize::from(after.is_zero());
        }
        self.resolved += decision.resolved.len() as i32;
        Ok(decision)
    }

    /// Ends the claim of node `node` (after its event was decided).
    pub fn end_claim(&mut self, node: u32, end: ClaimEnd) {
        let change = self.changed.entry(node).or_default();
        if let Some(due) = end.began
            && self.states.get(&node).map(|s| s.phase) == Some(Phase::Suspended)
        {
            change.delay = Some(due.map_or(f64::INFINITY, millis));
        }
        change.claim = Some(end);
    }
}

/// Reads (and locks, in key order) the node rows `keys`, as states.
pub(crate) async fn read(
    store: &PostgresStore,
    tx: &Transaction<'_>,
    keys: &[(&str, u32)],
) -> StoreResult<Vec<(String, u32, NodeState)>> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<&str> = keys.iter().map(|k| k.0).collect();
    let nodes: Vec<i32> = keys.iter().map(|k| k.1 as i32).collect();
    let rows = tx
        .query(
            &store
                .prepared(
                    &tx,
                    "SELECT n.run_id, n.node, n.state, n.began, n.waiting, n.blocked \
             FROM pipeline_fleet_nodes n \
             JOIN unnest($1::text[], $2::int[]) AS k (run_id, node) \
               ON n.run_id = k.run_id AND n.node = k.node \
             ORDER BY n.run_id, n.node FOR UPDATE OF n",
                )
                .await?,
            &[&ids, &nodes],
        )
        .await
        .map_err(store.error("read"))?;
    rows.iter()
        .map(|r| {
            let (run_id, node, state): (String, i32, &str) = (r.get(0), r.get(1), r.get(2));
            let Some(phase) = phase(state, r.get(3)) else {
                return Err(StoreError::Backend(
                    format!("the fleet row of node index {node} of run `{run_id}` has the unknown state `{state}`")
                        .into(),
                ));
            };
            let unresolved = u32::try_from(r.get::<_, i32>(4)).unwrap_or(0);
            let state = NodeState {
                phase,
                unresolved,
                blocked: r.get(5),
            };
            Ok((run_id, node as u32, state))
        })
        .collect()
}

/// A whole run, locked: every node row's state (locked in key order, before the run row, as
/// every commit locks them) and the run row's `state`; `None` when the fleet never had the run.
pub(crate) async fn lock_run(
    store: &PostgresStore,
    tx: &Transaction<'_>,
    run_id: &str,
) -> StoreResult<Option<(String, HashMap<u32, NodeState>)>> {
    let nodes = tx
        .query(&store.prepared(&tx, "SELECT node FROM pipeline_fleet_nodes WHERE run_id = $1 ORDER BY node FOR UPDATE").await?,
            &[&run_id],
        )
        .await
        .map_err(store.error("write to"))?;
    let Some(run) = tx
        .query_opt(
            &store
                .prepared(
                    &tx,
                    "SELECT state FROM pipeline_fleet_runs WHERE run_id = $1 FOR UPDATE",
                )
                .await?,
            &[&run_id],
        )
        .await
        .map_err(store.error("read"))?
    else {
        return Ok(None);
    };
    let keys: Vec<(&str, u32)> = nodes
        .iter()
        .filter_map(|r| Some((run_id, u32::try_from(r.get::<_, i32>(0)).ok()?)))
        .collect();
    let states = read(store, tx, &keys).await?;
    let states = states.into_iter().map(|(_, node, s)| (node, s)).collect();
    Ok(Some((run.get(0), states)))
}

/// Writes the rows `runs` changed, in one statement (rows in key order: they are all locked
/// already). `worker` is the claims'. Wakes the idle workers when more nodes became claimable at
/// once than `room`: the claims the committing worker makes itself once this commit is in (each
/// node it resolves frees a slot), so a chain's next node wakes no other worker.
pub(crate) async fn write(
    store: &PostgresStore,
    tx: &Transaction<'_>,
    worker: &str,
    runs: &BTreeMap<String, RunRows>,
    room: usize,
) -> StoreResult<()> {
    let mut ids: Vec<&str> = Vec::new();
    let mut nodes: Vec<i32> = Vec::new();
    let mut states: Vec<&str> = Vec::new();
    let mut waiting: Vec<i32> = Vec::new();
    let mut blocked: Vec<bool> = Vec::new();
    let mut delays: Vec<Option<f64>> = Vec::new();
    let mut resolved: Vec<bool> = Vec::new();
    let mut claimed: Vec<bool> = Vec::new();
    let mut errors: Vec<Option<&str>> = Vec::new();
    let mut began: Vec<bool> = Vec::new();
    let mut attempts: Vec<i32> = Vec::new();
    let mut fence: Vec<bool> = Vec::new();
    for (run_id, rows) in runs {
        for (&node, change) in &rows.changed {
            let Some(state) = rows.states.get(&node) else {
                continue;
            };
            ids.push(run_id);
            nodes.push(node as i32);
            states.push(row_state(state.phase));
            waiting.push(i32::try_from(state.unresolved).unwrap_or(i32::MAX));
            blocked.push(state.blocked);
            delays.push(change.delay);
            resolved.push(state.phase.resolved());
            claimed.push(change.claim.is_some());
            errors.push(change.claim.as_ref().and_then(|c| c.error.as_deref()));
            began.push(change.claim.as_ref().is_some_and(|c| c.began.is_some()));
            attempts.push(change.claim.as_ref().is_some_and(|c| c.retry) as i32);
            fence.push(change.fence);
        }
    }
    if ids.is_empty() {
        return Ok(());
    }
    tx.execute(
        &store
            .prepared(
                &tx,
                "UPDATE pipeline_fleet_nodes n SET state = u.state, waiting = u.waiting, \
         blocked = u.blocked, began = n.began OR u.began, attempt = n.attempt + u.attempts, \
         started_at = CASE WHEN u.began AND NOT n.began THEN now() ELSE n.started_at END, \
         not_before = CASE WHEN u.delay IS NULL THEN n.not_before \
                           WHEN u.delay = 'Infinity'::float8 THEN 'infinity' \
                           ELSE now() + make_interval(secs => u.delay / 1000.0) END, \
         resolved_at = CASE WHEN u.resolved THEN coalesce(n.resolved_at, now()) ELSE NULL END, \
         error = CASE WHEN u.claimed THEN u.error ELSE n.error END, \
         worker = CASE WHEN u.claimed THEN $13 ELSE n.worker END, \
         lease_expires_at = CASE WHEN u.claimed OR u.fence THEN NULL ELSE n.lease_expires_at END, \
         claim = CASE WHEN u.fence THEN nextval('pipeline_fleet_claims') ELSE n.claim END \
         FROM unnest($1::text[], $2::int[], $3::text[], $4::int[], $5::bool[], $6::float8[], \
                     $7::bool[], $8::bool[], $9::text[], $10::bool[], $11::int[], $12::bool[]) \
              AS u (run_id, node, state, waiting, blocked, delay, resolved, claimed, error, \
                    began, attempts, fence) \
         WHERE n.run_id = u.run_id AND n.node = u.node",
            )
            .await?,
        &[
            &ids, &nodes, &states, &waiting, &blocked, &delays, &resolved, &claimed, &errors,
            &began, &attempts, &fence, &worker,
        ],
    )
    .await
    .map_err(store.error("write to"))?;
    if runs.values().map(|r| r.ready_now).sum::<usize>() > room {
        super::due::notify_ready(store, tx).await?;
    }
    Ok(())
}
