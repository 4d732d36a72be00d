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
mod durable;
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
    /// Durable steps against DBOS instead (`--durable`).
    durable: bool,
}

fn args() -> Args {
    let mut args = Args {
        n: 1_000,
        reps: 21,
        profile: None,
        build_only: false,
        stores: ours::Stores::None,
        durable: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--durable" {
            args.durable = true;
            continue;
        }
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
                    "usage: pipeline-peers [--n NODES] [--reps REPETITIONS] [--profile chain|wide|build] [--stores memory|DIR] [--durable]"
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
        durable,
    } = args();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    if durable {
        return durable_table(&rt, reps.min(5));
    }
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

/// Durable steps against DBOS: time per step of each contender (median of `rounds`), its speed
/// against DBOS, and the PostgreSQL contenders' rows, transactions and WAL flushes per step.
fn durable_table(rt: &Runtime, rounds: usize) {
    use durable::{Contender, Mode, Work};
    let dir = tempfile::tempdir().expect("a temporary directory");
    // `PEERS_DURABLE_ONCE=N`: N chain-10 workflows of ours on PostgreSQL, one by one, alone (to
    // read the server's statement log).
    if let Some(n) = std::env::var("PEERS_DURABLE_ONCE").ok().and_then(|n| n.parse().ok()) {
        let mode = Mode { workflows: n, in_flight: 1 };
        let c = match std::env::var("PEERS_DURABLE_WHO").as_deref() {
            Ok("fleet") => Contender::Fleet,
            Ok("dbos") => Contender::Dbos,
            _ => Contender::Postgres,
        };
        let pass = rt.block_on(durable::pass(c, Work::Chain10, mode, dir.path()));
        println!("{pass:?}");
        return;
    }
    let modes = [
        ("one by one (200)", Mode { workflows: 200, in_flight: 1 }),
        ("64 in flight (1,000)", Mode { workflows: 1_000, in_flight: 64 }),
    ];
    println!(
        "Durable steps on PostgreSQL at {}: time per step, median of {rounds} rounds; speed \
         against DBOS in brackets (above 1 is faster)\n",
        durable::server().rsplit_once('@').map_or("?", |(_, host)| host)
    );
    print!("| workload | mode |");
    for c in Contender::ALL {
        print!(" {} |", c.name());
    }
    println!("\n|---|---|{}", "---|".repeat(Contender::ALL.len()));
    let mut counts = Vec::new();
    for work in [Work::Chain10, Work::Fan10] {
        for (label, mode) in modes {
            let mut passes = vec![Vec::new(); Contender::ALL.len()];
            for _ in 0..rounds {
                for (i, c) in Contender::ALL.into_iter().enumerate() {
                    passes[i].push(rt.block_on(durable::pass(c, work, mode, dir.path())));
                }
            }
            let medians: Vec<durable::Pass> = passes
                .into_iter()
                .map(|mut p| {
                    p.sort_by_key(|p| p.per_step);
                    p[p.len() / 2]
                })
                .collect();
            let dbos = medians[0].per_step.as_secs_f64();
            let cells: Vec<String> = medians
                .iter()
                .enumerate()
                .map(|(i, p)| match i {
                    0 => micros(Some(p.per_step)),
                    _ => format!(
                        "{} ({:.2}x)",
                        micros(Some(p.per_step)),
                        dbos / p.per_step.as_secs_f64()
                    ),
                })
                .collect();
            println!("| {work:?} | {label} | {} |", cells.join(" | "));
            counts.push((work, label, medians));
        }
    }
    println!("\nPer step, from PostgreSQL's statistics: rows written / transactions / WAL flushes\n");
    println!("| workload | mode | DBOS 0.5.0 | ours, PostgreSQL | ours, fleet |");
    println!("|---|---|---|---|---|");
    for (work, label, medians) in counts {
        let cell = |p: &durable::Pass| {
            format!("{:.2} / {:.2} / {:.2}", p.rows, p.transactions, p.wal_flushes)
        };
        println!(
            "| {work:?} | {label} | {} | {} | {} |",
            cell(&medians[0]),
            cell(&medians[1]),
            cell(&medians[5])
        );
    }
}
