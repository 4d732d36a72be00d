use pipeline::prelude::*;

/// A helper that lost its `#[hashed]`.
pub struct Line;

#[node(cache, uses = [Line])]
fn parse(text: String) -> usize {
    text.len()
}

fn main() {}
