use pipeline::prelude::*;

#[node]
async fn double(x: i64) -> i64 {
    x * 2
}

pipeline! {
    pub Many(x: i64) -> i64 {
        a = double(y);
        b = double(a);
        b = double(z);
        b
    }
}

fn main() {}
