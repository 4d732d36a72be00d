//! The DSL of the `#[node]` / `pipeline!` issue, verbatim apart from the node bodies, compiled and
//! run end to end: run, fail, resume, typed checkpoint, registry.

use std::sync::atomic::{AtomicU64, Ordering};

use pipeline::prelude::*;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Order {
    pub id: u64,
    pub cents: i64,
}

/// `count` fails for order lists holding this id (so tests running in parallel do not interfere).
static DOWN_FOR_ORDER: AtomicU64 = AtomicU64::new(u64::MAX);

#[node]
async fn load(path: String) -> Result<Vec<Order>, std::io::Error> {
    let text = std::fs::read_to_string(&path)?;
    serde_json::from_str(&text).map_err(std::io::Error::other)
}

#[node]
async fn total(orders: Vec<Order>) -> i64 {
    orders.iter().map(|o| o.cents).sum()
} // infallible nodes too

#[node(retries = 3, timeout = "30s")]
async fn count(orders: Vec<Order>, ctx: NodeContext) -> anyhow::Result<usize> {
    let down = DOWN_FOR_ORDER.load(Ordering::SeqCst);
    anyhow::ensure!(
        !orders.iter().any(|o| o.id == down),
        "count is down (attempt {})",
        ctx.attempt()
    );
    Ok(orders.len())
}

#[node]
async fn page_oncall(sum: i64) -> bool {
    sum > 0
}

#[node]
fn render(total: i64, n: usize) -> String {
    format!("{n} orders, {total} cents")
} // sync nodes run on spawn_blocking

pipeline! {
    /// Daily sales report.
    pub Sales(path: String) -> String {
        orders = load(path);
        sum    = total(orders);
        n      = count(orders);
        alert  = page_oncall(sum) if sum > 1_000_000;   // condition gate: false => `alert` is skipped
        report = render(sum, n);
        report
    }
}

fn orders_file(dir: &std::path::Path, cents: &[i64]) -> String {
    orders_file_from(dir, 0, cents)
}

fn orders_file_from(dir: &std::path::Path, first_id: u64, cents: &[i64]) -> String {
    let orders: Vec<Order> = cents
        .iter()
        .enumerate()
        .map(|(i, &cents)| Order {
            id: first_id + i as u64,
            cents,
        })
        .collect();
    let path = dir.join("orders.json");
    std::fs::write(&path, serde_json::to_string(&orders).unwrap()).unwrap();
    path.display().to_string()
}

#[tokio::test]
async fn the_dsl_compiles_and_runs_as_written() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = orders_file(dir.path(), &[1_500, 2_500]);

    let engine = PipelineEngine::new(Sales).stores(Stores::open(dir.path().join("runs"))?);
    let result = engine.run(SalesInputs { path: path.clone() }).await?;
    let again = engine.resume(&result.run_id).await?;

    assert_eq!(result.status, RunStatus::Completed);
    assert_eq!(result.output.as_deref(), Some("2 orders, 4000 cents"));
    assert_eq!(result.node("alert"), Some(NodeStatus::Skipped));
    assert_eq!(again.output, result.output);
    assert!(again.executed.is_empty());

    let checkpoint: SalesCheckpoint = engine.checkpoint(&result.run_id).await?.unwrap();
    assert_eq!(checkpoint.path, path);
    assert_eq!(checkpoint.sum, Some(4_000));
    assert_eq!(checkpoint.n, Some(2));
    assert_eq!(checkpoint.orders.as_ref().map(Vec::len), Some(2));
    assert_eq!(checkpoint.alert, None);
    assert_eq!(checkpoint.report.as_deref(), Some("2 orders, 4000 cents"));
    Ok(())
}

#[tokio::test]
async fn a_gate_that_opens_runs_the_node() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = orders_file(dir.path(), &[900_000, 200_000]);
    let result = PipelineEngine::new(Sales).run(SalesInputs { path }).await?;
    assert_eq!(result.node("alert"), Some(NodeStatus::Completed));
    Ok(())
}

#[tokio::test]
async fn node_options_and_context_reach_the_engine() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = orders_file_from(dir.path(), 1_000, &[1, 2, 3]);
    let engine = PipelineEngine::new(Sales)
        .checkpointer(InMemoryCheckpointer::new())
        .audit_log(InMemoryAuditLog::new());
    DOWN_FOR_ORDER.store(1_000, Ordering::SeqCst);
    let failed = tokio::time::timeout(
        std::time::Duration::from_secs(60),
        engine.run(SalesInputs { path }),
    )
    .await??;
    DOWN_FOR_ORDER.store(u64::MAX, Ordering::SeqCst);
    assert_eq!(failed.status, RunStatus::Failed);
    assert_eq!(failed.failures["n"].attempts, 4, "retries = 3");
    assert_eq!(failed.failures["n"].error, "count is down (attempt 4)");
    let trail = engine.audit_trail(&failed.run_id).await?.unwrap();
    assert_eq!(trail.iter().filter(|e| e.node == "n").count(), 4);

    let resumed = engine.resume(&failed.run_id).await?;
    assert_eq!(resumed.output.as_deref(), Some("3 orders, 6 cents"));
    assert!(
        resumed.restored.contains("orders"),
        "`orders` was not loaded again"
    );
    assert_eq!(resumed.executed, ["n", "report"]);
    Ok(())
}

