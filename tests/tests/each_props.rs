//! Property: for random lists (0 to 500 items), random failing items, a random gate and either
//! failure policy, resuming a failed run of two chained maps gives the output of an undisturbed
//! run, and no item with a checkpoint record runs again.

use std::collections::{BTreeSet, HashSet};
use std::sync::{Arc, Mutex};

use pipeline::store::InMemoryCheckpointer;
use pipeline::*;
use proptest::prelude::*;

/// Which (node, item) calls fail while armed, and every call made.
#[derive(Clone, Default)]
struct World {
    failing: Arc<Mutex<HashSet<(&'static str, u64)>>>,
    calls: Arc<Mutex<Vec<(String, u32)>>>,
}

impl World {
    fn call(&self, node: &'static str, ctx: &NodeContext, x: u64) -> Result<u64, std::io::Error> {
        let index = ctx.item().map_or(0, |i| i.index);
        self.calls.lock().unwrap().push((node.to_owned(), index));
        match self
            .failing
            .lock()
            .unwrap()
            .contains(&(node, u64::from(index)))
        {
            true => Err(std::io::Error::other(format!(
                "{node} fails on item {index}"
            ))),
            false => Ok(x.wrapping_mul(3).wrapping_add(u64::from(index))),
        }
    }
}

/// xs -> a (each) -> b (each, gated on `open`) -> total.
fn graph(world: &World) -> Graph<(Vec<u64>, bool), u64> {
    let mut g = GraphBuilder::<(Vec<u64>, bool)>::new("props");
    let xs = g.input("xs", |i: &(Vec<u64>, bool)| i.0.clone());
    let open = g.input("open", |i: &(Vec<u64>, bool)| i.1);
    let w = world.clone();
    let a = g.node("a").each(xs, (), move |x, (), ctx| {
        let w = w.clone();
        async move { w.call("a", &ctx, x) }
    });
    let w = world.clone();
    let b = g
        .node("b")
        .when(open, |open| open)
        .each(a, (), move |x, (), ctx| {
            let w = w.clone();
            async move { w.call("b", &ctx, x) }
        });
    let total = g.node("total").run(b, |b, _ctx| async move {
        tests::ok(b.iter().fold(0u64, |s, x| s.wrapping_add(*x)))
    });
    g.build(total).unwrap()
}

async fn check(xs: Vec<u64>, open: bool, failing: Vec<(bool, usize)>, skip: bool) {
    let policy = if skip {
        OnError::SkipDownstream
    } else {
        OnError::FailFast
    };
    let undisturbed = PipelineEngine::new(graph(&World::default()))
        .settings(EngineSettings::new().on_error(policy))
        .run((xs.clone(), open))
        .await
        .unwrap();

    let world = World::default();
    for (in_b, at) in &failing {
        if !xs.is_empty() {
            let node = if *in_b { "b" } else { "a" };
            world
                .failing
                .lock()
                .unwrap()
                .insert((node, (*at % xs.len()) as u64));
        }
    }
    let checkpointer = Arc::new(InMemoryCheckpointer::new());
    let engine = PipelineEngine::new(graph(&world))
        .checkpointer(Arc::clone(&checkpointer))
        .settings(EngineSettings::new().on_error(policy));
    let first = engine.run((xs.clone(), open)).await.unwrap();
    if first.status == RunStatus::Completed {
        assert_eq!(first.output, undisturbed.output);
        return;
    }
    let checkpoint = engine
        .load_checkpoint(&first.run_id)
        .await
        .unwrap()
        .unwrap();
    let recorded: BTreeSet<(String, u32)> = checkpoint
        .nodes
        .iter()
        .map(|r| (r.node.clone(), r.item.map_or(0, |i| i.index)))
        .collect();
    world.failing.lock().unwrap().clear();
    world.calls.lock().unwrap().clear();
    let resumed = engine.resume(&first.run_id).await.unwrap();
    assert_eq!(resumed.status, undisturbed.status);
    assert_eq!(resumed.output, undisturbed.output);
    let calls = world.calls.lock().unwrap().clone();
    let again: Vec<_> = calls.iter().filter(|c| recorded.contains(*c)).collect();
    assert!(again.is_empty(), "items with a record ran again: {again:?}");
    let distinct: BTreeSet<_> = calls.iter().collect();
    assert_eq!(
        distinct.len(),
        calls.len(),
        "an item ran twice in one resume"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn resume_after_item_failures_equals_an_undisturbed_run(
        xs in prop::collection::vec(any::<u64>(), 0..=500),
        open in any::<bool>(),
        failing in prop::collection::vec((any::<bool>(), any::<usize>()), 0..6),
        skip in any::<bool>(),
    ) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(check(xs, open, failing, skip));
    }
}
