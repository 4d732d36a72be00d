use pipeline::prelude::*;

#[node]
fn latency_p95(samples: Vec<u64>) -> u64 {
    samples.iter().copied().max().unwrap_or(0)
}

pipeline! {
    /// A typo in a node fn's name.
    pub Latency(samples: Vec<u64>) -> u64 {
        p95 = latency_p59(samples);
        p95
    }
}

fn main() {}
