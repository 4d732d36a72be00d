//! Cached nodes: alone, with a time to live, with helpers that list helpers.

use pipeline::prelude::*;

#[hashed]
fn split(line: &str) -> Vec<&str> {
    line.split(',').collect()
}

#[hashed(uses = [split])]
fn parse_line(line: &str) -> Option<i64> {
    split(line).last()?.trim().parse().ok()
}

#[node(cache)]
fn lines(text: String) -> Vec<String> {
    text.lines().map(str::to_owned).collect()
}

#[node(cache = "30d", uses = [parse_line], version = "2")]
fn total(lines: Vec<String>) -> i64 {
    lines.iter().filter_map(|l| parse_line(l)).sum()
}

#[node(cache, uses = [self::parse_line])]
async fn each_total(line: String) -> Result<i64, std::io::Error> {
    Ok(parse_line(&line).unwrap_or(0))
}

pipeline! {
    pub Sum(text: String) -> i64 {
        rows  = lines(text);
        sum   = total(rows);
        parts = each_total(each rows);
        sum
    }
}

fn main() {
    let _ = Sum;
}
