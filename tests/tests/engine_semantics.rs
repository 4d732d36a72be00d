//! The engine's run semantics, one named test each, through the public low-level graph API.
//! The shared tests run on every executor (one process over each store, and a fleet of workers:
//! `tests::on_every_executor!`); a test that holds only in one process says why.

use std::collections::{BTreeSet, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pipeline::*;
use tests::*;
use tokio::sync::{Barrier, Notify};

/// Which node ids fail (with an error) while they are in the set.
#[derive(Clone, Default)]
struct Faults(Arc<Mutex<HashSet<String>>>);

impl Faults {
    fn of(ids: &[&str]) -> Self {
        Faults(Arc::new(Mutex::new(
            ids.iter().map(|s| s.to_string()).collect(),
        )))
    }
    fn clear(&self) {
        self.0.lock().unwrap().clear();
    }
    fn check(&self, id: &str) -> Result<(), std::io::Error> {
        match self.0.lock().unwrap().contains(id) {
            true => Err(std::io::Error::other(format!("boom in {id}"))),
            false => Ok(()),
        }
    }
}

/// x -> a -> {b, c} -> d (a diamond), and x -> e (an independent branch). Output: d.
fn diamond(log: &Log, faults: &Faults) -> Graph<u64, u64> {
    tests::diamond(|id: &'static str, f: fn(u64, u64) -> u64| {
        let (log, faults) = (log.clone(), faults.clone());
        move |(p, q): (u64, u64), ctx: NodeContext| {
            let (log, faults) = (log.clone(), faults.clone());
            async move {
                assert_eq!(ctx.node_id(), id);
                log.push(format!("start:{id}"));
                faults.check(id)?;
                Ok::<_, std::io::Error>(f(p, q))
            }
        }
    })
}

fn statuses(result: &PipelineResult<impl Sized>) -> Vec<(String, NodeStatus)> {
    // Sorted by id, as the expected lists are.
    result.nodes.to_map().into_iter().collect()
}

