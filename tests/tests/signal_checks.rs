//! A signal is checked before it is stored (issue 24, finding 4): sent through an engine of
//! another pipeline (with a wait of the same name), it was stored and then refused, and the
//! right signal could never be sent, so the run could never complete. Now it is refused before
//! anything is written, on files, SQLite and PostgreSQL; and `Checkpointer::remove_signal` (the
//! command line's `signal RUN WAIT --remove`) takes back a stored signal that does not fit.

use pipeline::prelude::*;
use pipeline::store::{SignalRecord, SignalSent};
use pipeline::{PipelineError, Signal};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Approval {
    pub by: String,
}

#[node]
fn plan(cents: u64) -> u64 {
    cents * 2
}

#[node]
fn pay(plan: u64, approval: Approval) -> String {
    format!("paid {plan} cents, approved by {}", approval.by)
}

#[node]
fn ship(items: u64, approval: bool) -> String {
    format!("shipped {items} items: {approval}")
}

pipeline! {
    /// Pays once approved by a named person.
    pub SignalPayout(cents: u64) -> String {
        planned  = plan(cents);
        approval = signal::<Approval>(planned);
        paid     = pay(planned, approval);
        paid
    }
}

pipeline! {
    /// Ships once approved (a `bool`): a wait of the same name as `SignalPayout`'s.
    pub SignalShipping(items: u64) -> String {
        approval = signal::<bool>(items);
        shipped  = ship(items, approval);
        shipped
    }
}

#[test]
fn compile_time_fingerprints_agree() {
    tests::assert_compile_time_fingerprints_agree(&["SignalPayout", "SignalShipping"]);
}

/// Starts a payout that waits, sends it a shipping signal through a shipping engine, and then
/// the right signal.
async fn a_signal_of_another_pipeline_is_refused_before_it_is_stored(stores: impl Fn() -> Stores) {
    let payout = PipelineEngine::new(SignalPayout).stores(stores());
    let waiting = payout.run(SignalPayoutInputs { cents: 5 }).await.unwrap();
    assert_eq!(waiting.status, RunStatus::Waiting);
    let run_id = &waiting.run_id;

    let shipping = PipelineEngine::new(SignalShipping).stores(stores());
    let wrong = Signal::new("approval", &true).unwrap();
    let refused = shipping.signal(run_id, wrong).await.unwrap_err();
    assert!(
        matches!(&refused, PipelineError::PipelineMismatch { expected, found, .. }
            if expected == "SignalShipping" && found == "SignalPayout"),
        "{refused}"
    );
    let stored = stores().checkpointer.waits(run_id).await.unwrap();
    assert!(stored.signals.is_empty(), "nothing was stored: {stored:?}");

    let right = Signal::new(
        "approval",
        &Approval {
            by: "finance".into(),
        },
    )
    .unwrap();
    let done = payout.signal(run_id, right).await.unwrap();
    assert_eq!(done.sent, SignalSent::Stored);
    let run = done.run.expect("the run continues here");
    assert_eq!(run.status, RunStatus::Completed);
    assert_eq!(
        run.output.as_deref(),
        Some("paid 10 cents, approved by finance")
    );
}

/// A signal stored that does not fit (written by hand, or before signals were checked) is
/// removed, and the right one then completes the run.
async fn a_stored_signal_that_does_not_fit_can_be_removed(stores: impl Fn() -> Stores) {
    let payout = PipelineEngine::new(SignalPayout).stores(stores());
    let waiting = payout.run(SignalPayoutInputs { cents: 5 }).await.unwrap();
    let run_id = &waiting.run_id;
    let misfit = SignalRecord {
        wait: "approval".into(),
        key: "true".into(),
        payload: serde_json::value::to_raw_value(&true).unwrap().into(),
        sent_at_ms: 1,
    };
    let checkpointer = stores().checkpointer;
    checkpointer.send_signal(run_id, &misfit).await.unwrap();
    let right = Signal::new(
        "approval",
        &Approval {
            by: "finance".into(),
        },
    )
    .unwrap();
    let blocked = payout.signal(run_id, right.clone()).await.unwrap_err();
    assert!(blocked.to_string().contains("approval"), "{blocked}");

    assert!(
        checkpointer
            .remove_signal(run_id, "approval")
            .await
            .unwrap()
    );
    assert!(
        !checkpointer
            .remove_signal(run_id, "approval")
            .await
            .unwrap()
    );
    let run = payout.signal(run_id, right).await.unwrap().run.unwrap();
    assert_eq!(run.status, RunStatus::Completed);
}

#[tokio::test]
async fn signals_are_checked_before_they_are_stored_on_files_and_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let files = dir.path().join("files");
    let sqlite = format!("sqlite://{}", dir.path().join("runs.db").display());
    a_signal_of_another_pipeline_is_refused_before_it_is_stored(|| Stores::open(&files).unwrap())
        .await;
    a_stored_signal_that_does_not_fit_can_be_removed(|| Stores::open(&files).unwrap()).await;
    a_signal_of_another_pipeline_is_refused_before_it_is_stored(|| Stores::open(&sqlite).unwrap())
        .await;
    a_stored_signal_that_does_not_fit_can_be_removed(|| Stores::open(&sqlite).unwrap()).await;
}

#[tokio::test]
#[cfg_attr(
    no_postgres,
    ignore = "needs PostgreSQL, which did not answer when the tests were built: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
)]
async fn signals_are_checked_before_they_are_stored_on_postgres() {
    let db = tests::postgres::TestDatabase::create();
    a_signal_of_another_pipeline_is_refused_before_it_is_stored(|| Stores::open(&db.url).unwrap())
        .await;
    a_stored_signal_that_does_not_fit_can_be_removed(|| Stores::open(&db.url).unwrap()).await;
}
