//! The result cache (issue 28): a cached node's output is reused by a later run whose call has
//! the same key (the node's fn, code, helpers, version and input values) on every store, and
//! missed when any part of the key differs. Runs of one process; each store is a fresh one.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use pipeline::cache::{CacheFilter, NodeCache, why_missed};
use pipeline::*;
use serde::{Deserialize, Serialize};
use tests::postgres::TestDatabase;
use tests::*;

/// The stores a cache lives in, each made fresh for one test.
#[derive(Clone, Copy, Debug)]
enum Backend {
    Memory,
    Files,
    Sqlite,
    Postgres,
}

/// A backend's stores, with what keeps them alive.
struct Store {
    stores: Stores,
    _dir: Option<tempfile::TempDir>,
    _db: Option<TestDatabase>,
}

impl Backend {
    fn open(self) -> Store {
        let (mut dir, mut db) = (None, None);
        let stores = match self {
            Backend::Memory => Stores {
                checkpointer: Arc::new(InMemoryCheckpointer::new()),
                audit: Arc::new(InMemoryAuditLog::new()),
            },
            Backend::Files => {
                let temp = tempfile::tempdir().expect("a temporary directory");
                let stores = Stores::open(temp.path()).expect("a directory store");
                dir = Some(temp);
                stores
            }
            Backend::Sqlite => {
                let temp = tempfile::tempdir().expect("a temporary directory");
                let stores = Stores::open(format!(
                    "sqlite://{}",
                    temp.path().join("runs.db").display()
                ))
                .expect("a SQLite store");
                dir = Some(temp);
                stores
            }
            Backend::Postgres => {
                let created = TestDatabase::create();
                let stores = Stores::open(created.url.as_str()).expect("a PostgreSQL store");
                db = Some(created);
                stores
            }
        };
        Store {
            stores,
            _dir: dir,
            _db: db,
        }
    }
}

impl Store {
    fn engine<P: Pipeline>(&self, pipeline: P) -> PipelineEngine<P> {
        PipelineEngine::new(pipeline).stores(self.stores.clone())
    }

    async fn entries(&self) -> Vec<pipeline::cache::CacheEntry> {
        let cache = self
            .stores
            .checkpointer
            .cache()
            .expect("the store keeps a cache");
        cache
            .cache_list(&CacheFilter::all())
            .await
            .expect("the entries")
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Order {
    customer: String,
    lines: Vec<u64>,
}

/// order -> score (cached by `cache`, counted) -> report.
fn scored(cache: NodeCache, version: &str, calls: &Arc<AtomicUsize>) -> Graph<Order, String> {
    let mut g = GraphBuilder::<Order>::new("scored");
    let order = g.input("order", |o: &Order| o.clone());
    let calls = Arc::clone(calls);
    let score = g
        .node("score")
        .cache(cache)
        .version(version)
        .run(order, move |o: Order, _| {
            calls.fetch_add(1, Ordering::SeqCst);
            async move { ok(o.lines.iter().sum::<u64>() * 10) }
        });
    let report = g
        .node("report")
        .run(score, |s: u64, _| async move { ok(format!("score {s}")) });
    g.build(report).expect("a valid graph")
}

fn order(customer: &str, lines: &[u64]) -> Order {
    Order {
        customer: customer.to_owned(),
        lines: lines.to_vec(),
    }
}

macro_rules! on_every_store {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn memory() { super::$name(Backend::Memory).await }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn files() { super::$name(Backend::Files).await }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() { super::$name(Backend::Sqlite).await }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            #[cfg_attr(no_postgres, ignore = "needs PostgreSQL, which did not answer when the tests were built: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start")]
            async fn postgres() { super::$name(Backend::Postgres).await }
        }
    )*};
}

on_every_store!(
    a_mapped_node_runs_only_the_items_no_earlier_run_computed,
    a_second_run_with_the_same_inputs_restores_the_output_instead_of_running,
    any_change_of_the_key_misses,
    an_entry_past_its_time_to_live_is_computed_again_and_replaced,
    two_runs_missing_one_key_at_once_both_run_and_one_entry_is_kept,
);

