use pipeline::prelude::*;

#[derive(Clone)]
pub struct Report {
    pub text: String,
}

#[node]
async fn render(total: i64) -> Report {
    Report { text: total.to_string() }
}

fn main() {}
