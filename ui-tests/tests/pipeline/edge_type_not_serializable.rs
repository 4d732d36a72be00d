use pipeline::prelude::*;

#[derive(Clone, Debug, Deserialize)]
pub struct Stats {
    pub lines: usize,
}

#[node]
fn count(text: String) -> Stats {
    Stats { lines: text.lines().count() }
}

#[node]
fn report(stats: Stats) -> String {
    format!("{} lines", stats.lines)
}

pipeline! {
    /// `Stats` lost its `Serialize`.
    pub Count(text: String) -> String {
        stats = count(text);
        line  = report(stats);
        line
    }
}

fn main() {}
