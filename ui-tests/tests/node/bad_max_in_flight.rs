use pipeline::prelude::*;

#[node(max_in_flight = 0)]
async fn fetch(url: String) -> String {
    url
}

fn main() {}
