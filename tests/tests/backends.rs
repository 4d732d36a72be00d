//! One suite of store behaviour, run against every backend: in memory, files, SQLite and
//! PostgreSQL.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use pipeline::store::*;
use pipeline::*;

/// A backend under test: `open` gives fresh handles on the same storage, as a new process would.
trait Backend {
    fn open(&self) -> (Arc<dyn Checkpointer>, Arc<dyn AuditLog>);
}

struct Memory(InMemoryCheckpointer, InMemoryAuditLog);

impl Backend for Memory {
    fn open(&self) -> (Arc<dyn Checkpointer>, Arc<dyn AuditLog>) {
        (Arc::new(self.0.clone()), Arc::new(self.1.clone()))
    }
}

struct Files(tempfile::TempDir);

impl Backend for Files {
    fn open(&self) -> (Arc<dyn Checkpointer>, Arc<dyn AuditLog>) {
        // As `Stores::open` opens them: a record and its entry written together.
        let checkpointer = FileCheckpointer::new(self.0.path());
        let audit = checkpointer.audit_log();
        (Arc::new(checkpointer), Arc::new(audit))
    }
}

struct Sqlite(tempfile::TempDir);

impl Backend for Sqlite {
    fn open(&self) -> (Arc<dyn Checkpointer>, Arc<dyn AuditLog>) {
        let store =
            SqliteCheckpointer::open(self.0.path().join("runs.db")).expect("the database opens");
        let audit = store.audit_log();
        (Arc::new(store), Arc::new(audit))
    }
}

/// A database of its own per test, and four stores on it (each its own pool and lock session,
/// as four processes would have): consecutive opens get different stores, so the suite checks
/// both the locks between processes and those between engines of one process, without opening
/// a connection pool per engine (the race test starts 2,400 engines).
struct Postgres {
    stores: Vec<PostgresStore>,
    next: std::sync::atomic::AtomicUsize,
    _db: tests::postgres::TestDatabase,
}

impl Backend for Postgres {
    fn open(&self) -> (Arc<dyn Checkpointer>, Arc<dyn AuditLog>) {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let store = self.stores[n % self.stores.len()].clone();
        (Arc::new(store.clone()), Arc::new(store))
    }
}

fn memory() -> Memory {
    Memory(InMemoryCheckpointer::new(), InMemoryAuditLog::new())
}
fn files() -> Files {
    Files(tempfile::tempdir().unwrap())
}
fn sqlite() -> Sqlite {
    Sqlite(tempfile::tempdir().unwrap())
}
fn postgres() -> Postgres {
    let db = tests::postgres::TestDatabase::create();
    let options = PostgresOptions::default().max_connections(4);
    let open = || PostgresStore::open_with(&db.url, options.clone()).expect("the URL parses");
    Postgres {
        stores: (0..4).map(|_| open()).collect(),
        next: Default::default(),
        _db: db,
    }
}

/// x -> a -> b -> c; `b` fails while `down` is set.
fn graph(down: Arc<AtomicBool>) -> Graph<u64, u64> {
    let mut g = GraphBuilder::<u64>::new("backend_suite");
    let x = g.input("x", |x: &u64| *x);
    let a = g
        .node("a")
        .run(x, |x, _| async move { Ok::<_, std::io::Error>(x + 1) });
    let b = g.node("b").run(a, move |a, _| {
        let down = down.load(Ordering::SeqCst);
        async move {
            match down {
                true => Err(std::io::Error::other("b is down")),
                false => Ok(a * 10),
            }
        }
    });
    let c = g
        .node("c")
        .run(b, |b, _| async move { Ok::<_, std::io::Error>(b + 3) });
    g.build(c).unwrap()
}

fn engine(backend: &dyn Backend, down: Arc<AtomicBool>) -> PipelineEngine<Graph<u64, u64>> {
    let (checkpointer, audit) = backend.open();
    PipelineEngine::new(graph(down))
        .checkpointer(checkpointer)
        .audit_log(audit)
}

fn header(run_id: &str) -> RunHeader {
    let graph = graph(Arc::default());
    RunHeader {
        format_version: FORMAT_VERSION,
        run_id: RunId::new(run_id).unwrap(),
        pipeline: graph.name().into(),
        fingerprint: graph.fingerprint().into(),
        graph: graph.signature().clone().into(),
        inputs: serde_json::value::to_raw_value(&1u64).unwrap().into(),
        started_at_ms: 1,
        trace: None,
    }
}

fn record(node: &str, output: u64) -> NodeRecord {
    NodeRecord {
        node: node.into(),
        attempt: 1,
        started_at_ms: 1,
        finished_at_ms: 2,
        duration_us: 3,
        output: serde_json::value::to_raw_value(&output).unwrap().into(),
        item: None,
        item_digest: None,
    }
}

