use pipeline::prelude::*;

#[node(version = "")]
async fn fetch(url: String) -> String {
    url
}

#[node(version = 2)]
async fn parse(page: String) -> String {
    page
}

fn main() {}
