use pipeline::prelude::*;

#[node]
async fn double(x: i64) -> i64 {
    x * 2
}

pipeline! {
    pub Double(x: i64) -> i64 {
        doubled = double(x);
        dubled
    }
}

fn main() {}