async fn records_round_trip_in_order(backend: &dyn Backend) {
    let (store, _) = backend.open();
    let h = header("round-trip");
    let epoch = store.create_run(&h).await.unwrap();
    for (i, node) in ["a", "b", "c"].iter().enumerate() {
        store
            .save(&h.run_id, epoch, &record(node, i as u64))
            .await
            .unwrap();
    }
    store.release_run(&h.run_id, epoch);
    let (reopened, _) = backend.open();
    let loaded = reopened.load(&h.run_id).await.unwrap().unwrap();
    assert_eq!(loaded.header.fingerprint, h.fingerprint);
    assert_eq!(loaded.completed().collect::<Vec<_>>(), ["a", "b", "c"]);
    assert_eq!(loaded.node("b").unwrap().output.get(), "1");
    assert!(
        reopened
            .load(&RunId::new("absent").unwrap())
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        reopened
            .resume_run(&RunId::new("absent").unwrap(), &OutputFilter::default())
            .await
            .unwrap()
            .is_none()
    );
}

async fn a_taken_id_is_refused(backend: &dyn Backend) {
    let (store, audit) = backend.open();
    let h = header("taken");
    let epoch = store.create_run(&h).await.unwrap();
    let audit_epoch = audit.create_run(&h).await.unwrap();
    store.release_run(&h.run_id, epoch);
    audit.release_run(&h.run_id, audit_epoch);
    let (store, audit) = backend.open();
    assert!(matches!(
        store.create_run(&h).await,
        Err(StoreError::RunExists(_))
    ));
    assert!(matches!(
        audit.create_run(&h).await,
        Err(StoreError::RunExists(_))
    ));
}

async fn one_writer_per_run(backend: &dyn Backend) {
    let (first, _) = backend.open();
    let (second, _) = backend.open();
    let h = header("locked");
    let epoch = first.create_run(&h).await.unwrap();
    assert!(matches!(
        second.resume_run(&h.run_id, &OutputFilter::default()).await,
        Err(StoreError::Locked(_))
    ));
    first.release_run(&h.run_id, epoch);
    let resumed = second
        .resume_run(&h.run_id, &OutputFilter::default())
        .await
        .unwrap();
    assert!(resumed.is_some());
    second.release_run(&h.run_id, resumed.unwrap().epoch);
}

