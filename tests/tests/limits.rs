//! Node limits (issue 27, item 2): `#[node(limit = N)]` holds at most N executions of a node at
//! once across every run, in one process and across a fleet's workers. The shared tests run on
//! every executor (`tests::on_every_executor!`); the process test runs three worker processes.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use pipeline::*;
use tests::*;

/// How many executions run now, and the most that ever ran at once.
#[derive(Clone, Default)]
struct Gauge {
    now: Arc<AtomicUsize>,
    most: Arc<AtomicUsize>,
}

impl Gauge {
    async fn hold(&self, for_: Duration) {
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(for_).await;
        self.now.fetch_sub(1, Ordering::SeqCst);
    }
    fn most(&self) -> usize {
        self.most.load(Ordering::SeqCst)
    }
}

/// x -> slow (limit 2), and a list of 6 -> items (each, limit 3). Every run's output is the
/// same (so that runs at once compare with the fleet's in any order of ending).
fn limited(slow: &Gauge, items: &Gauge) -> Graph<u64, (u64, Vec<u64>)> {
    let mut g = GraphBuilder::<u64>::new("limited");
    let x = g.input("x", |x: &u64| *x);
    let list = g.input("list", |_: &u64| (0..6).collect::<Vec<u64>>());
    let gauge = slow.clone();
    let slow = g.node("slow").limit(2).run(x, move |x, _| {
        let gauge = gauge.clone();
        async move {
            gauge.hold(Duration::from_millis(40)).await;
            ok(x.min(1))
        }
    });
    let gauge = items.clone();
    let items = g.node("items").limit(3).each(list, (), move |i, (), _| {
        let gauge = gauge.clone();
        async move {
            gauge.hold(Duration::from_millis(10)).await;
            ok(i)
        }
    });
    g.build((slow, items)).unwrap()
}

tests::on_every_executor! {
    async fn a_limited_node_runs_at_most_its_limit_at_once_across_runs(on: Executor) {
        let (slow, items) = (Gauge::default(), Gauge::default());
        let on = on.engine(limited(&slow, &items), |e| e).await;
        let runs = (1..=12).map(|x| on.run(x));
        let results = futures_util::future::join_all(runs).await;
        for result in &results {
            let result = result.as_ref().unwrap();
            assert_eq!(result.status, RunStatus::Completed);
            assert_eq!(result.output, Some((1, (0..6).collect())));
        }
        assert!(slow.most() <= 2, "{} executions of `slow` at once", slow.most());
        assert!(items.most() <= 3, "{} items at once", items.most());
        assert!(slow.most() >= 1 && items.most() >= 1);
    }
}

const SUBJECT: &str = env!("CARGO_BIN_EXE_fleet_subject");

/// Three `fleet_subject` worker processes serving the pipeline of `mode` (`limited` or `rated`),
/// logging to `log`; killed when dropped.
struct Workers(Vec<std::process::Child>);

impl Workers {
    fn start(url: &str, mode: &str, log: &std::path::Path) -> Workers {
        let start = |i| {
            std::process::Command::new(SUBJECT)
                .args([url, &format!("{mode}-{i}")])
                .arg(log)
                .arg(mode)
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("a worker process starts")
        };
        Workers((0..3).map(start).collect())
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        for worker in &mut self.0 {
            let _ = worker.kill();
            let _ = worker.wait();
        }
    }
}

/// 200 runs over 10 customers (20 each, in turn), all submitted before three worker processes (each taking up to
/// 4 nodes at once) start: by the intervals the workers logged, no customer ever had more than 2
/// runs working at once, and `call_api` (limit 3) never ran more than 3 times at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    no_postgres,
    ignore = "needs PostgreSQL, which did not answer when the tests were built: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
)]
async fn limits_hold_across_three_worker_processes() {
    use tests::limited::{LIMIT, PER_CUSTOMER, most_at_once};
    let db = postgres::TestDatabase::create();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("intervals.log");
    let store = pipeline::store::PostgresStore::open(&db.url).unwrap();
    store.migrate().await.unwrap();
    let engine = PipelineEngine::new(tests::limited::graph(log.clone())).fleet(store);
    let mut ids = Vec::new();
    for x in 0..200u64 {
        let customer = format!("customer-{}", x / 20);
        ids.push((x, engine.submit((customer, x)).await.unwrap()));
    }
    let workers = Workers::start(&db.url, "limited", &log);
    for (x, id) in &ids {
        let waited = tokio::time::timeout(Duration::from_secs(120), engine.wait(id));
        let result = waited
            .await
            .expect("the run ends within two minutes")
            .unwrap();
        assert_eq!(result.output, Some(x * 2), "{id}");
    }
    drop(workers);
    let intervals = std::fs::read_to_string(&log).unwrap();
    assert_eq!(
        intervals.lines().filter(|l| l.starts_with("start")).count(),
        200
    );
    let calls = most_at_once(&intervals, "start", "end", None);
    assert!(
        calls <= LIMIT as usize,
        "{calls} calls at once, over the limit of {LIMIT}"
    );
    for c in 0..10 {
        let customer = format!("customer-{c}");
        let runs = most_at_once(&intervals, "run", "done", Some(&customer));
        assert!(
            runs <= PER_CUSTOMER as usize,
            "{runs} runs of {customer} at once, over the limit of {PER_CUSTOMER}"
        );
    }
}

