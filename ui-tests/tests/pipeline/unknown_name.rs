use pipeline::prelude::*;

#[node]
async fn load(path: String) -> Vec<i64> {
    vec![path.len() as i64]
}

#[node]
async fn total(orders: Vec<i64>) -> i64 {
    orders.iter().sum()
}

pipeline! {
    pub Sales(path: String) -> i64 {
        orders = load(path);
        sum    = total(ordrs);
        sum
    }
}

fn main() {}