async fn audit_entries_round_trip(backend: &dyn Backend) {
    let (store, audit) = backend.open();
    let engine = PipelineEngine::new(graph(Arc::new(AtomicBool::new(true))))
        .checkpointer(store)
        .audit_log(audit)
        .settings(EngineSettings::new().audit_detail(AuditDetail::Full));
    let failed = engine.run(1).await.unwrap();
    let (_, reopened) = backend.open();
    let trail = reopened.entries(&failed.run_id).await.unwrap().unwrap();
    let summary: Vec<(String, AuditStatus)> =
        trail.iter().map(|e| (e.node.clone(), e.status)).collect();
    assert_eq!(
        summary,
        [
            ("a".into(), AuditStatus::Completed),
            ("b".into(), AuditStatus::Failed)
        ]
    );
    assert_eq!(trail[1].error.as_deref(), Some("b is down"));
    assert_eq!(trail[1].inputs["a"].get(), "2");
    assert!(
        reopened
            .entries(&RunId::new("absent").unwrap())
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(reopened.list_runs().await.unwrap(), [failed.run_id]);
}

async fn a_failed_run_resumes_from_a_reopened_store(backend: &dyn Backend) {
    let down = Arc::new(AtomicBool::new(true));
    let failed = engine(backend, down.clone()).run(1).await.unwrap();
    assert_eq!(failed.status, RunStatus::Failed);
    down.store(false, Ordering::SeqCst);
    let resumed = engine(backend, down).resume(&failed.run_id).await.unwrap();
    assert_eq!(resumed.status, RunStatus::Completed);
    assert_eq!(resumed.output, Some(23));
    assert_eq!(resumed.restored, ["a"]);
    assert_eq!(resumed.executed, ["b", "c"]);
    let (store, audit) = backend.open();
    assert_eq!(
        store.list_runs().await.unwrap(),
        std::slice::from_ref(&failed.run_id)
    );
    let trail = audit.entries(&failed.run_id).await.unwrap().unwrap();
    assert_eq!(trail.len(), 4, "a, b failed, b, c");
}

/// x -> list (50 numbers) -> m (each) -> sum, and `side` mapped over the list too, read by
/// nothing; items 7 and 31 of `m` and item 3 of `side` fail while `down` is set. Every item call
/// is logged.
fn mapped_graph(
    down: Arc<AtomicBool>,
    calls: Arc<std::sync::Mutex<Vec<String>>>,
) -> Graph<u64, u64> {
    let mut g = GraphBuilder::<u64>::new("backend_suite_map");
    let x = g.input("x", |x: &u64| *x);
    let list = g.node("list").run(x, |x, _| async move {
        Ok::<_, std::io::Error>((0..50).map(|i| x + i).collect::<Vec<u64>>())
    });
    let item = move |node: &'static str, failing: &'static [u32]| {
        let (down, calls) = (down.clone(), calls.clone());
        move |v: u64, (): (), ctx: NodeContext| {
            let index = ctx.item().map_or(0, |i| i.index);
            calls.lock().unwrap().push(format!("{node}#{index}"));
            let fails = down.load(Ordering::SeqCst) && failing.contains(&index);
            async move {
                match fails {
                    true => Err(std::io::Error::other(format!(
                        "{node} item {index} is down"
                    ))),
                    false => Ok(v * 2),
                }
            }
        }
    };
    let m = g.node("m").each(list, (), item("m", &[7, 31]));
    let _side = g.node("side").each(list, (), item("side", &[3]));
    let sum = g.node("sum").run(m, |m, _| async move {
        Ok::<_, std::io::Error>(m.iter().sum::<u64>())
    });
    g.build(sum).unwrap()
}

async fn a_partial_map_resumes_from_a_reopened_store(backend: &dyn Backend) {
    let down = Arc::new(AtomicBool::new(true));
    let calls = Arc::new(std::sync::Mutex::new(Vec::new()));
    let engine = |down: &Arc<AtomicBool>| {
        let (checkpointer, audit) = backend.open();
        PipelineEngine::new(mapped_graph(down.clone(), calls.clone()))
            .checkpointer(checkpointer)
            .audit_log(audit)
            .settings(EngineSettings::new().on_error(OnError::SkipDownstream))
    };
    let failed = engine(&down).run(1).await.unwrap();
    assert_eq!(failed.status, RunStatus::Failed);
    let failed_items: Vec<u32> = failed.failures["m"].items.iter().map(|f| f.index).collect();
    assert_eq!(failed_items, [7, 31]);
    let (store, _) = backend.open();
    let checkpoint = store.load(&failed.run_id).await.unwrap().unwrap();
    let items = |id: &str| {
        let stored = checkpoint.stored();
        stored
            .iter()
            .find(|(n, _)| *n == id)
            .and_then(|(_, s)| s.items())
    };
    assert_eq!(items("m"), Some((48, 50)));
    assert_eq!(items("side"), Some((49, 50)));

    down.store(false, Ordering::SeqCst);
    calls.lock().unwrap().clear();
    let resumed = engine(&down).resume(&failed.run_id).await.unwrap();
    assert_eq!(resumed.status, RunStatus::Completed);
    assert_eq!(resumed.output, Some((0..50).map(|i| (1 + i) * 2).sum()));
    let mut ran = calls.lock().unwrap().clone();
    ran.sort();
    assert_eq!(
        ran,
        ["m#31", "m#7", "side#3"],
        "only the items without a record ran"
    );
    let again = engine(&down).resume(&failed.run_id).await.unwrap();
    assert_eq!(again.output, resumed.output);
    assert_eq!(
        calls.lock().unwrap().len(),
        3,
        "a completed run resumes without running"
    );
}

/// x -> a -> go (a signal wait, a `u64`) -> sum of a and the payload.
fn waiting_graph() -> Graph<u64, u64> {
    let mut g = GraphBuilder::<u64>::new("backend_suite_wait");
    let x = g.input("x", |x: &u64| *x);
    let a = g
        .node("a")
        .run(x, |x, _| async move { Ok::<_, std::io::Error>(x + 1) });
    let go = g.node("go").signal::<u64, _>(a);
    let sum = g.node("sum").run((a, go), |(a, go), _| async move {
        Ok::<_, std::io::Error>(a + go)
    });
    g.build(sum).unwrap()
}

async fn a_waiting_run_is_continued_by_a_signal_through_another_handle(backend: &dyn Backend) {
    let engine = || {
        let (checkpointer, audit) = backend.open();
        PipelineEngine::new(waiting_graph())
            .checkpointer(checkpointer)
            .audit_log(audit)
    };
    let waiting = engine().run(1).await.unwrap();
    assert_eq!(waiting.status, RunStatus::Waiting);
    let sent = engine()
        .signal(&waiting.run_id, Signal::new("go", &40u64).unwrap())
        .await
        .unwrap();
    let run = sent.run.expect("the signal continued the waiting run");
    assert_eq!(run.status, RunStatus::Completed);
    assert_eq!(run.output, Some(42));
    assert_eq!(run.restored, ["a"]);
    let again = engine()
        .signal(&waiting.run_id, Signal::new("go", &40u64).unwrap())
        .await
        .unwrap();
    assert_eq!(again.sent, pipeline::store::SignalSent::Duplicate);
    assert!(again.run.is_none(), "a completed run waits on nothing");
}

async fn summaries_say_how_each_run_stands(backend: &dyn Backend) {
    let down = Arc::new(AtomicBool::new(true));
    let failed = engine(backend, down.clone()).run(1).await.unwrap();
    let (_, audit) = backend.open();
    let summary = audit.summary(&failed.run_id).await.unwrap().unwrap();
    assert_eq!(summary.status, Some(RunStatus::Failed));
    assert_eq!(summary.pipeline, "backend_suite");
    assert_eq!(summary.nodes, failed.nodes);
    assert_eq!(
        (
            summary.count(NodeStatus::Completed),
            summary.count(NodeStatus::Failed)
        ),
        (1, 1)
    );
    down.store(false, Ordering::SeqCst);
    engine(backend, down).resume(&failed.run_id).await.unwrap();
    let summary = audit.summary(&failed.run_id).await.unwrap().unwrap();
    assert_eq!(summary.status, Some(RunStatus::Completed));
    assert_eq!(summary.count(NodeStatus::Completed), 3);
    assert!(summary.updated_at_ms >= summary.started_at_ms);
    assert!(
        audit
            .summary(&RunId::new("absent").unwrap())
            .await
            .unwrap()
            .is_none()
    );
}

/// Every store refuses a write whose epoch is not the run's current one, and a stale holder's
/// release does not release the new holder.
async fn a_stale_epoch_is_fenced(backend: &dyn Backend) {
    let (store, audit) = backend.open();
    let h = header("fenced");
    let first = store.create_run(&h).await.unwrap();
    let first_audit = audit.create_run(&h).await.unwrap();
    store.release_run(&h.run_id, first);
    audit.release_run(&h.run_id, first_audit);
    let (store, audit) = backend.open();
    let second = store
        .resume_run(&h.run_id, &OutputFilter::default())
        .await
        .unwrap()
        .unwrap()
        .epoch;
    let second_audit = audit.resume_run(&h).await.unwrap();
    assert!(second > first && second_audit > first_audit);
    assert!(matches!(
        store.save(&h.run_id, first, &record("a", 1)).await,
        Err(StoreError::Fenced { .. })
    ));
    let entry = audit_entry(&h.run_id);
    assert!(matches!(
        audit.append(first_audit, &entry).await,
        Err(StoreError::Fenced { .. })
    ));
    store.release_run(&h.run_id, first); // stale: releases nothing
    store
        .save(&h.run_id, second, &record("a", 2))
        .await
        .unwrap();
    audit.append(second_audit, &entry).await.unwrap();
    let (other, _) = backend.open();
    assert!(matches!(
        other.resume_run(&h.run_id, &OutputFilter::default()).await,
        Err(StoreError::Locked(_))
    ));
    store.release_run(&h.run_id, second);
    audit.release_run(&h.run_id, second_audit);
    let loaded = store.load(&h.run_id).await.unwrap().unwrap();
    assert_eq!(loaded.nodes.len(), 1);
    assert_eq!(loaded.nodes[0].output.get(), "2");
}

fn audit_entry(run_id: &RunId) -> AuditEntry {
    AuditEntry {
        run_id: run_id.clone(),
        node: "a".into(),
        item: None,
        status: AuditStatus::Completed,
        attempt: 1,
        started_at_ms: 1,
        finished_at_ms: 2,
        duration_us: 3,
        inputs: Default::default(),
        input_refs: Vec::new(),
        output: None,
        output_in_checkpoint: false,
        error: None,
        worker: None,
        retry_at_ms: None,
        cached_from: None,
        logs: Vec::new(),
        logs_dropped: 0,
    }
}

/// Finding: 8 tasks starting the same run id at once (300 ids) got 1,186 winners of 2,400 and
/// corrupt or mixed-up files. Exactly one caller may win; the others run nothing.
async fn one_caller_wins_a_run_id_started_at_once(backend: Arc<dyn Backend + Send + Sync>) {
    const IDS: u64 = 300;
    const CALLERS: u64 = 8;
    let mut tasks = tokio::task::JoinSet::new();
    for id in 0..IDS {
        for caller in 0..CALLERS {
            let backend = Arc::clone(&backend);
            tasks.spawn(async move {
                let engine = engine(&*backend, Arc::default());
                let run_id = RunId::new(format!("race-{id}")).unwrap();
                let input = id * 1_000 + caller;
                (id, input, engine.run(input).id(run_id).await)
            });
        }
    }
    let mut winners: std::collections::BTreeMap<u64, Vec<u64>> = Default::default();
    while let Some(joined) = tasks.join_next().await {
        let (id, input, result) = joined.unwrap();
        match result {
            Ok(result) => {
                assert_eq!(result.status, RunStatus::Completed);
                // A store that failed (rather than refused) lets a caller run without it: say
                // so, instead of reporting a second winner.
                assert!(
                    result.warnings.is_empty(),
                    "race-{id}: caller {input} ran with store failures: {:?}",
                    result.warnings
                );
                winners.entry(id).or_default().push(input);
            }
            Err(PipelineError::RunExists(_) | PipelineError::RunLocked(_)) => {}
            Err(other) => panic!("race-{id}: {other}"),
        }
    }
    let (store, _) = backend.open();
    for id in 0..IDS {
        let won = winners.get(&id).cloned().unwrap_or_default();
        assert_eq!(won.len(), 1, "race-{id}: winners {won:?}");
        let run_id = RunId::new(format!("race-{id}")).unwrap();
        let stored = store.load(&run_id).await.unwrap().unwrap();
        assert_eq!(stored.header.inputs.get(), won[0].to_string(), "race-{id}");
        assert_eq!(stored.nodes.len(), 3, "race-{id}");
        let c: u64 = serde_json::from_str(stored.node("c").unwrap().output.get()).unwrap();
        assert_eq!(c, (won[0] + 1) * 10 + 3, "race-{id}");
    }
}

/// Resumes `run_id` until no dropped engine holds it any more; `None` for a run never created.
async fn resume_when_free<O: Send + 'static>(
    engine: &PipelineEngine<Graph<u64, O>>,
    run_id: &RunId,
) -> Option<PipelineResult<O>> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match engine.resume(run_id).await {
            Ok(result) => return Some(result),
            Err(PipelineError::UnknownRun(_)) => return None,
            Err(PipelineError::RunLocked(_)) if std::time::Instant::now() < deadline => {
                // The dropped engine's store work is still finishing on the blocking pool.
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            }
            Err(other) => panic!("{run_id}: {other}"),
        }
    }
}

