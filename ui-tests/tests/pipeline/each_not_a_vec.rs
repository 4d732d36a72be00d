use pipeline::prelude::*;

#[node]
async fn double(x: u64) -> u64 {
    x * 2
}

pipeline! {
    Doubles(count: u64) -> Vec<u64> {
        doubled = double(each count);
        doubled
    }
}

fn main() {}
