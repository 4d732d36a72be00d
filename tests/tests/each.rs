//! Nodes mapped over a list (`each`) through the low-level API: item order, one checkpoint
//! record and one audit entry per item attempt, retries per item, failures naming their items,
//! fail-fast and skip-downstream, gates, the bounds on items in flight, and resume re-running
//! only the items without a record. The shared tests run on every executor (one process over
//! each store, and a fleet of workers: `tests::on_every_executor!`).

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use pipeline::graph::NodeBuilder;
use pipeline::store::{AuditStatus, InMemoryAuditLog, InMemoryCheckpointer, StoredNode};
use pipeline::*;
use tests::executor::On;
use tokio::sync::Barrier;

/// The items that fail while they are in the set, and every item call made.
#[derive(Clone, Default)]
struct Items {
    failing: Arc<Mutex<HashSet<u64>>>,
    calls: Arc<Mutex<Vec<u64>>>,
}

impl Items {
    fn failing(items: &[u64]) -> Self {
        let this = Items::default();
        this.failing.lock().unwrap().extend(items);
        this
    }
    fn call(&self, item: u64) -> Result<u64, std::io::Error> {
        self.calls.lock().unwrap().push(item);
        match self.failing.lock().unwrap().contains(&item) {
            true => Err(std::io::Error::other(format!("item {item} is bad"))),
            false => Ok(item * 10),
        }
    }
    fn calls(&self) -> Vec<u64> {
        let mut calls = self.calls.lock().unwrap().clone();
        calls.sort();
        calls
    }
    fn heal(&self) {
        self.failing.lock().unwrap().clear();
        self.calls.lock().unwrap().clear();
    }
}

/// The graph of [`mapped`].
type Mapped = Graph<Vec<u64>, (Vec<u64>, u64)>;