/// Finding: dropping 200 run futures at random moments left 16 runs `RunLocked` until the
/// process exited. A lock taken for a dropped caller must always be released.
async fn a_dropped_run_never_keeps_its_lock(backend: Arc<dyn Backend + Send + Sync>) {
    let mut rng = fastrand::Rng::with_seed(7);
    for round in 0..200 {
        let run_id = RunId::new(format!("dropped-{round}")).unwrap();
        let dropped = engine(&*backend, Arc::default());
        let wait = std::time::Duration::from_micros(rng.u64(0..3_000));
        let _ = tokio::time::timeout(wait, dropped.run(1).id(run_id.clone())).await;
        let resumer = engine(&*backend, Arc::default());
        if let Some(result) = resume_when_free(&resumer, &run_id).await {
            assert_eq!(result.output, Some(23), "{run_id}");
        }
    }
}

/// x -> n1 -> ... -> n6: each node's output is `(value, engine that computed its input, engine
/// that computed it)`, so a checkpoint that mixes two engines' values shows it.
fn tagged_chain(engine_tag: u64) -> Graph<u64, (u64, u64, u64)> {
    let mut g = GraphBuilder::<u64>::new("tagged_chain");
    let x = g.input("x", |x: &u64| *x);
    let mut last = g.node("n1").run(x, move |x, _| async move {
        tokio::task::yield_now().await;
        Ok::<_, std::io::Error>((x + 1, 0, engine_tag))
    });
    for i in 2..=6 {
        last = g
            .node(format!("n{i}"))
            .run(last, move |(v, _, tag), _| async move {
                tokio::task::yield_now().await;
                Ok::<_, std::io::Error>((v + 1, tag, engine_tag))
            });
    }
    g.build(last).unwrap()
}

