//! What is particular to the PostgreSQL store: payloads kept byte for byte, the schema's
//! versions, and the errors a user sees when the server is not there.

use std::sync::Arc;

use pipeline::store::*;
use pipeline::*;
use tests::postgres::TestDatabase;

fn header(run_id: &RunId) -> RunHeader {
    RunHeader {
        format_version: FORMAT_VERSION,
        run_id: run_id.clone(),
        pipeline: "exact".into(),
        fingerprint: "0".into(),
        graph: std::sync::Arc::new(pipeline::graph::GraphSignature {
            inputs: vec![],
            nodes: vec![],
        }),
        inputs: serde_json::value::to_raw_value(&()).unwrap().into(),
        started_at_ms: 1,
        trace: None,
    }
}

/// Outputs are stored as the engine's exact JSON bytes: `jsonb` would reorder keys, drop a
/// duplicate key and refuse a NUL character (`\u0000`) in a string, so a checkpoint would differ
/// from what the dependents received, or not be written at all.
#[tokio::test]
#[cfg_attr(
    no_postgres,
    ignore = "needs PostgreSQL, which did not answer when the tests were built: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
)]
async fn outputs_keep_their_exact_bytes() {
    let db = TestDatabase::create();
    let store = PostgresStore::open(&db.url).unwrap();
    let run_id = RunId::new("exact").unwrap();
    let epoch = Checkpointer::create_run(&store, &header(&run_id))
        .await
        .unwrap();
    let outputs = [
        r#"{"zeta":1,"alpha":2}"#,
        r#""a\u0000b""#,
        r#"{"k":1,"k":2}"#,
        r#"1.50"#,
    ];
    for (i, output) in outputs.iter().enumerate() {
        let record = NodeRecord {
            node: format!("n{i}"),
            attempt: 1,
            started_at_ms: 1,
            finished_at_ms: 2,
            duration_us: 3,
            output: Arc::from(serde_json::value::RawValue::from_string((*output).into()).unwrap()),
            item: None,
            item_digest: None,
        };
        store.save(&run_id, epoch, &record).await.unwrap();
    }
    let loaded = store.load(&run_id).await.unwrap().unwrap();
    let read: Vec<&str> = loaded.nodes.iter().map(|n| n.output.get()).collect();
    assert_eq!(read, outputs);
}

/// A database migrated by a newer build is refused with both versions named, and nothing is
/// written to it.
#[tokio::test]
#[cfg_attr(
    no_postgres,
    ignore = "needs PostgreSQL, which did not answer when the tests were built: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
)]
async fn a_schema_newer_than_the_build_is_refused() {
    let db = TestDatabase::create();
    PostgresStore::open(&db.url)
        .unwrap()
        .migrate()
        .await
        .unwrap();
    let (client, connection) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let newer = SCHEMA_VERSION + 1;
    client
        .execute(
            "INSERT INTO pipeline_schema (version, name) VALUES ($1, 'from the future')",
            &[&newer],
        )
        .await
        .unwrap();

    let store = PostgresStore::open(&db.url).unwrap();
    let error = Checkpointer::list_runs(&store).await.unwrap_err();
    assert!(
        matches!(error, StoreError::SchemaTooNew { found, supported, .. }
            if found == newer && supported == SCHEMA_VERSION),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(
        message.contains(&format!("schema version {newer}")),
        "{message}"
    );
    assert!(
        message.contains(db.url.rsplit('/').next().unwrap()),
        "{message}"
    );
}

/// Migrating is idempotent and safe to race: eight stores opening one new database at once all
/// succeed, and the schema is recorded once per version.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    no_postgres,
    ignore = "needs PostgreSQL, which did not answer when the tests were built: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
)]
async fn stores_racing_to_migrate_a_new_database_all_succeed() {
    let db = TestDatabase::create();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let url = db.url.clone();
        tasks.spawn(async move { PostgresStore::open(&url).unwrap().migrate().await });
    }
    while let Some(result) = tasks.join_next().await {
        result.unwrap().unwrap();
    }
    let (client, connection) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let rows = client
        .query("SELECT version FROM pipeline_schema ORDER BY version", &[])
        .await
        .unwrap();
    let versions: Vec<i64> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(versions, (1..=SCHEMA_VERSION).collect::<Vec<_>>());
}

