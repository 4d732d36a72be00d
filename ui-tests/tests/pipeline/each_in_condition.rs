use pipeline::prelude::*;

#[node]
async fn double(x: u64) -> u64 {
    x * 2
}

pipeline! {
    Doubles(xs: Vec<u64>) -> Vec<u64> {
        doubled = double(each xs) if each xs > 3;
        doubled
    }
}

fn main() {}
