//! The file checkpointer and audit log: durable across engines, append-only, torn-tail tolerant,
//! corruption-detecting.

use std::fs;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use pipeline::*;
use tests::*;

/// A chain of `n` nodes, each adding 1; the first fails while `fail` is set. Nodes log their starts.
fn chain(n: usize, fail: Arc<AtomicBool>, log: Log) -> Graph<u64, u64> {
    let mut g = GraphBuilder::<u64>::new("chain");
    let mut last = g.input("x", |x: &u64| *x);
    for i in 0..n {
        let (fail, log) = (fail.clone(), log.clone());
        last = g.node(format!("n{i}")).run(last, move |v, ctx| {
            let (fail, log) = (fail.clone(), log.clone());
            async move {
                log.push(format!("start:{}", ctx.node_id()));
                if i == 0 && fail.load(Ordering::SeqCst) {
                    return Err(std::io::Error::other("first node down"));
                }
                Ok(v + 1)
            }
        });
    }
    g.build(last).unwrap()
}

fn engine(dir: &Path, graph: Graph<u64, u64>) -> PipelineEngine<Graph<u64, u64>> {
    PipelineEngine::new(graph)
        .checkpointer(FileCheckpointer::new(dir))
        .audit_log(FileAuditLog::new(dir))
}

#[tokio::test]
async fn a_run_resumes_in_a_new_engine_from_the_files_without_rerunning_completed_nodes() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::default();
    let fail = Arc::new(AtomicBool::new(false));
    let mut g = GraphBuilder::<u64>::new("two_branches");
    let x = g.input("x", |x: &u64| *x);
    let l = log.clone();
    let good = g.node("good").run(x, move |x, _| {
        l.push("start:good");
        async move { ok(x * 2) }
    });
    let (l, f) = (log.clone(), fail.clone());
    let flaky = g.node("flaky").run(x, move |x, _| {
        l.push("start:flaky");
        let down = f.load(Ordering::SeqCst);
        async move {
            match down {
                true => Err(std::io::Error::other("flaky is down")),
                false => Ok(x + 1),
            }
        }
    });
    let sum = g
        .node("sum")
        .run((good, flaky), |(a, b), _| async move { ok(a + b) });
    let graph = g.build(sum).unwrap();

    fail.store(true, Ordering::SeqCst);
    let first = engine(dir.path(), graph.clone())
        .settings(EngineSettings::new().on_error(OnError::SkipDownstream))
        .run(10)
        .await
        .unwrap();
    assert_eq!(first.status, RunStatus::Failed);
    fail.store(false, Ordering::SeqCst);

    let fresh = engine(dir.path(), graph);
    let resumed = fresh.resume(&first.run_id).await.unwrap();
    assert_eq!(resumed.status, RunStatus::Completed);
    assert_eq!(resumed.output, Some(31));
    assert_eq!(log.count("start:good"), 1);
    assert_eq!(log.count("start:flaky"), 2);

    let trail = fresh.audit_trail(&first.run_id).await.unwrap().unwrap();
    let flaky: Vec<_> = trail
        .iter()
        .filter(|e| e.node == "flaky")
        .map(|e| e.status)
        .collect();
    assert_eq!(flaky, vec![AuditStatus::Failed, AuditStatus::Completed]);
    assert_eq!(
        FileCheckpointer::new(dir.path()).list_runs().await.unwrap(),
        vec![first.run_id.clone()]
    );
    assert_eq!(
        FileAuditLog::new(dir.path()).list_runs().await.unwrap(),
        vec![first.run_id]
    );
}

#[tokio::test]
async fn bytes_written_per_node_do_not_grow_with_the_number_of_nodes() {
    let mut per_node = Vec::new();
    for n in [10, 100, 1000] {
        let dir = tempfile::tempdir().unwrap();
        let fail = Arc::new(AtomicBool::new(true));
        let engine = PipelineEngine::new(chain(n, fail.clone(), Log::default()))
            .checkpointer(FileCheckpointer::new(dir.path()).durability(Durability::Async));
        let failed = engine.run(0).await.unwrap();
        let path = FileCheckpointer::new(dir.path()).path(&failed.run_id);
        let header_only = fs::metadata(&path).unwrap().len();
        fail.store(false, Ordering::SeqCst);
        let done = engine.resume(&failed.run_id).await.unwrap();
        assert_eq!(done.output, Some(n as u64));
        let total = fs::metadata(&path).unwrap().len();
        per_node.push((total - header_only) as f64 / n as f64);
    }
    let (small, large) = (per_node[0], per_node[2]);
    // Node ids and numbers grow by a few digits; the record itself must not grow with N.
    assert!(large < small + 8.0, "bytes per node grew: {per_node:?}");
}

