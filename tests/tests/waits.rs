//! Waits for signals through the low-level API: a run with nothing left but a wait ends
//! `Waiting` and holds nothing; a signal is checked against the wait's type, stored first (once
//! per key), and continues the run; a signal sent before its wait began is consumed when it
//! begins; the payload is the wait's checkpoint record and audit entry; gates read it; a timeout
//! fails the wait. The shared tests run on every executor (one process over each store, and a
//! fleet of workers: `tests::on_every_executor!`); a test that holds only in one process says why.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use pipeline::graph::NodeBuilder;
use pipeline::store::{AuditStatus, InMemoryAuditLog, InMemoryCheckpointer, SignalSent};
use pipeline::*;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Approval {
    by: String,
    ok: bool,
}

/// amount -> plan -> approval (a signal) -> pay (only if approved).
fn payout(
    plan_down: Arc<AtomicBool>,
    hold: Option<Arc<Notify>>,
    configure: impl FnOnce(NodeBuilder<'_, u64>) -> NodeBuilder<'_, u64>,
) -> Graph<u64, u64> {
    let mut g = GraphBuilder::<u64>::new("payout");
    let amount = g.input("amount", |a: &u64| *a);
    let plan = g.node("plan").run(amount, move |a, _| {
        let (down, hold) = (plan_down.load(Ordering::SeqCst), hold.clone());
        async move {
            if let Some(hold) = hold {
                hold.notified().await;
            }
            match down {
                true => Err(std::io::Error::other("planning is down")),
                false => Ok(a * 100),
            }
        }
    });
    let approval = configure(g.node("approval")).signal::<Approval, _>(plan);
    let paid = g
        .node("pay")
        .when(approval, |a: Approval| a.ok)
        .run((plan, approval), |(plan, a), _| async move {
            Ok::<_, std::io::Error>(plan + a.by.len() as u64)
        });
    g.build(paid).unwrap()
}

fn engine(graph: Graph<u64, u64>, store: &InMemoryCheckpointer) -> PipelineEngine<Graph<u64, u64>> {
    PipelineEngine::new(graph)
        .checkpointer(store.clone())
        .audit_log(InMemoryAuditLog::new())
}

fn approval(ok: bool) -> Signal {
    Signal::new(
        "approval",
        &Approval {
            by: "finance".into(),
            ok,
        },
    )
    .unwrap()
}

tests::on_every_executor! {
    async fn a_wait_ends_the_run_waiting_and_a_signal_continues_it(on: Executor) {
        let on = on.engine(payout(Arc::default(), None, |n| n), |e| e).await;
        let waiting = on.run(7).await.unwrap();
        assert_eq!(waiting.status, RunStatus::Waiting);
        assert_eq!(waiting.node("approval"), Some(NodeStatus::Waiting));
        assert_eq!(waiting.node("pay"), Some(NodeStatus::NotRun));
        assert_eq!(waiting.waiting.len(), 1);
        assert_eq!(waiting.waiting[0].wait, "approval");
        assert!(!waiting.waiting[0].timer);

        // Resuming it runs nothing: it still waits.
        let again = on.resume(&waiting.run_id).await.unwrap();
        assert_eq!(again.status, RunStatus::Waiting);
        assert!(again.executed.is_empty(), "{:?}", again.executed);
        assert_eq!(again.waiting[0].began_at_ms, waiting.waiting[0].began_at_ms);

        let sent = on.signal(&waiting.run_id, approval(true)).await.unwrap();
        assert_eq!(sent.sent, SignalSent::Stored);
        let run = sent.run.expect("the signal continued the run");
        assert_eq!(run.status, RunStatus::Completed);
        assert_eq!(run.output, Some(700 + "finance".len() as u64));
        assert_eq!(run.node("approval"), Some(NodeStatus::Completed));
        assert_eq!(run.node("pay"), Some(NodeStatus::Completed));

        // The payload is the wait's checkpoint record and audit entry.
        let engine = &on.engine;
        let checkpoint = engine
            .load_checkpoint(&waiting.run_id)
            .await
            .unwrap()
            .unwrap();
        let record = checkpoint.node("approval").unwrap();
        assert_eq!(record.output.get(), r#"{"by":"finance","ok":true}"#);
        let trail = engine.audit_trail(&waiting.run_id).await.unwrap().unwrap();
        let entry = trail.iter().find(|e| e.node == "approval").unwrap();
        assert_eq!(entry.status, AuditStatus::Completed);
    }
}

/// In one process only: what the store itself holds of a waiting run (the fleet's rows say it
/// instead; `a_wait_ends_the_run_waiting_and_a_signal_continues_it` is the shared half).
#[tokio::test]
async fn a_run_with_only_a_wait_left_ends_waiting_and_a_signal_continues_it() {
    let store = InMemoryCheckpointer::new();
    let engine = engine(payout(Arc::default(), None, |n| n), &store);
    let waiting = engine.run(7).await.unwrap();
    assert_eq!(waiting.status, RunStatus::Waiting);
    assert_eq!(waiting.node("approval"), Some(NodeStatus::Waiting));
    assert_eq!(waiting.node("pay"), Some(NodeStatus::NotRun));
    assert_eq!(waiting.waiting.len(), 1);
    assert_eq!(waiting.waiting[0].wait, "approval");
    let stored = store.waits(&waiting.run_id).await.unwrap();
    assert_eq!(
        stored.waiting, waiting.waiting,
        "the store knows what the run waits on"
    );

    // Nothing holds the run: another engine resumes it, and it still waits (a no-op).
    let again = engine.resume(&waiting.run_id).await.unwrap();
    assert_eq!(again.status, RunStatus::Waiting);
    assert!(again.executed.is_empty(), "{:?}", again.executed);
    assert_eq!(again.waiting[0].began_at_ms, waiting.waiting[0].began_at_ms);

    let sent = engine
        .signal(&waiting.run_id, approval(true))
        .await
        .unwrap();
    assert_eq!(sent.sent, SignalSent::Stored);
    let run = sent.run.expect("the signal continued the run");
    assert_eq!(run.status, RunStatus::Completed);
    assert_eq!(run.output, Some(700 + "finance".len() as u64));
    assert_eq!(run.executed, ["approval", "pay"]);
    assert!(
        store
            .waits(&waiting.run_id)
            .await
            .unwrap()
            .waiting
            .is_empty()
    );

    // The payload is the wait's checkpoint record and audit entry.
    let checkpoint = engine
        .load_checkpoint(&waiting.run_id)
        .await
        .unwrap()
        .unwrap();
    let record = checkpoint.node("approval").unwrap();
    assert_eq!(record.output.get(), r#"{"by":"finance","ok":true}"#);
    let trail = engine.audit_trail(&waiting.run_id).await.unwrap().unwrap();
    let entry = trail.iter().find(|e| e.node == "approval").unwrap();
    assert_eq!(entry.status, AuditStatus::Completed);
}

tests::on_every_executor! {
    async fn a_signal_sent_before_its_wait_began_is_consumed_when_it_begins(on: Executor) {
        let down = Arc::new(AtomicBool::new(true));
        let on = on.engine(payout(down.clone(), None, |n| n), |e| e).await;
        let failed = on.run(3).await.unwrap();
        assert_eq!(failed.status, RunStatus::Failed);
        let sent = on.signal(&failed.run_id, approval(true)).await.unwrap();
        assert_eq!(sent.sent, SignalSent::Stored);
        assert!(
            sent.run.is_none(),
            "the run does not wait on it yet: it is only stored"
        );
        down.store(false, Ordering::SeqCst);
        let resumed = on.resume(&failed.run_id).await.unwrap();
        assert_eq!(resumed.status, RunStatus::Completed);
        assert_eq!(resumed.output, Some(300 + 7));
    }
}

/// In one process only: a run held by one engine while another sends the signal (on a fleet
/// every signal is picked up by the workers: `fleet_waits.rs`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signal_sent_while_the_run_runs_elsewhere_is_picked_up_by_its_holder() {
    let store = InMemoryCheckpointer::new();
    let hold = Arc::new(Notify::new());
    let engine = Arc::new(engine(
        payout(Arc::default(), Some(hold.clone()), |n| n),
        &store,
    ));
    let run_id = RunId::new("held").unwrap();
    let running = tokio::spawn({
        let (engine, run_id) = (Arc::clone(&engine), run_id.clone());
        async move { engine.run(2).id(run_id).await }
    });
    // `plan` holds until notified: the run is held, its wait has not begun.
    let sent = loop {
        match engine.signal(&run_id, approval(true)).await {
            Err(PipelineError::UnknownRun(_)) => tokio::task::yield_now().await,
            other => break other.unwrap(),
        }
    };
    assert!(sent.run.is_none());
    hold.notify_one();
    let result = running.await.unwrap().unwrap();
    assert_eq!(result.status, RunStatus::Completed);
    assert_eq!(result.output, Some(207));
}

tests::on_every_executor! {
    async fn a_wait_takes_one_signal_and_says_so_when_another_comes(on: Executor) {
        let on = on.engine(payout(Arc::default(), None, |n| n), |e| e).await;
        let waiting = on.run(1).await.unwrap();
        let first = on
            .signal(&waiting.run_id, approval(false).key("k1"))
            .await
            .unwrap();
        assert_eq!(first.sent, SignalSent::Stored);
        let run = first.run.unwrap();
        assert_eq!(run.status, RunStatus::Completed);
        assert_eq!(
            run.node("pay"),
            Some(NodeStatus::Skipped),
            "the gate read the payload"
        );
        let again = on
            .signal(&waiting.run_id, approval(false).key("k1"))
            .await
            .unwrap();
        assert_eq!(again.sent, SignalSent::Duplicate);
        let other = on
            .signal(&waiting.run_id, approval(true).key("k1"))
            .await
            .unwrap_err();
        assert!(tests::is_signal_conflict(&other), "{other}");
        assert!(
            other
                .to_string()
                .contains(r#"it holds {"by":"finance","ok":false}"#),
            "{other}"
        );
    }
}

tests::on_every_executor! {
    async fn a_signal_of_the_wrong_shape_or_for_no_wait_is_refused_before_it_is_stored(on: Executor) {
        let on = on.engine(payout(Arc::default(), None, |n| n), |e| e).await;
        let engine = &on.engine;
        let waiting = on.run(1).await.unwrap();
        let wrong = Signal::from_json("approval", r#"{"by": "finance"}"#).unwrap();
        let refused = engine.signal(&waiting.run_id, wrong).await.unwrap_err();
        assert!(
            matches!(refused, PipelineError::BadSignal { .. }),
            "{refused}"
        );
        assert!(
            refused.to_string().contains("missing field `ok`"),
            "{refused}"
        );
        let unknown = engine
            .signal(&waiting.run_id, Signal::new("aproval", &true).unwrap())
            .await
            .unwrap_err();
        assert!(
            unknown
                .to_string()
                .contains("no wait named `aproval`; its waits: `approval`"),
            "{unknown}"
        );
        // Nothing was stored: the right signal is the first, and continues the run.
        let right = on.signal(&waiting.run_id, approval(true)).await.unwrap();
        assert_eq!(right.sent, SignalSent::Stored);
        assert_eq!(right.run.unwrap().status, RunStatus::Completed);
        let missing = engine
            .signal(&RunId::new("nope").unwrap(), approval(true))
            .await
            .unwrap_err();
        assert!(matches!(missing, PipelineError::UnknownRun(_)), "{missing}");
    }
}

tests::on_every_executor! {
    async fn a_wait_past_its_timeout_fails_and_skip_downstream_applies(on: Executor) {
        let graph = payout(Arc::default(), None, |n| {
            n.timeout(std::time::Duration::ZERO)
        });
        let skip_downstream = |e: PipelineEngine<_>| e.settings(EngineSettings::new().on_error(OnError::SkipDownstream));
        let on = on.engine(graph, skip_downstream).await;
        let result = on.run(1).await.unwrap();
        assert_eq!(result.status, RunStatus::Failed);
        assert_eq!(result.node("approval"), Some(NodeStatus::Failed));
        assert_eq!(result.node("pay"), Some(NodeStatus::Skipped));
        assert!(
            result.failures["approval"].error.contains("timed out"),
            "{:?}",
            result.failures
        );
    }
}

/// In one process only: a fleet's store is always its checkpointer.
#[tokio::test]
async fn a_pipeline_with_waits_needs_a_checkpointer() {
    let engine = PipelineEngine::new(payout(Arc::default(), None, |n| n));
    let refused = engine.run(1).await.unwrap_err();
    assert!(
        matches!(refused, PipelineError::NoCheckpointer(_)),
        "{refused}"
    );
}

tests::on_every_executor! {
    async fn a_timer_within_the_threshold_is_awaited_in_the_process(on: Executor) {
        let graph = tests::cooling(std::time::Duration::from_millis(20));
        let on = on.engine(graph, |e| e).await;
        let engine = &on.engine;
        let result = on.run(5).await.unwrap();
        assert_eq!(result.status, RunStatus::Completed);
        assert_eq!(result.output, Some(11));
        let checkpoint = engine
            .load_checkpoint(&result.run_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(checkpoint.node("cooled").unwrap().output.get(), "null");
    }
}

/// In one process only: `resume_due` is how a process continues its due timers; on a fleet a
/// timer is due by itself and a worker takes it (`fleet_waits.rs`). The engine's clock is one the
/// test moves (issue 26, item 8: this test slept until the timer was due).
#[tokio::test]
async fn a_longer_timer_suspends_the_run_and_resume_due_continues_it_once_due() {
    let store = InMemoryCheckpointer::new();
    let clock = ManualClock::now();
    let engine = engine(
        tests::cooling(std::time::Duration::from_millis(500)),
        &store,
    )
    .settings(
        EngineSettings::new()
            .wait_in_process(std::time::Duration::ZERO)
            .clock(clock.clone()),
    );
    let waiting = engine.run(5).await.unwrap();
    assert_eq!(waiting.status, RunStatus::Waiting);
    let due = waiting.waiting[0].deadline_ms.unwrap();
    assert_eq!(due - waiting.waiting[0].began_at_ms, 500);
    assert_eq!(
        waiting.waiting[0].began_at_ms,
        clock.now_ms(),
        "the engine's clock"
    );
    // Not due yet: resume_due continues nothing, and resuming leaves it waiting.
    assert!(engine.resume_due().await.unwrap().is_empty());
    assert_eq!(
        engine.resume(&waiting.run_id).await.unwrap().status,
        RunStatus::Waiting
    );
    clock.advance(std::time::Duration::from_millis(499));
    assert!(engine.resume_due().await.unwrap().is_empty(), "1 ms early");
    clock.advance(std::time::Duration::from_millis(1));
    let continued = engine.resume_due().await.unwrap();
    assert_eq!(continued.len(), 1);
    assert_eq!(continued[0].status, RunStatus::Completed);
    assert_eq!(continued[0].output, Some(11));
    assert!(
        engine.resume_due().await.unwrap().is_empty(),
        "nothing is due any more"
    );
}

/// A run that waits in its process for a timer due soon wakes when the engine's clock reaches
/// it, not when 30 s of real time pass: it has not ended while its clock is short of the due
/// time, and it ends (well within 10 s of real time) once the clock gets there.
#[tokio::test]
async fn a_run_waiting_in_its_process_wakes_when_its_clock_is_moved() {
    let store = InMemoryCheckpointer::new();
    let clock = ManualClock::now();
    let engine = engine(tests::cooling(std::time::Duration::from_secs(30)), &store)
        .settings(EngineSettings::new().clock(clock.clone()));
    let run = tokio::spawn(async move { engine.run(5).await });
    // The run waits in its process (30 s is under the one-minute threshold) for the clock.
    for second in 0..30 {
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert!(
            !run.is_finished(),
            "it ended at {second} s of its 30 s timer"
        );
        clock.advance(std::time::Duration::from_secs(1));
    }
    let result = tokio::time::timeout(std::time::Duration::from_secs(10), run)
        .await
        .expect("woken by its clock, not by 30 s of real time")
        .unwrap()
        .unwrap();
    assert_eq!(result.status, RunStatus::Completed);
    assert_eq!(result.output, Some(11));
}

tests::on_every_executor! {
    async fn a_signal_cannot_be_sent_to_a_timer(on: Executor) {
        let graph = tests::cooling(std::time::Duration::from_secs(3600));
        let suspend = |e: PipelineEngine<_>| e.settings(EngineSettings::new().wait_in_process(std::time::Duration::ZERO));
        let on = on.engine(graph, suspend).await;
        let waiting = on.run(5).await.unwrap();
        assert_eq!(waiting.status, RunStatus::Waiting);
        assert!(waiting.waiting[0].timer);
        let refused = on
            .signal(&waiting.run_id, Signal::new("cooled", &()).unwrap())
            .await
            .unwrap_err();
        assert!(
            matches!(refused, PipelineError::UnknownWait { .. }),
            "{refused}"
        );
    }
}

tests::on_every_executor! {
    async fn a_waiting_run_can_be_cancelled_and_then_takes_no_signal(on: Executor) {
        let on = on.engine(payout(Arc::default(), None, |n| n), |e| e).await;
        let engine = &on.engine;
        let waiting = on.run(4).await.unwrap();
        assert_eq!(waiting.status, RunStatus::Waiting);
        let cancelled = engine
            .cancel_waiting(&waiting.run_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(cancelled.status, RunStatus::Cancelled);
        assert!(cancelled.executed.is_empty());
        let refused = on
            .signal(&waiting.run_id, approval(true))
            .await
            .unwrap_err();
        assert!(
            matches!(refused, PipelineError::RunCancelled(_)),
            "{refused}"
        );
        let again = on.resume(&waiting.run_id).await.unwrap();
        assert_eq!(again.status, RunStatus::Cancelled, "resuming runs nothing");
        assert!(again.executed.is_empty());
    }
}

/// In one process only: the file store's open files.
#[tokio::test]
async fn suspended_runs_hold_no_file_or_lock() {
    let dir = tempfile::tempdir().unwrap();
    // The open files of this process inside the store (not all of its files: the other tests in
    // this binary open and close runtimes and files meanwhile).
    let store = dir.path().canonicalize().unwrap();
    let fds = || {
        std::fs::read_dir("/proc/self/fd").map_or(0, |fds| {
            fds.filter_map(Result::ok)
                .filter(|fd| std::fs::read_link(fd.path()).is_ok_and(|f| f.starts_with(&store)))
                .count()
        })
    };
    let engine = PipelineEngine::new(payout(Arc::default(), None, |n| n))
        .checkpointer(FileCheckpointer::new(dir.path()).durability(Durability::Async))
        .audit_log(FileAuditLog::new(dir.path()).durability(Durability::Async));
    let first = engine.run(0).await.unwrap(); // the stores' directory exists from here
    let before = fds();
    assert_eq!(before, 0, "a suspended run keeps no file of the store open");
    let mut runs = vec![first.run_id];
    for i in 1..100 {
        let result = engine.run(i).await.unwrap();
        assert_eq!(result.status, RunStatus::Waiting);
        runs.push(result.run_id);
    }
    assert_eq!(fds(), before, "100 suspended runs keep no file open");
    // Nothing holds them: each can be taken by another engine at once.
    let other = PipelineEngine::new(payout(Arc::default(), None, |n| n))
        .checkpointer(FileCheckpointer::new(dir.path()))
        .audit_log(FileAuditLog::new(dir.path()));
    for run_id in runs.iter().take(20) {
        assert_eq!(
            other.resume(run_id).await.unwrap().status,
            RunStatus::Waiting
        );
    }
}

/// Issue 24, finding 5: a run with waits whose store was unusable from the start reported
/// `waiting` and a `signal` hint, with nothing stored anywhere. It is refused before any node
/// runs (and before its audit trail is written), saying why.
/// In one process only: a failing checkpointer of the test's own.
#[tokio::test]
async fn a_run_with_waits_is_refused_when_its_checkpoint_cannot_be_written() {
    let audit = InMemoryAuditLog::new();
    let log = tests::Log::default();
    let graph = payout(Arc::new(AtomicBool::new(false)), None, |node| node);
    let engine = PipelineEngine::new(graph)
        .checkpointer(tests::FailingCheckpointer)
        .audit_log(audit.clone())
        .event_handler(tests::RecordingEvents(log.clone()));
    let refused = engine.run(5).await.unwrap_err();
    assert!(
        matches!(&refused, PipelineError::WaitsNeedCheckpoint { reason, .. }
            if reason.contains("disk on fire")),
        "{refused}"
    );
    assert!(refused.to_string().contains("was not started"), "{refused}");
    assert!(
        audit.list_runs().await.unwrap().is_empty(),
        "no audit trail"
    );
    let started: Vec<String> = log
        .lines()
        .into_iter()
        .filter(|l| l.starts_with("node_start") || l.starts_with("pipeline_start"))
        .collect();
    assert!(started.is_empty(), "nothing ran: {started:?}");
}
