//! Waits on a worker fleet: a wait begins on a worker, holds no worker while it waits, and is
//! continued by whichever worker a signal's `NOTIFY` (or the timer's due time) wakes; a signal
//! sent before the wait began is consumed when it begins; the payload is the wait's checkpoint
//! record and audit entry; timeouts, gates, duplicates, conflicts and cancel behave as in one
//! process.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use pipeline::fleet::{Shutdown, Worker};
use pipeline::store::{AuditStatus, NodeState, RunState, SignalSent, Stores};
use pipeline::*;
use serde::{Deserialize, Serialize};
use tests::fleet::{Fleet, wait};
use tokio::sync::Semaphore;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Approval {
    by: String,
    ok: bool,
}

fn approval(ok: bool) -> Signal {
    let by = "finance".to_owned();
    Signal::new("approval", &Approval { by, ok }).unwrap()
}

/// amount -> plan -> approval (a signal, `timeout` if given) -> pay (only if approved). `plan`
/// takes a permit of `gate` first when given, and counts its runs in `plans`.
fn payout(
    plans: Arc<AtomicUsize>,
    gate: Option<Arc<Semaphore>>,
    timeout: Option<Duration>,
) -> Graph<u64, u64> {
    let mut g = GraphBuilder::<u64>::new("payout");
    let amount = g.input("amount", |a: &u64| *a);
    let plan = g.node("plan").run(amount, move |a, _| {
        let (plans, gate) = (Arc::clone(&plans), gate.clone());
        async move {
            if let Some(gate) = gate {
                gate.acquire().await.unwrap().forget();
            }
            plans.fetch_add(1, Ordering::SeqCst);
            Ok::<_, std::io::Error>(a * 100)
        }
    });
    let node = g.node("approval");
    let node = match timeout {
        Some(limit) => node.timeout(limit),
        None => node,
    };
    let approval = node.signal::<Approval, _>(plan);
    let paid = g
        .node("pay")
        .when(approval, |a: Approval| a.ok)
        .run((plan, approval), |(plan, a), _| async move {
            Ok::<_, std::io::Error>(plan + a.by.len() as u64)
        });
    g.build(paid).unwrap()
}

