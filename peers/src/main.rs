//! The engine against its Rust peers (graph-flow, dagx, dagrs) and against hand-written tokio,
//! side by side in one process: `scripts/bench --peers` runs it and prints its table.
//!
//! Each measurement builds a graph of `n` no-op nodes and runs it once (total = build + run), on a
//! tokio worker thread of a 2-thread runtime; the figure is the median of `--reps` repetitions,
//! per node. Every run's output is checked, so a broken shape cannot look fast.
//!
//! Shapes: `chain` (n nodes in a line, each adding 1 to its input) and `wide` (a source, n nodes
//! that each read it, and a sink that sums them).
//!
//!     cargo run --release --manifest-path peers/Cargo.toml -- [--n 1000] [--reps 21]

mod baseline;
mod large;
mod ours;
mod rivals;

use std::future::Future;
use std::time::{Duration, Instant};

use tokio::runtime::Runtime;

/// The two shapes every contender runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// `n` nodes in a line: the output is `n`.
    Chain,
    /// A source, `n` readers of it, a sink summing them: the output is `2 n`.
    Wide,
}

impl Shape {
    /// What a run of this shape over `n` nodes must return.
    pub fn expected(self, n: usize) -> u64 {
        match self {
            Shape::Chain => n as u64,
            Shape::Wide => 2 * n as u64,
        }
    }
}

/// Checks a run's output; a wrong one ends the benchmark.
pub fn check(who: &str, shape: Shape, n: usize, got: u64) {
    let want = shape.expected(n);
    assert_eq!(
        got, want,
        "{who} {shape:?} over {n} nodes returned {got}, not {want}"
    );
}

/// The median time per node of `reps` repetitions of `sample`, after a few unmeasured ones.
/// Each repetition runs on a worker thread of `rt` and measures itself.
fn per_node<F, Fut>(rt: &Runtime, n: usize, reps: usize, sample: F) -> Duration
where
    F: Fn() -> Fut,
    Fut: Future<Output = Duration> + Send + 'static,
{
    let mut times: Vec<Duration> = (0..reps + 3)
        .map(|_| rt.block_on(rt.spawn(sample())).expect("the sample task"))
        .skip(3)
        .collect();
    times.sort();
    times[times.len() / 2] / n as u32
}

/// Times `work`, returning how long it took.
pub async fn timed<Fut: Future<Output = ()>>(work: Fut) -> Duration {
    let start = Instant::now();
    work.await;
    start.elapsed()
}

fn micros(d: Option<Duration>) -> String {
    match d {
        Some(d) => format!("{:.3} µs", d.as_nanos() as f64 / 1000.0),
        None => "-".to_owned(),
    }
}

struct Args {
    n: usize,
    reps: usize,
    /// Only run ours over this shape, `reps` times: for a profiler (`valgrind --tool=callgrind`).
    profile: Option<Shape>,
}

fn args() -> Args {
    let mut args = Args {
        n: 1_000,
        reps: 21,
        profile: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next();
        let number = value.as_deref().and_then(|v| v.parse().ok());
        match (flag.as_str(), number, value.as_deref()) {
            ("--n", Some(v), _) => args.n = v,
            ("--reps", Some(v), _) => args.reps = v,
            ("--profile", _, Some("chain")) => args.profile = Some(Shape::Chain),
            ("--profile", _, Some("wide")) => args.profile = Some(Shape::Wide),
            _ => {
                eprintln!(
                    "usage: pipeline-peers [--n NODES] [--reps REPETITIONS] [--profile chain|wide]"
                );
                std::process::exit(2);
            }
        }
    }
    args
}

