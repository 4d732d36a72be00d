//! Quick start: a small sales pipeline with a file checkpointer. Its `count` node fails on the
//! first run; the run is then resumed by id, and only what had not completed runs again.
//!
//! ```text
//! cargo run -p examples --example quickstart
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use pipeline::prelude::*;
use pipeline::{FileAuditLog, Graph, GraphBuilder};

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Order {
    id: u64,
    cents: i64,
}

/// How many times each node body ran, to show that resume does not run completed nodes again.
static CALLS: AtomicUsize = AtomicUsize::new(0);

fn sales(count_is_down: Arc<AtomicBool>) -> Result<Graph<u64, String>, pipeline::GraphError> {
    let mut g = GraphBuilder::<u64>::new("sales");
    let days = g.input("days", |days: &u64| *days);
    let orders = g.node("orders").run(days, |days, _| async move {
        CALLS.fetch_add(1, Ordering::SeqCst);
        let orders: Vec<Order> = (1..=days * 3)
            .map(|id| Order {
                id,
                cents: 1_250 * id as i64,
            })
            .collect();
        Ok::<_, std::io::Error>(orders)
    });
    let sum = g
        .node("sum")
        .run(orders, |orders: Vec<Order>, _| async move {
            CALLS.fetch_add(1, Ordering::SeqCst);
            Ok::<_, std::io::Error>(orders.iter().map(|o| o.cents).sum::<i64>())
        });
    let count = g
        .node("count")
        .retries(1)
        .run(orders, move |orders: Vec<Order>, ctx| {
            CALLS.fetch_add(1, Ordering::SeqCst);
            let down = count_is_down.load(Ordering::SeqCst);
            async move {
                if down {
                    return Err(anyhow::anyhow!(
                        "order service unavailable (attempt {})",
                        ctx.attempt()
                    ));
                }
                Ok(orders.len())
            }
        });
    let report = g
        .node("report")
        .run((sum, count), |(sum, n), _| async move {
            CALLS.fetch_add(1, Ordering::SeqCst);
            Ok::<_, std::io::Error>(format!("{n} orders, {sum} cents"))
        });
    g.build(report)
}

fn print(title: &str, result: &PipelineResult<String>) {
    println!("\n{title}: run {} {}", result.run_id, result.status);
    for (node, status) in &result.nodes {
        let note = match result.failures.get(node) {
            Some(failure) => format!(" ({} attempts: {})", failure.attempts, failure.error),
            None if result.restored.contains(node) => " (restored from checkpoint)".into(),
            None => String::new(),
        };
        println!("  {node:<8} {status}{note}");
    }
    if let Some(output) = &result.output {
        println!("  output: {output}");
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let store = std::env::temp_dir().join("pipeline-quickstart");
    let count_is_down = Arc::new(AtomicBool::new(true));
    let engine = PipelineEngine::new(sales(count_is_down.clone())?)
        .checkpointer(FileCheckpointer::new(&store))
        .audit_log(FileAuditLog::new(&store));

    let first = engine.run(2).await?;
    print("first run", &first);
    let calls_first = CALLS.load(Ordering::SeqCst);

    count_is_down.store(false, Ordering::SeqCst); // the service is back
    let resumed = engine.resume(&first.run_id).await?;
    print("resumed", &resumed);
    println!(
        "\nnode bodies called: {calls_first} in the first run, {} on resume (ran: {})",
        CALLS.load(Ordering::SeqCst) - calls_first,
        resumed.executed.join(", ")
    );
    println!("checkpoint and audit files: {}", store.display());
    anyhow::ensure!(
        resumed.status == RunStatus::Completed,
        "the resumed run did not complete"
    );
    Ok(())
}
