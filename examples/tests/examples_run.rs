//! Every example runs here, so none can rot. Each example's `run` is called with a buffer for its
//! output and a temporary store.

#[allow(dead_code)]
#[path = "../quickstart/src/main.rs"]
mod quickstart;

#[allow(dead_code)]
#[path = "../examples/etl.rs"]
mod etl;

#[allow(dead_code)]
#[path = "../examples/each.rs"]
mod each;

#[allow(dead_code)]
#[path = "../examples/inspect.rs"]
mod inspect;

#[allow(dead_code)]
#[path = "../src/bin/ops.rs"]
mod ops;

use std::path::Path;

use pipeline::{NodeStatus, RunStatus};

fn text(out: Vec<u8>) -> String {
    String::from_utf8(out).expect("examples print UTF-8")
}

#[tokio::test]
async fn quickstart_fails_then_resumes_without_rerunning_completed_nodes() {
    let store = tempfile::tempdir().unwrap();
    let mut out = Vec::new();
    quickstart::run(store.path(), &mut out).await.unwrap();
    let out = text(out);
    assert!(
        out.contains("first run: run ") && out.contains(" failed"),
        "{out}"
    );
    assert!(
        out.contains("n       failed after 2 attempts: order service unavailable (attempt 2)"),
        "{out}"
    );
    assert!(out.contains("report  not run"), "{out}");
    assert!(
        out.contains("orders  completed (restored from the checkpoint)"),
        "{out}"
    );
    assert!(out.contains("output: 6 orders, 26250 cents"), "{out}");
    assert!(
        out.contains("node calls: 4 in the first run, 2 on resume (ran: n, report)"),
        "{out}"
    );
}

#[tokio::test]
async fn each_scores_every_article_and_resume_scores_only_the_failed_one() {
    let store = tempfile::tempdir().unwrap();
    let mut out = Vec::new();
    let result = each::run(store.path(), &mut out).await.unwrap();
    let out = text(out);
    assert_eq!(result.status, RunStatus::Completed, "{out}");
    assert!(
        out.contains("scores failed: 1 of 40 items failed: item 16: scoring service unavailable for article 17"),
        "{out}"
    );
    assert!(
        out.contains("checkpoint: scores has 39 of 40 items"),
        "{out}"
    );
    assert!(
        out.contains("articles scored: 41 in the first run (one failed twice), 1 on resume"),
        "{out}"
    );
    assert_eq!(result.output.as_ref().map(Vec::len), Some(3), "{out}");
}

#[tokio::test]
async fn etl_fans_out_and_in_gates_the_review_and_skips_downstream_of_the_failure() {
    let mut out = Vec::new();
    let result = etl::run(etl::DATA, &mut out).await.unwrap();
    let out = text(out);
    assert_eq!(result.status, RunStatus::Failed, "{out}");
    assert_eq!(result.node("rate"), Some(NodeStatus::Failed));
    assert_eq!(result.node("eur"), Some(NodeStatus::Skipped));
    assert_eq!(result.node("review"), Some(NodeStatus::Completed));
    assert_eq!(result.node("summary"), Some(NodeStatus::Completed));
    assert_eq!(
        result.output.as_deref(),
        Some(
            "net revenue 9903.00 USD; by region: east 3839.00, north 4250.00, south 1054.00, \
             west 760.00; 2 refunded orders"
        )
    );
    assert!(out.contains("exchange-rate service unreachable"), "{out}");
}

#[tokio::test]
async fn etl_reports_a_malformed_file_as_a_failed_parse() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.csv");
    std::fs::write(&path, "header\n1,acme,north\n").unwrap();
    let result = etl::run(path.to_str().unwrap(), &mut Vec::new())
        .await
        .unwrap();
    assert_eq!(result.node("sales"), Some(NodeStatus::Failed));
    assert!(
        result.failures["sales"]
            .error
            .contains("bad.csv:2: expected 5 fields, found 3")
    );
}

#[tokio::test]
async fn inspect_lists_the_registry_and_prints_a_typed_checkpoint_and_audit_trail() {
    let store = tempfile::tempdir().unwrap();
    let mut out = Vec::new();
    let checkpoint = inspect::run(store.path(), &mut out).await.unwrap();
    let out = text(out);
    assert_eq!(checkpoint.n, Some(6));
    assert_eq!(checkpoint.long.as_deref(), Some("pipelines"));
    for pipeline in ["WordStats", "Sales", "SalesEtl"] {
        assert!(
            out.contains(&format!("  {pipeline} (")),
            "{pipeline} missing from:\n{out}"
        );
    }
    assert!(
        out.contains("longest(words: Vec<String>) -> String"),
        "{out}"
    );
    assert!(out.contains("n attempt 1 Completed"), "{out}");
}

/// The registry lists each pipeline with the fingerprint `pipeline!` computed at compile time; a
/// run stores the one computed at run time from its graph. They must agree for every pipeline.
#[test]
fn every_example_pipeline_has_the_same_fingerprint_at_compile_time_and_run_time() {
    let registered = pipeline::registry::pipelines();
    let names: Vec<&str> = registered.iter().map(|p| p.name).collect();
    for expected in [
        "Sales",
        "SalesEtl",
        "WordStats",
        "Revenue",
        "Relevance",
        "Sizes",
    ] {
        assert!(names.contains(&expected), "{expected} not in {names:?}");
    }
    for info in registered {
        let run_time = (info.pipeline)().signature().fingerprint();
        assert_eq!(info.fingerprint(), run_time, "pipeline `{}`", info.name);
    }
}

/// `cargo run -p examples --example fleet`: three worker processes run five submitted runs. The
/// example's binary is built by `cargo test` beside this test's.
#[test]
#[cfg_attr(
    no_postgres,
    ignore = "needs PostgreSQL, which did not answer when the tests were built: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
)]
fn fleet_runs_submitted_runs_on_three_worker_processes() {
    let db = tests::postgres::TestDatabase::create();
    let exe = std::env::current_exe().unwrap();
    let example = exe
        .parent()
        .and_then(Path::parent)
        .map(|target| target.join("examples").join("fleet"))
        .unwrap();
    assert!(example.exists(), "cargo test builds {}", example.display());
    let out = std::process::Command::new(&example)
        .env("PIPELINE_EXAMPLE_POSTGRES", &db.url)
        .output()
        .unwrap();
    let stdout = text(out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(out.stderr));
    assert!(
        stdout.starts_with("submitted 5 runs of Revenue"),
        "{stdout}"
    );
    assert_eq!(
        stdout.matches(" completed: revenue 2599.00 USD = ").count(),
        5,
        "{stdout}"
    );
    assert!(stdout.contains("report@worker-"), "{stdout}");
}
