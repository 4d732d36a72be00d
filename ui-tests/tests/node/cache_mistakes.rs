use pipeline::prelude::*;

#[hashed]
fn helper(x: usize) -> usize {
    x + 1
}

/// `uses` without `cache`.
#[node(uses = [helper])]
fn a(x: usize) -> usize {
    helper(x)
}

/// A time to live of zero.
#[node(cache = "0s")]
fn b(x: usize) -> usize {
    x
}

/// Not a duration.
#[node(cache = "forever")]
fn c(x: usize) -> usize {
    x
}

/// `uses` that is not a list of names.
#[node(cache, uses = ["helper"])]
fn d(x: usize) -> usize {
    x
}

/// `cache(...)` is not how it is given.
#[node(cache(ttl = "1d"))]
fn e(x: usize) -> usize {
    x
}

fn main() {}
