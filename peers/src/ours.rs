//! This engine: the shapes built with `GraphBuilder` and run by `PipelineEngine`, with no store,
//! in-memory stores, or file stores (`Durability::Async`).

use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pipeline::{
    Durability, FileAuditLog, FileCheckpointer, Graph, GraphBuilder, Handle, InMemoryAuditLog,
    InMemoryCheckpointer, PipelineEngine, RunStatus,
};

use crate::baseline::noop;
use crate::{Shape, check, timed};

/// Where a run keeps its checkpoint and audit trail.
#[derive(Clone)]
pub enum Stores {
    None,
    Memory,
    Files(PathBuf),
}

/// The shape as a graph over `n` no-op nodes.
pub fn graph(shape: Shape, n: usize) -> Graph<u64, u64> {
    let mut g = GraphBuilder::<u64>::new(format!("{shape:?}"));
    let x = g.input("x", |x: &u64| *x);
    let last = match shape {
        Shape::Chain => {
            let mut last = x;
            for i in 0..n {
                last = g.node(format!("n{i}")).run(last, |x, _| async move {
                    Ok::<_, Infallible>(noop(x).await)
                });
            }
            last
        }
        Shape::Wide => {
            let source = g
                .node("source")
                .run(x, |x, _| async move { Ok::<_, Infallible>(noop(x).await) });
            let parts: Vec<Handle<u64>> = (0..n)
                .map(|i| {
                    g.node(format!("n{i}")).run(source, |x, _| async move {
                        Ok::<_, Infallible>(noop(x).await)
                    })
                })
                .collect();
            g.node("sink").run(parts, |xs: Vec<u64>, _| async move {
                Ok::<_, Infallible>(xs.iter().sum::<u64>() - 1)
            })
        }
    };
    g.build(last).expect("a valid graph")
}

fn engine_with(graph: Graph<u64, u64>, stores: Stores) -> PipelineEngine<Graph<u64, u64>> {
    let engine = PipelineEngine::new(graph);
    match stores {
        Stores::None => engine,
        Stores::Memory => engine
            .checkpointer(InMemoryCheckpointer::new())
            .audit_log(InMemoryAuditLog::new()),
        Stores::Files(dir) => engine
            .checkpointer(FileCheckpointer::new(&dir).durability(Durability::Async))
            .audit_log(FileAuditLog::new(&dir).durability(Durability::Async)),
    }
}

async fn run_checked(engine: &PipelineEngine<Graph<u64, u64>>, shape: Shape, n: usize) {
    let result = engine.run(0).await.expect("the run starts");
    assert_eq!(result.status, RunStatus::Completed, "{:?}", result.failures);
    assert!(result.warnings.is_empty(), "{:?}", result.warnings);
    // The wide sink subtracts the source's 1 so that both shapes return what `check` expects.
    let out = result.output.expect("an output");
    check(
        "ours",
        shape,
        n,
        if shape == Shape::Wide { out + 1 } else { out },
    );
}

/// Builds the graph and the engine, then runs it.
pub async fn total(shape: Shape, n: usize, stores: Stores) -> Duration {
    timed(async {
        let engine = engine_with(graph(shape, n), stores);
        run_checked(&engine, shape, n).await;
    })
    .await
}

/// Builds the graph only.
pub async fn build_only(shape: Shape, n: usize) -> Duration {
    let start = Instant::now();
    let graph = graph(shape, n);
    let time = start.elapsed();
    assert_eq!(graph.len(), n + if shape == Shape::Wide { 2 } else { 0 });
    time
}

/// An engine over the shape, built once.
pub fn engine(shape: Shape, n: usize) -> Arc<PipelineEngine<Graph<u64, u64>>> {
    Arc::new(engine_with(graph(shape, n), Stores::None))
}

/// Runs a graph built beforehand.
pub async fn run_only(
    engine: Arc<PipelineEngine<Graph<u64, u64>>>,
    shape: Shape,
    n: usize,
) -> Duration {
    timed(run_checked(&engine, shape, n)).await
}

/// Runs `nodes` independent nodes that each compute (without awaiting) for `each`.
pub async fn cpu_bound(nodes: usize, each: Duration) -> Duration {
    let mut g = GraphBuilder::<u64>::new("cpu");
    let x = g.input("x", |x: &u64| *x);
    let parts: Vec<Handle<u64>> = (0..nodes)
        .map(|i| {
            g.node(format!("cpu{i}")).run(x, move |x, _| async move {
                let start = Instant::now();
                let mut spins = 0u64;
                while start.elapsed() < each {
                    spins = std::hint::black_box(spins + 1);
                }
                Ok::<_, Infallible>(x + u64::from(spins > 0))
            })
        })
        .collect();
    let sum = g.node("sum").run(parts, |xs: Vec<u64>, _| async move {
        Ok::<_, Infallible>(xs.iter().sum::<u64>())
    });
    let engine = PipelineEngine::new(g.build(sum).expect("a valid graph"));
    let start = Instant::now();
    let result = engine.run(0).await.expect("the run starts");
    let time = start.elapsed();
    assert_eq!(result.output, Some(nodes as u64));
    time
}