/// xs -> times_ten (each) -> sum. Output: (the mapped list, its sum).
fn mapped(
    items: &Items,
    configure: impl FnOnce(NodeBuilder<'_, Vec<u64>>) -> NodeBuilder<'_, Vec<u64>>,
) -> Mapped {
    let mut g = GraphBuilder::<Vec<u64>>::new("mapped");
    let xs = g.input("xs", |xs: &Vec<u64>| xs.clone());
    let items = items.clone();
    let tens = configure(g.node("tens")).each(xs, (), move |x, (), _ctx| {
        let items = items.clone();
        async move { items.call(x) }
    });
    let sum = g.node("sum").run(tens, |tens, _ctx| async move {
        tests::ok(tens.iter().sum::<u64>())
    });
    g.build((tens, sum)).unwrap()
}

fn stores(graph: Mapped) -> PipelineEngine<Mapped> {
    PipelineEngine::new(graph)
        .checkpointer(InMemoryCheckpointer::new())
        .audit_log(InMemoryAuditLog::new())
}

/// [`mapped`] on `on`, its engine set up by `configure`.
async fn mapped_on(
    on: tests::executor::Executor,
    items: &Items,
    node: impl FnOnce(NodeBuilder<'_, Vec<u64>>) -> NodeBuilder<'_, Vec<u64>>,
    configure: impl FnOnce(PipelineEngine<Mapped>) -> PipelineEngine<Mapped>,
) -> On<Mapped> {
    on.engine(mapped(items, node), configure).await
}

tests::on_every_executor! {
    async fn the_output_is_the_items_outputs_in_item_order(on: Executor) {
        let mut g = GraphBuilder::<Vec<u64>>::new("order");
        let xs = g.input("xs", |xs: &Vec<u64>| xs.clone());
        // Later items finish first: the output keeps item order anyway.
        let out = g.node("slow_first").each(xs, (), |x, (), ctx| async move {
            for _ in 0..(100 - x) {
                tokio::task::yield_now().await;
            }
            assert_eq!(ctx.item().map(|i| i.index as u64), Some(x));
            tests::ok(x * 2)
        });
        let on = on.engine(g.build(out).unwrap(), |e| e).await;
        let result = on.run((0..100).collect()).await.unwrap();
        assert_eq!(result.status, RunStatus::Completed);
        assert_eq!(result.output, Some((0..100).map(|x| x * 2).collect()));
    }
}

tests::on_every_executor! {
    async fn each_item_has_its_own_checkpoint_record_and_audit_entries(on: Executor) {
        let items = Items::default();
        let on = mapped_on(on, &items, |n| n, |e| e).await;
        let engine = &on.engine;
        let result = on.run(vec![3, 1, 2]).await.unwrap();
        assert_eq!(result.output, Some((vec![30, 10, 20], 60)));
        let checkpoint = engine
            .load_checkpoint(&result.run_id)
            .await
            .unwrap()
            .unwrap();
        let tens: Vec<_> = checkpoint
            .nodes
            .iter()
            .filter(|r| r.node == "tens")
            .collect();
        assert_eq!(tens.len(), 3, "one record per item");
        let mut seen: Vec<(u32, u32, String)> = tens
            .iter()
            .map(|r| {
                let item = r.item.unwrap();
                (item.index, item.of, r.output.get().to_owned())
            })
            .collect();
        seen.sort();
        assert_eq!(
            seen,
            [
                (0, 3, "30".into()),
                (1, 3, "10".into()),
                (2, 3, "20".into())
            ]
        );
        let stored = checkpoint.stored();
        let (_, tens) = stored.iter().find(|(id, _)| *id == "tens").unwrap();
        assert_eq!(tens.items(), Some((3, 3)));
        assert_eq!(tens.output().unwrap().get(), "[30,10,20]");
        let trail = engine.audit_trail(&result.run_id).await.unwrap().unwrap();
        let entries: Vec<_> = trail.iter().filter(|e| e.node == "tens").collect();
        assert_eq!(entries.len(), 3);
        assert!(
            entries
                .iter()
                .all(|e| e.status == AuditStatus::Completed && e.item.is_some())
        );
    }

    async fn retries_and_failures_are_per_item_and_the_failure_names_the_items(on: Executor) {
        let items = Items::failing(&[4, 7]);
        let backoff = Backoff {
            initial: std::time::Duration::ZERO,
            max: std::time::Duration::ZERO,
        };
        let skip_downstream = |e: PipelineEngine<Mapped>| e.settings(EngineSettings::new().on_error(OnError::SkipDownstream));
        let on = mapped_on(on, &items, |n| n.retries(1).backoff(backoff), skip_downstream).await;
        let engine = &on.engine;
        let result = on.run((0..10).collect()).await.unwrap();
        assert_eq!(result.status, RunStatus::Failed);
        assert_eq!(result.node("tens"), Some(NodeStatus::Failed));
        assert_eq!(result.node("sum"), Some(NodeStatus::Skipped));
        let failure = &result.failures["tens"];
        let failed: Vec<(u32, u32)> = failure
            .items
            .iter()
            .map(|f| (f.index, f.attempts))
            .collect();
        assert_eq!(failed, [(4, 2), (7, 2)]);
        assert!(
            failure
                .error
                .starts_with("2 of 10 items failed: item 4: item 4 is bad"),
            "{}",
            failure.error
        );
        // Under skip-downstream every other item ran, once.
        let mut expected: Vec<u64> = (0..10).collect();
        expected.extend([4, 7]);
        expected.sort();
        assert_eq!(items.calls(), expected);
        let trail = engine.audit_trail(&result.run_id).await.unwrap().unwrap();
        let failed_attempts = trail
            .iter()
            .filter(|e| e.status == AuditStatus::Failed)
            .map(|e| (e.item.unwrap().index, e.attempt))
            .collect::<Vec<_>>();
        assert_eq!(failed_attempts.len(), 4, "{failed_attempts:?}");
    }

    async fn under_fail_fast_no_new_item_starts_after_a_failure(on: Executor) {
        let items = Items::failing(&[2]);
        let on = mapped_on(on, &items, |n| n.max_in_flight(1), |e| e).await;
        let result = on.run((0..10).collect()).await.unwrap();
        assert_eq!(result.status, RunStatus::Failed);
        assert_eq!(result.node("tens"), Some(NodeStatus::Failed));
        assert_eq!(result.node("sum"), Some(NodeStatus::NotRun));
        assert_eq!(items.calls(), [0, 1, 2]);
    }

    async fn resume_runs_only_the_items_without_a_record(on: Executor) {
        let items = Items::failing(&[5, 8]);
        let skip_downstream = |e: PipelineEngine<Mapped>| e.settings(EngineSettings::new().on_error(OnError::SkipDownstream));
        let on = mapped_on(on, &items, |n| n, skip_downstream).await;
        let engine = &on.engine;
        let input: Vec<u64> = (0..12).collect();
        let failed = on.run(input.clone()).await.unwrap();
        assert_eq!(failed.status, RunStatus::Failed);
        let checkpoint = engine
            .load_checkpoint(&failed.run_id)
            .await
            .unwrap()
            .unwrap();
        let stored = checkpoint.stored();
        let (_, tens) = stored.iter().find(|(id, _)| *id == "tens").unwrap();
        assert_eq!(
            tens.items(),
            Some((10, 12)),
            "load_checkpoint shows the partial map"
        );
        assert!(!tens.is_complete());
        assert!(matches!(tens, StoredNode::Items { .. }));

        items.heal();
        let resumed = on.resume(&failed.run_id).await.unwrap();
        assert_eq!(resumed.status, RunStatus::Completed);
        assert_eq!(items.calls(), [5, 8], "only the items without a record ran");
        let undisturbed = stores(mapped(&Items::default(), |n| n))
            .run(input)
            .await
            .unwrap();
        assert_eq!(resumed.output, undisturbed.output);

        // A completed run resumes as a no-op with the same output.
        items.heal();
        let again = on.resume(&failed.run_id).await.unwrap();
        assert_eq!(again.output, undisturbed.output);
        assert!(items.calls().is_empty());
        assert_eq!(again.restored.iter().collect::<Vec<_>>(), ["tens", "sum"]);
    }

    async fn a_map_over_an_empty_list_completes_at_once_with_an_empty_list(on: Executor) {
        let items = Items::default();
        let on = mapped_on(on, &items, |n| n, |e| e).await;
        let engine = &on.engine;
        let result = on.run(Vec::new()).await.unwrap();
        assert_eq!(result.status, RunStatus::Completed);
        assert_eq!(result.output, Some((Vec::new(), 0)));
        assert!(items.calls().is_empty());
        let checkpoint = engine
            .load_checkpoint(&result.run_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(checkpoint.node("tens").unwrap().output.get(), "[]");
        let resumed = on.resume(&result.run_id).await.unwrap();
        assert_eq!(resumed.output, Some((Vec::new(), 0)));
    }

    async fn a_gate_on_a_mapped_node_gates_the_whole_map(on: Executor) {
        let calls = Arc::new(AtomicUsize::new(0));
        let mut g = GraphBuilder::<Vec<u64>>::new("gated");
        let xs = g.input("xs", |xs: &Vec<u64>| xs.clone());
        let counter = Arc::clone(&calls);
        let out = g
            .node("big_only")
            .when(xs, |xs| xs.len() > 3)
            .each(xs, (), move |x, (), _ctx| {
                counter.fetch_add(1, Ordering::SeqCst);
                async move { tests::ok(x) }
            });
        let on = on.engine(g.build(out).unwrap(), |e| e).await;
        let small = on.run(vec![1, 2]).await.unwrap();
        assert_eq!(small.node("big_only"), Some(NodeStatus::Skipped));
        assert_eq!(calls.load(Ordering::SeqCst), 0);
        let big = on.run(vec![1, 2, 3, 4]).await.unwrap();
        assert_eq!(big.output, Some(vec![1, 2, 3, 4]));
        assert_eq!(calls.load(Ordering::SeqCst), 4);
    }
}

/// A map of `n` items that each wait at a barrier of `group` parties; returns the most items
/// that were in flight at once.
async fn most_in_flight(
    n: u64,
    group: usize,
    max_in_flight: Option<usize>,
    max_concurrency: Option<usize>,
) -> usize {
    let on = tests::executor::Executor::InMemory;
    most_in_flight_on(on, n, group, max_in_flight, max_concurrency).await
}

/// [`most_in_flight`] on `on`.
async fn most_in_flight_on(
    on: tests::executor::Executor,
    n: u64,
    group: usize,
    max_in_flight: Option<usize>,
    max_concurrency: Option<usize>,
) -> usize {
    let (now, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let barrier = Arc::new(Barrier::new(group));
    let mut g = GraphBuilder::<Vec<u64>>::new("bounded");
    let xs = g.input("xs", |xs: &Vec<u64>| xs.clone());
    let (n2, m2) = (Arc::clone(&now), Arc::clone(&most));
    let mut node = g.node("bounded");
    if let Some(limit) = max_in_flight {
        node = node.max_in_flight(limit);
    }
    let out = node.each(xs, (), move |x, (), _ctx| {
        let (now, most, barrier) = (Arc::clone(&n2), Arc::clone(&m2), Arc::clone(&barrier));
        async move {
            let in_flight = now.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(in_flight, Ordering::SeqCst);
            barrier.wait().await;
            now.fetch_sub(1, Ordering::SeqCst);
            tests::ok(x)
        }
    });
    let on = on
        .engine(g.build(out).unwrap(), |engine| match max_concurrency {
            Some(cap) => engine.settings(EngineSettings::new().max_concurrency(cap)),
            None => engine,
        })
        .await;
    let result = on.run((0..n).collect()).await.unwrap();
    assert_eq!(result.output, Some((0..n).collect()));
    most.load(Ordering::SeqCst)
}

tests::on_every_executor! {
    async fn max_in_flight_bounds_the_items_of_one_map(on: Executor) {
        // Groups of three meet at the barrier: three in flight at once, never more (on a fleet,
        // across its workers).
        assert_eq!(most_in_flight_on(on, 30, 3, Some(3), None).await, 3);
    }

    async fn the_timeout_applies_to_each_item(on: Executor) {
        let mut g = GraphBuilder::<Vec<u64>>::new("timeouts");
        let xs = g.input("xs", |xs: &Vec<u64>| xs.clone());
        let out = g
            .node("slow_one")
            .timeout(std::time::Duration::from_millis(50))
            .each(xs, (), |x, (), _ctx| async move {
                if x == 2 {
                    std::future::pending::<()>().await;
                }
                tests::ok(x)
            });
        let skip_downstream = |e: PipelineEngine<_>| e.settings(EngineSettings::new().on_error(OnError::SkipDownstream));
        let on = on.engine(g.build(out).unwrap(), skip_downstream).await;
        let result = on.run(vec![1, 2, 3]).await.unwrap();
        let failure = &result.failures["slow_one"];
        assert_eq!(failure.items.len(), 1);
        assert_eq!(failure.items[0].index, 1);
        assert!(
            failure.items[0].error.contains("timed out"),
            "{}",
            failure.items[0].error
        );
    }
}

/// In one process only: `max_concurrency` bounds a run in one process; a fleet's workers bound
/// what they run by their own concurrency.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_concurrency_bounds_items_in_flight_too() {
    assert_eq!(most_in_flight(20, 2, None, Some(2)).await, 2);
}

/// In one process only: 200 items at one barrier need 200 in flight at once, more than a test
/// fleet's workers run (4 each).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn within_the_default_window_all_items_wait_at_once() {
    assert_eq!(most_in_flight(200, 200, None, None).await, 200);
}

/// Issue 24, finding 12: every item of a map started at once (a million-item map held a
/// million tasks: 296 s and 2.9 GB). Without `max_in_flight`, items start in a window of
/// `DEFAULT_MAX_IN_FLIGHT` that moves on as they end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_bounds_items_start_in_a_window() {
    let window = DEFAULT_MAX_IN_FLIGHT;
    let most = most_in_flight(2 * window as u64, window, None, None).await;
    assert_eq!(most, window);
}

/// What the event handler hears of a mapped node.
#[derive(Default)]
struct Heard(Mutex<Vec<String>>);

impl EventHandler for Heard {
    fn on_node_start(&self, _: &RunId, node: &str, attempt: u32) {
        self.0
            .lock()
            .unwrap()
            .push(format!("start {node} {attempt}"));
    }
    fn on_node_complete(&self, _: &RunId, node: &str, _: u32, _: std::time::Duration) {
        self.0.lock().unwrap().push(format!("complete {node}"));
    }
    fn on_node_fail(&self, _: &RunId, node: &str, _: u32, _: &str) {
        self.0.lock().unwrap().push(format!("fail {node}"));
    }
    fn on_item_end(&self, _: &RunId, node: &str, item: MapItem, attempt: u32, error: Option<&str>) {
        let how = if error.is_some() { "failed" } else { "done" };
        let line = format!(
            "item {node} {} of {} {how} after {attempt}",
            item.index, item.of
        );
        self.0.lock().unwrap().push(line);
    }
}

tests::on_every_executor! {
    async fn a_mapped_node_starts_and_ends_once_and_each_item_is_reported(on: Executor) {
        let heard = Arc::new(Heard::default());
        let items = Items::failing(&[1]);
        let graph = mapped(&items, |n| n.max_in_flight(1));
        let events: Arc<dyn EventHandler> = heard.clone();
        let skip_downstream = |e: PipelineEngine<_>| e.settings(EngineSettings::new().on_error(OnError::SkipDownstream));
        let on = on.engine_heard(graph, Some(events), skip_downstream).await;
        on.run(vec![0, 1, 2]).await.unwrap();
        let heard = heard.0.lock().unwrap().clone();
        assert_eq!(
            heard,
            [
                "start tens 1",
                "item tens 0 of 3 done after 1",
                "item tens 1 of 3 failed after 1",
                "item tens 2 of 3 done after 1",
                "fail tens",
            ]
        );
    }
}

/// In one process only: a fleet's audit entries refer to the inputs' records instead of copying
/// them (`AuditDetail` is the engine's, and the workers write the entries).
#[tokio::test]
async fn full_audit_entries_copy_one_item_per_item_and_the_whole_list_for_readers() {
    let items = Items::default();
    let engine = PipelineEngine::new(mapped(&items, |n| n))
        .checkpointer(InMemoryCheckpointer::new())
        .audit_log(InMemoryAuditLog::new())
        .settings(EngineSettings::new().audit_detail(pipeline::store::AuditDetail::Full));
    let result = engine.run(vec![4, 5, 6]).await.unwrap();
    let trail = engine.audit_trail(&result.run_id).await.unwrap().unwrap();
    let second = trail
        .iter()
        .find(|e| e.node == "tens" && e.item.map(|i| i.index) == Some(1))
        .unwrap();
    assert_eq!(
        second.inputs["xs"].get(),
        "5",
        "an item's entry copies its one item"
    );
    assert_eq!(second.output.as_ref().unwrap().get(), "50");
    let sum = trail.iter().find(|e| e.node == "sum").unwrap();
    assert_eq!(
        sum.inputs["tens"].get(),
        "[40,50,60]",
        "a reader's entry copies the whole list"
    );
}
