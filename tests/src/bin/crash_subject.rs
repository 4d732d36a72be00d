//! The process the crash tests kill: runs (or resumes) a 66-node pipeline with fan-out, diamonds,
//! condition gates and a fan-in, over file stores, with `Durability::Sync`. Every node appends its
//! id to a side-effect log when it executes, as a real side effect (an email, a payment) would.
//!
//! ```text
//! crash_subject <store dir | sqlite://file> <run id> run|resume|hold <side-effect log>
//! ```
//! `run` starts the run; `resume` resumes it (or starts it if the killed process never created it);
//! `hold` starts it and blocks one node until standard input closes. `map-run` and `map-resume`
//! do the same with a pipeline whose middle node is mapped (`each`) over 10,000 items, each
//! item logging `m#INDEX` as its side effect. `wait-run` runs a pipeline with a signal wait
//! beside a slow chain (it ends `waiting`); `wait-signal` sends that wait its signal. The pipeline's output is
//! printed as `output <json>` on the last line. `open` only opens the store 20 times (for races
//! between processes opening one new database) and prints `opened`.

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::time::Duration;

use pipeline::store::Stores;
use pipeline::{
    EventHandler, Graph, GraphBuilder, Handle, PipelineEngine, PipelineError, RunId, Signal,
};

/// Appends one line per executed node; one `write` of a short line on an `O_APPEND` file is atomic.
#[derive(Clone)]
struct SideEffects(PathBuf);

impl SideEffects {
    fn record(&self, node: &str) {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.0)
            .expect("the side-effect log opens");
        file.write_all(format!("{node}\n").as_bytes())
            .expect("the side-effect log is writable");
    }
}

fn mix(a: u64, b: u64) -> u64 {
    (a ^ b.rotate_left(17)).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 3
}

type Body = std::pin::Pin<Box<dyn Future<Output = Result<u64, std::io::Error>> + Send>>;

/// A node body: record the side effect, take a little while, compute.
fn step(
    effects: &SideEffects,
    hold: bool,
) -> impl Fn(Vec<u64>, pipeline::NodeContext) -> Body + Send + Sync + 'static {
    let effects = effects.clone();
    move |inputs, ctx| {
        let effects = effects.clone();
        Box::pin(async move {
            effects.record(ctx.node_id());
            let id = ctx.node_id().bytes().fold(7u64, |h, b| mix(h, b as u64));
            tokio::time::sleep(Duration::from_micros(200 + id % 1_500)).await;
            if hold {
                tokio::task::spawn_blocking(|| {
                    let mut line = String::new();
                    while std::io::stdin().lock().read_line(&mut line).unwrap_or(0) > 0 {}
                })
                .await
                .map_err(std::io::Error::other)?;
            }
            Ok(inputs.iter().fold(id, |acc, v| mix(acc, *v)))
        })
    }
}

fn graph(effects: &SideEffects, hold: bool) -> Graph<u64, u64> {
    let mut g = GraphBuilder::<u64>::new("crash_subject");
    let seed = g.input("seed", |s: &u64| *s);
    let source = g.node("source").run(vec![seed], step(effects, hold));
    let fan: Vec<Handle<u64>> = (0..30)
        .map(|i| {
            g.node(format!("w{i:02}"))
                .run(vec![source], step(effects, false))
        })
        .collect();
    let mut joins = Vec::new();
    for (j, &w) in fan.iter().take(10).enumerate() {
        let left = g
            .node(format!("d{j}_left"))
            .run(vec![w], step(effects, false));
        let right = g
            .node(format!("d{j}_right"))
            .run(vec![w], step(effects, false));
        joins.push(
            g.node(format!("d{j}_join"))
                .run(vec![left, right], step(effects, false)),
        );
    }
    let odd = g
        .node("gate_odd")
        .when(source, |s| s % 2 == 1)
        .run(vec![source], step(effects, false));
    let _even = g
        .node("gate_even")
        .when(source, |s| s % 2 == 0)
        .run(vec![source], step(effects, false));
    let _after = g.node("after_odd").run(vec![odd], step(effects, false));
    let all: Vec<Handle<u64>> = fan.into_iter().chain(joins).collect();
    let sink = g.node("sink").run(all, step(effects, false));
    g.build(sink).expect("the subject's graph is valid")
}