/// A server that does not answer is a typed error naming where the store tried to connect,
/// never the password, and never a panic; the engine runs on with a persistence warning.
#[tokio::test]
async fn an_unreachable_server_is_a_clear_error() {
    // Port 1 on loopback: nothing listens there.
    let options = PostgresOptions::default().connect_timeout(std::time::Duration::from_secs(2));
    let store =
        PostgresStore::open_with("postgres://app:secret@127.0.0.1:1/runs", options).unwrap();
    let error = Checkpointer::list_runs(&store).await.unwrap_err();
    let message = error.to_string();
    assert!(matches!(error, StoreError::Postgres { .. }), "{error:?}");
    assert!(
        message.contains("postgres://app@127.0.0.1:1/runs"),
        "{message}"
    );
    assert!(!message.contains("secret"), "{message}");

    let mut g = GraphBuilder::<u64>::new("unreachable");
    let x = g.input("x", |x: &u64| *x);
    let y = g
        .node("y")
        .run(x, |x, _| async move { Ok::<_, std::io::Error>(x + 1) });
    let result = PipelineEngine::new(g.build(y).unwrap())
        .checkpointer(store)
        .run(1)
        .await
        .unwrap();
    assert_eq!(result.output, Some(2));
    assert!(
        result
            .warnings
            .iter()
            .any(|w| w.message.contains("127.0.0.1:1")),
        "{:?}",
        result.warnings
    );
}

/// A URL that does not parse is refused at open, with the password hidden.
#[test]
fn a_bad_url_is_refused_without_its_password() {
    let error = PostgresStore::open("postgres://app:secret@host:notaport/db").unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains("postgres://app:***@host:notaport/db"),
        "{message}"
    );
    assert!(!message.contains("secret"), "{message}");
}

/// `Stores::open` and the CLI take the URL as a store spec.
#[tokio::test]
#[cfg_attr(
    no_postgres,
    ignore = "needs PostgreSQL, which did not answer when the tests were built: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
)]
async fn a_postgres_url_is_a_store_spec() {
    let db = TestDatabase::create();
    assert_eq!(
        StoreSpec::parse(&db.url).unwrap(),
        StoreSpec::Postgres(db.url.clone())
    );
    let stores = Stores::open(&db.url).unwrap();
    assert!(stores.checkpointer.list_runs().await.unwrap().is_empty());
}

/// Taking a run whose future is dropped midway (a caller's timeout) leaves nothing held: the same
/// store takes the run at once afterwards, at every moment of dropping.
#[tokio::test]
#[cfg_attr(
    no_postgres,
    ignore = "needs PostgreSQL, which did not answer when the tests were built: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
)]
async fn a_take_dropped_midway_leaves_the_run_free() {
    let db = TestDatabase::create();
    let store = PostgresStore::open(&db.url).unwrap();
    store.migrate().await.unwrap();
    let mut rng = fastrand::Rng::with_seed(11);
    for round in 0..100 {
        let run_id = RunId::new(format!("dropped-{round}")).unwrap();
        let header = header(&run_id);
        let wait = std::time::Duration::from_micros(rng.u64(0..3_000));
        if let Ok(taken) =
            tokio::time::timeout(wait, Checkpointer::create_run(&store, &header)).await
        {
            Checkpointer::release_run(&store, &run_id, taken.unwrap());
        }
        match Checkpointer::resume_run(&store, &run_id, &OutputFilter::default()).await {
            Ok(Some(resumed)) => Checkpointer::release_run(&store, &run_id, resumed.epoch),
            Ok(None) => {} // dropped before the run was written
            Err(e) => panic!("{run_id} after a take dropped at {wait:?}: {e}"),
        }
    }
}

/// A chain of `n` nodes that each add 1.
fn chain(n: usize) -> Graph<u64, u64> {
    let mut g = GraphBuilder::<u64>::new("chain");
    let mut last = g.input("x", |x: &u64| *x);
    for i in 0..n {
        last = g.node(format!("n{i}")).run(last, |x: u64, _| async move {
            Ok::<_, std::convert::Infallible>(x + 1)
        });
    }
    g.build(last).unwrap()
}

