use pipeline::prelude::*;

#[node(retrys = 3)]
async fn fetch(url: String) -> String {
    url
}

fn main() {}
