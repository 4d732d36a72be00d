//! `each` in `pipeline!`: the generated wiring maps a `#[node]` fn over a `Vec`, the binding is
//! the `Vec` of outputs in item order, the typed checkpoint holds complete maps only, and the
//! compile-time fingerprint matches the run-time one.

use std::sync::Mutex;

use pipeline::prelude::*;
use pipeline::store::{InMemoryAuditLog, InMemoryCheckpointer};

/// The urls whose fetch fails while they are listed.
static BROKEN: Mutex<Vec<String>> = Mutex::new(Vec::new());
/// Every fetch call.
static FETCHED: Mutex<Vec<String>> = Mutex::new(Vec::new());

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Config {
    pub prefix: String,
}

#[node(max_in_flight = 3)]
async fn fetch(url: String, cfg: Config, ctx: NodeContext) -> Result<String, std::io::Error> {
    FETCHED.lock().unwrap().push(url.clone());
    if BROKEN.lock().unwrap().contains(&url) {
        return Err(std::io::Error::other(format!("{url} is down")));
    }
    let item = ctx.item().expect("a mapped call knows its item");
    Ok(format!(
        "{}{url} #{} of {}",
        cfg.prefix, item.index, item.of
    ))
}

#[node]
fn words(page: String) -> usize {
    page.split_whitespace().count()
}

#[node]
async fn total(counts: Vec<usize>) -> usize {
    counts.iter().sum()
}

pipeline! {
    /// Fetches pages, counts each one's words, adds them up.
    pub Crawl(urls: Vec<String>, cfg: Config) -> (Vec<String>, usize) {
        pages  = fetch(each urls, cfg);
        counts = words(each pages);
        sum    = total(counts);
        (pages, sum)
    }
}

fn urls(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("u{i}")).collect()
}

fn engine() -> PipelineEngine<Crawl> {
    PipelineEngine::new(Crawl)
        .checkpointer(InMemoryCheckpointer::new())
        .audit_log(InMemoryAuditLog::new())
}

#[tokio::test]
async fn a_mapped_pipeline_runs_resumes_and_reads_back_typed() {
    let cfg = Config {
        prefix: "page ".into(),
    };
    *BROKEN.lock().unwrap() = vec!["u3".into()];
    let engine = engine();
    let failed = engine
        .run(CrawlInputs {
            urls: urls(6),
            cfg: cfg.clone(),
        })
        .await
        .unwrap();
    assert_eq!(failed.status, RunStatus::Failed);
    assert_eq!(failed.failures["pages"].items.len(), 1);
    assert_eq!(failed.failures["pages"].items[0].index, 3);
    let typed: CrawlCheckpoint = engine.checkpoint(&failed.run_id).await.unwrap().unwrap();
    assert_eq!(typed.pages, None, "a partial map is not a value");
    assert_eq!(typed.urls, urls(6));

    BROKEN.lock().unwrap().clear();
    FETCHED.lock().unwrap().clear();
    let resumed = engine.resume(&failed.run_id).await.unwrap();
    assert_eq!(resumed.status, RunStatus::Completed);
    assert_eq!(
        *FETCHED.lock().unwrap(),
        ["u3"],
        "only the failed item ran again"
    );
    let (pages, sum) = resumed.output.unwrap();
    let expected: Vec<String> = (0..6).map(|i| format!("page u{i} #{i} of 6")).collect();
    assert_eq!(pages, expected);
    assert_eq!(sum, 6 * 5);
    let typed: CrawlCheckpoint = engine.checkpoint(&failed.run_id).await.unwrap().unwrap();
    assert_eq!(typed.pages, Some(expected));
    assert_eq!(typed.counts, Some(vec![5; 6]));
    assert_eq!(typed.sum, Some(30));
}

#[tokio::test]
async fn the_graph_names_the_mapped_input() {
    let graph = PipelineEngine::new(Crawl).graph().clone();
    let signature = graph.signature();
    let pages = signature.nodes.iter().find(|n| n.id == "pages").unwrap();
    assert_eq!(pages.each, Some(0));
    assert_eq!(pages.written_inputs(), ["each urls", "cfg"]);
    assert_eq!(pages.output_type, "Vec<String>");
}

#[test]
fn the_fingerprint_is_the_same_at_compile_time_and_run_time() {
    tests::assert_compile_time_fingerprints_agree(&["Crawl"]);
}
