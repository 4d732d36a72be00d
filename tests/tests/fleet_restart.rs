//! The PostgreSQL server restarted mid-run (`pg_ctlcluster ... restart`): the workers and the
//! waiting engine reconnect, and every run completes with the output of an undisturbed run.
//!
//! It restarts the machine's server, which would fail any other test using the server at that
//! moment, so it is not part of `cargo test --workspace`: it is ignored there, and `.ci/run` runs
//! it alone afterwards (`cargo test -p tests --test fleet_restart -- --ignored`). It needs to be
//! allowed to run `pg_ctlcluster` (root, as on CI), and fails when it is not.
#![cfg(unix)]

use std::process::Command;
use std::time::Duration;

use pipeline::PipelineEngine;
use pipeline::RunStatus;
use pipeline::fleet::{Shutdown, Worker};
use pipeline::store::PostgresStore;
use tests::postgres::TestDatabase;

fn restart_server() -> Result<(), String> {
    let versions = std::fs::read_dir("/etc/postgresql").map_err(|e| e.to_string())?;
    let version = versions
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .next()
        .ok_or("no cluster under /etc/postgresql")?;
    let out = Command::new("pg_ctlcluster")
        .args(["--skip-systemctl-redirect", &version, "main", "restart"])
        .output()
        .map_err(|e| e.to_string())?;
    match out.status.success() {
        true => Ok(()),
        false => Err(String::from_utf8_lossy(&out.stderr).into_owned()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "restarts the machine's PostgreSQL, so it runs alone: cargo test -p tests --test fleet_restart -- --ignored (.ci/run does)"]
async fn runs_complete_across_a_server_restart() {
    let db = TestDatabase::create();
    let store = PostgresStore::open(&db.url).unwrap();
    store.migrate().await.unwrap();
    let shutdown = Shutdown::new();
    let mut workers = Vec::new();
    for i in 0..2 {
        let worker = Worker::new(PostgresStore::open(&db.url).unwrap())
            .serve(&tests::chaos::graph(None))
            .id(format!("w{i}"))
            .concurrency(4)
            .lease(Duration::from_secs(2), Duration::from_millis(500))
            .poll_interval(Duration::from_millis(200));
        workers.push(tokio::spawn(worker.run(shutdown.clone())));
    }
    let engine = PipelineEngine::new(tests::chaos::graph(None)).fleet(store);
    let undisturbed = PipelineEngine::new(tests::chaos::graph(None));
    let mut runs = Vec::new();
    for x in 0..4 {
        runs.push((x, engine.submit(x).await.unwrap()));
    }
    // Let the runs get going, then pull the server out from under them.
    let (client, connection) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls)
        .await
        .unwrap();
    let driver = tokio::spawn(connection);
    loop {
        let row = client
            .query_one("SELECT count(*) FROM pipeline_node_records", &[])
            .await
            .unwrap();
        if row.get::<_, i64>(0) >= 40 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let restarted = tokio::task::spawn_blocking(restart_server).await.unwrap();
    if let Err(e) = restarted {
        shutdown.stop_now();
        panic!("cannot restart PostgreSQL (pg_ctlcluster needs root): {e}");
    }
    drop(client);
    driver.abort();

    for (x, run_id) in &runs {
        let result = tokio::time::timeout(Duration::from_secs(120), engine.wait(run_id))
            .await
            .unwrap_or_else(|_| panic!("run {x} did not end after the restart"))
            .unwrap();
        assert_eq!(result.status, RunStatus::Completed, "run {x}");
        assert_eq!(
            result.output,
            undisturbed.run(*x).await.unwrap().output,
            "run {x}"
        );
    }
    shutdown.stop();
    for worker in workers {
        worker.await.unwrap().unwrap();
    }
}