/// Finding: a dropped run's in-flight saves landed in the run that resumed it, pairing a stale
/// output with downstream outputs computed from another value (13 of 383 checkpoints). With
/// epochs, a taken-over writer's saves are refused.
async fn writes_of_a_dropped_run_never_land_after_a_takeover(
    backend: Arc<dyn Backend + Send + Sync>,
) {
    let mut rng = fastrand::Rng::with_seed(11);
    let mut checked = 0;
    for round in 0..400u64 {
        let run_id = RunId::new(format!("takeover-{round}")).unwrap();
        let (store, audit) = backend.open();
        let first = PipelineEngine::new(tagged_chain(1))
            .checkpointer(store)
            .audit_log(audit);
        let wait = std::time::Duration::from_micros(rng.u64(0..20_000));
        let _ = tokio::time::timeout(wait, first.run(0).id(run_id.clone())).await;
        let (store, audit) = backend.open();
        let second = PipelineEngine::new(tagged_chain(2))
            .checkpointer(store)
            .audit_log(audit);
        let Some(result) = resume_when_free(&second, &run_id).await else {
            continue;
        };
        assert_eq!(result.status, RunStatus::Completed, "{run_id}");
        let (store, _) = backend.open();
        let stored = store.load(&run_id).await.unwrap().unwrap();
        let tags: Vec<(u64, u64, u64)> = (1..=6)
            .map(|i| {
                let record = stored.node(&format!("n{i}")).unwrap();
                serde_json::from_str(record.output.get()).unwrap()
            })
            .collect();
        for pair in tags.windows(2) {
            assert_eq!(pair[1].1, pair[0].2, "{run_id}: mixed checkpoint {tags:?}");
        }
        checked += 1;
    }
    assert!(checked > 300, "only {checked} rounds created a run");
}