async fn a_second_run_with_the_same_inputs_restores_the_output_instead_of_running(on: Backend) {
    let store = on.open();
    let calls = Arc::new(AtomicUsize::new(0));
    let engine = store.engine(scored(NodeCache::new("t::score", "v1"), "", &calls));
    let first = engine.run(order("ada", &[1, 2])).await.unwrap();
    assert_eq!(first.output.as_deref(), Some("score 30"));
    assert_eq!(first.node("score"), Some(NodeStatus::Completed));
    assert!(first.cached.is_empty());
    assert!(first.warnings.is_empty(), "{:?}", first.warnings);

    let second = engine.run(order("ada", &[1, 2])).await.unwrap();
    assert_eq!(second.status, RunStatus::Completed);
    assert_eq!(second.output.as_deref(), Some("score 30"));
    assert_eq!(second.node("score"), Some(NodeStatus::Cached));
    assert_eq!(
        second.cached.get("score"),
        Some(&first.run_id),
        "names its source"
    );
    assert_eq!(
        second.node("report"),
        Some(NodeStatus::Completed),
        "downstream runs"
    );
    assert!(!second.executed.contains("score"));
    assert_eq!(calls.load(Ordering::SeqCst), 1, "score ran once");

    // The trail says so, and the stores read it back as cached.
    let trail = store.stores.audit.entries(&second.run_id).await.unwrap();
    let entry = trail
        .iter()
        .flatten()
        .find(|e| e.node == "score")
        .expect("score's entry");
    assert_eq!(entry.status, AuditStatus::Cached);
    assert_eq!(entry.cached_from.as_ref(), Some(&first.run_id));
    let view = store.stores.view(&second.run_id).await.unwrap().unwrap();
    assert_eq!(view.nodes.get("score"), Some(&store::NodeState::Cached));

    // Resuming the second run restores the cached node from its checkpoint, like any other.
    let resumed = engine.resume(&second.run_id).await.unwrap();
    assert_eq!(resumed.output.as_deref(), Some("score 30"));
    assert_eq!(calls.load(Ordering::SeqCst), 1);

    let entries = store.entries().await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0].run_id, first.run_id);
    assert_eq!(entries[0].node, "score");
    assert_eq!(entries[0].pipeline, "scored");
}

async fn any_change_of_the_key_misses(on: Backend) {
    let store = on.open();
    let calls = Arc::new(AtomicUsize::new(0));
    let base = || NodeCache::new("t::score", "v1").helper("sum", "h1");
    // Each run a millisecond after the last, so that "earlier" is clear to `why_missed`.
    let clock = ManualClock::now();
    let run = |cache: NodeCache, version: &'static str, input: Order| {
        clock.advance(Duration::from_millis(1));
        let settings = EngineSettings::new().clock(clock.clone());
        let engine = store
            .engine(scored(cache, version, &calls))
            .settings(settings);
        async move { engine.run(input).await.unwrap() }
    };
    let input = || order("ada", &[1, 2]);
    let first = run(base(), "", input()).await;
    assert_eq!(first.node("score"), Some(NodeStatus::Completed));
    let mut misses = vec![
        (
            "code",
            run(
                NodeCache::new("t::score", "v2").helper("sum", "h1"),
                "",
                input(),
            )
            .await,
        ),
        (
            "helper",
            run(
                NodeCache::new("t::score", "v1").helper("sum", "h2"),
                "",
                input(),
            )
            .await,
        ),
        (
            "no helper",
            run(NodeCache::new("t::score", "v1"), "", input()).await,
        ),
        (
            "owner",
            run(
                NodeCache::new("t::other", "v1").helper("sum", "h1"),
                "",
                input(),
            )
            .await,
        ),
        ("version", run(base(), "2", input()).await),
        ("input field", run(base(), "", order("bob", &[1, 2])).await),
        ("nested value", run(base(), "", order("ada", &[2, 1])).await),
    ];
    for (what, result) in &misses {
        assert_eq!(
            result.node("score"),
            Some(NodeStatus::Completed),
            "a change of {what} misses"
        );
    }
    // Each miss is explained by the part of the key that differed from the first run's entry.
    let cache = store.stores.checkpointer.cache().expect("a cache");
    let expected: [&[&str]; 7] = [
        &["the node's code changed"],
        &["the code of helper `sum` changed"],
        &["helper `sum` was removed from `uses`"],
        &[],
        &["the version changed: \"\" -> \"2\""],
        &["input `order` differed in customer"],
        &["input `order` differed in lines"],
    ];
    for ((what, result), expected) in misses.iter().zip(expected) {
        let missed = why_missed(cache, &result.run_id, "score").await.unwrap();
        assert_eq!(missed.len(), 1, "{what}: {missed:?}");
        let said: Vec<String> = missed[0]
            .differences
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(said, expected, "{what}");
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1 + misses.len());
    // Each miss stored its own entry; the same call again hits.
    let again = run(base(), "", input()).await;
    assert_eq!(again.node("score"), Some(NodeStatus::Cached));
    assert_eq!(again.cached.get("score"), Some(&first.run_id));
    misses.clear();
    assert_eq!(store.entries().await.len(), 8);
}

