use pipeline::prelude::*;

#[node(retries = 3, retries = 5)]
async fn fetch(url: String) -> String {
    url
}

fn main() {}