/// A checkpointer whose saves wait, on a task of their own, until the test lets them through:
/// a write still in flight when its engine's future is dropped, like a blocking-pool append. Each
/// save announces itself on `started` and reports its result on `landed`.
struct HeldSaves {
    inner: Arc<dyn Checkpointer>,
    gate: Arc<tokio::sync::Semaphore>,
    started: tokio::sync::mpsc::UnboundedSender<()>,
    landed: tokio::sync::mpsc::UnboundedSender<Result<(), String>>,
}

impl tests::OnSave for HeldSaves {
    fn inner(&self) -> &dyn Checkpointer {
        &*self.inner
    }
    fn save<'a>(
        &'a self,
        run_id: &'a RunId,
        epoch: Epoch,
        record: &'a NodeRecord,
    ) -> tests::BoxFuture<'a, StoreResult<()>> {
        let (inner, gate, landed) = (
            Arc::clone(&self.inner),
            Arc::clone(&self.gate),
            self.landed.clone(),
        );
        let (run_id, record) = (run_id.clone(), record.clone());
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let _ = self.started.send(());
        tokio::spawn(async move {
            let _permit = gate.acquire().await;
            let result = inner.save(&run_id, epoch, &record).await;
            let _ = landed.send(result.as_ref().map(drop).map_err(ToString::to_string));
            let _ = sender.send(result);
        });
        Box::pin(async move {
            receiver
                .await
                .unwrap_or_else(|_| Err(StoreError::Backend("the write task ended".into())))
        })
    }
}

/// Finding 3, made deterministic: engine 1 completes `n1`, and its save is still in flight when
/// its future is dropped; engine 2 resumes the run (nothing recorded yet) and starts `n1`; then the
/// stale save lands. It must be refused, so the checkpoint holds engine 2's values only.
async fn a_stale_save_in_flight_during_a_takeover_is_refused(backend: &dyn Backend) {
    let run_id = RunId::new("stale-save").unwrap();
    let (store, _) = backend.open();
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let (started, mut saves) = tokio::sync::mpsc::unbounded_channel();
    let (landed, mut writes) = tokio::sync::mpsc::unbounded_channel();
    let held = HeldSaves {
        inner: Arc::clone(&store),
        gate: Arc::clone(&gate),
        started,
        landed,
    };
    let first = Arc::new(PipelineEngine::new(tagged_chain(1)).checkpointer(tests::Hooked(held)));
    let first_run = {
        let (first, run_id) = (Arc::clone(&first), run_id.clone());
        tokio::spawn(async move { first.run(0).id(run_id).await })
    };
    saves.recv().await.expect("n1's save starts");
    first_run.abort();
    assert!(first_run.await.unwrap_err().is_cancelled());

    let (started, go) = (
        Arc::new(tokio::sync::Notify::new()),
        Arc::new(tokio::sync::Notify::new()),
    );
    let (store, _) = backend.open();
    let second = Arc::new(
        PipelineEngine::new(tagged_chain_waiting(
            2,
            Arc::clone(&started),
            Arc::clone(&go),
        ))
        .checkpointer(store),
    );
    let second_run = {
        let (second, run_id) = (Arc::clone(&second), run_id.clone());
        tokio::spawn(async move { resume_when_free(&second, &run_id).await })
    };
    started.notified().await;
    gate.add_permits(1);
    let stale = writes.recv().await.expect("the stale save lands");
    assert!(
        stale.as_ref().is_err_and(|e| e.contains("taken over")),
        "the stale save of engine 1 was accepted: {stale:?}"
    );
    go.notify_one();
    let resumed = second_run.await.unwrap().expect("the run exists");
    assert_eq!(resumed.status, RunStatus::Completed);
    let (store, _) = backend.open();
    let stored = store.load(&run_id).await.unwrap().unwrap();
    let n1: (u64, u64, u64) =
        serde_json::from_str(stored.node("n1").unwrap().output.get()).unwrap();
    assert_eq!(
        n1.2, 2,
        "the stale save of engine 1 landed: {:?}",
        stored.nodes
    );
    assert_eq!(stored.nodes.len(), 6, "{:?}", stored.nodes);
}