fn ids(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn run_id_is_a_generated_uuid_v7_when_none_is_given() {
    let engine = PipelineEngine::new(diamond(&Log::default(), &Faults::default()));
    let first = engine.run(1).await.unwrap();
    let second = engine.run(1).await.unwrap();
    let id = first.run_id.as_str();
    assert_eq!(id.len(), 36, "{id}");
    assert_eq!(&id[14..15], "7", "version nibble of {id}");
    assert!(first.run_id < second.run_id, "v7 ids sort by time");
}

#[tokio::test]
async fn run_id_is_passed_through_when_given() {
    let engine = PipelineEngine::new(diamond(&Log::default(), &Faults::default()));
    let id = RunId::new("nightly-42").unwrap();
    let result = engine.run(1).id(id.clone()).await.unwrap();
    assert_eq!(result.run_id, id);
}

tests::on_every_executor! {
    async fn independent_nodes_run_concurrently_and_outputs_feed_every_consumer(on: Executor) {
        let barrier = Arc::new(Barrier::new(2));
        let mut g = GraphBuilder::<u64>::new("concurrent");
        let x = g.input("x", |x: &u64| *x);
        let waiter = |barrier: Arc<Barrier>| {
            move |x: u64, _| {
                let barrier = Arc::clone(&barrier);
                async move {
                    barrier.wait().await; // both must be running at once to get past this
                    ok(x)
                }
            }
        };
        let left = g.node("left").run(x, waiter(Arc::clone(&barrier)));
        let right = g.node("right").run(x, waiter(barrier));
        let sum = g
            .node("sum")
            .run((left, right), |(l, r), _| async move { ok(l + r) });
        let on = on.engine(g.build(sum).unwrap(), |e| e).await;
        let result = tokio::time::timeout(Duration::from_secs(30), on.run(21))
            .await
            .expect("independent nodes did not run concurrently");
        assert_eq!(result.unwrap().output, Some(42));
    }
}

#[tokio::test]
async fn each_completed_node_checkpoints_then_audits_once_before_any_dependent_starts() {
    let log = Log::default();
    let engine = PipelineEngine::new(diamond(&log, &Faults::default()))
        .checkpointer(Hooked(RecordingCheckpointer {
            inner: InMemoryCheckpointer::new(),
            log: log.clone(),
        }))
        .audit_log(RecordingAudit {
            inner: InMemoryAuditLog::new(),
            log: log.clone(),
        });
    let result = engine.run(1).await.unwrap();
    assert_eq!(result.status, RunStatus::Completed);
    assert_eq!(result.output, Some(2 * 2 + 2 * 3));
    let edges = [("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")];
    for node in ["a", "b", "c", "d", "e"] {
        let checkpoint = format!("checkpoint:{node}");
        let audit = format!("audit:{node}:completed");
        assert_eq!(log.count(&checkpoint), 1, "{node}: {:?}", log.lines());
        assert_eq!(log.count(&audit), 1, "{node}: {:?}", log.lines());
        assert!(
            log.position(&checkpoint) < log.position(&audit),
            "{node}: {:?}",
            log.lines()
        );
    }
    for (up, down) in edges {
        let audited = log.position(&format!("audit:{up}:completed")).unwrap();
        let started = log.position(&format!("start:{down}")).unwrap();
        assert!(
            audited < started,
            "{down} started before {up} was persisted: {:?}",
            log.lines()
        );
    }
}

tests::on_every_executor! {
    async fn failed_node_is_audited_with_its_error_not_checkpointed_and_rerun_on_resume(on: Executor) {
        let (log, faults) = (Log::default(), Faults::of(&["b"]));
        let on = on.engine(diamond(&log, &faults), |e| e).await;
        let engine = &on.engine;
        let result = on.run(1).await.unwrap();
        assert_eq!(result.status, RunStatus::Failed);
        assert_eq!(result.node("b"), Some(NodeStatus::Failed));
        assert_eq!(result.failures["b"].error, "boom in b");
        assert_eq!(result.output, None);

        let checkpoint = engine
            .load_checkpoint(&result.run_id)
            .await
            .unwrap()
            .unwrap();
        assert!(checkpoint.node("b").is_none());
        let trail = engine.audit_trail(&result.run_id).await.unwrap().unwrap();
        let b: Vec<_> = trail.iter().filter(|e| e.node == "b").collect();
        assert_eq!(b.len(), 1);
        assert_eq!(b[0].status, AuditStatus::Failed);
        assert_eq!(b[0].error.as_deref(), Some("boom in b"));
        assert!(b[0].output.is_none());

        faults.clear();
        let resumed = on.resume(&result.run_id).await.unwrap();
        assert_eq!(resumed.status, RunStatus::Completed);
        assert_eq!(resumed.output, Some(10));
        assert!(resumed.executed.contains("b"));
    }
}

tests::on_every_executor! {
    async fn a_panicking_node_is_a_failed_node_and_the_engine_stays_usable(on: Executor) {
        let mut g = GraphBuilder::<u64>::new("panics");
        let x = g.input("x", |x: &u64| *x);
        let boom = g.node("boom").run(x, |x, _| async move {
            if x == 0 {
                panic!("division by zero");
            }
            ok(100 / x)
        });
        let blocking = g.node("blocking").run_blocking(x, |x: u64, _| {
            if x == 0 {
                panic!("blocking panic");
            }
            ok(x)
        });
        let both = g
            .node("both")
            .run((boom, blocking), |(a, b), _| async move { ok(a + b) });
        let skip_downstream = |e: PipelineEngine<_>| e.settings(EngineSettings::new().on_error(OnError::SkipDownstream));
        let on = on.engine(g.build(both).unwrap(), skip_downstream).await;
        let engine = &on.engine;
        let failed = on.run(0).await.unwrap();
        assert_eq!(failed.status, RunStatus::Failed);
        assert_eq!(failed.failures["boom"].error, "panicked: division by zero");
        assert_eq!(
            failed.failures["blocking"].error,
            "panicked: blocking panic"
        );
        assert_eq!(failed.node("both"), Some(NodeStatus::Skipped));
        let trail = engine.audit_trail(&failed.run_id).await.unwrap().unwrap();
        assert!(
            trail
                .iter()
                .any(|e| e.node == "boom" && e.status == AuditStatus::Failed)
        );

        let fine = on.run(5).await.unwrap();
        assert_eq!(fine.output, Some(25));
    }
}

#[tokio::test(start_paused = true)]
async fn a_node_that_never_returns_fails_with_a_timeout() {
    let mut g = GraphBuilder::<u64>::new("hangs");
    let x = g.input("x", |x: &u64| *x);
    let hang = g
        .node("hang")
        .timeout(Duration::from_secs(5))
        .run(x, |_, _| {
            std::future::pending::<Result<u64, std::io::Error>>()
        });
    let engine = PipelineEngine::new(g.build(hang).unwrap()).audit_log(InMemoryAuditLog::new());
    let result = engine.run(1).await.unwrap();
    assert_eq!(result.node("hang"), Some(NodeStatus::Failed));
    assert_eq!(result.failures["hang"].error, "timed out after 5s");
    let trail = engine.audit_trail(&result.run_id).await.unwrap().unwrap();
    assert_eq!(trail[0].error.as_deref(), Some("timed out after 5s"));
}

/// x -> small (gated on x < 10) -> after_small; x -> other. Output: other.
fn gated(log: &Log) -> Graph<u64, u64> {
    let mut g = GraphBuilder::<u64>::new("gated");
    let x = g.input("x", |x: &u64| *x);
    let l = log.clone();
    let small = g.node("small").when(x, |x| x < 10).run(x, move |x, _| {
        l.push("start:small");
        async move { ok(x) }
    });
    let l = log.clone();
    let _after = g.node("after_small").run(small, move |s, _| {
        l.push("start:after_small");
        async move { ok(s + 1) }
    });
    let other = g.node("other").run(x, |x, _| async move { ok(x * 2) });
    g.build(other).unwrap()
}

/// In one process only: it watches every write through recording stores, which a fleet's
/// workers do not use.
#[tokio::test]
async fn a_false_gate_skips_the_node_and_everything_downstream_writing_nothing() {
    let log = Log::default();
    let engine = PipelineEngine::new(gated(&log))
        .checkpointer(Hooked(RecordingCheckpointer {
            inner: InMemoryCheckpointer::new(),
            log: log.clone(),
        }))
        .audit_log(RecordingAudit {
            inner: InMemoryAuditLog::new(),
            log: log.clone(),
        });
    let result = engine.run(50).await.unwrap();
    assert_eq!(result.status, RunStatus::Completed);
    assert_eq!(result.output, Some(100));
    assert_eq!(result.node("small"), Some(NodeStatus::Skipped));
    assert_eq!(result.node("after_small"), Some(NodeStatus::Skipped));
    for skipped in ["small", "after_small"] {
        assert!(
            log.lines().iter().all(|l| !l.contains(skipped)),
            "{skipped} left a trace: {:?}",
            log.lines()
        );
    }
    let open = engine.run(5).await.unwrap();
    assert_eq!(open.node("small"), Some(NodeStatus::Completed));
    assert_eq!(open.node("after_small"), Some(NodeStatus::Completed));
}

tests::on_every_executor! {
    async fn a_panicking_gate_fails_its_node(on: Executor) {
        let mut g = GraphBuilder::<u64>::new("bad_gate");
        let x = g.input("x", |x: &u64| *x);
        let n = g
            .node("n")
            .when(x, |_| panic!("gate exploded"))
            .run(x, |x, _| async move { ok(x) });
        let on = on.engine(g.build(n).unwrap(), |e| e).await;
        let result = on.run(1).await.unwrap();
        assert_eq!(result.node("n"), Some(NodeStatus::Failed));
        assert_eq!(
            result.failures["n"].error,
            "condition panicked: gate exploded"
        );
    }
}

/// In one process only: whether `slow`'s outcome is committed before `fail`'s is up to a fleet's
/// committer (both may be in one batch), so whether `after_slow` starts is not fixed there.
#[tokio::test]
async fn fail_fast_stops_scheduling_and_lets_running_nodes_finish() {
    let release = Arc::new(Notify::new());
    let engine = PipelineEngine::new(tests::fail_fast(&release));
    let result = engine.run(1).await.unwrap();
    assert_eq!(result.status, RunStatus::Failed);
    assert_eq!(
        statuses(&result),
        vec![
            ("after_fail".into(), NodeStatus::NotRun),
            ("after_slow".into(), NodeStatus::NotRun),
            ("fail".into(), NodeStatus::Failed),
            ("slow".into(), NodeStatus::Completed),
        ]
    );
}

tests::on_every_executor! {
    async fn skip_downstream_skips_dependents_and_keeps_independent_branches_running(on: Executor) {
        let (log, faults) = (Log::default(), Faults::of(&["b"]));
        let skip_downstream = |e: PipelineEngine<_>| e.settings(EngineSettings::new().on_error(OnError::SkipDownstream));
        let on = on.engine(diamond(&log, &faults), skip_downstream).await;
        let result = on.run(1).await.unwrap();
        assert_eq!(result.status, RunStatus::Failed);
        assert_eq!(
            statuses(&result),
            vec![
                ("a".into(), NodeStatus::Completed),
                ("b".into(), NodeStatus::Failed),
                ("c".into(), NodeStatus::Completed),
                ("d".into(), NodeStatus::Skipped),
                ("e".into(), NodeStatus::Completed),
            ]
        );
    }
}

tests::on_every_executor! {
    async fn a_node_policy_overrides_the_pipeline_policy(on: Executor) {
        let mut g = GraphBuilder::<u64>::new("override");
        let x = g.input("x", |x: &u64| *x);
        let flaky = g
            .node("flaky")
            .on_error(OnError::SkipDownstream)
            .run(x, |_, _| async {
                Err::<u64, _>(std::io::Error::other("flaky"))
            });
        let _after = g.node("after").run(flaky, |f, _| async move { ok(f) });
        let release = Arc::new(Notify::new());
        let r = Arc::clone(&release);
        let first = g.node("first").run(x, move |x, _| {
            let r = Arc::clone(&r);
            async move {
                r.notified().await;
                ok(x)
            }
        });
        let second = g.node("second").run(first, |x, _| async move { ok(x + 1) });
        let events: Arc<dyn EventHandler> = Arc::new(ReleaseOnFail(release));
        let graph = g.build(second).unwrap();
        let on = on.engine_heard(graph, Some(events), |e| e).await;
        let result = on.run(1).await.unwrap();
        // `flaky` fails under its own SkipDownstream: the fail-fast pipeline keeps scheduling.
        assert_eq!(result.node("after"), Some(NodeStatus::Skipped));
        assert_eq!(result.node("second"), Some(NodeStatus::Completed));
        assert_eq!(result.output, Some(2));
        assert_eq!(result.status, RunStatus::Failed);
    }
}

struct ReleaseOnFail(Arc<Notify>);

impl EventHandler for ReleaseOnFail {
    fn on_node_fail(&self, _: &RunId, _: &str, _: u32, _: &str) {
        self.0.notify_one();
    }
}

tests::on_every_executor! {
    async fn resume_restores_completed_outputs_and_runs_only_the_rest(on: Executor) {
        let (log, faults) = (Log::default(), Faults::of(&["d"]));
        let skip_downstream = |e: PipelineEngine<_>| e.settings(EngineSettings::new().on_error(OnError::SkipDownstream));
        let on = on.engine(diamond(&log, &faults), skip_downstream).await;
        let failed = on.run(1).await.unwrap();
        assert_eq!(failed.node("d"), Some(NodeStatus::Failed));
        faults.clear();
        let resumed = on.resume(&failed.run_id).await.unwrap();
        assert_eq!(resumed.run_id, failed.run_id);
        assert_eq!(resumed.status, RunStatus::Completed);
        assert_eq!(resumed.output, Some(10));
        assert_eq!(resumed.executed, vec!["d".to_string()]);
        assert_eq!(
            resumed
                .restored
                .iter()
                .map(str::to_owned)
                .collect::<BTreeSet<_>>(),
            ids(&["a", "b", "c", "e"])
        );
        for node in ["a", "b", "c", "e"] {
            assert_eq!(log.count(&format!("start:{node}")), 1, "{node} ran again");
        }
    }
}

tests::on_every_executor! {
    async fn resuming_a_completed_run_runs_nothing_and_returns_the_same_output(on: Executor) {
        let log = Log::default();
        let on = on.engine(diamond(&log, &Faults::default()), |e| e).await;
        let done = on.run(3).await.unwrap();
        let starts = log.lines().len();
        let again = on.resume(&done.run_id).await.unwrap();
        assert_eq!(again.status, RunStatus::Completed);
        assert_eq!(again.output, done.output);
        assert!(again.executed.is_empty());
        assert_eq!(log.lines().len(), starts, "nothing may run");
        assert_eq!(statuses(&again), statuses(&done));
    }
}

#[tokio::test]
async fn resume_without_a_checkpointer_is_an_error() {
    let engine = PipelineEngine::new(diamond(&Log::default(), &Faults::default()));
    let id = RunId::new("some-run").unwrap();
    let err = engine.resume(&id).await.unwrap_err();
    assert!(
        matches!(err, PipelineError::NoCheckpointer(ref r) if *r == id),
        "{err:?}"
    );
    assert!(err.to_string().contains(".checkpointer("), "{err}");
}

#[tokio::test]
async fn resume_of_an_unknown_run_is_an_error() {
    let engine = PipelineEngine::new(diamond(&Log::default(), &Faults::default()))
        .checkpointer(InMemoryCheckpointer::new());
    let id = RunId::new("never-ran").unwrap();
    let err = engine.resume(&id).await.unwrap_err();
    assert!(
        matches!(err, PipelineError::UnknownRun(ref r) if *r == id),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_run_id_that_is_taken_is_refused() {
    let engine = PipelineEngine::new(diamond(&Log::default(), &Faults::default()))
        .checkpointer(InMemoryCheckpointer::new());
    let id = RunId::new("daily").unwrap();
    engine.run(1).id(id.clone()).await.unwrap();
    let err = engine.run(1).id(id.clone()).await.unwrap_err();
    assert!(
        matches!(err, PipelineError::RunExists(ref r) if *r == id),
        "{err:?}"
    );
}

#[tokio::test]
async fn persistence_failures_never_fail_the_run_and_are_reported() {
    let events = RecordingEvents::default();
    let engine = PipelineEngine::new(diamond(&Log::default(), &Faults::default()))
        .checkpointer(FailingCheckpointer)
        .audit_log(FailingAudit)
        .event_handler(events.clone());
    let result = engine.run(1).await.unwrap();
    assert_eq!(result.status, RunStatus::Completed);
    assert_eq!(result.output, Some(10));
    // Creating the run failed in both stores: one warning each, then no more writes are tried.
    let stores: Vec<WarningSource> = result.warnings.iter().map(|w| w.source).collect();
    assert_eq!(
        stores,
        vec![WarningSource::Checkpoint, WarningSource::Audit]
    );
    assert!(result.warnings[0].message.contains("disk on fire"));
    assert_eq!(events.0.count("warning:header"), 2);

    let failing_saves = PipelineEngine::new(diamond(&Log::default(), &Faults::default()))
        .checkpointer(Hooked(FailingSaves::default()))
        .event_handler(events.clone());
    let result = failing_saves.run(1).await.unwrap();
    assert_eq!(result.status, RunStatus::Completed);
    let nodes: BTreeSet<String> = result
        .warnings
        .iter()
        .filter_map(|w| w.node.clone())
        .collect();
    assert_eq!(nodes, ids(&["a", "b", "c", "d", "e"]));
    assert!(
        result.warnings[0]
            .to_string()
            .contains("checkpoint write for node")
    );
}

#[tokio::test]
async fn the_checkpoint_holds_inputs_and_each_output_with_timing_as_serde_data() {
    let engine = PipelineEngine::new(diamond(&Log::default(), &Faults::default()))
        .checkpointer(InMemoryCheckpointer::new());
    let result = engine.run(7).await.unwrap();
    let checkpoint = engine
        .load_checkpoint(&result.run_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(checkpoint.header.pipeline, "diamond");
    assert_eq!(checkpoint.header.inputs.get(), "7");
    assert_eq!(checkpoint.header.fingerprint, engine.graph().fingerprint());
    assert_eq!(checkpoint.node("a").unwrap().output.get(), "8");
    assert_eq!(checkpoint.node("d").unwrap().output.get(), "40");
    let completed: BTreeSet<String> = checkpoint.completed().map(String::from).collect();
    assert_eq!(completed, ids(&["a", "b", "c", "d", "e"]));
    for record in &checkpoint.nodes {
        assert!(record.finished_at_ms >= record.started_at_ms);
        assert_eq!(record.attempt, 1);
    }
    let json = serde_json::to_string(&checkpoint).unwrap();
    let back: Checkpoint = serde_json::from_str(&json).unwrap();
    assert_eq!(back.nodes.len(), 5);
    assert_eq!(back.header.run_id, result.run_id);
}

#[tokio::test]
async fn an_audit_entry_holds_the_inputs_the_node_received_and_its_output() {
    let engine = PipelineEngine::new(diamond(&Log::default(), &Faults::default()))
        .audit_log(InMemoryAuditLog::new())
        .settings(EngineSettings::new().audit_detail(AuditDetail::Full));
    let result = engine.run(2).await.unwrap();
    let trail = engine.audit_trail(&result.run_id).await.unwrap().unwrap();
    assert_eq!(trail.len(), 5);
    let d = trail.iter().find(|e| e.node == "d").unwrap();
    assert_eq!(d.run_id, result.run_id);
    assert_eq!(d.status, AuditStatus::Completed);
    assert_eq!(d.attempt, 1);
    assert_eq!(d.inputs["b"].get(), "6");
    assert_eq!(d.inputs["c"].get(), "9");
    assert_eq!(d.output.as_ref().unwrap().get(), "15");
    assert!(d.error.is_none());
    assert!(d.finished_at_ms >= d.started_at_ms);
    let a = trail.iter().find(|e| e.node == "a").unwrap();
    assert_eq!(a.inputs["x"].get(), "2");
}

#[tokio::test(start_paused = true)]
async fn retries_audit_every_attempt_and_only_the_last_decides() {
    let calls = Arc::new(AtomicUsize::new(0));
    let mut g = GraphBuilder::<u64>::new("retries");
    let x = g.input("x", |x: &u64| *x);
    let c = Arc::clone(&calls);
    let flaky = g.node("flaky").retries(3).run(x, move |x, ctx| {
        let call = c.fetch_add(1, Ordering::SeqCst) + 1;
        async move {
            assert_eq!(ctx.attempt() as usize, call);
            match call {
                1 | 2 => Err(std::io::Error::other(format!("attempt {call} failed"))),
                _ => Ok(x),
            }
        }
    });
    let never = g.node("never").retries(2).run(x, |_, _| async {
        Err::<u64, _>(std::io::Error::other("always"))
    });
    let events = RecordingEvents::default();
    let engine = PipelineEngine::new(g.build((flaky, never)).unwrap())
        .audit_log(InMemoryAuditLog::new())
        .event_handler(events.clone())
        .settings(EngineSettings::new().on_error(OnError::SkipDownstream));
    let result = engine.run(4).await.unwrap();
    assert_eq!(result.node("flaky"), Some(NodeStatus::Completed));
    assert_eq!(result.node("never"), Some(NodeStatus::Failed));
    assert_eq!(result.failures["never"].attempts, 3);
    let trail = engine.audit_trail(&result.run_id).await.unwrap().unwrap();
    let flaky_attempts: Vec<(u32, AuditStatus)> = trail
        .iter()
        .filter(|e| e.node == "flaky")
        .map(|e| (e.attempt, e.status))
        .collect();
    assert_eq!(
        flaky_attempts,
        vec![
            (1, AuditStatus::Failed),
            (2, AuditStatus::Failed),
            (3, AuditStatus::Completed)
        ]
    );
    assert_eq!(trail.iter().filter(|e| e.node == "never").count(), 3);
    assert_eq!(events.0.count("node_retry:flaky:1"), 1);
    assert_eq!(events.0.count("node_retry:flaky:2"), 1);
    assert_eq!(events.0.count("node_fail:never:3"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_concurrency_caps_the_nodes_running_at_once() {
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let barrier = Arc::new(Barrier::new(2));
    let mut g = GraphBuilder::<u64>::new("capped");
    let x = g.input("x", |x: &u64| *x);
    let mut outs = Vec::new();
    for i in 0..8 {
        let (running, peak, barrier) = (running.clone(), peak.clone(), barrier.clone());
        outs.push(g.node(format!("n{i}")).run(x, move |x, _| {
            let (running, peak, barrier) = (running.clone(), peak.clone(), barrier.clone());
            async move {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                barrier.wait().await; // pairs: needs 2 at once, so the cap must allow 2
                running.fetch_sub(1, Ordering::SeqCst);
                ok(x)
            }
        }));
    }
    let engine = PipelineEngine::new(g.build(outs).unwrap())
        .settings(EngineSettings::new().max_concurrency(2));
    let result = tokio::time::timeout(Duration::from_secs(30), engine.run(1))
        .await
        .expect("a cap of 2 must let two nodes meet at the barrier")
        .unwrap();
    assert_eq!(result.output, Some(vec![1; 8]));
    assert_eq!(peak.load(Ordering::SeqCst), 2);
}

/// x -> quick -> blocker (waits for `gate` to open) -> tail.
fn cancellable(started: Arc<Notify>, open: Arc<Mutex<bool>>, log: Log) -> Graph<u64, u64> {
    let mut g = GraphBuilder::<u64>::new("cancellable");
    let x = g.input("x", |x: &u64| *x);
    let l = log.clone();
    let quick = g.node("quick").run(x, move |x, _| {
        l.push("start:quick");
        async move { ok(x + 1) }
    });
    let blocker = g.node("blocker").run(quick, move |q, _| {
        let (started, open, log) = (started.clone(), *open.lock().unwrap(), log.clone());
        async move {
            log.push("start:blocker");
            if !open {
                started.notify_one();
                std::future::pending::<()>().await;
            }
            ok(q * 10)
        }
    });
    let tail = g.node("tail").run(blocker, |b, _| async move { ok(b + 1) });
    g.build(tail).unwrap()
}

#[tokio::test]
async fn a_cancel_handle_stops_the_run_and_leaves_a_resumable_checkpoint() {
    let (started, open, log) = (
        Arc::new(Notify::new()),
        Arc::new(Mutex::new(false)),
        Log::default(),
    );
    let engine = PipelineEngine::new(cancellable(started.clone(), open.clone(), log.clone()))
        .checkpointer(InMemoryCheckpointer::new());
    let cancel = CancelHandle::new();
    let id = RunId::new("to-cancel").unwrap();
    let (result, ()) = tokio::join!(engine.run(1).id(id.clone()).cancel(&cancel), async {
        started.notified().await;
        cancel.cancel();
    });
    let result = result.unwrap();
    assert_eq!(result.status, RunStatus::Cancelled);
    assert_eq!(result.node("quick"), Some(NodeStatus::Completed));
    assert_eq!(result.node("blocker"), Some(NodeStatus::NotRun));
    assert_eq!(result.node("tail"), Some(NodeStatus::NotRun));

    *open.lock().unwrap() = true;
    let resumed = engine.resume(&id).await.unwrap();
    assert_eq!(resumed.status, RunStatus::Completed);
    assert_eq!(resumed.output, Some(21));
    assert_eq!(log.count("start:quick"), 1);
}

#[tokio::test]
async fn dropping_the_run_future_leaves_a_resumable_checkpoint() {
    let (started, open, log) = (
        Arc::new(Notify::new()),
        Arc::new(Mutex::new(false)),
        Log::default(),
    );
    let engine = PipelineEngine::new(cancellable(started.clone(), open.clone(), log.clone()))
        .checkpointer(InMemoryCheckpointer::new());
    let id = RunId::new("dropped").unwrap();
    tokio::select! {
        _ = engine.run(1).id(id.clone()) => panic!("the run cannot finish while blocked"),
        () = started.notified() => {} // drops the run future
    }
    *open.lock().unwrap() = true;
    let resumed = engine.resume(&id).await.unwrap();
    assert_eq!(resumed.output, Some(21));
    assert_eq!(resumed.restored, vec!["quick".to_string()]);
    assert_eq!(log.count("start:quick"), 1);
}

#[tokio::test]
async fn the_event_handler_hears_every_callback_in_order() {
    let events = RecordingEvents::default();
    let (log, faults) = (Log::default(), Faults::of(&["b"]));
    let engine = PipelineEngine::new(diamond(&log, &faults))
        .event_handler(events.clone())
        .settings(EngineSettings::new().on_error(OnError::SkipDownstream));
    engine.run(1).await.unwrap();
    let lines = events.0.lines();
    assert_eq!(
        lines.first().map(String::as_str),
        Some("pipeline_start:diamond:false")
    );
    assert_eq!(
        lines.last().map(String::as_str),
        Some("pipeline_end:diamond:failed")
    );
    for line in [
        "node_start:a:1",
        "node_complete:a:1",
        "node_fail:b:1",
        "node_skip:d",
    ] {
        assert_eq!(events.0.count(line), 1, "{line} in {lines:?}");
    }
    assert!(events.0.position("node_start:a:1") < events.0.position("node_complete:a:1"));
}

#[tokio::test]
async fn resume_refuses_a_checkpoint_of_another_pipeline_or_a_changed_graph() {
    let checkpointer = InMemoryCheckpointer::new();
    let diamond_engine = PipelineEngine::new(diamond(&Log::default(), &Faults::default()))
        .checkpointer(checkpointer.clone());
    let run = diamond_engine.run(1).await.unwrap();

    let other = PipelineEngine::new(gated(&Log::default())).checkpointer(checkpointer.clone());
    let err = other.resume(&run.run_id).await.unwrap_err();
    assert!(
        matches!(err, PipelineError::PipelineMismatch { .. }),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("belongs to pipeline `diamond`, not `gated`"),
        "{err}"
    );

    // Same name, one node retyped and one added.
    let mut g = GraphBuilder::<u64>::new("diamond");
    let x = g.input("x", |x: &u64| *x);
    let a = g.node("a").run(x, |x, _| async move { ok(x as i64) });
    let _f = g.node("f").run(a, |a, _| async move { ok(a) });
    let changed = PipelineEngine::new(g.build(a).unwrap()).checkpointer(checkpointer);
    let err = changed.resume(&run.run_id).await.unwrap_err();
    let PipelineError::GraphChanged { changes, .. } = &err else {
        panic!("expected GraphChanged, got {err:?}");
    };
    assert!(
        changes.contains(&"node `a` output type changed from `u64` to `i64`".to_string()),
        "{changes:?}"
    );
    assert!(
        changes.contains(&"node `f` added".to_string()),
        "{changes:?}"
    );
    assert!(
        changes.contains(&"node `b` removed".to_string()),
        "{changes:?}"
    );
}

#[test]
fn graph_builder_reports_duplicate_ids_and_foreign_handles() {
    let mut g = GraphBuilder::<u64>::new("dup");
    let x = g.input("x", |x: &u64| *x);
    let _a = g.node("x").run(x, |x, _| async move { ok(x) });
    let err = g.build(()).unwrap_err();
    assert_eq!(
        err,
        GraphError::DuplicateId {
            pipeline: "dup".into(),
            id: "x".into()
        }
    );

    let mut one = GraphBuilder::<u64>::new("one");
    let foreign = one.input("x", |x: &u64| *x);
    let mut two = GraphBuilder::<u64>::new("two");
    let _n = two.node("n").run(foreign, |x, _| async move { ok(x) });
    assert!(matches!(
        two.build(()),
        Err(GraphError::ForeignHandle { .. })
    ));
    assert_eq!(
        GraphBuilder::<u64>::new("").build(()).unwrap_err(),
        GraphError::EmptyPipelineName
    );
}

/// Every attempt the nodes of [`attempted`] made, in order: node, item index, attempt number.
type Attempts = Arc<Mutex<Vec<(String, Option<u32>, u32)>>>;

/// x -> flaky (1 retry), and a list of 3 -> items (each, 1 retry), under skip-downstream: while
/// `failing` is set, `flaky` and item 1 fail. Every attempt is noted in `seen`.
fn attempted(failing: &Arc<AtomicBool>, seen: &Attempts) -> Graph<u64, (u64, Vec<u64>)> {
    let zero = Backoff {
        initial: Duration::ZERO,
        max: Duration::ZERO,
    };
    let mut g = GraphBuilder::<u64>::new("attempted");
    let x = g.input("x", |x: &u64| *x);
    let list = g.input("list", |_: &u64| vec![0u64, 1, 2]);
    let (fail, note) = (Arc::clone(failing), Arc::clone(seen));
    let flaky = g
        .node("flaky")
        .retries(1)
        .backoff(zero)
        .run(x, move |x, ctx| {
            note.lock()
                .unwrap()
                .push(("flaky".into(), None, ctx.attempt()));
            let failing = fail.load(Ordering::SeqCst);
            async move {
                match failing {
                    true => Err(std::io::Error::other("flaky failed")),
                    false => Ok(x),
                }
            }
        });
    let (fail, note) = (Arc::clone(failing), Arc::clone(seen));
    let items = g
        .node("items")
        .retries(1)
        .backoff(zero)
        .each(list, (), move |i, (), ctx| {
            let index = ctx.item().map(|item| item.index);
            note.lock()
                .unwrap()
                .push(("items".into(), index, ctx.attempt()));
            let failing = fail.load(Ordering::SeqCst) && i == 1;
            async move {
                match failing {
                    true => Err(std::io::Error::other("item 1 failed")),
                    false => Ok(i * 10),
                }
            }
        });
    g.build((flaky, items)).unwrap()
}

tests::on_every_executor! {
    async fn attempt_numbers_continue_across_resumes_and_each_start_has_its_own_retries(on: Executor) {
        let failing = Arc::new(AtomicBool::new(true));
        let seen = Attempts::default();
        let skip_downstream = |e: PipelineEngine<_>| e.settings(EngineSettings::new().on_error(OnError::SkipDownstream));
        let on = on.engine(attempted(&failing, &seen), skip_downstream).await;
        let numbers = |node: &str, item: Option<u32>| -> Vec<u32> {
            let seen = seen.lock().unwrap();
            seen.iter().filter(|s| s.0 == node && s.1 == item).map(|s| s.2).collect()
        };
        let audited = |trail: &[pipeline::store::AuditEntry], node: &str, item: Option<u32>| -> Vec<u32> {
            trail
                .iter()
                .filter(|e| e.node == node && e.item.map(|i| i.index) == item)
                .map(|e| e.attempt)
                .collect()
        };
        let first = on.run(1).await.unwrap();
        assert_eq!(first.status, RunStatus::Failed);
        assert_eq!(first.failures["flaky"].attempts, 2);
        assert_eq!(first.failures["items"].items[0].attempts, 2);
        assert_eq!(numbers("flaky", None), [1, 2]);
        assert_eq!(numbers("items", Some(1)), [1, 2]);

        // Still failing: the resumed start has its own retry, and its attempts are numbered on.
        let second = on.resume(&first.run_id).await.unwrap();
        assert_eq!(second.status, RunStatus::Failed);
        assert_eq!(second.failures["flaky"].attempts, 4, "attempts in all");
        assert_eq!(second.failures["items"].items[0].attempts, 4);
        assert_eq!(numbers("flaky", None), [1, 2, 3, 4]);
        assert_eq!(numbers("items", Some(1)), [1, 2, 3, 4]);
        assert_eq!(numbers("items", Some(0)), [1], "a completed item does not run again");

        failing.store(false, Ordering::SeqCst);
        let third = on.resume(&first.run_id).await.unwrap();
        assert_eq!(third.status, RunStatus::Completed);
        assert_eq!(third.output, Some((1, vec![0, 10, 20])));
        assert_eq!(numbers("flaky", None), [1, 2, 3, 4, 5]);
        assert_eq!(numbers("items", Some(1)), [1, 2, 3, 4, 5]);
        let trail = on.engine.audit_trail(&first.run_id).await.unwrap().unwrap();
        assert_eq!(audited(&trail, "flaky", None), [1, 2, 3, 4, 5]);
        assert_eq!(audited(&trail, "items", Some(1)), [1, 2, 3, 4, 5]);
        assert_eq!(audited(&trail, "items", Some(2)), [1]);
    }
}