#[test]
fn nodes_stay_ordinary_fns() {
    assert_eq!(render(5, 2), "2 orders, 5 cents");
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    assert_eq!(rt.block_on(total(vec![Order { id: 1, cents: 7 }])), 7);
}

#[test]
fn nodes_and_pipelines_are_registered() {
    let pipelines = pipeline::registry::pipelines();
    let sales = pipelines
        .iter()
        .find(|p| p.name == "Sales")
        .expect("Sales is registered");
    assert_eq!(sales.doc, "Daily sales report.");
    assert_eq!(sales.output_type, "String");
    let ids: Vec<_> = sales.nodes.iter().map(|n| (n.id, n.kind)).collect();
    assert_eq!(
        ids,
        [
            ("orders", "load"),
            ("sum", "total"),
            ("n", "count"),
            ("alert", "page_oncall"),
            ("report", "render")
        ]
    );
    assert!(sales.edges.contains(&("sum", "alert")));
    assert!(sales.edges.contains(&("path", "orders")));
    assert_eq!(
        sales.fingerprint(),
        PipelineEngine::new(Sales).graph().fingerprint()
    );

    let nodes = pipeline::registry::nodes();
    let count = nodes
        .iter()
        .find(|n| n.name == "count")
        .expect("count is registered");
    assert_eq!(count.output_type, "usize");
    assert_eq!(count.inputs.len(), 1);
    assert_eq!(
        (count.inputs[0].name, count.inputs[0].type_name),
        ("orders", "Vec<Order>")
    );
    assert!(count.file.ends_with("dsl.rs"));
    assert!(count.module_path.ends_with("dsl"));
    let render = nodes.iter().find(|n| n.name == "render").unwrap();
    assert!(render.blocking);
}

#[test]
fn the_graph_draws_as_mermaid_and_dot() {
    let graph = PipelineEngine::new(Sales).graph().clone();
    let mermaid = graph.to_mermaid();
    assert!(mermaid.contains("n1 -.->|if| n3"), "{mermaid}");
    let dot = graph.to_dot();
    assert!(
        dot.contains("\"sum\" -> \"alert\" [style=dashed, label=\"if\"];"),
        "{dot}"
    );
}

#[test]
fn the_fingerprint_is_the_same_at_compile_time_and_run_time() {
    tests::assert_compile_time_fingerprints_agree(&["Sales"]);
}

/// A note under another name than `Option`: the registry must not guess from the spelling.
type Note = Option<String>;

#[node]
async fn annotate(n: u64, note: Note) -> String {
    format!("{n}: {}", note.unwrap_or_else(|| "-".into()))
}

pipeline! {
    /// An input that may be left out, through an alias.
    pub Annotated(n: u64, note: Note) -> String {
        text = annotate(n, note);
        text
    }
}

/// Issue 26, item 4: `decode_inputs` took an input as optional when its type's name began with
/// `Option<`, so an alias of `Option` had to be given and `{"n": 1}` was refused as
/// "missing `note` (Note)". Whether a field may be left out is asked of the type now.
#[tokio::test]
async fn an_input_whose_type_is_an_alias_of_option_may_be_left_out() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let info = pipeline::registry::pipeline("Annotated").expect("Annotated is registered");
    struct Quiet;
    impl pipeline::EventHandler for Quiet {}
    let events: std::sync::Arc<dyn pipeline::EventHandler> = std::sync::Arc::new(Quiet);
    let run = |inputs: &'static str| {
        let (pipeline, stores, events) =
            ((info.pipeline)(), Stores::open(dir.path()), events.clone());
        async move {
            let cancel = CancelHandle::new();
            pipeline
                .run(stores?, inputs, RunOptions::new(), events, &cancel)
                .await
                .map_err(anyhow::Error::from)
        }
    };
    let left_out = run(r#"{"n": 1}"#).await?;
    assert_eq!(
        left_out.output.map(|o| o.get().to_owned()),
        Some(r#""1: -""#.to_owned())
    );
    let given = run(r#"{"n": 2, "note": "hi"}"#).await?;
    assert_eq!(
        given.output.map(|o| o.get().to_owned()),
        Some(r#""2: hi""#.to_owned())
    );
    // A required input left out is still named, with its type.
    let missing = run(r#"{"note": "hi"}"#).await.unwrap_err().to_string();
    assert!(missing.contains("missing `n` (u64)"), "{missing}");
    assert!(!missing.contains("missing `note`"), "{missing}");
    Ok(())
}
