use pipeline::prelude::*;

#[node]
async fn add(a: i64, b: i64) -> i64 {
    a + b
}

pipeline! {
    pub Add(a: i64, b: i64) -> i64 {
        sum = add(a, b, a);
        sum
    }
}

fn main() {}
