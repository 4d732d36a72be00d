use pipeline::prelude::*;

#[node]
async fn total(orders: &Vec<i64>) -> i64 {
    orders.iter().sum()
}

fn main() {}
