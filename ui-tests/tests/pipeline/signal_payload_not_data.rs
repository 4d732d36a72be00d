use pipeline::prelude::*;

pub struct Approval {
    pub ok: bool,
}

#[node]
fn prepare(cents: u64) -> u64 {
    cents
}

pipeline! {
    Payout(cents: u64) -> u64 {
        plan     = prepare(cents);
        approval = signal::<Approval>(plan);
        plan
    }
}

fn main() {}
