//! The engine's semantics with a fleet of workers doing the work: four workers in this process
//! share a PostgreSQL database; the engine submits, waits and cancels.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pipeline::fleet::{Shutdown, Worker, WorkerReport};
use pipeline::store::*;
use pipeline::*;
use tests::postgres::TestDatabase;

/// Workers serving one graph on a database of its own.
struct Fleet {
    store: PostgresStore,
    shutdown: Shutdown,
    workers: Vec<tokio::task::JoinHandle<StoreResult<WorkerReport>>>,
    _db: TestDatabase,
}

impl Fleet {
    /// `n` workers serving `graph`, or `None` without a server outside CI.
    async fn start<O: Send + 'static>(graph: &Graph<u64, O>, n: usize) -> Option<Fleet> {
        let db = TestDatabase::create()?;
        let store = PostgresStore::open(&db.url).unwrap();
        store.migrate().await.unwrap();
        let mut fleet = Fleet {
            store,
            shutdown: Shutdown::new(),
            workers: Vec::new(),
            _db: db,
        };
        for i in 0..n {
            fleet.add(Worker::new(fleet.store.clone()).serve(graph).id(format!("w{i}")));
        }
        Some(fleet)
    }

    fn add(&mut self, worker: Worker) {
        let worker = worker.poll_interval(Duration::from_millis(200));
        self.workers
            .push(tokio::spawn(worker.run(self.shutdown.clone())));
    }

    fn engine<O: Send + 'static>(&self, graph: Graph<u64, O>) -> PipelineEngine<Graph<u64, O>> {
        PipelineEngine::new(graph).fleet(self.store.clone())
    }

    async fn stop(self) -> Vec<WorkerReport> {
        self.shutdown.stop();
        let mut reports = Vec::new();
        for worker in self.workers {
            reports.push(worker.await.unwrap().unwrap());
        }
        reports
    }
}

/// Which node ids fail while they are in the set, and how often each node ran.
#[derive(Clone, Default)]
struct Probe {
    fail: Arc<Mutex<BTreeMap<String, usize>>>,
    ran: Arc<Mutex<BTreeMap<String, usize>>>,
}

impl Probe {
    /// `id` fails its first `times` attempts.
    fn failing(self, id: &str, times: usize) -> Self {
        self.fail.lock().unwrap().insert(id.into(), times);
        self
    }
    fn enter(&self, id: &str) -> Result<(), std::io::Error> {
        *self.ran.lock().unwrap().entry(id.into()).or_default() += 1;
        let mut fail = self.fail.lock().unwrap();
        match fail.get_mut(id) {
            Some(n) if *n > 0 => {
                *n -= 1;
                Err(std::io::Error::other(format!("boom in {id}")))
            }
            _ => Ok(()),
        }
    }
    fn ran(&self, id: &str) -> usize {
        self.ran.lock().unwrap().get(id).copied().unwrap_or(0)
    }
}

/// x -> a -> {b, c} -> d (a diamond), and x -> e (an independent branch). Output: d.
fn diamond(probe: &Probe) -> Graph<u64, u64> {
    let mut g = GraphBuilder::<u64>::new("diamond");
    let x = g.input("x", |x: &u64| *x);
    let node = |id: &'static str, f: fn(u64, u64) -> u64| {
        let probe = probe.clone();
        move |(p, q): (u64, u64), _ctx: NodeContext| {
            let probe = probe.clone();
            async move {
                probe.enter(id)?;
                Ok::<_, std::io::Error>(f(p, q))
            }
        }
    };
    let a = g.node("a").run((x, x), node("a", |x, _| x + 1));
    let b = g.node("b").run((a, a), node("b", |a, _| a * 2));
    let c = g.node("c").run((a, a), node("c", |a, _| a * 3));
    let d = g.node("d").run((b, c), node("d", |b, c| b + c));
    let _e = g.node("e").run((x, x), node("e", |x, _| x * 10));
    g.build(d).unwrap()
}

fn statuses<O>(result: &PipelineResult<O>) -> Vec<(String, NodeStatus)> {
    result.nodes.iter().map(|(k, v)| (k.clone(), *v)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_submitted_run_completes_on_the_workers_with_the_in_process_result() {
    let probe = Probe::default();
    let Some(fleet) = Fleet::start(&diamond(&probe), 4).await else {
        return;
    };
    let engine = fleet.engine(diamond(&probe));
    let run_id = engine.submit(1).await.unwrap();
    let result = engine.wait(&run_id).await.unwrap();

    let local = PipelineEngine::new(diamond(&Probe::default())).run(1).await.unwrap();
    assert_eq!(result.status, RunStatus::Completed);
    assert_eq!(result.output, local.output);
    assert_eq!(result.output, Some((2 * 2) + (2 * 3)));
    assert_eq!(statuses(&result), statuses(&local));
    let checkpoint = engine.load_checkpoint(&run_id).await.unwrap().unwrap();
    let mut recorded: Vec<&str> = checkpoint.completed().collect();
    recorded.sort();
    assert_eq!(recorded, ["a", "b", "c", "d", "e"]);
    let trail = engine.audit_trail(&run_id).await.unwrap().unwrap();
    assert_eq!(trail.len(), 5);
    assert!(trail.iter().all(|e| e.worker.as_deref().is_some_and(|w| w.starts_with('w'))));
    for id in ["a", "b", "c", "d", "e"] {
        assert_eq!(probe.ran(id), 1, "{id}");
    }
    let reports = fleet.stop().await;
    assert_eq!(reports.iter().map(|r| r.completed).sum::<u64>(), 5);
}
