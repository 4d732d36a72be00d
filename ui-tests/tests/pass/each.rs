//! `each` maps a node over a `Vec`; the binding is the `Vec` of outputs, read whole by others.
#![deny(warnings, missing_docs, unsafe_code)]

use pipeline::prelude::*;

/// A crawler's settings.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Config {
    /// The longest page kept.
    pub limit: usize,
}

/// Fetches one page.
#[node(retries = 2, timeout = "10s", max_in_flight = 4)]
pub async fn fetch(url: String, cfg: Config) -> Result<String, std::io::Error> {
    Ok(url.chars().take(cfg.limit).collect())
}

/// Counts a page's words.
#[node]
pub fn words(page: String) -> usize {
    page.split_whitespace().count()
}

/// Adds the counts.
#[node]
pub async fn total(counts: Vec<usize>) -> usize {
    counts.iter().sum()
}

pipeline! {
    /// Crawls pages and counts their words.
    pub Crawl(urls: Vec<String>, cfg: Config) -> usize {
        pages  = fetch(each urls, cfg);
        counts = words(each pages) if !pages.is_empty();
        sum    = total(counts);
        sum
    }
}

fn main() {
    let _engine = PipelineEngine::new(Crawl);
    let checkpoint: Option<CrawlCheckpoint> = None;
    let _pages: Option<Option<Vec<String>>> = checkpoint.map(|c| c.pages);
}