/// A completed node costs the server one transaction: its checkpoint record and its audit entry
/// are written in one statement, prepared once per connection. Each was its own statement,
/// prepared anew each time (a transaction of its own on the server): 4 more transactions for
/// each node more in a chain, 5.8 per node on the 10-node chain of issue 30's comparison with
/// DBOS, run overhead included.
#[tokio::test]
#[cfg_attr(
    no_postgres,
    ignore = "needs PostgreSQL, which did not answer when the tests were built: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
)]
async fn a_node_costs_one_transaction() {
    let db = TestDatabase::create();
    let url = db.url.clone();
    let run = |n: usize| {
        let url = url.clone();
        async move {
            let stores = Stores::open(url.as_str()).unwrap();
            let engine = PipelineEngine::new(chain(n)).stores(stores.clone());
            let result = engine.run(0).await.unwrap();
            assert_eq!(result.output, Some(n as u64), "{:?}", result.failures);
            assert!(result.warnings.is_empty(), "{:?}", result.warnings);
            // Every node has both its record and its entry.
            let run_id = &result.run_id;
            let records = stores.checkpointer.load(run_id).await.unwrap().unwrap();
            let entries = stores.audit.entries(run_id).await.unwrap().unwrap();
            assert_eq!((records.nodes.len(), entries.len()), (n, n));
        }
    };
    // The transactions of a run of `n` nodes, its fixed cost (the store's schema check, the
    // run's creation, its summaries, the checks above) the same for every `n`.
    let transactions = |n: usize| {
        let db = &db;
        async move {
            let before = db.statistic("xact_commit").await;
            run(n).await;
            db.statistic("xact_commit").await - before
        }
    };
    run(1).await; // creates the schema
    let (short, long) = (transactions(100).await, transactions(200).await);
    let per_node = (long - short) as f64 / 100.0;
    assert!(
        per_node <= 1.05,
        "{per_node:.2} transactions per node more ({short} for 100 nodes, {long} for 200)"
    );
}

/// A chain on a fleet wakes no idle worker, and a node costs the server three transactions: its
/// claim (which also says when the next node left is due), the read of its inputs, and its
/// commit. Each commit that made a node ready woke every idle worker, and each of them ran a
/// claim and a look at the queue for nothing (11.0 transactions per node; 4.0 once the worker
/// that commits a node claimed the next one itself, its task freeing the slot; 3.0 once the
/// look at the queue went into the claim).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    no_postgres,
    ignore = "needs PostgreSQL, which did not answer when the tests were built: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
)]
async fn a_chain_on_a_fleet_wakes_no_idle_worker() {
    use pipeline::fleet::{Shutdown, Worker};
    let db = TestDatabase::create();
    PostgresStore::open(&db.url)
        .unwrap()
        .migrate()
        .await
        .unwrap();
    // The transactions of a run of `n` nodes on two workers that never poll (only a `NOTIFY`
    // or their own commits send them to the queue), from their start to their stop.
    let transactions = |n: usize| {
        let db = &db;
        async move {
            let before = db.statistic("xact_commit").await;
            let store = PostgresStore::open(&db.url).unwrap();
            let stop = Shutdown::new();
            let workers: Vec<_> = (0..2)
                .map(|i| {
                    let worker = Worker::new(store.clone())
                        .serve(&chain(n))
                        .id(format!("w{i}"))
                        .poll_interval(std::time::Duration::from_secs(600));
                    tokio::spawn(worker.run(stop.clone()))
                })
                .collect();
            let engine = PipelineEngine::new(chain(n)).fleet(store.clone());
            let run_id = engine.submit(0).await.unwrap();
            let result = tests::fleet::wait(&engine, &run_id).await;
            assert_eq!(result.output, Some(n as u64), "{:?}", result.failures);
            stop.stop();
            let mut completed = 0;
            for worker in workers {
                completed += worker.await.unwrap().unwrap().completed;
            }
            assert_eq!(completed, n as u64);
            drop((engine, store));
            db.statistic("xact_commit").await - before
        }
    };
    let (short, long) = (transactions(100).await, transactions(200).await);
    let per_node = (long - short) as f64 / 100.0;
    println!("{per_node:.2} transactions per node ({short} for 100 nodes, {long} for 200)");
    assert!(
        per_node <= 3.5,
        "{per_node:.2} transactions per node more ({short} for 100 nodes, {long} for 200)"
    );
}
