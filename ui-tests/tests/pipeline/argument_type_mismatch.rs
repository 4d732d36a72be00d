use pipeline::prelude::*;

#[node]
async fn total(values: Vec<i64>) -> i64 {
    values.iter().sum()
}

#[node]
async fn count(values: Vec<i64>) -> usize {
    values.len()
}

pipeline! {
    pub Stats(values: Vec<i64>) -> i64 {
        n   = count(values);
        sum = total(n);
        sum
    }
}

fn main() {}
