use pipeline::prelude::*;

#[node]
async fn double(x: i64) -> i64 {
    x * 2
}

pipeline! {
    pub Gated(limit: i64) -> i64 {
        doubled = double(limit) if limt > 10;
        doubled
    }
}

fn main() {}
