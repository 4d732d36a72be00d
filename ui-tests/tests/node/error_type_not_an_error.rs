use pipeline::prelude::*;

pub struct Oops;

#[node]
async fn fetch(url: String) -> Result<String, Oops> {
    Ok(url)
}

fn main() {}
