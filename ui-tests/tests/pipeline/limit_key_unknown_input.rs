use pipeline::prelude::*;

#[node]
fn bill(customer: String, amount: u64) -> String {
    format!("{customer}: {amount}")
}

pipeline! {
    /// `custmer` is misspelt.
    #[limit(key = custmer, runs = 2)]
    pub Invoice(customer: String, amount: u64) -> String {
        text = bill(customer, amount);
        text
    }
}

pipeline! {
    /// No `runs`.
    #[limit(key = customer)]
    pub Refund(customer: String, amount: u64) -> String {
        text = bill(customer, amount);
        text
    }
}

fn main() {}
