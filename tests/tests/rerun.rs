//! `PipelineEngine::rerun`: nodes run again on purpose (after their code was fixed) as a new run
//! that restores every other completed node; the original run is not changed. The shared test
//! runs on every executor: a fleet's run runs again on the fleet.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use pipeline::store::Stores;
use pipeline::*;

/// x -> a -> b -> c, and x -> d; `b` adds `bump`, every node counts its runs in `runs`.
fn graph(bump: Arc<AtomicU64>, runs: Arc<AtomicU64>) -> Graph<u64, (u64, u64)> {
    let mut g = GraphBuilder::<u64>::new("rerun");
    let x = g.input("x", |x: &u64| *x);
    let counted = |runs: &Arc<AtomicU64>| {
        let runs = Arc::clone(runs);
        move || runs.fetch_add(1, Ordering::SeqCst)
    };
    let (ra, rb, rc, rd) = (
        counted(&runs),
        counted(&runs),
        counted(&runs),
        counted(&runs),
    );
    let a = g.node("a").run(x, move |x, _| {
        ra();
        async move { Ok::<_, std::io::Error>(x + 1) }
    });
    let b = g.node("b").run(a, move |a, _| {
        rb();
        let bump = bump.load(Ordering::SeqCst);
        async move { Ok::<_, std::io::Error>(a * 10 + bump) }
    });
    let c = g.node("c").run(b, move |b, _| {
        rc();
        async move { Ok::<_, std::io::Error>(b + 1) }
    });
    let d = g.node("d").run(x, move |x, _| {
        rd();
        async move { Ok::<_, std::io::Error>(x * 2) }
    });
    g.build((c, d)).unwrap()
}

tests::on_every_executor! {
    async fn a_rerun_runs_the_node_and_its_dependents_as_a_new_run_and_keeps_the_original(
        on: Executor,
    ) {
        let (bump, runs) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let graph = graph(Arc::clone(&bump), Arc::clone(&runs));
        let on = on.engine(graph, |e| e).await;
        let engine = &on.engine;
        let first = on.run(1).await.unwrap();
        assert_eq!(first.output, Some((21, 2)));
        assert_eq!(runs.load(Ordering::SeqCst), 4);

        bump.store(5, Ordering::SeqCst); // `b` is fixed
        let again = on.resume(&first.run_id).await.unwrap();
        assert_eq!(
            again.output,
            Some((21, 2)),
            "a resume restores the old output"
        );

        let rerun = engine.rerun(&first.run_id, &["b"]).await.unwrap();
        assert_ne!(rerun.run_id, first.run_id);
        assert_eq!(rerun.status, RunStatus::Completed);
        assert_eq!(rerun.output, Some((26, 2)));
        assert_eq!(rerun.executed, ["b", "c"]);
        let mut restored: Vec<&str> = rerun.restored.iter().collect();
        restored.sort();
        assert_eq!(restored, ["a", "d"]);
        assert_eq!(runs.load(Ordering::SeqCst), 6, "only b and c ran again");

        let original = engine
            .load_checkpoint(&first.run_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            original.node("b").unwrap().output.get(),
            "20",
            "the original is unchanged"
        );
        let trail = engine.audit_trail(&rerun.run_id).await.unwrap().unwrap();
        let nodes: Vec<&str> = trail.iter().map(|e| e.node.as_str()).collect();
        assert_eq!(nodes, ["b", "c"], "the new run's trail holds what it ran");
        if on.executor == Executor::Fleet {
            assert!(
                trail.iter().all(|e| e.worker.is_some()),
                "a fleet's run runs again on the fleet: {trail:?}"
            );
        }
    }
}

#[tokio::test]
async fn a_rerun_of_an_unknown_node_or_run_is_refused_without_a_new_run() {
    let dir = tempfile::tempdir().unwrap();
    let engine = PipelineEngine::new(graph(Arc::default(), Arc::default()))
        .stores(Stores::open(dir.path()).unwrap());
    let first = engine.run(1).await.unwrap();
    let refused = engine.rerun(&first.run_id, &["bb"]).await.unwrap_err();
    assert!(
        matches!(&refused, PipelineError::UnknownNode { node, .. } if node == "bb"),
        "{refused}"
    );
    assert!(
        refused.to_string().contains("its nodes: a, b, c, d"),
        "{refused}"
    );
    let missing = engine
        .rerun(&RunId::new("nope").unwrap(), &["b"])
        .await
        .unwrap_err();
    assert!(matches!(missing, PipelineError::UnknownRun(_)), "{missing}");
    let runs = engine.load_checkpoint(&first.run_id).await.unwrap();
    assert!(runs.is_some());
    let listed = FileCheckpointer::new(dir.path()).list_runs().await.unwrap();
    assert_eq!(listed, [first.run_id], "no run was made");
}
