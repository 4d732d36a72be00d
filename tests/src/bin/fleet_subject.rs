//! A fleet worker process for the chaos test: serves the chaos pipeline (`tests::chaos`) from a
//! PostgreSQL database with a 1 s lease renewed every 250 ms, recording each execution in the
//! side-effect log, until it is killed or interrupted.
//!
//! ```text
//! fleet_subject <postgres url> <worker id> <side-effect log> [limited]
//! ```
//! With `limited` (or `rated`), it serves the node-limit (node-rate) test's pipeline
//! (`tests::limited`) instead, with a concurrency of 4, logging when each execution starts (and
//! ends).

use std::time::Duration;

use pipeline::fleet::{Shutdown, Worker};
use pipeline::store::PostgresStore;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let (url, id, log, limited) = match &args[..] {
        [_, url, id, log] => (url, id, log, false),
        [_, url, id, log, mode] if mode == "limited" || mode == "rated" => {
            (url, id, log, mode == "limited")
        }
        _ => {
            eprintln!(
                "usage: fleet_subject <postgres url> <worker id> <side-effect log> [limited]"
            );
            return std::process::ExitCode::from(2);
        }
    };
    let store = match PostgresStore::open(url) {
        Ok(store) => store,
        Err(e) => {
            eprintln!("error: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let rated = args.get(4).is_some_and(|mode| mode == "rated");
    let worker = match (limited, rated) {
        (true, _) => Worker::new(store)
            .serve(&tests::limited::graph(log.into()))
            .concurrency(4),
        (_, true) => Worker::new(store)
            .serve(&tests::limited::rated_graph(log.into()))
            .concurrency(4),
        _ => Worker::new(store)
            .serve(&tests::chaos::graph(Some(log.into())))
            .concurrency(2),
    };
    let worker = worker
        .id(id)
        .lease(Duration::from_secs(1), Duration::from_millis(250))
        .poll_interval(Duration::from_millis(100));
    let shutdown = Shutdown::on_ctrl_c();
    println!("serving");
    match worker.run(shutdown).await {
        Ok(report) => {
            println!("{report:?}");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
