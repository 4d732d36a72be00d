use pipeline::prelude::*;

#[node]
async fn double(x: u64) -> u64 {
    x * 2
}

pipeline! {
    Doubles(names: Vec<String>) -> Vec<u64> {
        doubled = double(each names);
        doubled
    }
}

fn main() {}
