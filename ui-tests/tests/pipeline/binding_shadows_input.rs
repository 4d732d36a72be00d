use pipeline::prelude::*;

#[node]
async fn double(x: i64) -> i64 {
    x * 2
}

pipeline! {
    pub Shadow(x: i64) -> i64 {
        x = double(x);
        x
    }
}

fn main() {}
