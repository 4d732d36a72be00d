//! The README's first screen, verbatim: a three-node pipeline and a command line over it.

use pipeline::prelude::*;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Stats {
    pub lines: usize,
    pub words: usize,
}

/// Reads the file.
#[node(retries = 1, backoff = "100ms")]
fn read(path: String) -> Result<String, std::io::Error> {
    std::fs::read_to_string(path)
}

/// Counts its lines and words.
#[node]
fn count(text: String) -> Stats {
    let words = text.split_whitespace().count();
    Stats {
        lines: text.lines().count(),
        words,
    }
}

/// Says what it counted.
#[node]
fn report(stats: Stats) -> String {
    format!("{} lines, {} words", stats.lines, stats.words)
}

pipeline! {
    /// Counts the lines and words of a file.
    pub WordCount(path: String) -> String {
        text  = read(path);
        stats = count(text);
        line  = report(stats);
        line
    }
}

fn main() {
    pipeline::cli::Cli::new()
        .name("hello")
        .version(env!("CARGO_PKG_VERSION"))
        .main()
}