#[tokio::test]
async fn a_torn_last_record_is_ignored_then_dropped_and_the_run_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::default();
    let graph = chain(5, Arc::new(AtomicBool::new(false)), log.clone());
    let done = engine(dir.path(), graph.clone()).run(0).await.unwrap();
    let path = FileCheckpointer::new(dir.path()).path(&done.run_id);
    let whole = fs::read(&path).unwrap();
    // Cut into the last record (n4's), as a crash mid-append would.
    fs::write(&path, &whole[..whole.len() - 7]).unwrap();

    let fresh = engine(dir.path(), graph);
    let loaded = fresh.load_checkpoint(&done.run_id).await.unwrap().unwrap();
    assert_eq!(
        loaded.completed().collect::<Vec<_>>(),
        ["n0", "n1", "n2", "n3"]
    );
    let resumed = fresh.resume(&done.run_id).await.unwrap();
    assert_eq!(resumed.output, Some(5));
    assert_eq!(resumed.executed, ["n4"]);
    assert_eq!(log.count("start:n4"), 2);
    let reloaded = fresh.load_checkpoint(&done.run_id).await.unwrap().unwrap();
    assert_eq!(
        reloaded.completed().count(),
        5,
        "the torn tail was dropped before appending"
    );
}

#[tokio::test]
async fn a_flipped_byte_is_an_error_naming_the_file_and_offset() {
    let dir = tempfile::tempdir().unwrap();
    let graph = chain(3, Arc::new(AtomicBool::new(false)), Log::default());
    let done = engine(dir.path(), graph.clone()).run(0).await.unwrap();
    let path = FileCheckpointer::new(dir.path()).path(&done.run_id);
    let mut bytes = fs::read(&path).unwrap();
    bytes[20] ^= 0x40; // inside the header record, which intact records follow
    fs::write(&path, &bytes).unwrap();
    let err = engine(dir.path(), graph)
        .resume(&done.run_id)
        .await
        .unwrap_err();
    let message = err.to_string();
    assert!(
        matches!(
            err,
            PipelineError::Store {
                source: StoreError::Corrupt { offset: 12, .. },
                ..
            }
        ),
        "{err:?}"
    );
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(message.contains("offset 12"), "{message}");
}

#[tokio::test]
async fn files_of_a_future_format_or_another_kind_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let graph = chain(2, Arc::new(AtomicBool::new(false)), Log::default());
    let done = engine(dir.path(), graph.clone()).run(0).await.unwrap();
    let path = FileCheckpointer::new(dir.path()).path(&done.run_id);
    let mut bytes = fs::read(&path).unwrap();
    bytes[8] = 9;
    fs::write(&path, &bytes).unwrap();
    let err = engine(dir.path(), graph.clone())
        .resume(&done.run_id)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("format version 9"), "{err}");

    fs::write(&path, b"").unwrap();
    let err = engine(dir.path(), graph)
        .resume(&done.run_id)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("not a pipeline checkpoint file"),
        "{err}"
    );
}

#[tokio::test]
async fn a_run_id_taken_in_the_directory_is_refused_by_another_engine() {
    let dir = tempfile::tempdir().unwrap();
    let graph = chain(2, Arc::new(AtomicBool::new(false)), Log::default());
    let id = RunId::new("once").unwrap();
    engine(dir.path(), graph.clone())
        .run(0)
        .id(id.clone())
        .await
        .unwrap();
    let err = engine(dir.path(), graph).run(0).id(id).await.unwrap_err();
    assert!(matches!(err, PipelineError::RunExists(_)), "{err:?}");
}

#[cfg(unix)]
#[tokio::test]
async fn the_store_directory_and_files_are_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("nested/store");
    let graph = chain(1, Arc::new(AtomicBool::new(false)), Log::default());
    let done = engine(&store, graph).run(0).await.unwrap();
    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&store), 0o700);
    assert_eq!(
        mode(&FileCheckpointer::new(&store).path(&done.run_id)),
        0o600
    );
    assert_eq!(mode(&FileAuditLog::new(&store).path(&done.run_id)), 0o600);
}

#[tokio::test]
async fn an_unreadable_store_fails_resume_with_a_store_error_and_runs_with_warnings() {
    let dir = tempfile::tempdir().unwrap();
    let not_a_dir = dir.path().join("file");
    fs::write(&not_a_dir, b"x").unwrap();
    let engine = engine(
        &not_a_dir,
        chain(2, Arc::new(AtomicBool::new(false)), Log::default()),
    );
    let result = engine.run(0).await.unwrap();
    assert_eq!(result.status, RunStatus::Completed);
    assert_eq!(result.output, Some(2));
    assert_eq!(result.warnings.len(), 2, "{:?}", result.warnings);
    let err = engine.resume(&result.run_id).await.unwrap_err();
    assert!(matches!(err, PipelineError::Store { .. }), "{err:?}");
}

