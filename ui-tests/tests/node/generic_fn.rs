use pipeline::prelude::*;

#[node]
async fn first<T: Clone>(items: Vec<T>) -> Option<T> {
    items.first().cloned()
}

fn main() {}
