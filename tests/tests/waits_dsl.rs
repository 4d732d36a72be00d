//! Waits in `pipeline!`: `signal::<T>(after, timeout = "..")` is a binding whose type is the
//! payload's; the generated `<Name>Signal` enum sends a typed signal; the typed checkpoint holds
//! the payload; the compile-time fingerprint matches the run-time one.

use pipeline::prelude::*;
use pipeline::store::InMemoryCheckpointer;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Approval {
    pub by: String,
    pub ok: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Batch {
    pub cents: Vec<u64>,
}

#[node]
fn prepare(batch: Batch) -> u64 {
    batch.cents.iter().sum()
}

#[node]
fn pay(plan: u64, approval: Approval) -> String {
    format!("paid {plan} cents, approved by {}", approval.by)
}

pipeline! {
    /// Pays a batch once finance approves it.
    pub Payout(batch: Batch) -> String {
        plan     = prepare(batch);
        approval = signal::<Approval>(plan, timeout = "48h");
        paid     = pay(plan, approval) if approval.ok;
        paid
    }
}

#[node]
fn finish(plan: u64, cooled: ()) -> u64 {
    let () = cooled;
    plan + 1
}

pipeline! {
    /// Waits a little after planning, then finishes.
    pub Cooling(batch: Batch) -> u64 {
        plan   = prepare(batch);
        cooled = sleep("20ms", plan);
        done   = finish(plan, cooled);
        done
    }
}

#[tokio::test]
async fn a_short_sleep_is_awaited_in_the_process_and_a_long_one_suspends() {
    let store = InMemoryCheckpointer::new();
    let engine = PipelineEngine::new(Cooling).checkpointer(store.clone());
    let batch = Batch { cents: vec![5] };
    let done = engine
        .run(CoolingInputs {
            batch: batch.clone(),
        })
        .await
        .unwrap();
    assert_eq!(done.status, RunStatus::Completed);
    assert_eq!(done.output, Some(6));
    let suspending = PipelineEngine::new(Cooling)
        .checkpointer(store)
        .settings(EngineSettings::new().wait_in_process(std::time::Duration::ZERO));
    let waiting = suspending.run(CoolingInputs { batch }).await.unwrap();
    assert_eq!(waiting.status, RunStatus::Waiting);
    let cooled = &waiting.waiting[0];
    assert_eq!(cooled.wait, "cooled");
    assert_eq!(cooled.deadline_ms.unwrap() - cooled.began_at_ms, 20);
}

fn engine() -> PipelineEngine<Payout> {
    PipelineEngine::new(Payout).checkpointer(InMemoryCheckpointer::new())
}

#[tokio::test]
async fn a_typed_signal_continues_a_waiting_pipeline() {
    let engine = engine();
    let batch = Batch {
        cents: vec![100, 250],
    };
    let waiting = engine.run(PayoutInputs { batch }).await.unwrap();
    assert_eq!(waiting.status, RunStatus::Waiting);
    let deadline = waiting.waiting[0].deadline_ms.unwrap();
    assert_eq!(deadline - waiting.waiting[0].began_at_ms, 48 * 3600 * 1000);
    let typed: PayoutCheckpoint = engine.checkpoint(&waiting.run_id).await.unwrap().unwrap();
    assert_eq!(typed.plan, Some(350));
    assert_eq!(typed.approval, None);

    let approval = Approval {
        by: "finance".into(),
        ok: true,
    };
    let sent = engine
        .signal(&waiting.run_id, PayoutSignal::Approval(approval.clone()))
        .await
        .unwrap();
    let run = sent.run.unwrap();
    assert_eq!(
        run.output.as_deref(),
        Some("paid 350 cents, approved by finance")
    );
    let typed: PayoutCheckpoint = engine.checkpoint(&waiting.run_id).await.unwrap().unwrap();
    assert_eq!(typed.approval, Some(approval));
}

#[tokio::test]
async fn a_rejection_skips_the_gated_payment() {
    let engine = engine();
    let waiting = engine
        .run(PayoutInputs {
            batch: Batch { cents: vec![1] },
        })
        .await
        .unwrap();
    let no = Approval {
        by: "audit".into(),
        ok: false,
    };
    let run = engine
        .signal(&waiting.run_id, PayoutSignal::Approval(no))
        .await
        .unwrap()
        .run
        .unwrap();
    assert_eq!(run.status, RunStatus::Completed);
    assert_eq!(run.node("paid"), Some(NodeStatus::Skipped));
    assert_eq!(run.output, None);
}

#[test]
fn the_signature_names_the_wait_and_its_type() {
    let engine = PipelineEngine::new(Payout);
    let approval = engine
        .graph()
        .signature()
        .nodes
        .iter()
        .find(|n| n.id == "approval")
        .cloned()
        .unwrap();
    assert_eq!(approval.kind, "signal");
    assert_eq!(approval.output_type, "Approval");
    assert_eq!(approval.inputs, ["plan"]);
}

#[test]
fn the_fingerprint_is_the_same_at_compile_time_and_run_time() {
    tests::assert_compile_time_fingerprints_agree(&["Payout", "Cooling"]);
}
