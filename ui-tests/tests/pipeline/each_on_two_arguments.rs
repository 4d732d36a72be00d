use pipeline::prelude::*;

#[node]
async fn add(x: u64, y: u64) -> u64 {
    x + y
}

pipeline! {
    Sums(xs: Vec<u64>, ys: Vec<u64>) -> Vec<u64> {
        sums = add(each xs, each ys);
        sums
    }
}

fn main() {}