mod dsl {
    use pipeline::prelude::*;

    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Lookups running now, and the most at once.
    pub static NOW: AtomicUsize = AtomicUsize::new(0);
    pub static MOST: AtomicUsize = AtomicUsize::new(0);

    /// A call to an API that takes two callers at once.
    #[node(limit = 2)]
    async fn lookup(id: u64) -> u64 {
        let now = NOW.fetch_add(1, Ordering::SeqCst) + 1;
        MOST.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        NOW.fetch_sub(1, Ordering::SeqCst);
        id + 1
    }

    /// A call to an API that takes 20 calls a second.
    #[node(rate = "20/s")]
    async fn notify(found: u64) -> u64 {
        found
    }

    pipeline! {
        /// One lookup; at most one run per tenant at once.
        #[limit(key = tenant, runs = 1)]
        pub Lookup(tenant: String, id: u64) -> u64 {
            found = lookup(id);
            told  = notify(found);
            told
        }
    }
}

#[test]
fn node_limit_is_an_option_of_node() {
    use pipeline::Pipeline;
    let graph = dsl::Lookup.graph();
    let options = graph.node_options("found").expect("the node `found`");
    assert_eq!(options.limit, Some(2));
    let told = graph.node_options("told").expect("the node `told`");
    assert_eq!(told.rate, Some("20/s".parse().unwrap()));
}

#[tokio::test]
async fn a_pipeline_limits_its_runs_per_key_with_limit() {
    use dsl::{Lookup, LookupInputs};
    let engine = Arc::new(PipelineEngine::new(Lookup));
    let inputs = |tenant: &str, id| LookupInputs {
        tenant: tenant.into(),
        id,
    };
    // One run of tenant `a` at a time: its lookups never overlap.
    let runs = (0..4).map(|id| engine.run(inputs("a", id)));
    let outputs: Vec<Option<u64>> = futures_util::future::join_all(runs)
        .await
        .into_iter()
        .map(|r| r.unwrap().output)
        .collect();
    assert_eq!(outputs, [Some(1), Some(2), Some(3), Some(4)]);
    assert_eq!(dsl::MOST.load(std::sync::atomic::Ordering::SeqCst), 1);
}

/// Runs of each customer at once now, and the most ever.
#[derive(Clone, Default)]
struct PerKey(Arc<std::sync::Mutex<std::collections::HashMap<String, (usize, usize)>>>);

impl PerKey {
    async fn hold(&self, key: &str, for_: Duration) {
        {
            let mut keys = self.0.lock().unwrap();
            let (now, most) = keys.entry(key.to_owned()).or_default();
            *now += 1;
            *most = (*most).max(*now);
        }
        tokio::time::sleep(for_).await;
        self.0.lock().unwrap().entry(key.to_owned()).or_default().0 -= 1;
    }
    fn most(&self, key: &str) -> usize {
        self.0.lock().unwrap().get(key).map_or(0, |k| k.1)
    }
}

/// (customer, n) -> first -> second, at most 2 runs per customer at once; every run's output is
/// the same.
fn per_customer(gauge: &PerKey) -> Graph<(String, u64), u64> {
    let mut g = GraphBuilder::<(String, u64)>::new("per_customer");
    g.limit_runs(|(customer, _): &(String, u64)| customer.clone(), 2);
    let customer = g.input("customer", |(c, _): &(String, u64)| c.clone());
    let gauge = gauge.clone();
    let first = g.node("first").run(customer, move |customer, _| {
        let gauge = gauge.clone();
        async move {
            gauge.hold(&customer, Duration::from_millis(30)).await;
            ok(customer)
        }
    });
    let second = g.node("second").run(first, |_, _| async move { ok(1u64) });
    g.build(second).unwrap()
}

