//! A worker fleet for tests: workers in this process sharing a PostgreSQL database of their own,
//! and an engine that submits to them.

use std::time::Duration;

use pipeline::fleet::{Shutdown, Worker, WorkerReport};
use pipeline::store::{PostgresStore, StoreResult};
use pipeline::{Pipeline, PipelineEngine, PipelineResult, RunId};

use crate::postgres::TestDatabase;

/// Workers serving one graph on a database of its own.
pub struct Fleet {
    pub store: PostgresStore,
    pub shutdown: Shutdown,
    pub workers: Vec<tokio::task::JoinHandle<StoreResult<WorkerReport>>>,
    pub db: TestDatabase,
}

impl Fleet {
    /// `n` workers serving `graph` (panics when PostgreSQL does not answer).
    pub async fn start<P: Pipeline>(graph: &P, n: usize) -> Fleet {
        Fleet::start_with(graph, n, |worker| worker).await
    }

    /// [`start`](Fleet::start), each worker set up by `configure`.
    pub async fn start_with<P: Pipeline>(
        graph: &P,
        n: usize,
        configure: impl Fn(Worker) -> Worker,
    ) -> Fleet {
        let db = TestDatabase::create();
        let store = PostgresStore::open(&db.url).unwrap();
        store.migrate().await.unwrap();
        let mut fleet = Fleet {
            store,
            shutdown: Shutdown::new(),
            workers: Vec::new(),
            db,
        };
        for i in 0..n {
            fleet.add(configure(
                Worker::new(fleet.store.clone())
                    .serve(graph)
                    .id(format!("w{i}")),
            ));
        }
        fleet
    }

    pub fn add(&mut self, worker: Worker) {
        let worker = worker.poll_interval(Duration::from_millis(200));
        self.workers
            .push(tokio::spawn(worker.run(self.shutdown.clone())));
    }

    pub fn engine<P: Pipeline>(&self, graph: P) -> PipelineEngine<P> {
        PipelineEngine::new(graph).fleet(self.store.clone())
    }

    /// Stops the workers gracefully and returns their reports (the database stays until the
    /// fleet is dropped).
    pub async fn stop(&mut self) -> Vec<WorkerReport> {
        self.shutdown.stop();
        let mut reports = Vec::new();
        for worker in self.workers.drain(..) {
            reports.push(worker.await.unwrap().unwrap());
        }
        reports
    }
}

/// Runs `worker` on a runtime of its own (one thread, on a thread of its own) until `stop`: a
/// test freezes the whole worker by blocking that thread (a GC pause, a stopped VM). Give it a
/// store of its own, as another process would have: a pooled connection is driven by the
/// runtime that opened it, so a shared pool would hand the frozen runtime's connections to the
/// other workers.
pub fn on_own_runtime(
    worker: Worker,
    stop: Shutdown,
) -> std::thread::JoinHandle<StoreResult<WorkerReport>> {
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(worker.run(stop))
    })
}

/// Waits for a run, failing the test after a minute instead of hanging it.
pub async fn wait<P: Pipeline>(
    engine: &PipelineEngine<P>,
    run_id: &RunId,
) -> PipelineResult<P::Output> {
    tokio::time::timeout(Duration::from_secs(60), engine.wait(run_id))
        .await
        .unwrap_or_else(|_| panic!("run {run_id} did not end within a minute"))
        .unwrap()
}
