use pipeline::prelude::*;

fn render(total: i64) -> String {
    total.to_string()
}

pipeline! {
    pub Report(total: i64) -> String {
        text = render(total);
        text
    }
}

fn main() {}
