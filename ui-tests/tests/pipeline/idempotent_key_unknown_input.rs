use pipeline::prelude::*;

#[node]
fn line(customer: String, day: u32) -> String {
    format!("{customer}/{day}")
}

pipeline! {
    /// `custmer` is misspelt, and `text` is a binding: the key is made of inputs only.
    #[idempotent(key = (custmer, day, text))]
    pub Daily(customer: String, day: u32) -> String {
        text = line(customer, day);
        text
    }
}

fn main() {}