/// [`tagged_chain`] whose `n1` says it started and then waits for `go`.
fn tagged_chain_waiting(
    engine_tag: u64,
    started: Arc<tokio::sync::Notify>,
    go: Arc<tokio::sync::Notify>,
) -> Graph<u64, (u64, u64, u64)> {
    let mut g = GraphBuilder::<u64>::new("tagged_chain");
    let x = g.input("x", |x: &u64| *x);
    let mut last = g.node("n1").run(x, move |x, _| {
        let (started, go) = (Arc::clone(&started), Arc::clone(&go));
        async move {
            started.notify_one();
            go.notified().await;
            Ok::<_, std::io::Error>((x + 1, 0, engine_tag))
        }
    });
    for i in 2..=6 {
        last = g
            .node(format!("n{i}"))
            .run(last, move |(v, _, tag), _| async move {
                Ok::<_, std::io::Error>((v + 1, tag, engine_tag))
            });
    }
    g.build(last).unwrap()
}

/// The public conformance checks that custom stores can run pass on every built-in store.
async fn the_conformance_checks_pass(backend: &dyn Backend) {
    conformance::check_checkpointer(|| backend.open().0)
        .await
        .unwrap();
    conformance::check_audit_log(|| backend.open().1)
        .await
        .unwrap();
    conformance::check_joint(|| backend.open()).await.unwrap();
}

/// A checkpointer that ignores the epoch it is given: it writes with the latest one it handed out.
struct IgnoresEpochs {
    inner: InMemoryCheckpointer,
    latest: Arc<std::sync::Mutex<Epoch>>,
}

#[async_trait::async_trait]
impl Checkpointer for IgnoresEpochs {
    async fn create_run(&self, header: &RunHeader) -> StoreResult<Epoch> {
        let epoch = self.inner.create_run(header).await?;
        *self.latest.lock().unwrap() = epoch;
        Ok(epoch)
    }
    async fn resume_run(
        &self,
        run_id: &RunId,
        filter: &OutputFilter,
    ) -> StoreResult<Option<Resumed>> {
        let resumed = self.inner.resume_run(run_id, filter).await?;
        if let Some(r) = &resumed {
            *self.latest.lock().unwrap() = r.epoch;
        }
        Ok(resumed)
    }
    async fn save(&self, run_id: &RunId, _: Epoch, record: &NodeRecord) -> StoreResult<()> {
        let latest = *self.latest.lock().unwrap();
        self.inner.save(run_id, latest, record).await
    }
    async fn load(&self, run_id: &RunId) -> StoreResult<Option<Checkpoint>> {
        self.inner.load(run_id).await
    }
    async fn list_runs(&self) -> StoreResult<Vec<RunId>> {
        self.inner.list_runs().await
    }
    fn release_run(&self, run_id: &RunId, epoch: Epoch) {
        self.inner.release_run(run_id, epoch)
    }
}

/// A custom store that ignores epochs is caught by the conformance check.
#[tokio::test]
async fn the_conformance_check_catches_a_store_that_ignores_epochs() {
    let (inner, latest) = (
        InMemoryCheckpointer::new(),
        Arc::new(std::sync::Mutex::new(Epoch::FIRST)),
    );
    let open = || {
        Arc::new(IgnoresEpochs {
            inner: inner.clone(),
            latest: Arc::clone(&latest),
        }) as Arc<dyn Checkpointer>
    };
    let violation = conformance::check_checkpointer(open).await.unwrap_err();
    assert!(violation.rule.contains("stale epoch"), "{violation}");
}

