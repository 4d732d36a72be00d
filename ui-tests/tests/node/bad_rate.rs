use pipeline::prelude::*;

#[node(rate = "100 per second")]
async fn fetch(url: String) -> String {
    url
}

#[node(rate = "0/s", limit = 0)]
async fn post(url: String) -> String {
    url
}

fn main() {}
