//! Property test over random DAGs built at run time with random failures: dependencies are
//! respected, statuses partition the nodes, and resume reaches the uninterrupted run's outputs
//! without re-running a checkpointed node.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use pipeline::*;
use proptest::prelude::*;
use tests::*;

#[derive(Clone, Debug)]
struct Spec {
    /// Per node: the earlier nodes it reads, whether it fails while faults are armed, and whether
    /// it is gated (it runs only when the sum of its inputs is not a multiple of 3).
    nodes: Vec<(Vec<usize>, bool, bool)>,
    policy: OnError,
}

fn spec() -> impl Strategy<Value = Spec> {
    (1usize..=12, any::<bool>())
        .prop_flat_map(|(n, skip)| {
            let nodes: Vec<_> = (0..n)
                .map(|i| {
                    let deps =
                        proptest::sample::subsequence((0..i).collect::<Vec<_>>(), 0..=i.min(3));
                    (
                        deps,
                        proptest::bool::weighted(0.25),
                        proptest::bool::weighted(0.2),
                    )
                })
                .collect();
            (nodes, Just(skip))
        })
        .prop_map(|(nodes, skip)| Spec {
            nodes,
            policy: if skip {
                OnError::SkipDownstream
            } else {
                OnError::FailFast
            },
        })
}

fn build(spec: &Spec, armed: &Arc<AtomicBool>, log: &Log) -> Graph<u64, Vec<u64>> {
    let mut g = GraphBuilder::<u64>::new("random");
    let x = g.input("x", |x: &u64| *x);
    let mut handles: Vec<Handle<u64>> = Vec::new();
    for (i, (deps, fails, gated)) in spec.nodes.iter().enumerate() {
        let reads: Vec<Handle<u64>> = deps.iter().map(|&d| handles[d]).collect();
        let (armed, log, fails) = (armed.clone(), log.clone(), *fails);
        let mut node = g.node(format!("n{i}"));
        if *gated {
            node = node.when(reads.clone(), |v| v.iter().sum::<u64>() % 3 != 0);
        }
        let handle = node.run((x, reads), move |(x, values), ctx| {
            log.push(format!("start:{}", ctx.node_id()));
            let down = fails && armed.load(Ordering::SeqCst);
            async move {
                if down {
                    return Err(std::io::Error::other("injected"));
                }
                Ok(x.wrapping_mul(31) + i as u64 + values.iter().sum::<u64>().wrapping_mul(7))
            }
        });
        handles.push(handle);
    }
    g.build(handles).unwrap()
}

fn outputs(checkpoint: &Checkpoint) -> BTreeMap<String, String> {
    checkpoint
        .nodes
        .iter()
        .map(|r| (r.node.clone(), r.output.get().to_owned()))
        .collect()
}

fn with(result: &PipelineResult<Vec<u64>>, status: NodeStatus) -> BTreeSet<String> {
    result.nodes_with(status).map(String::from).collect()
}

async fn check(spec: Spec) {
    let n = spec.nodes.len();
    let all: BTreeSet<String> = (0..n).map(|i| format!("n{i}")).collect();
    let armed = Arc::new(AtomicBool::new(false));

    // The uninterrupted reference run.
    let reference_store = InMemoryCheckpointer::new();
    let reference = PipelineEngine::new(build(&spec, &armed, &Log::default()))
        .checkpointer(reference_store.clone())
        .settings(EngineSettings::new().on_error(spec.policy));
    let expected = reference.run(5).await.unwrap();
    assert_eq!(expected.status, RunStatus::Completed);
    let expected_outputs = outputs(
        &reference
            .load_checkpoint(&expected.run_id)
            .await
            .unwrap()
            .unwrap(),
    );

    // The faulty run.
    let log = Log::default();
    let store = InMemoryCheckpointer::new();
    armed.store(true, Ordering::SeqCst);
    let engine = PipelineEngine::new(build(&spec, &armed, &log))
        .checkpointer(Hooked(RecordingCheckpointer {
            inner: store.clone(),
            log: log.clone(),
        }))
        .settings(EngineSettings::new().on_error(spec.policy));
    let faulty = engine.run(5).await.unwrap();
    let keys: BTreeSet<String> = faulty.nodes.keys().map(str::to_owned).collect();
    assert_eq!(keys, all, "every node has exactly one status");
    let failed = with(&faulty, NodeStatus::Failed);
    for id in &failed {
        let i: usize = id[1..].parse().unwrap();
        assert!(spec.nodes[i].1, "{id} failed without an injected fault");
    }
    assert_eq!(faulty.status == RunStatus::Failed, !failed.is_empty());
    if spec.policy == OnError::SkipDownstream {
        assert!(
            with(&faulty, NodeStatus::NotRun).is_empty(),
            "skip-downstream reaches every node"
        );
    }
    let checkpointed = outputs(
        &engine
            .load_checkpoint(&faulty.run_id)
            .await
            .unwrap()
            .unwrap(),
    );
    let completed = with(&faulty, NodeStatus::Completed);
    assert_eq!(
        checkpointed.keys().cloned().collect::<BTreeSet<_>>(),
        completed
    );
    for (id, output) in &checkpointed {
        assert_eq!(
            Some(output),
            expected_outputs.get(id),
            "{id} computed another value"
        );
    }

    // The resume, with the faults gone.
    armed.store(false, Ordering::SeqCst);
    let resumed = engine.resume(&faulty.run_id).await.unwrap();
    assert_eq!(resumed.status, RunStatus::Completed);
    assert_eq!(resumed.nodes, expected.nodes);
    assert_eq!(resumed.output, expected.output);
    assert_eq!(
        resumed
            .restored
            .iter()
            .map(str::to_owned)
            .collect::<BTreeSet<_>>(),
        completed
    );
    for id in &resumed.executed {
        assert!(
            !completed.contains(id),
            "{id} was checkpointed and ran again"
        );
    }
    let final_outputs = outputs(
        &engine
            .load_checkpoint(&faulty.run_id)
            .await
            .unwrap()
            .unwrap(),
    );
    assert_eq!(final_outputs, expected_outputs);

    // No node started before every node it reads was checkpointed.
    let lines = log.lines();
    for (i, (deps, _, _)) in spec.nodes.iter().enumerate() {
        for start in lines
            .iter()
            .enumerate()
            .filter(|(_, l)| **l == format!("start:n{i}"))
        {
            for d in deps {
                let saved = lines.iter().position(|l| *l == format!("checkpoint:n{d}"));
                assert!(
                    saved.is_some_and(|s| s < start.0),
                    "n{i} started before n{d}: {lines:?}"
                );
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_dags_respect_dependencies_partition_statuses_and_resume_exactly(spec in spec()) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap();
        runtime.block_on(check(spec));
    }
}
