use pipeline::prelude::*;

#[node]
fn price(customer: String, amount: f64) -> String {
    format!("{customer}: {amount}")
}

pipeline! {
    /// An `f64` has no `Eq` or `Hash`: it cannot be part of a key.
    #[idempotent(key = (customer, amount))]
    pub Quote(customer: String, amount: f64) -> String {
        text = price(customer, amount);
        text
    }
}

fn main() {}
