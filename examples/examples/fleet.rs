//! A fleet on the local PostgreSQL server: three worker processes (this program again, as
//! `fleet --store URL worker`), runs submitted to them, their results, and which worker ran what.
//!
//! ```text
//! cargo run -p examples --example fleet      # PostgreSQL at postgres://postgres@127.0.0.1/postgres
//! PIPELINE_EXAMPLE_POSTGRES=postgres://me@db/postgres cargo run -p examples --example fleet
//! ```
//!
//! It creates a database of its own for the runs and drops it at the end.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use pipeline::store::PostgresStore;
use pipeline::{PipelineEngine, RunStatus};

#[allow(dead_code)]
#[path = "../src/bin/ops.rs"]
mod ops;

const ORDERS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/orders.json");

/// Starts `workers` processes of `program` (a binary whose `main` is `pipeline::cli::main()` and
/// that holds the `Revenue` pipeline), submits five runs, waits for them and prints each run's
/// output and the worker that ran each node; then stops the workers with Ctrl-C.
pub async fn run(
    url: &str,
    program: &Path,
    workers: usize,
    dir: &Path,
    out: &mut impl Write,
) -> anyhow::Result<BTreeMap<String, RunStatus>> {
    let mut children: Vec<Child> = (0..workers)
        .map(|i| {
            Command::new(program)
                .args(["--store", url, "worker", "--concurrency", "2", "--id"])
                .arg(format!("worker-{i}"))
                .stdout(Stdio::null())
                .spawn()
        })
        .collect::<Result<_, _>>()?;
    let result = submit_and_wait(url, dir, out).await;
    for child in &mut children {
        // Ctrl-C: the worker finishes what it runs, gives back the rest and exits.
        Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()?;
    }
    for mut child in children {
        child.wait()?;
    }
    result
}

async fn submit_and_wait(
    url: &str,
    dir: &Path,
    out: &mut impl Write,
) -> anyhow::Result<BTreeMap<String, RunStatus>> {
    let engine = PipelineEngine::new(ops::Revenue).fleet(PostgresStore::open(url)?);
    let mut runs = Vec::new();
    for (i, rate) in [0.9, 0.92, 0.95, 1.0, 1.1].into_iter().enumerate() {
        let rates = dir.join(format!("rates-{i}.json"));
        std::fs::write(&rates, format!(r#"{{"EUR": {rate}}}"#))?;
        let inputs = ops::RevenueInputs {
            orders: ORDERS.to_owned(),
            rates: rates.display().to_string(),
        };
        runs.push(engine.submit(inputs).await?);
    }
    writeln!(
        out,
        "submitted {} runs of {}",
        runs.len(),
        engine.graph().name()
    )?;
    let mut statuses = BTreeMap::new();
    for run_id in &runs {
        let result = engine.wait(run_id).await?;
        let trail = engine.audit_trail(run_id).await?.unwrap_or_default();
        let ran_by: Vec<String> = trail
            .iter()
            .map(|e| format!("{}@{}", e.node, e.worker.as_deref().unwrap_or("?")))
            .collect();
        writeln!(
            out,
            "{run_id} {}: {}\n  {}",
            result.status,
            result.output.as_deref().unwrap_or("-"),
            ran_by.join(" ")
        )?;
        statuses.insert(run_id.to_string(), result.status);
    }
    Ok(statuses)
}

/// A database of its own on the server `admin` names; returns its URL.
async fn create_database(admin: &str, name: &str) -> anyhow::Result<String> {
    let (client, connection) = tokio_postgres::connect(admin, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    client
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await?;
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await?;
    let server = admin.rsplit_once('/').map_or(admin, |(server, _)| server);
    Ok(format!("{server}/{name}"))
}

async fn drop_database(admin: &str, name: &str) -> anyhow::Result<()> {
    let (client, connection) = tokio_postgres::connect(admin, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    client
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await?;
    Ok(())
}

fn main() -> anyhow::Result<()> {
    // As a worker (started by the example itself): the command line serves the pipelines.
    if std::env::args().len() > 1 {
        pipeline::cli::main()
    }
    tokio::runtime::Runtime::new()?.block_on(async {
        let admin = std::env::var("PIPELINE_EXAMPLE_POSTGRES")
            .unwrap_or("postgres://postgres@127.0.0.1/postgres".to_owned());
        let name = format!("pipeline_example_fleet_{}", std::process::id());
        let url = create_database(&admin, &name).await?;
        let dir = tempfile::tempdir()?;
        let program = std::env::current_exe()?;
        let result = run(&url, &program, 3, dir.path(), &mut std::io::stdout()).await;
        drop_database(&admin, &name).await?;
        result.map(drop)
    })
}
