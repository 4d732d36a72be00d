//! `each` over a real file shipped with the examples (`data/articles.jsonl`, 40 articles): one
//! `score` call per article, each its own attempt series with its own checkpoint record. The
//! scoring service is down for one article on the first run; the run fails naming that item,
//! and resuming it by its id scores only that article again, not the 39 recorded ones.
//!
//! ```text
//! cargo run -p examples --example each
//! ```

use std::io::Write;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use pipeline::prelude::*;

/// The example's data file: one JSON article per line.
pub const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/articles.jsonl");

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Article {
    pub id: u64,
    pub title: String,
    pub body: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Score {
    pub id: u64,
    pub hits: usize,
}

/// The article the (pretend) scoring service cannot score while it is set.
static DOWN_FOR: Mutex<Option<u64>> = Mutex::new(None);
/// How many articles were scored, to show what resume runs.
static SCORED: AtomicUsize = AtomicUsize::new(0);

/// Reads the articles, one JSON object per line.
#[node]
async fn load(path: String) -> anyhow::Result<Vec<Article>> {
    let text =
        std::fs::read_to_string(&path).map_err(|e| anyhow::anyhow!("cannot read {path}: {e}"))?;
    text.lines()
        .enumerate()
        .map(|(i, line)| {
            serde_json::from_str(line).map_err(|e| anyhow::anyhow!("{path}:{}: {e}", i + 1))
        })
        .collect()
}

/// Scores one article: how often it names one of the keywords. Retried once per article; a
/// failed article does not stop the others (`skip_downstream`), so they are all recorded.
#[node(retries = 1, backoff = "10ms", timeout = "5s", max_in_flight = 8, on_error = skip_downstream)]
async fn score(article: Article, keywords: Vec<String>) -> anyhow::Result<Score> {
    SCORED.fetch_add(1, Ordering::SeqCst);
    let down = *DOWN_FOR.lock().unwrap_or_else(|e| e.into_inner());
    anyhow::ensure!(
        down != Some(article.id),
        "scoring service unavailable for article {}",
        article.id
    );
    let hits = article
        .body
        .split_whitespace()
        .filter(|w| keywords.iter().any(|k| k == w))
        .count();
    Ok(Score {
        id: article.id,
        hits,
    })
}

/// The three best-scoring articles, as `id:hits`.
#[node]
fn top(scores: Vec<Score>) -> Vec<String> {
    let mut scores = scores;
    scores.sort_by(|a, b| b.hits.cmp(&a.hits).then(a.id.cmp(&b.id)));
    scores
        .iter()
        .take(3)
        .map(|s| format!("{}:{}", s.id, s.hits))
        .collect()
}

pipeline! {
    /// Scores every article of a file for some keywords and keeps the best three.
    pub Relevance(path: String, keywords: Vec<String>) -> Vec<String> {
        articles = load(path);
        scores   = score(each articles, keywords);
        best     = top(scores);
        best
    }
}

/// Runs the pipeline with the service down for article 17, then resumes it with the service up.
pub async fn run(
    store: &Path,
    out: &mut impl Write,
) -> anyhow::Result<PipelineResult<Vec<String>>> {
    let engine = PipelineEngine::new(Relevance)
        .checkpointer(FileCheckpointer::new(store))
        .audit_log(FileAuditLog::new(store));
    let inputs = RelevanceInputs {
        path: DATA.to_owned(),
        keywords: vec!["resume".into(), "checkpoint".into(), "crash".into()],
    };

    *DOWN_FOR.lock().unwrap_or_else(|e| e.into_inner()) = Some(17);
    let first = engine.run(inputs).await?;
    writeln!(out, "first run: run {} {}", first.run_id, first.status)?;
    if let Some(failure) = first.failures.get("scores") {
        writeln!(out, "  scores failed: {}", failure.error)?;
    }
    let stored = engine.load_checkpoint(&first.run_id).await?;
    for (id, node) in stored.iter().flat_map(|c| c.stored()) {
        if let Some((done, of)) = node.items() {
            writeln!(out, "  checkpoint: {id} has {done} of {of} items")?;
        }
    }
    let scored_first = SCORED.swap(0, Ordering::SeqCst);

    *DOWN_FOR.lock().unwrap_or_else(|e| e.into_inner()) = None; // the service is back
    let resumed = engine.resume(&first.run_id).await?;
    writeln!(out, "resumed: run {} {}", resumed.run_id, resumed.status)?;
    writeln!(
        out,
        "articles scored: {scored_first} in the first run (one failed twice), {} on resume",
        SCORED.swap(0, Ordering::SeqCst)
    )?;
    if let Some(best) = &resumed.output {
        writeln!(out, "best: {}", best.join(", "))?;
    }
    writeln!(out, "checkpoint and audit files: {}", store.display())?;
    Ok(resumed)
}

#[tokio::main]
pub async fn main() -> anyhow::Result<()> {
    let store = std::env::temp_dir().join("pipeline-each");
    let result = run(&store, &mut std::io::stdout()).await?;
    anyhow::ensure!(
        result.status == RunStatus::Completed,
        "the resumed run did not complete"
    );
    Ok(())
}
