//! A crate with the strictest lints compiles the generated code warning-free.
#![deny(warnings, missing_docs, unsafe_code)]

use pipeline::prelude::*;

/// Loads numbers.
#[node(retries = 2, timeout = "1m30s", backoff = "10ms", on_error = skip_downstream)]
pub async fn load(count: u64, ctx: NodeContext) -> Result<Vec<u64>, std::io::Error> {
    let _ = ctx.attempt();
    Ok((0..count).collect())
}

/// Sums numbers.
#[node]
pub fn sum(values: Vec<u64>) -> u64 {
    values.iter().sum()
}

#[node]
async fn describe(total: u64, count: u64) -> String {
    format!("{count} values summing to {total}")
}

pipeline! {
    /// Numbers.
    pub Numbers(count: u64) -> (u64, String) {
        text   = describe(total, count);
        values = load(count);
        total  = sum(values) if count > 0;
        (total, text)
    }
}

pipeline! {
    Private(count: u64) -> u64 {
        values = load(count);
        total  = sum(values);
        total
    }
}

fn main() {
    let _engine = PipelineEngine::new(Numbers);
    let _private = PipelineEngine::new(Private);
    let _inputs = NumbersInputs { count: 3 };
}
