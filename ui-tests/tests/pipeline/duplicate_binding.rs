use pipeline::prelude::*;

#[node]
async fn double(x: i64) -> i64 {
    x * 2
}

pipeline! {
    pub Twice(x: i64) -> i64 {
        y = double(x);
        y = double(y);
        y
    }
}

fn main() {}