async fn an_entry_past_its_time_to_live_is_computed_again_and_replaced(on: Backend) {
    let store = on.open();
    let calls = Arc::new(AtomicUsize::new(0));
    let clock = ManualClock::now();
    let cache = NodeCache::new("t::score", "v1").ttl(Duration::from_secs(3600));
    let engine = store
        .engine(scored(cache, "", &calls))
        .settings(EngineSettings::new().clock(clock.clone()));
    let first = engine.run(order("ada", &[4])).await.unwrap();
    clock.advance(Duration::from_secs(3599));
    let within = engine.run(order("ada", &[4])).await.unwrap();
    assert_eq!(
        within.node("score"),
        Some(NodeStatus::Cached),
        "within its hour"
    );
    clock.advance(Duration::from_secs(1));
    let after = engine.run(order("ada", &[4])).await.unwrap();
    assert_eq!(
        after.node("score"),
        Some(NodeStatus::Completed),
        "expired at one hour"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    let entries = store.entries().await;
    assert_eq!(entries.len(), 1);
    assert_eq!(
        entries[0].run_id, after.run_id,
        "the new output replaced the expired one"
    );
    assert_ne!(entries[0].run_id, first.run_id);
    let next = engine.run(order("ada", &[4])).await.unwrap();
    assert_eq!(next.cached.get("score"), Some(&after.run_id));
}

/// Both runs reach the node before either stored its output: both run it, the first to store
/// keeps the entry, and the other's store changes nothing.
async fn two_runs_missing_one_key_at_once_both_run_and_one_entry_is_kept(on: Backend) {
    let store = on.open();
    let calls = Arc::new(AtomicUsize::new(0));
    let gate = Arc::new(tokio::sync::Barrier::new(2));
    let mut g = GraphBuilder::<u64>::new("both");
    let x = g.input("x", |x: &u64| *x);
    let (counted, waiting) = (Arc::clone(&calls), Arc::clone(&gate));
    let slow = g
        .node("slow")
        .cache(NodeCache::new("t::slow", "v1"))
        .run(x, move |x: u64, _| {
            counted.fetch_add(1, Ordering::SeqCst);
            let waiting = Arc::clone(&waiting);
            async move {
                // Neither stores before both have run.
                waiting.wait().await;
                ok(x + 1)
            }
        });
    let engine = store.engine(g.build(slow).unwrap());
    let (a, b) = tokio::join!(engine.run(7), engine.run(7));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!((a.output, b.output), (Some(8), Some(8)));
    assert_eq!(calls.load(Ordering::SeqCst), 2, "both ran");
    let entries = store.entries().await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert!([&a.run_id, &b.run_id].contains(&&entries[0].run_id));
    let third = engine.run(7).await.unwrap();
    assert_eq!(third.cached.get("slow"), Some(&entries[0].run_id));
}

/// files -> sizes (each file, cached, counted) -> total.
fn sized(calls: &Arc<AtomicUsize>) -> Graph<Vec<String>, u64> {
    let mut g = GraphBuilder::<Vec<String>>::new("sized");
    let files = g.input("files", |f: &Vec<String>| f.clone());
    let calls = Arc::clone(calls);
    let sizes = g.node("size").cache(NodeCache::new("t::size", "v1")).each(
        files,
        (),
        move |file: String, (), _| {
            calls.fetch_add(1, Ordering::SeqCst);
            async move { ok(file.len() as u64) }
        },
    );
    let total = g.node("total").run(
        sizes,
        |s: Vec<u64>, _| async move { ok(s.iter().sum::<u64>()) },
    );
    g.build(total).expect("a valid graph")
}

/// A growing list: each run computes only its new items; the others come from earlier runs, at
/// whatever place in the list they now are.
async fn a_mapped_node_runs_only_the_items_no_earlier_run_computed(on: Backend) {
    let store = on.open();
    let calls = Arc::new(AtomicUsize::new(0));
    let engine = store.engine(sized(&calls));
    let files = |n: usize| {
        (0..n)
            .map(|i| format!("file-{i:03}.csv"))
            .collect::<Vec<_>>()
    };
    let first = engine.run(files(10)).await.unwrap();
    assert_eq!(first.output, Some(120));
    assert_eq!(calls.load(Ordering::SeqCst), 10);
    let mut grown = files(12);
    grown.reverse();
    let second = engine.run(grown).await.unwrap();
    assert_eq!(second.output, Some(144));
    assert_eq!(calls.load(Ordering::SeqCst), 12, "only the 2 new files ran");
    let trail = store.stores.audit.entries(&second.run_id).await.unwrap();
    let cached = trail
        .iter()
        .flatten()
        .filter(|e| e.status == AuditStatus::Cached)
        .inspect(|e| assert_eq!(e.cached_from.as_ref(), Some(&first.run_id)))
        .count();
    assert_eq!(cached, 10, "each reused item says where it came from");
    assert_eq!(store.entries().await.len(), 12, "one entry per item");
}

/// An output that does not read back as the value downstream saw is not cached (nor
/// checkpointed): the node runs every time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_output_that_does_not_read_back_is_not_cached() {
    let store = Backend::Memory.open();
    let calls = Arc::new(AtomicUsize::new(0));
    let mut g = GraphBuilder::<u64>::new("lossy");
    let x = g.input("x", |x: &u64| *x);
    let counted = Arc::clone(&calls);
    // NaN is written as JSON's null, which reads back as no f64 at all.
    let lossy = g
        .node("lossy")
        .cache(NodeCache::new("t::lossy", "v1"))
        .run(x, move |x: u64, _| {
            counted.fetch_add(1, Ordering::SeqCst);
            async move { ok(if x > 0 { f64::NAN } else { 0.0 }) }
        });
    let engine = store.engine(g.build(lossy).unwrap());
    let _ = engine.run(1).await.unwrap();
    let second = engine.run(1).await.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 2, "{:?}", second.warnings);
    assert!(store.entries().await.is_empty());
}