/// The suite on each backend; the attributes after a backend go on each of its tests.
macro_rules! suite {
    ($($backend:ident $(#[$attr:meta])*),*) => {
        $(
            mod $backend {
                #[tokio::test]
                $(#[$attr])*
                async fn records_round_trip_in_order() {
                    let backend = super::$backend();
                    super::records_round_trip_in_order(&backend).await;
                }
                #[tokio::test]
                $(#[$attr])*
                async fn a_taken_id_is_refused() {
                    let backend = super::$backend();
                    super::a_taken_id_is_refused(&backend).await;
                }
                #[tokio::test]
                $(#[$attr])*
                async fn one_writer_per_run() {
                    let backend = super::$backend();
                    super::one_writer_per_run(&backend).await;
                }
                #[tokio::test]
                $(#[$attr])*
                async fn audit_entries_round_trip() {
                    let backend = super::$backend();
                    super::audit_entries_round_trip(&backend).await;
                }
                #[tokio::test]
                $(#[$attr])*
                async fn summaries_say_how_each_run_stands() {
                    let backend = super::$backend();
                    super::summaries_say_how_each_run_stands(&backend).await;
                }
                #[tokio::test]
                $(#[$attr])*
                async fn a_failed_run_resumes_from_a_reopened_store() {
                    let backend = super::$backend();
                    super::a_failed_run_resumes_from_a_reopened_store(&backend).await;
                }
                #[tokio::test]
                $(#[$attr])*
                async fn a_waiting_run_is_continued_by_a_signal_through_another_handle() {
                    let backend = super::$backend();
                    super::a_waiting_run_is_continued_by_a_signal_through_another_handle(&backend).await;
                }
                #[tokio::test]
                $(#[$attr])*
                async fn a_partial_map_resumes_from_a_reopened_store() {
                    let backend = super::$backend();
                    super::a_partial_map_resumes_from_a_reopened_store(&backend).await;
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                $(#[$attr])*
                async fn a_stale_save_in_flight_during_a_takeover_is_refused() {
                    let backend = super::$backend();
                    super::a_stale_save_in_flight_during_a_takeover_is_refused(&backend).await;
                }
                #[tokio::test]
                $(#[$attr])*
                async fn the_conformance_checks_pass() {
                    let backend = super::$backend();
                    super::the_conformance_checks_pass(&backend).await;
                }
                #[tokio::test]
                $(#[$attr])*
                async fn a_stale_epoch_is_fenced() {
                    let backend = super::$backend();
                    super::a_stale_epoch_is_fenced(&backend).await;
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                $(#[$attr])*
                async fn one_caller_wins_a_run_id_started_at_once() {
                    let backend = super::$backend();
                    super::one_caller_wins_a_run_id_started_at_once(std::sync::Arc::new(backend)).await;
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                $(#[$attr])*
                async fn a_dropped_run_never_keeps_its_lock() {
                    let backend = super::$backend();
                    super::a_dropped_run_never_keeps_its_lock(std::sync::Arc::new(backend)).await;
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                $(#[$attr])*
                async fn writes_of_a_dropped_run_never_land_after_a_takeover() {
                    let backend = super::$backend();
                    super::writes_of_a_dropped_run_never_land_after_a_takeover(std::sync::Arc::new(backend)).await;
                }
            }
        )*
    };
}

suite!(memory, files, sqlite, postgres #[cfg_attr(no_postgres, ignore = "needs PostgreSQL, which did not answer when the tests were built: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start")]);

/// SQLite keeps its own pages intact across crashes (WAL); what it cannot catch is a record that
/// decodes to garbage: that is an error naming the database and the row, never a wrong record.
#[tokio::test]
async fn a_garbled_sqlite_record_is_an_error_naming_the_database_and_row() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("runs.db");
    let store = SqliteCheckpointer::open(&path).unwrap();
    let h = header("garbled");
    let epoch = store.create_run(&h).await.unwrap();
    store.save(&h.run_id, epoch, &record("a", 1)).await.unwrap();
    store.save(&h.run_id, epoch, &record("b", 2)).await.unwrap();
    store.release_run(&h.run_id, epoch);
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute(
            "UPDATE node_records SET record = '{\"node\": 7' WHERE seq = 2",
            [],
        )
        .unwrap();
    let err = SqliteCheckpointer::open(&path)
        .unwrap()
        .load(&h.run_id)
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::CorruptRow { row: 2, .. }),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(
        message.contains("runs.db") && message.contains("row 2"),
        "{message}"
    );

    std::fs::write(
        dir.path().join("not.db"),
        b"not a database at all, not even close",
    )
    .unwrap();
    let refused = SqliteCheckpointer::open(dir.path().join("not.db")).unwrap_err();
    assert!(refused.to_string().contains("not.db"), "{refused}");
}
