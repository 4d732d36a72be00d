//! Audit entries refer to what a checkpoint already holds instead of copying it (the default,
//! `AuditDetail::References`), so the trail stays about the size of the checkpoint; `Full`
//! copies every value, `None` keeps none.

use pipeline::*;

/// x -> n0 -> ... -> n49, each output a 10 KB string; `n49` fails while `down` is set.
fn chain(down: bool) -> Graph<u64, String> {
    let mut g = GraphBuilder::<u64>::new("big_chain");
    let x = g.input("x", |x: &u64| *x);
    let mut last = g.node("n0").run(x, |x, _| async move {
        Ok::<_, std::io::Error>(format!("{x:0>10000}"))
    });
    for i in 1..50 {
        last = g
            .node(format!("n{i}"))
            .run(last, move |s: String, _| async move {
                if down && i == 49 {
                    return Err(std::io::Error::other("down"));
                }
                Ok(format!("{i}{}", &s[1..]))
            });
    }
    g.build(last).unwrap()
}

fn sizes(dir: &std::path::Path, run_id: &RunId) -> (u64, u64) {
    let size = |p: std::path::PathBuf| std::fs::metadata(p).unwrap().len();
    (
        size(FileCheckpointer::new(dir).path(run_id)),
        size(FileAuditLog::new(dir).path(run_id)),
    )
}

/// Finding: the audit file was twice the checkpoint, because every attempt copied its inputs.
#[tokio::test]
async fn by_default_the_audit_trail_is_about_the_size_of_the_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let engine = |down| {
        PipelineEngine::new(chain(down))
            .checkpointer(FileCheckpointer::new(dir.path()))
            .audit_log(FileAuditLog::new(dir.path()))
    };
    let failed = engine(true).run(7).await.unwrap();
    let resumed = engine(false).resume(&failed.run_id).await.unwrap();
    assert_eq!(resumed.status, RunStatus::Completed);
    let (checkpoint, audit) = sizes(dir.path(), &failed.run_id);
    let ratio = audit as f64 / checkpoint as f64;
    assert!(
        ratio <= 1.1,
        "audit {audit} B / checkpoint {checkpoint} B = {ratio:.2}"
    );

    let trail = engine(false)
        .audit_trail(&failed.run_id)
        .await
        .unwrap()
        .unwrap();
    let n1 = trail.iter().find(|e| e.node == "n1").unwrap();
    assert_eq!(n1.input_refs, ["n0"]);
    assert!(n1.inputs.is_empty() && n1.output.is_none() && n1.output_in_checkpoint);
    let n0 = trail.iter().find(|e| e.node == "n0").unwrap();
    assert_eq!(
        n0.input_refs,
        ["x"],
        "pipeline inputs are in the run's header"
    );
    let failed_attempt = trail
        .iter()
        .find(|e| e.status == AuditStatus::Failed)
        .unwrap();
    assert_eq!(failed_attempt.input_refs, ["n48"]);
}

#[tokio::test]
async fn full_detail_copies_every_value_and_none_keeps_none() {
    let dir = tempfile::tempdir().unwrap();
    for (detail, copies) in [(AuditDetail::Full, true), (AuditDetail::None, false)] {
        let engine = PipelineEngine::new(chain(false))
            .checkpointer(FileCheckpointer::new(dir.path()))
            .audit_log(FileAuditLog::new(dir.path()))
            .settings(EngineSettings::new().audit_detail(detail));
        let run = engine.run(7).await.unwrap();
        let trail = engine.audit_trail(&run.run_id).await.unwrap().unwrap();
        let n1 = trail.iter().find(|e| e.node == "n1").unwrap();
        assert_eq!(n1.inputs.contains_key("n0"), copies, "{detail:?}");
        assert_eq!(n1.output.is_some(), copies, "{detail:?}");
        assert!(
            n1.input_refs.is_empty() && !n1.output_in_checkpoint,
            "{detail:?}"
        );
    }
}

/// Without a checkpointer nothing holds the values, so even by default they are copied.
#[tokio::test]
async fn values_no_checkpoint_holds_are_copied() {
    let engine = PipelineEngine::new(chain(false)).audit_log(InMemoryAuditLog::new());
    let run = engine.run(7).await.unwrap();
    let trail = engine.audit_trail(&run.run_id).await.unwrap().unwrap();
    let n1 = trail.iter().find(|e| e.node == "n1").unwrap();
    assert!(n1.inputs.contains_key("n0") && n1.output.is_some());
    assert_eq!(trail[0].input_refs, ["x"]);
}