/// Whether the wait `node` of run `run_id` has begun (a worker checked its gate and made it
/// wait), read from the fleet's table.
async fn began(fleet: &Fleet, run_id: &RunId, node: &str) -> bool {
    let (client, connection) = tokio_postgres::connect(&fleet.db.url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let row = client
        .query_one(
            "SELECT began FROM pipeline_fleet_nodes WHERE run_id = $1 AND node_id = $2",
            &[&run_id.as_str(), &node],
        )
        .await
        .unwrap();
    row.get(0)
}

/// Waits (for at most a minute) until the wait `node` of run `run_id` has begun.
async fn until_began(fleet: &Fleet, run_id: &RunId, node: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !began(fleet, run_id, node).await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "`{node}` of {run_id} did not begin within a minute"
        );
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// One worker on `fleet` serving `graph` that looks for work only when notified or when a node
/// is due (its polling fallback and its heartbeats are an hour apart): what it does after a run
/// suspends, a `NOTIFY` or a due time caused.
fn notified_worker(fleet: &mut Fleet, graph: &Graph<u64, u64>, shutdown: &Shutdown) {
    let worker = Worker::new(fleet.store.clone())
        .serve(graph)
        .id("notified")
        .lease(Duration::from_secs(3600), Duration::from_secs(3600))
        .poll_interval(Duration::from_secs(3600));
    fleet
        .workers
        .push(tokio::spawn(worker.run(shutdown.clone())));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    no_postgres,
    ignore = "needs PostgreSQL, which did not answer when the tests were built: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
)]
async fn a_waiting_fleet_run_is_continued_by_a_signal_from_another_engine() {
    let plans = Arc::new(AtomicUsize::new(0));
    let graph = payout(Arc::clone(&plans), None, None);
    let mut fleet = Fleet::start(&graph, 0).await;
    let shutdown = fleet.shutdown.clone();
    notified_worker(&mut fleet, &graph, &shutdown);
    let engine = fleet.engine(graph);
    let run_id = engine.submit(7).await.unwrap();
    until_began(&fleet, &run_id, "approval").await;

    // A reader (`show`, the viewer) sees where the fleet has it: running, the wait waiting.
    let stores = Stores {
        checkpointer: Arc::new(fleet.store.clone()),
        audit: Arc::new(fleet.store.clone()),
    };
    let view = stores.view(&run_id).await.unwrap().unwrap();
    assert_eq!(view.state, RunState::Running);
    assert_eq!(view.nodes["plan"], NodeState::Completed);
    assert_eq!(view.nodes["approval"], NodeState::Waiting);
    assert_eq!(view.nodes["pay"], NodeState::NotRun);

    // Another engine (a process with no worker) sends it: the worker wakes by NOTIFY alone.
    let sender = fleet.engine(payout(Arc::default(), None, None));
    let sent = sender.signal(&run_id, approval(true)).await.unwrap();
    assert_eq!(sent.sent, SignalSent::Stored);
    assert!(sent.run.is_none(), "a worker continues it, not the sender");
    let run = wait(&engine, &run_id).await;
    assert_eq!(run.status, RunStatus::Completed);
    assert_eq!(run.output, Some(700 + "finance".len() as u64));
    assert_eq!(run.node("approval"), Some(NodeStatus::Completed));
    assert_eq!(
        plans.load(Ordering::SeqCst),
        1,
        "nothing before the wait ran again"
    );

    let checkpoint = engine.load_checkpoint(&run_id).await.unwrap().unwrap();
    let record = checkpoint.node("approval").unwrap();
    assert_eq!(record.output.get(), r#"{"by":"finance","ok":true}"#);
    let trail = engine.audit_trail(&run_id).await.unwrap().unwrap();
    let entries: Vec<_> = trail.iter().filter(|e| e.node == "approval").collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0].status, AuditStatus::Completed);
    assert!(entries[0].output_in_checkpoint);
    let reports = fleet.stop().await;
    assert_eq!(reports[0].waits_begun, 1, "{reports:?}");
    assert_eq!(reports[0].completed, 3, "{reports:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    no_postgres,
    ignore = "needs PostgreSQL, which did not answer when the tests were built: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
)]
async fn a_signal_sent_before_the_wait_began_is_consumed_when_it_begins() {
    let gate = Arc::new(Semaphore::new(0));
    let graph = payout(Arc::default(), Some(Arc::clone(&gate)), None);
    let mut fleet = Fleet::start(&graph, 0).await;
    let shutdown = fleet.shutdown.clone();
    notified_worker(&mut fleet, &graph, &shutdown);
    let engine = fleet.engine(graph);
    let run_id = engine.submit(3).await.unwrap();
    // `plan` is held: the wait has not begun.
    let early = engine
        .signal(&run_id, approval(true).key("k1"))
        .await
        .unwrap();
    assert_eq!(early.sent, SignalSent::Stored);
    assert!(!began(&fleet, &run_id, "approval").await);
    let again = engine
        .signal(&run_id, approval(true).key("k1"))
        .await
        .unwrap();
    assert_eq!(
        again.sent,
        SignalSent::Duplicate,
        "the same key twice is one signal"
    );
    let other = engine
        .signal(&run_id, approval(false).key("k1"))
        .await
        .unwrap_err();
    assert!(tests::is_signal_conflict(&other), "{other}");
    gate.add_permits(1);
    let run = wait(&engine, &run_id).await;
    assert_eq!(run.status, RunStatus::Completed);
    assert_eq!(run.output, Some(300 + "finance".len() as u64));
    fleet.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    no_postgres,
    ignore = "needs PostgreSQL, which did not answer when the tests were built: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
)]
async fn a_gate_on_the_payload_and_a_timeout_apply_as_in_one_process() {
    let timeout = Some(Duration::from_millis(300));
    let graph = payout(Arc::default(), None, timeout);
    let mut fleet = Fleet::start(&graph, 0).await;
    let shutdown = fleet.shutdown.clone();
    notified_worker(&mut fleet, &graph, &shutdown);
    let engine = fleet
        .engine(graph)
        .settings(EngineSettings::new().on_error(OnError::SkipDownstream));

    let refused = engine.submit(1).await.unwrap();
    until_began(&fleet, &refused, "approval").await;
    engine.signal(&refused, approval(false)).await.unwrap();
    let run = wait(&engine, &refused).await;
    assert_eq!(run.status, RunStatus::Completed);
    assert_eq!(
        run.node("pay"),
        Some(NodeStatus::Skipped),
        "the gate read the payload"
    );

    // No signal: the worker sleeps until the timeout (its polling is an hour) and fails it.
    let late = engine.submit(2).await.unwrap();
    let run = wait(&engine, &late).await;
    assert_eq!(run.status, RunStatus::Failed);
    assert_eq!(run.node("approval"), Some(NodeStatus::Failed));
    assert_eq!(run.node("pay"), Some(NodeStatus::Skipped));
    assert!(
        run.failures["approval"].error.contains("timed out"),
        "{:?}",
        run.failures
    );
    let trail = engine.audit_trail(&late).await.unwrap().unwrap();
    let entry = trail.iter().find(|e| e.node == "approval").unwrap();
    assert_eq!(entry.status, AuditStatus::Failed);
    fleet.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    no_postgres,
    ignore = "needs PostgreSQL, which did not answer when the tests were built: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
)]
async fn a_timer_on_a_fleet_is_due_by_itself_and_runs_the_dependents_after_it() {
    let after = Duration::from_millis(400);
    let graph = tests::cooling(after);
    let mut fleet = Fleet::start(&graph, 0).await;
    let shutdown = fleet.shutdown.clone();
    notified_worker(&mut fleet, &graph, &shutdown);
    let engine = fleet.engine(graph);
    let run_id = engine.submit(5).await.unwrap();
    let run = wait(&engine, &run_id).await;
    assert_eq!(run.status, RunStatus::Completed);
    assert_eq!(run.output, Some(11));
    let checkpoint = engine.load_checkpoint(&run_id).await.unwrap().unwrap();
    let plan = checkpoint.node("plan").unwrap();
    let cooled = checkpoint.node("cooled").unwrap();
    let done = checkpoint.node("done").unwrap();
    assert_eq!(cooled.output.get(), "null");
    assert!(
        done.started_at_ms >= plan.finished_at_ms + after.as_millis() as u64,
        "`done` started {} ms after `plan` ended, before the timer was due",
        done.started_at_ms - plan.finished_at_ms
    );
    fleet.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    no_postgres,
    ignore = "needs PostgreSQL, which did not answer when the tests were built: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
)]
async fn a_suspended_run_needs_no_worker_and_cancel_ends_it() {
    let graph = payout(Arc::default(), None, None);
    let mut fleet = Fleet::start(&graph, 1).await;
    let engine = fleet.engine(graph);
    let run_id = engine.submit(9).await.unwrap();
    let cancelled = engine.submit(10).await.unwrap();
    until_began(&fleet, &run_id, "approval").await;
    until_began(&fleet, &cancelled, "approval").await;
    // Every worker stops while the runs wait; the signal is stored with none running.
    fleet.stop().await;
    engine.signal(&run_id, approval(true)).await.unwrap();
    let ended = engine.cancel_waiting(&cancelled).await.unwrap().unwrap();
    assert_eq!(ended.status, RunStatus::Cancelled);
    assert_eq!(ended.node("approval"), Some(NodeStatus::NotRun));
    let refused = engine.signal(&cancelled, approval(true)).await.unwrap_err();
    assert!(
        matches!(refused, PipelineError::RunCancelled(_)),
        "{refused}"
    );

    // A worker started later finds the signalled wait due.
    let mut later = Fleet {
        store: fleet.store.clone(),
        shutdown: Shutdown::new(),
        workers: Vec::new(),
        db: fleet.db,
    };
    let graph = payout(Arc::default(), None, None);
    let shutdown = later.shutdown.clone();
    notified_worker(&mut later, &graph, &shutdown);
    let run = wait(&engine, &run_id).await;
    assert_eq!(run.status, RunStatus::Completed);
    assert_eq!(run.node("pay"), Some(NodeStatus::Completed));
    later.stop().await;
}
