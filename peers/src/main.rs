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
use std::pin::Pin;
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

/// A contender's one measured repetition: builds and runs once, checks the output, and says how
/// long it took.
type Sample = Box<dyn Fn() -> Pin<Box<dyn Future<Output = Duration> + Send>>>;

fn sample<F, Fut>(f: F) -> Sample
where
    F: Fn() -> Fut + 'static,
    Fut: Future<Output = Duration> + Send + 'static,
{
    Box::new(move || Box::pin(f()))
}

/// The median time per node of each contender over `reps` rounds, after three unmeasured ones.
/// A round runs every contender once, in turn, so that a slow spell of the machine weighs on
/// all of them alike. Each repetition runs on a worker thread of `rt` and measures itself.
fn medians(rt: &Runtime, n: usize, reps: usize, contenders: &[Sample]) -> Vec<Duration> {
    let mut times = vec![Vec::with_capacity(reps); contenders.len()];
    for round in 0..reps + 3 {
        for (times, contender) in times.iter_mut().zip(contenders) {
            let time = rt.block_on(rt.spawn(contender())).expect("the sample task");
            if round >= 3 {
                times.push(time);
            }
        }
    }
    times
        .into_iter()
        .map(|mut t| {
            t.sort();
            t[t.len() / 2] / n as u32
        })
        .collect()
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
    /// With `profile`: only build the graph.
    build_only: bool,
    /// With `profile`: the stores of the runs.
    stores: ours::Stores,
}

fn args() -> Args {
    let mut args = Args {
        n: 1_000,
        reps: 21,
        profile: None,
        build_only: false,
        stores: ours::Stores::None,
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
            ("--stores", _, Some("memory")) => args.stores = ours::Stores::Memory,
            ("--stores", _, Some(dir)) => args.stores = ours::Stores::Files(dir.into()),
            ("--profile", _, Some("build")) => {
                args.profile = Some(Shape::Chain);
                args.build_only = true;
            }
            _ => {
                eprintln!(
                    "usage: pipeline-peers [--n NODES] [--reps REPETITIONS] [--profile chain|wide|build] [--stores memory|DIR]"
                );
                std::process::exit(2);
            }
        }
    }
    args
}

fn main() {
    let Args {
        n,
        reps,
        profile,
        build_only,
        stores,
    } = args();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    if let Some(shape) = profile {
        for _ in 0..reps {
            if build_only {
                rt.block_on(rt.spawn(ours::build_only(shape, n)))
            } else {
                rt.block_on(rt.spawn(ours::total(shape, n, stores.clone())))
            }
            .expect("the profiled run");
        }
        return;
    }
    let dir = tempfile::tempdir().expect("a temporary directory");

    println!(
        "n = {n} no-op nodes, total = build + run, per node, median of {reps} rounds; 2-thread \
         tokio runtime\n"
    );
    let names = [
        "plain .await",
        "spawn + await",
        "join_all",
        "graph-flow 0.8.1",
        "dagx 0.3.1",
        "dagrs 0.9.0",
        "ours, no store",
        "ours, in-memory stores",
        "ours, file stores (Async)",
    ];
    print!("| shape |");
    for name in names {
        print!(" {name} |");
    }
    println!("\n|---|{}", "---|".repeat(names.len()));
    for shape in [Shape::Chain, Shape::Wide] {
        let files = dir.path().to_owned();
        let mut contenders = vec![
            sample(move || baseline::plain(shape, n)),
            sample(move || baseline::spawned(shape, n)),
            sample(move || baseline::join_all(n)),
            sample(move || rivals::graph_flow(shape, n)),
            sample(move || rivals::dagx(shape, n)),
            sample(move || rivals::dagrs(shape, n)),
            sample(move || ours::total(shape, n, ours::Stores::None)),
            sample(move || ours::total(shape, n, ours::Stores::Memory)),
            sample(move || ours::total(shape, n, ours::Stores::Files(files.clone()))),
        ];
        if shape == Shape::Chain {
            // join_all has no chain: nodes in a line cannot be polled together.
            drop(contenders.remove(2));
        }
        let mut cells: Vec<String> = medians(&rt, n, reps, &contenders)
            .into_iter()
            .map(|d| micros(Some(d)))
            .collect();
        if shape == Shape::Chain {
            cells.insert(2, micros(None));
        }
        let shape = format!("{shape:?}").to_lowercase();
        println!("| {shape} | {} |", cells.join(" | "));
    }

    println!("\nours, parts of the total (no store):\n");
    println!("| shape | build only | run only (graph built once) |");
    println!("|---|---|---|");
    for shape in [Shape::Chain, Shape::Wide] {
        let engine = ours::engine(shape, n);
        let contenders = [
            sample(move || ours::build_only(shape, n)),
            sample(move || ours::run_only(engine.clone(), shape, n)),
        ];
        let parts = medians(&rt, n, reps, &contenders);
        let shape = format!("{shape:?}").to_lowercase();
        let (build, run) = (micros(Some(parts[0])), micros(Some(parts[1])));
        println!("| {shape} | {build} | {run} |");
    }

    let nodes = large::NODES;
    println!(
        "\n`pipeline!` against `GraphBuilder`: the {nodes}-node generated pipeline, run only, per \
         node:\n"
    );
    let large = medians(
        &rt,
        nodes,
        reps,
        &[sample(large::by_macro), sample(large::by_builder)],
    );
    println!("| `pipeline!` | `GraphBuilder` | ratio |");
    println!("|---|---|---|");
    println!(
        "| {} | {} | {:.2} |",
        micros(Some(large[0])),
        micros(Some(large[1])),
        large[0].as_secs_f64() / large[1].as_secs_f64()
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