fn main() {
    let Args { n, reps, profile } = args();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    if let Some(shape) = profile {
        for _ in 0..reps {
            rt.block_on(rt.spawn(ours::total(shape, n, ours::Stores::None)))
                .expect("the profiled run");
        }
        return;
    }
    let dir = tempfile::tempdir().expect("a temporary directory");

    println!(
        "n = {n} no-op nodes, total = build + run, per node, median of {reps}; 2-thread tokio runtime\n"
    );
    let columns: Vec<(&str, Box<dyn Fn(Shape) -> Option<Duration>>)> = vec![
        (
            "plain .await",
            Box::new(|s| Some(per_node(&rt, n, reps, move || baseline::plain(s, n)))),
        ),
        (
            "spawn + await",
            Box::new(|s| Some(per_node(&rt, n, reps, move || baseline::spawned(s, n)))),
        ),
        (
            "join_all",
            Box::new(|s| {
                (s == Shape::Wide).then(|| per_node(&rt, n, reps, move || baseline::join_all(n)))
            }),
        ),
        (
            "graph-flow 0.8.1",
            Box::new(|s| Some(per_node(&rt, n, reps, move || rivals::graph_flow(s, n)))),
        ),
        (
            "dagx 0.3.1",
            Box::new(|s| Some(per_node(&rt, n, reps, move || rivals::dagx(s, n)))),
        ),
        (
            "dagrs 0.9.0",
            Box::new(|s| Some(per_node(&rt, n, reps, move || rivals::dagrs(s, n)))),
        ),
        (
            "ours, no store",
            Box::new(|s| {
                Some(per_node(&rt, n, reps, move || {
                    ours::total(s, n, ours::Stores::None)
                }))
            }),
        ),
        (
            "ours, in-memory stores",
            Box::new(|s| {
                Some(per_node(&rt, n, reps, move || {
                    ours::total(s, n, ours::Stores::Memory)
                }))
            }),
        ),
        (
            "ours, file stores (Async)",
            Box::new(|s| {
                let dir = dir.path().to_owned();
                Some(per_node(&rt, n, reps, move || {
                    ours::total(s, n, ours::Stores::Files(dir.clone()))
                }))
            }),
        ),
    ];
    let mut rows = Vec::new();
    for shape in [Shape::Chain, Shape::Wide] {
        let cells: Vec<String> = columns.iter().map(|(_, f)| micros(f(shape))).collect();
        rows.push((format!("{shape:?}").to_lowercase(), cells));
    }
    print!("| shape |");
    for (name, _) in &columns {
        print!(" {name} |");
    }
    println!("\n|---|{}", "---|".repeat(columns.len()));
    for (shape, cells) in &rows {
        println!("| {shape} | {} |", cells.join(" | "));
    }

    println!("\nours, parts of the total (no store):\n");
    println!("| shape | build only | run only (graph built once) |");
    println!("|---|---|---|");
    for shape in [Shape::Chain, Shape::Wide] {
        let build = per_node(&rt, n, reps, move || ours::build_only(shape, n));
        let engine = ours::engine(shape, n);
        let run = per_node(&rt, n, reps, move || {
            ours::run_only(engine.clone(), shape, n)
        });
        println!(
            "| {shape:?} | {} | {} |",
            micros(Some(build)),
            micros(Some(run))
        );
    }

    let nodes = large::NODES;
    println!(
        "\n`pipeline!` against `GraphBuilder`: the {nodes}-node generated pipeline, run only, per node:\n"
    );
    let by_macro = per_node(&rt, nodes, reps, large::by_macro);
    let by_builder = per_node(&rt, nodes, reps, large::by_builder);
    println!("| `pipeline!` | `GraphBuilder` | ratio |");
    println!("|---|---|---|");
    println!(
        "| {} | {} | {:.2} |",
        micros(Some(by_macro)),
        micros(Some(by_builder)),
        by_macro.as_secs_f64() / by_builder.as_secs_f64()
    );

    println!(
        "\nCPU-bound nodes: 8 independent nodes computing 50 ms each, 2 cores (ideal 200 ms):\n"
    );
    let cpu = rt.block_on(rt.spawn(ours::cpu_bound(8, Duration::from_millis(50))));
    let cpu = cpu.expect("the CPU-bound run");
    println!("| wall time | against the ideal |");
    println!("|---|---|");
    println!(
        "| {:.0} ms | {:.2}x |",
        cpu.as_secs_f64() * 1000.0,
        cpu.as_secs_f64() / 0.2
    );
}
