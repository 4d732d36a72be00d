//! What a checkpoint holds decodes to the value the dependents received: an output whose JSON
//! would read back as something else (or not at all) is not checkpointed, with a warning naming
//! the node, and the node runs again on resume.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use pipeline::*;
use serde::{Deserialize, Serialize};

/// x -> v (returns `value`) -> after(v, ok) <- ok (fails while `down`); the output is `after`'s,
/// a copy of `v`.
fn graph<T: Data>(value: T, down: Arc<AtomicBool>) -> Graph<u64, T> {
    let mut g = GraphBuilder::<u64>::new("stored_values");
    let x = g.input("x", |x: &u64| *x);
    let v = g.node("v").run(x, move |_, _| {
        let value = value.clone();
        async move { Ok::<_, std::io::Error>(value) }
    });
    let ok = g.node("ok").run(x, move |x, _| {
        let down = down.load(Ordering::SeqCst);
        async move {
            match down {
                true => Err(std::io::Error::other("down")),
                false => Ok(x),
            }
        }
    });
    let after = g.node("after").run(
        (v, ok),
        |(v, _), _| async move { Ok::<_, std::io::Error>(v) },
    );
    g.build(after).unwrap()
}

/// Runs with `ok` down, then resumes; returns the first run's warnings, whether `v` was
/// checkpointed, and the resumed run.
async fn run_then_resume<T: Data>(
    value: T,
    round_trip: RoundTrip,
) -> (
    Vec<PersistenceWarning>,
    bool,
    Result<PipelineResult<T>, PipelineError>,
) {
    let dir = tempfile::tempdir().unwrap();
    let down = Arc::new(AtomicBool::new(true));
    let engine = |down| {
        PipelineEngine::new(graph(value.clone(), down))
            .checkpointer(FileCheckpointer::new(dir.path()))
            .settings(EngineSettings::new().round_trip(round_trip))
    };
    let first = engine(down.clone()).run(1).await.unwrap();
    assert_eq!(first.status, RunStatus::Failed);
    let checkpoint = engine(down.clone())
        .load_checkpoint(&first.run_id)
        .await
        .unwrap()
        .unwrap();
    down.store(false, Ordering::SeqCst);
    let resumed = engine(down).resume(&first.run_id).await;
    (first.warnings, checkpoint.node("v").is_some(), resumed)
}

/// The output is not checkpointed, a warning says why, and resume runs `v` again and returns
/// the value `v` produces.
async fn assert_not_checkpointed<T: Data>(value: T, reason: &str, same: impl Fn(&T) -> bool) {
    let (warnings, stored, resumed) = run_then_resume(value, RoundTrip::Verify).await;
    assert!(!stored, "the output was checkpointed");
    let warning = warnings
        .iter()
        .find(|w| w.node.as_deref() == Some("v"))
        .unwrap_or_else(|| panic!("no warning for `v`: {warnings:?}"));
    assert_eq!(warning.source, WarningSource::Checkpoint);
    assert!(
        warning.message.contains("not checkpointed") && warning.message.contains(reason),
        "{warning}"
    );
    let resumed = resumed.expect("resume works");
    assert_eq!(resumed.status, RunStatus::Completed);
    assert!(resumed.executed.contains("v"), "v runs again");
    assert!(
        same(resumed.output.as_ref().unwrap()),
        "a different value came back"
    );
}

/// Finding: NaN was stored as `null`; the run said Completed and every resume failed with
/// `invalid type: null, expected f64`.
#[tokio::test]
async fn a_nan_output_is_not_checkpointed_and_resume_runs_the_node_again() {
    assert_not_checkpointed(f64::NAN, "NaN", |v: &f64| v.is_nan()).await;
    assert_not_checkpointed(f64::INFINITY, "inf", |v: &f64| *v == f64::INFINITY).await;
}

/// Finding: `Some(NaN)` came back as `None`, a silently different value.
#[tokio::test]
async fn an_optional_nan_is_not_checkpointed() {
    assert_not_checkpointed(Some(f64::NAN), "NaN", |v: &Option<f64>| {
        v.is_some_and(f64::is_nan)
    })
    .await;
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
enum Shape {
    Point { x: i64 },
    Line { x: i64, len: i64 },
}

/// Finding: an untagged `Line { x: 1, len: 5 }` came back as `Point { x: 1 }`.
#[tokio::test]
async fn a_value_that_decodes_to_another_is_not_checkpointed() {
    let line = Shape::Line { x: 1, len: 5 };
    assert_not_checkpointed(line.clone(), "different value", |v| *v == line).await;
}

/// Finding: an output nested deeper than 128 levels made the run unresumable (`recursion limit
/// exceeded`).
#[tokio::test]
async fn an_output_nested_too_deep_to_read_back_is_not_checkpointed() {
    let mut deep = serde_json::Value::Null;
    for _ in 0..200 {
        deep = serde_json::Value::Array(vec![deep]);
    }
    assert_not_checkpointed(deep.clone(), "does not decode back", |v| *v == deep).await;
}

/// Values that round-trip are checkpointed and restored, not run again.
#[tokio::test]
async fn values_that_round_trip_are_checkpointed_and_restored() {
    let value = (
        1.5f64,
        Some(-0.25f32),
        Shape::Point { x: 3 },
        vec!["é".to_owned()],
    );
    let (warnings, stored, resumed) = run_then_resume(value.clone(), RoundTrip::Verify).await;
    assert!(warnings.is_empty(), "{warnings:?}");
    assert!(stored);
    let resumed = resumed.unwrap();
    assert_eq!(resumed.restored, ["v"]);
    assert_eq!(resumed.output, Some(value));
}

/// With `RoundTrip::Trust` the check is skipped: what serializes is checkpointed as it is.
#[tokio::test]
async fn round_trip_trust_checkpoints_unchecked() {
    let (warnings, stored, resumed) = run_then_resume(f64::NAN, RoundTrip::Trust).await;
    assert!(warnings.is_empty(), "{warnings:?}");
    assert!(stored);
    assert!(matches!(resumed, Err(PipelineError::Decode { .. })));
}
