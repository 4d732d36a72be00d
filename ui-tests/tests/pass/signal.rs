//! A wait for a signal compiles warning-free under the strictest lints, with its typed enum.
#![deny(warnings, missing_docs, unsafe_code)]

use pipeline::prelude::*;

/// A decision.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Approval {
    /// Who decided.
    pub by: String,
    /// Whether to go on.
    pub ok: bool,
}

/// Plans.
#[node]
pub fn prepare(cents: u64) -> u64 {
    cents * 2
}

/// Pays (a parameter named `_cooled` only orders it after the timer).
#[node]
pub fn pay(plan: u64, approval: Approval, _cooled: ()) -> String {
    format!("{plan} by {}", approval.by)
}

pipeline! {
    /// Pays after an approval.
    pub Payout(cents: u64) -> String {
        plan          = prepare(cents);
        approval      = signal::<Approval>(plan, timeout = "48h");
        second_opinion = signal::<bool>(plan);
        cooled        = sleep("24h", plan);
        paid          = pay(plan, approval, cooled) if approval.ok && second_opinion && cooled == ();
        paid
    }
}

fn main() {
    let _engine = PipelineEngine::new(Payout);
    let _signal: PayoutSignal = PayoutSignal::SecondOpinion(true);
    let _other = PayoutSignal::Approval(Approval { by: "me".into(), ok: true });
}