/// With no store that keeps a cache, a cached node simply runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_store_a_cached_node_runs() {
    let calls = Arc::new(AtomicUsize::new(0));
    let engine = PipelineEngine::new(scored(NodeCache::new("t::score", "v1"), "", &calls));
    let first = engine.run(order("ada", &[1])).await.unwrap();
    let second = engine.run(order("ada", &[1])).await.unwrap();
    assert_eq!(first.output, second.output);
    assert_eq!(second.node("score"), Some(NodeStatus::Completed));
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

/// A fleet's workers share one cache: a run's cached node is restored on whichever worker claims
/// it, and the result says so, as in one process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    no_postgres,
    ignore = "needs PostgreSQL, which did not answer when the tests were built: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
)]
async fn a_fleet_shares_one_cache() {
    let calls = Arc::new(AtomicUsize::new(0));
    let graph = scored(NodeCache::new("t::score", "v1"), "", &calls);
    let fleet = tests::fleet::Fleet::start(&graph, 2).await;
    let engine = fleet.engine(graph);
    let first = engine.submit(order("ada", &[1, 2])).await.unwrap();
    let first = engine.wait(&first).await.unwrap();
    assert_eq!(first.output.as_deref(), Some("score 30"));
    assert_eq!(first.node("score"), Some(NodeStatus::Completed));
    let second = engine.submit(order("ada", &[1, 2])).await.unwrap();
    let second = engine.wait(&second).await.unwrap();
    assert_eq!(second.output.as_deref(), Some("score 30"));
    assert_eq!(second.node("score"), Some(NodeStatus::Cached));
    assert_eq!(second.cached.get("score"), Some(&first.run_id));
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "score ran once on the fleet"
    );
    let other = engine.submit(order("ada", &[3])).await.unwrap();
    let other = engine.wait(&other).await.unwrap();
    assert_eq!(other.node("score"), Some(NodeStatus::Completed));
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    let cache = fleet.store.cache().expect("PostgreSQL keeps a cache");
    let entries = cache.cache_list(&CacheFilter::all()).await.unwrap();
    assert_eq!(entries.len(), 2, "{entries:?}");
}

