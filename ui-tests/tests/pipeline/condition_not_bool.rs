use pipeline::prelude::*;

#[node]
async fn double(x: i64) -> i64 {
    x * 2
}

pipeline! {
    pub Gated(x: i64) -> i64 {
        doubled = double(x) if x + 1;
        doubled
    }
}

fn main() {}
