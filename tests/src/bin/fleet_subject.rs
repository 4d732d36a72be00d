//! A fleet worker process for the chaos test: serves the chaos pipeline (`tests::chaos`) from a
//! PostgreSQL database with a 1 s lease renewed every 250 ms, recording each execution in the
//! side-effect log, until it is killed or interrupted.
//!
//! ```text
//! fleet_subject <postgres url> <worker id> <side-effect log>
//! ```

use std::time::Duration;

use pipeline::fleet::{Shutdown, Worker};
use pipeline::store::PostgresStore;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let [_, url, id, log] = &args[..] else {
        eprintln!("usage: fleet_subject <postgres url> <worker id> <side-effect log>");
        return std::process::ExitCode::from(2);
    };
    let store = match PostgresStore::open(url) {
        Ok(store) => store,
        Err(e) => {
            eprintln!("error: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let worker = Worker::new(store)
        .serve(&tests::chaos::graph(Some(log.into())))
        .id(id)
        .concurrency(2)
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