tests::on_every_executor! {
    async fn at_most_the_limit_of_runs_of_one_key_run_at_once(on: Executor) {
        let gauge = PerKey::default();
        let on = on.engine(per_customer(&gauge), |e| e).await;
        let inputs = (0..12u64).map(|n| {
            let customer = if n % 2 == 0 { "acme" } else { "globex" };
            (customer.to_owned(), n)
        });
        let runs = inputs.map(|i| on.run(i));
        let results = futures_util::future::join_all(runs).await;
        for result in &results {
            let result = result.as_ref().unwrap();
            assert_eq!((result.status, result.output), (RunStatus::Completed, Some(1)));
        }
        for customer in ["acme", "globex"] {
            let most = gauge.most(customer);
            assert!((1..=2).contains(&most), "{most} runs of {customer} at once");
        }
    }
}

/// x -> paced (50 starts a second); each start's instant is noted.
fn paced(starts: &Arc<std::sync::Mutex<Vec<std::time::Instant>>>) -> Graph<u64, u64> {
    let mut g = GraphBuilder::<u64>::new("paced");
    let x = g.input("x", |x: &u64| *x);
    let starts = Arc::clone(starts);
    let rate = Rate::new(50, Duration::from_secs(1)).unwrap();
    let paced = g.node("paced").rate(rate).run(x, move |_, _| {
        starts.lock().unwrap().push(std::time::Instant::now());
        async move { ok(1u64) }
    });
    g.build(paced).unwrap()
}

tests::on_every_executor! {
    async fn a_rated_node_starts_no_faster_than_its_rate(on: Executor) {
        let starts = Arc::new(std::sync::Mutex::new(Vec::new()));
        let on = on.engine(paced(&starts), |e| e).await;
        let launched = std::time::Instant::now();
        let runs = (1..=16).map(|x| on.run(x));
        for result in futures_util::future::join_all(runs).await {
            assert_eq!(result.unwrap().output, Some(1));
        }
        let starts = starts.lock().unwrap().clone();
        assert_eq!(starts.len(), 16);
        // The first turn comes at the earliest when the runs are launched, and each later one
        // an interval (20 ms) after the one before: the last of 16 starts comes at least 15
        // intervals after the launch (less 10% for the store's clock), however late the first
        // start was (on a loaded machine the starts after a late one may come closer together,
        // but never before their turns). A burst would start them all at once.
        let last = starts.iter().max().unwrap().duration_since(launched);
        assert!(last >= Duration::from_millis(270), "the 16th start {last:?} after the launch");
    }
}

/// 300 runs (`RATE_RUNS`: 3,000 for the 30 s figure in the README) of a node rated 100 starts a
/// second, all submitted before three worker processes start: its starts, by the times the
/// workers logged, come no faster than 10% over the rate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    no_postgres,
    ignore = "needs PostgreSQL, which did not answer when the tests were built: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
)]
async fn a_node_rate_holds_across_three_worker_processes() {
    let db = postgres::TestDatabase::create();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("starts.log");
    let store = pipeline::store::PostgresStore::open(&db.url).unwrap();
    store.migrate().await.unwrap();
    let engine = PipelineEngine::new(tests::limited::rated_graph(log.clone())).fleet(store);
    let runs: usize = std::env::var("RATE_RUNS").map_or(300, |n| n.parse().unwrap());
    let mut ids = Vec::new();
    for x in 0..runs as u64 {
        ids.push(engine.submit(x).await.unwrap());
    }
    // Every run is waiting before the workers start: only the rate holds them back.
    let workers = Workers::start(&db.url, "rated", &log);
    for id in &ids {
        let waited = tokio::time::timeout(Duration::from_secs(600), engine.wait(id));
        let result = waited
            .await
            .expect("the run ends within ten minutes")
            .unwrap();
        assert_eq!(result.status, RunStatus::Completed, "{id}");
    }
    drop(workers);
    let starts = tests::limited::starts(&std::fs::read_to_string(&log).unwrap());
    assert_eq!(starts.len(), runs);
    let span = Duration::from_nanos((starts[runs - 1] - starts[0]) as u64);
    let rate = (runs - 1) as f64 / span.as_secs_f64();
    let cap = f64::from(tests::limited::PER_SECOND) * 1.1;
    assert!(rate <= cap, "{rate:.1} starts a second, over {cap:.0}");
    eprintln!(
        "rated node: {rate:.1} starts a second over {span:?} (rate {})",
        tests::limited::PER_SECOND
    );
}
