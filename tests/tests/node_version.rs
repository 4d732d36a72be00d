//! `#[node(version = "..")]`: part of the fingerprint (the same at compile time and run time), so
//! a checkpoint written by another version of a node is not resumed; `rerun` of that node is how
//! to recompute from such a run.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use pipeline::Graph;
use pipeline::prelude::*;
use pipeline::store::Stores;

#[node(version = "2")]
fn scale(x: u64) -> u64 {
    x * 3
}

#[node]
fn plus_one(x: u64) -> u64 {
    x + 1
}

pipeline! {
    /// A pipeline with a versioned node.
    pub Versioned(x: u64) -> u64 {
        scaled = scale(x);
        done   = plus_one(scaled);
        done
    }
}

#[test]
fn a_nodes_version_is_in_the_fingerprint_at_compile_time_and_run_time_and_in_the_signature() {
    tests::assert_compile_time_fingerprints_agree(&["Versioned"]);
    let signature = PipelineEngine::new(Versioned).graph().signature().clone();
    let scaled = signature.nodes.iter().find(|n| n.id == "scaled").unwrap();
    assert_eq!(scaled.version.as_deref(), Some("2"));
    let done = signature.nodes.iter().find(|n| n.id == "done").unwrap();
    assert_eq!(done.version, None);
}

/// x -> a -> b (`b` at `version`, adding `bump`), x -> c.
fn graph(version: &str, bump: u64, runs: Arc<AtomicU64>) -> Graph<u64, (u64, u64)> {
    let mut g = GraphBuilder::<u64>::new("versions");
    let x = g.input("x", |x: &u64| *x);
    let a = g
        .node("a")
        .run(x, |x, _| async move { Ok::<_, std::io::Error>(x + 1) });
    let b = g.node("b").version(version).run(a, move |a, _| {
        runs.fetch_add(1, Ordering::SeqCst);
        async move { Ok::<_, std::io::Error>(a * 10 + bump) }
    });
    let c = g
        .node("c")
        .run(x, |x, _| async move { Ok::<_, std::io::Error>(x * 2) });
    g.build((b, c)).unwrap()
}

#[tokio::test]
async fn a_run_of_another_version_is_not_resumed_but_can_be_rerun_from() {
    let dir = tempfile::tempdir().unwrap();
    let runs = Arc::new(AtomicU64::new(0));
    let stores = || Stores::open(dir.path()).unwrap();
    let v1 = PipelineEngine::new(graph("1", 0, Arc::clone(&runs))).stores(stores());
    let first = v1.run(1).await.unwrap();
    assert_eq!(first.output, Some((20, 2)));

    let v2 = PipelineEngine::new(graph("2", 5, Arc::clone(&runs))).stores(stores());
    let refused = v2.resume(&first.run_id).await.unwrap_err();
    assert!(
        refused
            .to_string()
            .contains("node `b` version changed from `1` to `2`"),
        "{refused}"
    );
    let other = v2.rerun(&first.run_id, &["c"]).await.unwrap_err();
    assert!(other.to_string().contains("version changed"), "{other}");

    let rerun = v2.rerun(&first.run_id, &["b"]).await.unwrap();
    assert_eq!(rerun.status, RunStatus::Completed);
    assert_eq!(rerun.output, Some((25, 2)));
    assert_eq!(rerun.executed, ["b"]);
    assert_eq!(runs.load(Ordering::SeqCst), 2);
    // The new run is of the new version: it resumes as any run.
    let again = v2.resume(&rerun.run_id).await.unwrap();
    assert!(again.executed.is_empty());
    assert_ne!(rerun.run_id, first.run_id);
}