/// On a fleet too, a mapped node runs only its new items.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    no_postgres,
    ignore = "needs PostgreSQL, which did not answer when the tests were built: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
)]
async fn a_fleet_runs_only_the_new_items() {
    let calls = Arc::new(AtomicUsize::new(0));
    let graph = sized(&calls);
    let fleet = tests::fleet::Fleet::start(&graph, 2).await;
    let engine = fleet.engine(graph);
    let files = |n: usize| (0..n).map(|i| format!("f{i}")).collect::<Vec<_>>();
    let first = engine.submit(files(6)).await.unwrap();
    let first = engine.wait(&first).await.unwrap();
    assert_eq!(first.output, Some(12));
    let second = engine.submit(files(8)).await.unwrap();
    let second = engine.wait(&second).await.unwrap();
    assert_eq!(second.output, Some(16));
    assert_eq!(calls.load(Ordering::SeqCst), 8, "6, then the 2 new ones");
}

/// kill -9 while cache entries are being written (8 outputs of 256 KiB per round): every entry
/// the store then holds is whole, and decodes to the block its item makes; none is torn.
fn killed_while_writing_entries(spec: &str) {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    const SUBJECT: &str = env!("CARGO_BIN_EXE_cache_subject");
    let kills: usize = std::env::var("PIPELINE_CACHE_KILLS")
        .ok()
        .and_then(|k| k.parse().ok())
        .unwrap_or(12);
    let mut rng = fastrand::Rng::with_seed(28);
    let mut round = 0u64;
    for _ in 0..kills {
        let mut child = Command::new(SUBJECT)
            .args([spec, &round.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the subject starts");
        // Two rounds give the length of one; the kill then lands anywhere in the next (most of
        // a round is its entries' writes).
        let stdout = child.stdout.take().expect("its output");
        let mut lines = BufReader::new(stdout).lines();
        let mut next_round = || -> u64 {
            let line = lines.next().expect("a round").expect("its line");
            line.trim_start_matches("round ")
                .parse()
                .expect("a round number")
        };
        next_round();
        let started = std::time::Instant::now();
        round = next_round() + 1;
        let length = started.elapsed().as_micros() as u64;
        std::thread::sleep(Duration::from_micros(rng.u64(0..length.max(1))));
        child.kill().expect("kill -9");
        child.wait().expect("it ends");
        round += 2;
    }
    let stores = pipeline::store::StoreSpec::parse(spec)
        .and_then(|s| s.open(Durability::Sync))
        .expect("the store opens");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let cache = stores.checkpointer.cache().expect("a cache");
        let entries = cache
            .cache_list(&CacheFilter::all())
            .await
            .expect("every entry reads");
        assert!(entries.len() >= kills * 8, "{} entries", entries.len());
        for entry in entries {
            let (read, output) = cache.cache_get(&entry.key).await.unwrap().expect("listed");
            assert_eq!(read, entry);
            assert_eq!(output.get().len() as u64, entry.size, "{}", entry.key);
            assert!(whole_block(output.get()), "a torn entry: {}", entry.key);
        }
    });
}

