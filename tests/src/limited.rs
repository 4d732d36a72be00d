//! The pipelines of the node-limit and node-rate process tests: `call_api` (limit 3) records
//! when each execution starts and ends, so that the test can count how many ran at once across
//! worker processes; `call_rated` (100 starts a second) records when each one starts.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use pipeline::{Graph, GraphBuilder};

/// The most executions of `call_api` at once.
pub const LIMIT: u32 = 3;

fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

/// Appends `line` to `log` (one short `write` on an `O_APPEND` file: atomic).
fn record(log: &PathBuf, line: String) {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .expect("the interval log opens");
    file.write_all(line.as_bytes())
        .expect("the interval log is writable");
}

/// x -> call_api (limit [`LIMIT`], 30 ms, logs `start NS` and `end NS`) -> its output.
pub fn graph(log: PathBuf) -> Graph<u64, u64> {
    let mut g = GraphBuilder::<u64>::new("limited_api");
    let x = g.input("x", |x: &u64| *x);
    let call = g.node("call_api").limit(LIMIT).run(x, move |x, _| {
        let log = log.clone();
        async move {
            record(&log, format!("start {}\n", now_ns()));
            tokio::time::sleep(Duration::from_millis(30)).await;
            record(&log, format!("end {}\n", now_ns()));
            crate::ok(x * 2)
        }
    });
    g.build(call).expect("the limited pipeline is sound")
}

/// The rate of `call_rated`: starts per second.
pub const PER_SECOND: u32 = 100;

/// x -> call_rated (at most [`PER_SECOND`] starts a second, logs `start NS`) -> its output.
pub fn rated_graph(log: PathBuf) -> Graph<u64, u64> {
    let mut g = GraphBuilder::<u64>::new("rated_api");
    let x = g.input("x", |x: &u64| *x);
    let rate = pipeline::Rate::new(PER_SECOND, Duration::from_secs(1)).expect("a rate");
    let call = g.node("call_rated").rate(rate).run(x, move |x, _| {
        let log = log.clone();
        async move {
            record(&log, format!("start {}\n", now_ns()));
            crate::ok(x * 2)
        }
    });
    g.build(call).expect("the rated pipeline is sound")
}

/// The start times of `log` (`start NS` lines), sorted, in nanoseconds.
pub fn starts(log: &str) -> Vec<u128> {
    let mut starts: Vec<u128> = log
        .lines()
        .filter_map(|line| line.strip_prefix("start ")?.parse().ok())
        .collect();
    starts.sort_unstable();
    starts
}

/// The most intervals of `log` (`start NS` / `end NS` lines) that overlap at one time.
pub fn most_at_once(log: &str) -> usize {
    let mut events: Vec<(u128, i32)> = log
        .lines()
        .filter_map(|line| {
            let (kind, at) = line.split_once(' ')?;
            let at: u128 = at.parse().ok()?;
            Some((at, if kind == "start" { 1 } else { -1 }))
        })
        .collect();
    // At one instant an end comes before a start.
    events.sort();
    let (mut now, mut most) = (0i32, 0i32);
    for (_, change) in events {
        now += change;
        most = most.max(now);
    }
    most.max(0) as usize
}
