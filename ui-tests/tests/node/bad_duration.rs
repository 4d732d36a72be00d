use pipeline::prelude::*;

#[node(timeout = "30 seconds")]
async fn fetch(url: String) -> String {
    url
}

fn main() {}
