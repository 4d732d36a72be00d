use pipeline::prelude::*;

#[node]
async fn double(x: i64) -> i64 {
    x * 2
}

pipeline! {
    pub Double(x: i64) -> String {
        doubled = double(x);
        doubled
    }
}

fn main() {}