#[tokio::test]
async fn a_dropped_run_releases_its_lock_so_the_same_process_can_resume_it() {
    let dir = tempfile::tempdir().unwrap();
    let started = Arc::new(tokio::sync::Notify::new());
    let blocked = Arc::new(AtomicBool::new(true));
    let mut g = GraphBuilder::<u64>::new("droppable");
    let x = g.input("x", |x: &u64| *x);
    let first = g.node("first").run(x, |x, _| async move { ok(x + 1) });
    let (s, b) = (started.clone(), blocked.clone());
    let second = g.node("second").run(first, move |v, _| {
        let (s, b) = (s.clone(), b.load(Ordering::SeqCst));
        async move {
            if b {
                s.notify_one();
                std::future::pending::<()>().await;
            }
            ok(v * 10)
        }
    });
    let engine = engine(dir.path(), g.build(second).unwrap());
    let id = RunId::new("dropped").unwrap();
    tokio::select! {
        _ = engine.run(1).id(id.clone()) => panic!("the run cannot finish while blocked"),
        () = started.notified() => {} // drops the run future, and with it the run's lock
    }
    blocked.store(false, Ordering::SeqCst);
    let resumed = engine.resume(&id).await.unwrap();
    assert_eq!(resumed.output, Some(20));
    assert_eq!(resumed.restored, ["first"]);
}

#[tokio::test]
async fn two_engines_resuming_one_run_at_once_never_write_it_together() {
    let dir = tempfile::tempdir().unwrap();
    let fail = Arc::new(AtomicBool::new(true));
    let graph = chain(3, fail.clone(), Log::default());
    let failed = engine(dir.path(), graph.clone()).run(0).await.unwrap();
    fail.store(false, Ordering::SeqCst);
    let (a, b) = (engine(dir.path(), graph.clone()), engine(dir.path(), graph));
    let (ra, rb) = tokio::join!(a.resume(&failed.run_id), b.resume(&failed.run_id));
    let (ok_count, locked) = [ra, rb].into_iter().fold((0, 0), |(o, l), r| match r {
        Ok(result) => {
            assert_eq!(result.output, Some(3));
            (o + 1, l)
        }
        Err(PipelineError::RunLocked(_)) => (o, l + 1),
        Err(e) => panic!("unexpected error: {e}"),
    });
    // Both may succeed one after the other; they never write at the same time.
    assert!(ok_count >= 1 && ok_count + locked == 2);
    let checkpoint = FileCheckpointer::new(dir.path())
        .load(&failed.run_id)
        .await
        .unwrap()
        .unwrap();
    let mut ids: Vec<&str> = checkpoint.completed().collect();
    ids.sort();
    assert_eq!(ids, ["n0", "n1", "n2"], "each node recorded exactly once");
}

/// Issue 24, finding 10: a run's files copied in under another run's name were resumed with the
/// copied run's inputs. The header's run id is now checked against the file's name, and the
/// resume, the load and the header read are refused, naming both ids.
#[tokio::test]
async fn a_run_file_copied_under_another_runs_name_is_refused_naming_both() {
    let dir = tempfile::tempdir().unwrap();
    let fail = Arc::new(AtomicBool::new(true));
    let graph = chain(2, fail, Log::default());
    let first = engine(dir.path(), graph.clone()).run(7).await.unwrap();
    assert_eq!(first.status, RunStatus::Failed);
    let checkpointer = FileCheckpointer::new(dir.path());
    let other = RunId::new("copied-in").unwrap();
    fs::copy(checkpointer.path(&first.run_id), checkpointer.path(&other)).unwrap();

    let refused = engine(dir.path(), graph).resume(&other).await.unwrap_err();
    let text = refused.to_string();
    assert!(
        text.contains(&format!(
            "holds run `{}`, not run `copied-in`",
            first.run_id
        )),
        "{text}"
    );
    let load = checkpointer.load(&other).await.unwrap_err();
    assert!(matches!(load, StoreError::ForeignRun { .. }), "{load}");
    let header = checkpointer.header(&other).await.unwrap_err();
    assert!(matches!(header, StoreError::ForeignRun { .. }), "{header}");
    // The original still resumes.
    assert!(checkpointer.header(&first.run_id).await.unwrap().is_some());
}
