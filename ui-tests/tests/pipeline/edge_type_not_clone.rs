use pipeline::prelude::*;

#[derive(Debug, Serialize, Deserialize)]
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
    /// `Stats` lost its `Clone`: one error per node that uses it, at the type in its signature,
    /// none at `pipeline!` (issue 26, item 7: the typed checkpoint's `Clone` pointed there).
    pub Count(text: String) -> String {
        stats = count(text);
        line  = report(stats);
        line
    }
}

fn main() {}
