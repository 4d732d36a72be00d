//! Values that come back exactly (issue 24, findings 1, 2 and 11), through `#[node]` and
//! `pipeline!` as users write them: an output whose JSON is ambiguous is compared by value (its
//! `PartialEq`, found by `#[node]`) and not checkpointed; maps and sets are checkpointed and
//! restored whatever order their keys come back in; `u128` and `i128` round-trip everywhere.
//!
//! Each pipeline is `v = <node>(x); ok = flaky(x); (v, ok)`: `flaky` fails on a run's first call,
//! so the run fails with `v` done, and a resume either restores `v` or runs it again.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;

use pipeline::prelude::*;
use pipeline::{PersistenceWarning, WarningSource};

/// Run ids whose `flaky` has failed once.
static FAILED_ONCE: Mutex<Vec<String>> = Mutex::new(Vec::new());

#[node]
fn flaky(x: u64, ctx: NodeContext) -> Result<u64, std::io::Error> {
    let mut failed = FAILED_ONCE.lock().unwrap();
    let id = ctx.run_id().to_string();
    if failed.contains(&id) {
        return Ok(x);
    }
    failed.push(id);
    Err(std::io::Error::other("down on the first call"))
}

/// Variants of one shape, `Cents` first: `Dollars(5)` is written `5` and `5` reads as `Cents(5)`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Money {
    Cents(u64),
    Dollars(u64),
}

#[node]
fn dollars(x: u64) -> Money {
    Money::Dollars(x)
}

#[node]
fn some_none(_x: u64) -> Option<Option<u64>> {
    Some(None)
}

#[node]
fn counts(x: u64) -> HashMap<String, u64> {
    (0..40).map(|i| (format!("key{i}"), x + i)).collect()
}

#[node]
fn tags(x: u64) -> HashSet<String> {
    (0..40).map(|i| format!("tag{}", x + i)).collect()
}

/// A struct holding a map, without `PartialEq`: compared canonically.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Index {
    pub name: String,
    pub by_key: HashMap<String, Vec<u64>>,
}

#[node]
fn index(x: u64) -> Index {
    Index {
        name: "index".into(),
        by_key: (0..40).map(|i| (format!("k{i}"), vec![x, i])).collect(),
    }
}

#[node]
fn wide(_x: u64) -> (u128, i128) {
    (u128::MAX, i128::MIN)
}

pipeline! {
    /// An untagged enum whose variants share a shape.
    pub FidelityMoney(x: u64) -> (Money, u64) {
        v  = dollars(x);
        ok = flaky(x);
        (v, ok)
    }
}

pipeline! {
    /// `Some(None)`, written `null`.
    pub FidelityOption(x: u64) -> (Option<Option<u64>>, u64) {
        v  = some_none(x);
        ok = flaky(x);
        (v, ok)
    }
}

pipeline! {
    /// A `HashMap`.
    pub FidelityMap(x: u64) -> (HashMap<String, u64>, u64) {
        v  = counts(x);
        ok = flaky(x);
        (v, ok)
    }
}

pipeline! {
    /// A `HashSet`.
    pub FidelitySet(x: u64) -> (HashSet<String>, u64) {
        v  = tags(x);
        ok = flaky(x);
        (v, ok)
    }
}

pipeline! {
    /// A struct holding a map, without `PartialEq`.
    pub FidelityIndex(x: u64) -> (Index, u64) {
        v  = index(x);
        ok = flaky(x);
        (v, ok)
    }
}

pipeline! {
    /// 128-bit integers.
    pub FidelityWide(x: u64) -> ((u128, i128), u64) {
        v  = wide(x);
        ok = flaky(x);
        (v, ok)
    }
}

#[test]
fn compile_time_fingerprints_agree() {
    tests::assert_compile_time_fingerprints_agree(&[
        "FidelityMoney",
        "FidelityOption",
        "FidelityMap",
        "FidelitySet",
        "FidelityIndex",
        "FidelityWide",
        "FidelityWideInput",
    ]);
}

/// What the first run warned about `v`, whether `v` was checkpointed, and the resumed run.
struct Resumed<T> {
    warnings: Vec<PersistenceWarning>,
    checkpointed: bool,
    resumed: PipelineResult<(T, u64)>,
}

/// Runs `pipeline` in a store of `kind` (`files` or `sqlite`), sees it fail at `flaky`, and
/// resumes it.
async fn run_then_resume<P, T>(pipeline: P, inputs: P::Inputs, kind: &str) -> Resumed<T>
where
    P: Pipeline<Output = (T, u64)>,
{
    let dir = tempfile::tempdir().unwrap();
    let spec = match kind {
        "files" => dir.path().display().to_string(),
        _ => format!("sqlite://{}", dir.path().join("runs.db").display()),
    };
    let engine = PipelineEngine::new(pipeline).stores(Stores::open(&spec).unwrap());
    let first = engine.run(inputs).await.unwrap();
    assert_eq!(first.status, RunStatus::Failed);
    let checkpoint = engine
        .load_checkpoint(&first.run_id)
        .await
        .unwrap()
        .unwrap();
    let resumed = engine.resume(&first.run_id).await.unwrap();
    assert_eq!(resumed.status, RunStatus::Completed);
    Resumed {
        warnings: first.warnings,
        checkpointed: checkpoint.node("v").is_some(),
        resumed,
    }
}

const STORES: [&str; 2] = ["files", "sqlite"];

