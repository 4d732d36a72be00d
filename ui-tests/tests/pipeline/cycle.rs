use pipeline::prelude::*;

#[node]
async fn f(x: i64) -> i64 {
    x + 1
}

#[node]
async fn g(x: i64) -> i64 {
    x * 2
}

pipeline! {
    pub Loop(x: i64) -> i64 {
        a = f(b);
        b = g(a);
        a
    }
}

fn main() {}
