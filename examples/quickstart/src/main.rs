//! Quick start: a small sales pipeline with a file checkpointer. Its `count` node fails on the
//! first run; the run is then resumed by its id, and only what had not completed runs again.
//!
//! ```text
//! cargo run -p quickstart
//! ```

use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use pipeline::prelude::*;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Order {
    pub id: u64,
    pub cents: i64,
}

/// Whether the (pretend) order service behind `count` is down.
static SERVICE_DOWN: AtomicBool = AtomicBool::new(false);
/// How many node bodies ran, to show what resume runs.
static CALLS: AtomicUsize = AtomicUsize::new(0);

/// Loads the last `days` days of orders.
#[node]
async fn load(days: u64) -> Result<Vec<Order>, std::io::Error> {
    CALLS.fetch_add(1, Ordering::SeqCst);
    Ok((1..=days * 3)
        .map(|id| Order {
            id,
            cents: 1_250 * id as i64,
        })
        .collect())
}

/// Sums the orders' amounts.
#[node]
async fn total(orders: Vec<Order>) -> i64 {
    CALLS.fetch_add(1, Ordering::SeqCst);
    orders.iter().map(|o| o.cents).sum()
}

/// Counts the orders with the order service, which may be down.
#[node(retries = 1, backoff = "50ms")]
async fn count(orders: Vec<Order>, ctx: NodeContext) -> anyhow::Result<usize> {
    CALLS.fetch_add(1, Ordering::SeqCst);
    anyhow::ensure!(
        !SERVICE_DOWN.load(Ordering::SeqCst),
        "order service unavailable (attempt {})",
        ctx.attempt()
    );
    Ok(orders.len())
}

/// Renders the report line.
#[node]
fn render(total: i64, n: usize) -> String {
    CALLS.fetch_add(1, Ordering::SeqCst);
    format!("{n} orders, {total} cents")
}

pipeline! {
    /// Sales over the last days.
    pub Sales(days: u64) -> String {
        orders = load(days);
        sum    = total(orders);
        n      = count(orders);
        report = render(sum, n);
        report
    }
}

fn print(
    out: &mut impl Write,
    title: &str,
    result: &PipelineResult<String>,
) -> std::io::Result<()> {
    writeln!(out, "\n{title}: run {} {}", result.run_id, result.status)?;
    for (node, status) in &result.nodes {
        let note = match result.failures.get(node) {
            Some(failure) => format!(" after {} attempts: {}", failure.attempts, failure.error),
            None if result.restored.contains(node) => " (restored from the checkpoint)".into(),
            None => String::new(),
        };
        writeln!(out, "  {node:<7} {status}{note}")?;
    }
    if let Some(output) = &result.output {
        writeln!(out, "  output: {output}")?;
    }
    Ok(())
}

/// Runs the pipeline with its service down, then resumes it with the service back.
pub async fn run(store: &Path, out: &mut impl Write) -> anyhow::Result<()> {
    let engine = PipelineEngine::new(Sales)
        .checkpointer(FileCheckpointer::new(store))
        .audit_log(FileAuditLog::new(store));

    SERVICE_DOWN.store(true, Ordering::SeqCst);
    let first = engine.run(SalesInputs { days: 2 }).await?;
    print(out, "first run", &first)?;
    let calls_first = CALLS.swap(0, Ordering::SeqCst);

    SERVICE_DOWN.store(false, Ordering::SeqCst); // the service is back
    let resumed = engine.resume(&first.run_id).await?;
    print(out, "resumed", &resumed)?;
    writeln!(
        out,
        "\nnode calls: {calls_first} in the first run, {} on resume (ran: {})",
        CALLS.swap(0, Ordering::SeqCst),
        resumed.executed.join(", ")
    )?;
    writeln!(out, "checkpoint and audit files: {}", store.display())?;
    anyhow::ensure!(
        resumed.status == RunStatus::Completed,
        "the resumed run did not complete"
    );
    Ok(())
}

#[tokio::main]
pub async fn main() -> anyhow::Result<()> {
    let store = std::env::temp_dir().join("pipeline-quickstart");
    run(&store, &mut std::io::stdout()).await
}