/// The subject's block rule: `payload` is `item` in hex 16,384 times, `check` its FNV-1a.
fn whole_block(json: &str) -> bool {
    #[derive(Deserialize)]
    struct Block {
        item: u64,
        payload: String,
        check: u64,
    }
    let Ok(block) = serde_json::from_str::<Block>(json) else {
        return false;
    };
    let fnv = block
        .payload
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
        });
    block.payload == format!("{:016x}", block.item).repeat(16 * 1024) && block.check == fnv
}

#[test]
fn kill_9_while_writing_entries_leaves_them_whole_or_absent_files() {
    let temp = tempfile::tempdir().unwrap();
    killed_while_writing_entries(&temp.path().join("store").display().to_string());
}

#[test]
fn kill_9_while_writing_entries_leaves_them_whole_or_absent_sqlite() {
    let temp = tempfile::tempdir().unwrap();
    killed_while_writing_entries(&format!(
        "sqlite://{}",
        temp.path().join("runs.db").display()
    ));
}

#[test]
#[cfg_attr(
    no_postgres,
    ignore = "needs PostgreSQL, which did not answer when the tests were built: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
)]
fn kill_9_while_writing_entries_leaves_them_whole_or_absent_postgres() {
    let db = TestDatabase::create();
    killed_while_writing_entries(&db.url);
}

/// A directory-store entry damaged on disk, in the middle of the cache's log: a run of the
/// process that had indexed it warns (naming the log), runs the node and replaces the entry; a
/// process that indexes the log after the damage skips the entry (a miss) and keeps the others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_entry_is_reported_and_replaced() {
    let store = Backend::Files.open();
    let dir = store._dir.as_ref().expect("a directory").path().to_owned();
    let calls = Arc::new(AtomicUsize::new(0));
    let engine = store.engine(scored(NodeCache::new("t::score", "v1"), "", &calls));
    let _ = engine.run(order("ada", &[5])).await.unwrap();
    let _ = engine.run(order("bob", &[7])).await.unwrap();
    let log = dir.join("cache").join("entries.log");
    let mut bytes = std::fs::read(&log).expect("the cache's log");
    // The first entry's output (`50`) is inside its frame, before the second entry's frame.
    let at = bytes
        .windows(11)
        .position(|w| w == b"\"output\":50")
        .expect("ada's output");
    bytes[at + 10] ^= 0x01;
    std::fs::write(&log, &bytes).unwrap();

    // A process that indexes the log now: ada's entry is skipped, bob's still hits.
    let fresh = Stores::open(&dir).expect("the same directory");
    let other = PipelineEngine::new(scored(NodeCache::new("t::score", "v1"), "", &calls))
        .stores(fresh.clone());
    let bob = other.run(order("bob", &[7])).await.unwrap();
    assert!(bob.cached.contains_key("score"), "bob's entry is intact");
    assert_eq!(calls.load(Ordering::SeqCst), 2, "nothing ran again yet");

    // The process that indexed the entry before the damage finds its checksum wrong.
    let damaged = engine.run(order("ada", &[5])).await.unwrap();
    assert_eq!(damaged.node("score"), Some(NodeStatus::Completed), "it ran");
    assert_eq!(damaged.output.as_deref(), Some("score 50"));
    let warning = damaged
        .warnings
        .iter()
        .find(|w| w.source == WarningSource::Cache)
        .expect("a cache warning");
    assert!(
        warning.message.contains(&*log.to_string_lossy()),
        "{warning}"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    for engine in [&engine, &other] {
        let next = engine.run(order("ada", &[5])).await.unwrap();
        assert_eq!(next.cached.get("score"), Some(&damaged.run_id), "replaced");
    }
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    let cache = fresh.checkpointer.cache().expect("a cache");
    assert_eq!(
        cache.cache_list(&CacheFilter::all()).await.unwrap().len(),
        2
    );
}