/// seed -> list (10,000 numbers) -> m (each, at most 64 items in flight) -> sum.
fn map_graph(effects: &SideEffects) -> Graph<u64, u64> {
    let mut g = GraphBuilder::<u64>::new("crash_subject_map");
    let seed = g.input("seed", |s: &u64| *s);
    let list = g.node("list").run(seed, |seed, _ctx| async move {
        Ok::<_, std::io::Error>((0..10_000u64).map(|i| mix(seed, i)).collect::<Vec<u64>>())
    });
    let effects = effects.clone();
    let m = g
        .node("m")
        .max_in_flight(64)
        .each(list, seed, move |x, seed, ctx| {
            let effects = effects.clone();
            async move {
                let index = ctx.item().map_or(0, |i| i.index);
                effects.record(&format!("m#{index}"));
                tokio::time::sleep(Duration::from_micros(100 + x % 200)).await;
                Ok::<_, std::io::Error>(mix(x, seed))
            }
        });
    let sum = g.node("sum").run(m, |m, _ctx| async move {
        Ok::<_, std::io::Error>(m.iter().fold(0u64, |acc, v| mix(acc, *v)))
    });
    g.build(sum).expect("the subject's map graph is valid")
}

/// seed -> source -> 20 slow steps in a chain, and `go` (a signal wait, after source) -> sum.
fn wait_graph(effects: &SideEffects) -> Graph<u64, u64> {
    let mut g = GraphBuilder::<u64>::new("crash_subject_wait");
    let seed = g.input("seed", |s: &u64| *s);
    let source = g.node("source").run(vec![seed], step(effects, false));
    let mut last = source;
    for i in 0..20 {
        last = g
            .node(format!("slow{i:02}"))
            .run(vec![last], step(effects, false));
    }
    let go = g.node("go").signal::<u64, _>(source);
    let sum = g.node("sum").run((last, go), |(last, go), _| async move {
        Ok::<_, std::io::Error>(mix(last, go))
    });
    g.build(sum).expect("the subject's wait graph is valid")
}

struct AnnounceStart;

impl EventHandler for AnnounceStart {
    fn on_pipeline_start(&self, _: &str, _: &RunId, _: bool) {
        println!("started");
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, store, run_id, mode, log] = &args[..] else {
        return Err(
            "usage: crash_subject <store dir> <run id> run|resume|hold <side-effect log>".into(),
        );
    };
    if mode == "open" {
        for _ in 0..20 {
            Stores::open(store)?;
        }
        println!("opened");
        return Ok(());
    }
    let effects = SideEffects(PathBuf::from(log));
    // `keyed`: a run with idempotency key <run id> (any text); `keyed-submit`: its submit to a
    // fleet. Each prints `run <id>` of the run that holds the key.
    if let Some(how) = mode.strip_prefix("keyed") {
        let engine = PipelineEngine::new(graph(&effects, false)).event_handler(AnnounceStart);
        let key = run_id.as_str();
        let run_id = match how {
            "-submit" => {
                let store = pipeline::store::PostgresStore::open(store)?;
                engine.fleet(store).submit(42).idempotency_key(key).await?
            }
            _ => {
                let stores = Stores::open(store)?;
                let engine = engine
                    .checkpointer(stores.checkpointer)
                    .audit_log(stores.audit);
                let result = engine.run(42).idempotency_key(key).await?;
                println!("output {}", serde_json::to_string(&result.output)?);
                result.run_id
            }
        };
        println!("run {run_id}");
        return Ok(());
    }
    let (graph, mode) = match (mode.strip_prefix("map-"), mode.strip_prefix("wait-")) {
        (Some(mode), _) => (map_graph(&effects), mode),
        (_, Some(mode)) => (wait_graph(&effects), mode),
        _ => (graph(&effects, mode == "hold"), mode.as_str()),
    };
    let engine = PipelineEngine::new(graph).event_handler(AnnounceStart);
    let stores = Stores::open(store)?;
    let engine = engine
        .checkpointer(stores.checkpointer)
        .audit_log(stores.audit);
    let run_id = RunId::new(run_id)?;
    let result = match mode {
        "run" | "hold" => engine.run(42).id(run_id).await?,
        "resume" => match engine.resume(&run_id).await {
            Err(PipelineError::UnknownRun(_)) => engine.run(42).id(run_id).await?,
            other => other?,
        },
        // Sends the signal 7 to `go`, and reports the run it continued.
        "signal" => {
            let sent = engine.signal(&run_id, Signal::new("go", &7u64)?).await?;
            sent.run.ok_or("the signal did not continue the run")?
        }
        other => return Err(format!("unknown mode {other:?}").into()),
    };
    println!("status {}", result.status);
    println!("warnings {}", result.warnings.len());
    println!("output {}", serde_json::to_string(&result.output)?);
    Ok(())
}
