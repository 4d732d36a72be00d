use pipeline::prelude::*;

#[node]
fn prepare(cents: u64) -> u64 {
    cents
}

pipeline! {
    Payout(cents: u64) -> bool {
        plan     = prepare(cents);
        approval = signal::<bool>(plann);
        approval
    }
}

fn main() {}