impl<T: PartialEq + std::fmt::Debug> Resumed<T> {
    /// `v` was not checkpointed, a warning says why, and the resume ran it again and returned
    /// `expected`.
    fn assert_ran_again(&self, expected: &T, reason: &str) {
        assert!(!self.checkpointed, "the ambiguous output was checkpointed");
        let warning = self
            .warnings
            .iter()
            .find(|w| w.node.as_deref() == Some("v"))
            .unwrap_or_else(|| panic!("no warning for `v`: {:?}", self.warnings));
        assert_eq!(warning.source, WarningSource::Checkpoint);
        assert!(
            warning.message.contains("not checkpointed") && warning.message.contains(reason),
            "{warning}"
        );
        assert!(self.resumed.executed.contains("v"), "v runs again");
        assert_eq!(self.resumed.output.as_ref().map(|o| &o.0), Some(expected));
    }

    /// `v` was checkpointed with no warning, and the resume restored it as `expected`.
    fn assert_restored(&self, expected: &T) {
        assert!(self.warnings.is_empty(), "{:?}", self.warnings);
        assert!(self.checkpointed, "the output was not checkpointed");
        assert_eq!(self.resumed.restored, ["v"]);
        assert_eq!(self.resumed.output.as_ref().map(|o| &o.0), Some(expected));
    }
}

/// Finding 1: `Dollars(5)` was written `5`, passed the byte check, and came back as `Cents(5)`.
#[tokio::test]
async fn an_untagged_enum_that_reads_back_as_another_variant_is_not_checkpointed() {
    for kind in STORES {
        let run = run_then_resume(FidelityMoney, FidelityMoneyInputs { x: 5 }, kind).await;
        run.assert_ran_again(&Money::Dollars(5), "different value");
    }
}

/// Finding 1: `Some(None)` was written `null` and came back as `None`.
#[tokio::test]
async fn some_none_is_not_checkpointed() {
    for kind in STORES {
        let run = run_then_resume(FidelityOption, FidelityOptionInputs { x: 5 }, kind).await;
        run.assert_ran_again(&Some(None), "different value");
    }
}

/// Finding 2: re-encoding a decoded map gave other key orders, so 0 of 50 runs were
/// checkpointed.
#[tokio::test]
async fn hash_maps_and_sets_are_checkpointed_and_restored() {
    for kind in STORES {
        let expected = counts(5);
        let run = run_then_resume(FidelityMap, FidelityMapInputs { x: 5 }, kind).await;
        run.assert_restored(&expected);
        let expected = tags(5);
        let run = run_then_resume(FidelitySet, FidelitySetInputs { x: 5 }, kind).await;
        run.assert_restored(&expected);
    }
}

/// Finding 2: a struct holding a map (without `PartialEq`, so compared canonically) was never
/// checkpointed either.
#[tokio::test]
async fn a_struct_holding_a_map_is_checkpointed_and_restored() {
    for kind in STORES {
        let run = run_then_resume(FidelityIndex, FidelityIndexInputs { x: 5 }, kind).await;
        assert!(run.warnings.is_empty(), "{:?}", run.warnings);
        assert!(run.checkpointed);
        assert_eq!(run.resumed.restored, ["v"]);
        let (index, _) = run.resumed.output.unwrap();
        let expected: BTreeMap<_, _> = (0..40).map(|i| (format!("k{i}"), vec![5, i])).collect();
        assert_eq!(
            index.by_key.into_iter().collect::<BTreeMap<_, _>>(),
            expected
        );
    }
}

/// An event handler that does nothing.
struct Quiet;
impl pipeline::EventHandler for Quiet {}

#[node]
fn halve(x: u128) -> u128 {
    x / 2
}

pipeline! {
    /// A 128-bit input and output.
    pub FidelityWideInput(x: u128) -> u128 {
        half = halve(x);
        half
    }
}

/// Finding 11: the typed checkpoint of a `u128` output failed ("floating point 3.40e38,
/// expected u128"), and a resume through the registry (as the command line runs it) gave the
/// output `null`.
#[tokio::test]
async fn u128_and_i128_outputs_round_trip_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let engine = PipelineEngine::new(FidelityWide).stores(Stores::open(dir.path()).unwrap());
    let first = engine.run(FidelityWideInputs { x: 5 }).await.unwrap();
    assert_eq!(first.status, RunStatus::Failed);
    let typed = engine.checkpoint(&first.run_id).await.unwrap().unwrap();
    assert_eq!(typed.v, Some((u128::MAX, i128::MIN)));

    let info = pipeline::registry::pipeline("FidelityWide").unwrap();
    let events = std::sync::Arc::new(Quiet);
    let resumed = (info.pipeline)()
        .resume(
            Stores::open(dir.path()).unwrap(),
            &first.run_id,
            events,
            &CancelHandle::new(),
        )
        .await
        .unwrap();
    assert_eq!(resumed.status, RunStatus::Completed);
    let output = resumed.output.expect("an output");
    assert_eq!(
        serde_json::to_string(&output).unwrap(),
        format!("[[{},{}],5]", u128::MAX, i128::MIN),
        "the output as the command line prints it"
    );
}

/// Finding 11: a `u128` input given as JSON (as `run --input` gives it) read back as a float.
#[tokio::test]
async fn a_u128_input_given_as_json_is_read_whole() {
    let dir = tempfile::tempdir().unwrap();
    let info = pipeline::registry::pipeline("FidelityWideInput").unwrap();
    let events = std::sync::Arc::new(Quiet);
    let inputs = format!(r#"{{"x":{}}}"#, u128::MAX);
    let run = (info.pipeline)()
        .run(
            Stores::open(dir.path()).unwrap(),
            &inputs,
            RunOptions::new(),
            events,
            &CancelHandle::new(),
        )
        .await
        .unwrap();
    assert_eq!(run.status, RunStatus::Completed);
    let output = serde_json::to_string(&run.output.unwrap()).unwrap();
    assert_eq!(output, (u128::MAX / 2).to_string());
}
