//! A pipeline over a growing directory of CSV files that, run after run, parses only the files
//! no earlier run parsed: `summarize` is cached per file (`#[node(cache)]` on a node mapped with
//! `each`), keyed by its code, its helper's code and the file it reads (path, size and time of
//! last change, listed as its input: the key cannot see the file's bytes).
//!
//! ```text
//! cargo run -p examples --bin readings -- --store ./.pipeline run Readings --input dir=data/readings
//! cargo run -p examples --bin readings -- --store ./.pipeline cache ls
//! cargo run -p examples --bin readings -- --store ./.pipeline why-miss RUN summaries
//! ```

use std::time::UNIX_EPOCH;

use pipeline::hashed;
use pipeline::prelude::*;

/// A file as the cache key sees it: where it is, how long it is, when it last changed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FileRef {
    pub path: String,
    pub bytes: u64,
    pub modified_ms: u64,
}

/// What one file holds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub path: String,
    pub rows: u64,
    pub total: f64,
}

/// What the directory holds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub files: u64,
    pub rows: u64,
    pub total: f64,
}

/// The directory's `.csv` files, by name (not cached: it reads the directory).
#[node]
fn list(dir: String) -> std::io::Result<Vec<FileRef>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(&dir)? {
        let entry = entry?;
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "csv") {
            continue;
        }
        let meta = entry.metadata()?;
        let modified = meta
            .modified()?
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        files.push(FileRef {
            path: path.to_string_lossy().into_owned(),
            bytes: meta.len(),
            modified_ms: modified.as_millis() as u64,
        });
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}

/// One line's value: the number after the last comma.
#[hashed]
fn parse_line(line: &str) -> Option<f64> {
    line.rsplit(',').next()?.trim().parse().ok()
}

/// Parses one file, once per version of it: a later run restores its summary from the cache.
#[node(cache, uses = [parse_line])]
fn summarize(file: FileRef) -> std::io::Result<Summary> {
    let text = std::fs::read_to_string(&file.path)?;
    let values: Vec<f64> = text.lines().filter_map(parse_line).collect();
    Ok(Summary {
        path: file.path,
        rows: values.len() as u64,
        total: values.iter().sum(),
    })
}

/// Adds the files' summaries up (cached too: unchanged summaries give the same report).
#[node(cache)]
fn total(summaries: Vec<Summary>) -> Report {
    Report {
        files: summaries.len() as u64,
        rows: summaries.iter().map(|s| s.rows).sum(),
        total: summaries.iter().map(|s| s.total).sum(),
    }
}

pipeline! {
    /// Sums the readings of every CSV file in a directory, parsing each file once.
    pub Readings(dir: String) -> Report {
        files     = list(dir);
        summaries = summarize(each files);
        report    = total(summaries);
        report
    }
}

fn main() {
    pipeline::cli::Cli::new()
        .name("readings")
        .version(env!("CARGO_PKG_VERSION"))
        .main()
}
