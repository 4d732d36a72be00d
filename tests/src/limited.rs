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

/// The most runs of one customer at once.
pub const PER_CUSTOMER: u32 = 2;

/// (customer, x) -> work (20 ms, logs `run NS CUSTOMER` and `done NS CUSTOMER`) -> call_api
/// (limit [`LIMIT`], 30 ms, logs `start NS` and `end NS`), with at most [`PER_CUSTOMER`] runs of
/// one customer at once.
pub fn graph(log: PathBuf) -> Graph<(String, u64), u64> {
    let mut g = GraphBuilder::<(String, u64)>::new("limited_api");
    g.limit_runs(
        |(customer, _): &(String, u64)| customer.clone(),
        PER_CUSTOMER,
    );
    let customer = g.input("customer", |(c, _): &(String, u64)| c.clone());
    let x = g.input("x", |(_, x): &(String, u64)| *x);
    let work_log = log.clone();
    let work = g.node("work").run((customer, x), move |(customer, x), _| {
        let log = work_log.clone();
        async move {
            record(&log, format!("run {} {customer}\n", now_ns()));
            tokio::time::sleep(Duration::from_millis(20)).await;
            record(&log, format!("done {} {customer}\n", now_ns()));
            crate::ok(x)
        }
    });
    let call = g.node("call_api").limit(LIMIT).run(work, move |x, _| {
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

/// The most intervals of `log` that overlap at one time: between `open` and `close` lines
/// (`open NS [KEY]`), of key `key` when given.
pub fn most_at_once(log: &str, open: &str, close: &str, key: Option<&str>) -> usize {
    let mut events: Vec<(u128, i32)> = log
        .lines()
        .filter_map(|line| {
            let mut words = line.split(' ');
            let (kind, at) = (words.next()?, words.next()?.parse::<u128>().ok()?);
            if key.is_some_and(|key| words.next() != Some(key)) {
                return None;
            }
            match kind {
                k if k == open => Some((at, 1)),
                k if k == close => Some((at, -1)),
                _ => None,
            }
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
