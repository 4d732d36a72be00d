//! Graphs and baselines shared by the benchmarks.
#![allow(dead_code)]

use std::convert::Infallible;

use pipeline::{Graph, GraphBuilder, Handle};

/// The no-op node body and baseline step: passes a `u64` on.
#[inline(never)]
pub async fn noop(x: u64) -> u64 {
    std::hint::black_box(x).wrapping_add(1)
}

/// `n` no-op nodes in a line.
pub fn chain(n: usize) -> Graph<u64, u64> {
    let mut g = GraphBuilder::<u64>::new("chain");
    let mut last = g.input("x", |x: &u64| *x);
    for i in 0..n {
        last =
            g.node(format!("n{i}")).run(
                last,
                |x, _| async move { Ok::<_, Infallible>(noop(x).await) },
            );
    }
    g.build(last).expect("valid graph")
}

/// [`chain`] whose every node has a limit that never binds (`limit`) or a rate of a million
/// starts a second (`rate`): the cost of taking a permit, or a turn, per node.
pub fn chain_with(n: usize, limit: bool, rate: bool) -> Graph<u64, u64> {
    let mut g = GraphBuilder::<u64>::new(format!("chain_{limit}_{rate}"));
    let mut last = g.input("x", |x: &u64| *x);
    for i in 0..n {
        let mut node = g.node(format!("n{i}"));
        if limit {
            node = node.limit(u32::MAX);
        }
        if rate {
            let rate = pipeline::Rate::new(1_000_000_000, std::time::Duration::from_secs(1));
            node = node.rate(rate.expect("a rate"));
        }
        last = node.run(
            last,
            |x, _| async move { Ok::<_, Infallible>(noop(x).await) },
        );
    }
    g.build(last).expect("valid graph")
}

/// `n` nodes in a line, each passing on a string of `len` bytes.
pub fn text_chain(n: usize, len: usize) -> Graph<u64, String> {
    let mut g = GraphBuilder::<u64>::new("text_chain");
    let x = g.input("x", |x: &u64| *x);
    let mut last = g.node("n0").run(x, move |x, _| async move {
        Ok::<_, Infallible>(format!("{x:0len$}"))
    });
    for i in 1..n {
        last = g
            .node(format!("n{i}"))
            .run(last, |s: String, _| async move {
                let mut bytes = s.into_bytes();
                bytes.rotate_left(1);
                Ok::<_, Infallible>(String::from_utf8(bytes).unwrap_or_default())
            });
    }
    g.build(last).expect("valid graph")
}

/// One source, `n` independent no-op nodes reading it, and a sink summing them.
pub fn fanout(n: usize) -> Graph<u64, u64> {
    let mut g = GraphBuilder::<u64>::new("fanout");
    let x = g.input("x", |x: &u64| *x);
    let source = g
        .node("source")
        .run(x, |x, _| async move { Ok::<_, Infallible>(noop(x).await) });
    let parts: Vec<Handle<u64>> = (0..n)
        .map(|i| {
            g.node(format!("n{i}")).run(
                source,
                |x, _| async move { Ok::<_, Infallible>(noop(x).await) },
            )
        })
        .collect();
    let sink = g.node("sink").run(parts, |xs: Vec<u64>, _| async move {
        Ok::<_, Infallible>(xs.iter().sum::<u64>())
    });
    g.build(sink).expect("valid graph")
}

/// A chain of `n` nodes whose last node always fails, to measure resume.
pub fn chain_failing_last(n: usize) -> Graph<u64, u64> {
    let mut g = GraphBuilder::<u64>::new("chain_failing_last");
    let mut last = g.input("x", |x: &u64| *x);
    for i in 0..n - 1 {
        last =
            g.node(format!("n{i}")).run(
                last,
                |x, _| async move { Ok::<_, Infallible>(noop(x).await) },
            );
    }
    let last = g.node("last").run(last, |_, _| async move {
        Err::<u64, _>(std::io::Error::other("down"))
    });
    g.build(last).expect("valid graph")
}

/// One source making a list of `n` numbers, a no-op node mapped over it (`each`), and a sink
/// summing the list: the mapped counterpart of [`fanout`].
pub fn mapped(n: usize) -> Graph<u64, u64> {
    let mut g = GraphBuilder::<u64>::new("mapped");
    let x = g.input("x", |x: &u64| *x);
    let source = g.node("source").run(x, move |x, _| async move {
        Ok::<_, Infallible>(vec![noop(x).await; n])
    });
    let parts = g.node("items").each(source, (), |x, (), _| async move {
        Ok::<_, Infallible>(noop(x).await)
    });
    let sink = g.node("sink").run(parts, |xs: Vec<u64>, _| async move {
        Ok::<_, Infallible>(xs.iter().sum::<u64>())
    });
    g.build(sink).expect("valid graph")
}

/// A node mapped over `n` items, each returning a string of `len` bytes; the output is how many
/// bytes in all.
pub fn text_mapped(n: usize, len: usize) -> Graph<u64, usize> {
    let mut g = GraphBuilder::<u64>::new("text_mapped");
    let x = g.input("x", |x: &u64| *x);
    let source = g.node("source").run(x, move |x, _| async move {
        Ok::<_, Infallible>((0..n as u64).map(|i| x + i).collect::<Vec<u64>>())
    });
    let parts = g
        .node("items")
        .each(source, (), move |i, (), _| async move {
            Ok::<_, Infallible>(format!("{i:0len$}"))
        });
    let sink = g.node("sink").run(parts, |xs: Vec<String>, _| async move {
        Ok::<_, Infallible>(xs.iter().map(String::len).sum::<usize>())
    });
    g.build(sink).expect("valid graph")
}
