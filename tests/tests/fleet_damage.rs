//! Tampered fleet state fails the run instead of hanging it (issue 24, finding 10): a garbage
//! run header, or a node row whose index the pipeline does not have, left the run `running`
//! forever and `wait` never returned. The run now fails, with an error that names the damage.

use std::time::Duration;

use pipeline::fleet::Worker;
use pipeline::*;
use tests::fleet::{Fleet, wait};

/// x -> a -> b.
fn chain() -> Graph<u64, u64> {
    let mut g = GraphBuilder::<u64>::new("damaged_chain");
    let x = g.input("x", |x: &u64| *x);
    let a = g
        .node("a")
        .run(x, |x, _| async move { Ok::<_, std::io::Error>(x + 1) });
    let b = g
        .node("b")
        .run(a, |a, _| async move { Ok::<_, std::io::Error>(a * 2) });
    g.build(b).unwrap()
}

/// Submits a run with no worker up, damages it with `sql` (`$1` is the run id), then lets a
/// worker at it and returns how the run ended.
async fn damaged_run(sql: &str) -> PipelineResult<u64> {
    let graph = chain();
    let mut fleet = Fleet::start(&graph, 0).await;
    let engine = fleet.engine(graph.clone());
    let run_id = engine.submit(5).await.unwrap();
    let (client, connection) = tokio_postgres::connect(&fleet.db.url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let changed = client.execute(sql, &[&run_id.as_str()]).await.unwrap();
    assert_eq!(changed, 1, "the damage was done");
    fleet.add(
        Worker::new(fleet.store.clone())
            .serve(&graph)
            .id("w")
            .lease(Duration::from_secs(1), Duration::from_millis(200)),
    );
    let result = wait(&engine, &run_id).await;
    fleet.stop().await;
    result
}

#[tokio::test]
#[cfg_attr(
    no_postgres,
    ignore = "needs PostgreSQL, which did not answer when the tests were built: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
)]
async fn a_garbage_run_header_fails_the_run_naming_the_damage() {
    let result =
        damaged_run("UPDATE pipeline_runs SET header = 'garbage'::bytea WHERE run_id = $1").await;
    assert_eq!(result.status, RunStatus::Failed);
    let failure = &result.failures["a"];
    assert!(
        failure.error.contains("the run's stored header is damaged"),
        "{}",
        failure.error
    );
}

#[tokio::test]
#[cfg_attr(
    no_postgres,
    ignore = "needs PostgreSQL, which did not answer when the tests were built: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
)]
async fn a_node_row_out_of_the_pipeline_fails_the_run_naming_the_damage() {
    let result = damaged_run(
        "UPDATE pipeline_fleet_nodes SET node = 999 WHERE run_id = $1 AND node_id = 'a'",
    )
    .await;
    assert_eq!(result.status, RunStatus::Failed);
    let errors: Vec<&str> = result.failures.values().map(|f| f.error.as_str()).collect();
    assert!(
        errors
            .iter()
            .any(|e| e.contains("the run's row for node index 999 is damaged")),
        "{errors:?}"
    );
}
