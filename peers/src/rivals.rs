//! The peers, each written as its own documentation and benchmarks write it. Their nodes are
//! no-ops too; where a peer passes values between nodes (dagx, dagrs) the values flow as in ours.
//! graph-flow's state is a JSON context, and serializing into it would cost it more than a no-op:
//! its nodes only count themselves (the count is the checked output), its wide shape is a
//! `FanOutTask` (the library's fan-out) between a source and a sink.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::baseline::noop;
use crate::{Shape, check, timed};

struct Counted {
    id: String,
    next: graph_flow::NextAction,
    count: Arc<AtomicU64>,
}

#[async_trait::async_trait]
impl graph_flow::Task for Counted {
    fn id(&self) -> &str {
        &self.id
    }

    async fn run(&self, _: graph_flow::Context) -> graph_flow::Result<graph_flow::TaskResult> {
        self.count.fetch_add(noop(0).await, Ordering::Relaxed);
        Ok(graph_flow::TaskResult::new(None, self.next.clone()))
    }
}

/// graph-flow 0.8.1: tasks with `ContinueAndExecute` edges, run in one `execute_session`.
pub async fn graph_flow(shape: Shape, n: usize) -> Duration {
    use graph_flow::{ExecutionStatus, FanOutTask, GraphBuilder, NextAction, Session, Task};
    let count = Arc::new(AtomicU64::new(0));
    let task = |id: String, next: NextAction| -> Arc<dyn Task> {
        Arc::new(Counted {
            id,
            next,
            count: Arc::clone(&count),
        })
    };
    let time = timed(async {
        let mut builder = GraphBuilder::new("bench");
        let first = match shape {
            Shape::Chain => {
                for i in 0..n {
                    let next = if i + 1 == n {
                        NextAction::End
                    } else {
                        NextAction::ContinueAndExecute
                    };
                    builder = builder.add_task(task(format!("n{i}"), next));
                    if i > 0 {
                        builder = builder.add_edge(format!("n{}", i - 1), format!("n{i}"));
                    }
                }
                "n0"
            }
            Shape::Wide => {
                let children = (0..n)
                    .map(|i| task(format!("n{i}"), NextAction::Continue))
                    .collect();
                let fan = FanOutTask::new("fan", children)
                    .with_next_action(NextAction::ContinueAndExecute);
                builder = builder
                    .add_task(task("source".into(), NextAction::ContinueAndExecute))
                    .add_task(fan)
                    .add_task(task("sink".into(), NextAction::End))
                    .add_edge("source", "fan")
                    .add_edge("fan", "sink");
                "source"
            }
        };
        let graph = builder.build().expect("a valid graph-flow graph");
        let mut session = Session::new_from_task("bench".into(), first);
        let result = graph
            .execute_session(&mut session)
            .await
            .expect("graph-flow runs");
        assert!(matches!(result.status, ExecutionStatus::Completed));
    })
    .await;
    let executed = count.load(Ordering::Relaxed);
    // Each node counted 1; the wide shape's source and sink stand for its one extra output.
    let out = if shape == Shape::Wide {
        2 * (executed - 2)
    } else {
        executed
    };
    check("graph-flow", shape, n, out);
    time
}

/// dagx 0.3.1: `task_fn` tasks wired with `depends_on`, run with a tokio spawner. A dagx task
/// takes a fixed tuple of inputs, so the wide shape's sink is the sum of the readers' outputs,
/// read with `get` after the run.
pub async fn dagx(shape: Shape, n: usize) -> Duration {
    use dagx::{DagRunner, TaskHandle, task_fn};
    let mut out = 0;
    let time = timed(async {
        let dag = DagRunner::new();
        let source: TaskHandle<u64> = dag
            .add_task(task_fn(|_: ()| async { noop(0).await }))
            .into();
        match shape {
            Shape::Chain => {
                let mut last = source;
                for _ in 1..n {
                    last = dag
                        .add_task(task_fn(|x: u64| async move { noop(x).await }))
                        .depends_on(last);
                }
                dag.run(|fut| {
                    tokio::spawn(fut);
                })
                .await
                .expect("dagx runs");
                out = dag.get(last).expect("an output");
            }
            Shape::Wide => {
                let parts: Vec<TaskHandle<u64>> = (0..n)
                    .map(|_| {
                        dag.add_task(task_fn(|x: u64| async move { noop(x).await }))
                            .depends_on(&source)
                    })
                    .collect();
                dag.run(|fut| {
                    tokio::spawn(fut);
                })
                .await
                .expect("dagx runs");
                out = parts
                    .into_iter()
                    .map(|p| dag.get(p).expect("an output"))
                    .sum();
            }
        }
    })
    .await;
    check("dagx", shape, n, out);
    time
}

struct Step;

#[async_trait::async_trait]
impl dagrs::Action for Step {
    async fn run(
        &self,
        input: &mut dagrs::InChannels,
        out: &mut dagrs::OutChannels,
        _: Arc<dagrs::EnvVar>,
    ) -> dagrs::Output {
        let values: Vec<u64> = input
            .map(|c| *c.expect("an input").into_inner::<u64>().expect("a u64"))
            .await;
        let x = noop(values.iter().sum()).await;
        out.broadcast(dagrs::Content::new(x)).await;
        dagrs::Output::Out(Some(dagrs::Content::new(x)))
    }
}

struct Sum;

#[async_trait::async_trait]
impl dagrs::Action for Sum {
    async fn run(
        &self,
        input: &mut dagrs::InChannels,
        _: &mut dagrs::OutChannels,
        _: Arc<dagrs::EnvVar>,
    ) -> dagrs::Output {
        let values: Vec<u64> = input
            .map(|c| *c.expect("an input").into_inner::<u64>().expect("a u64"))
            .await;
        dagrs::Output::Out(Some(dagrs::Content::new(values.iter().sum::<u64>())))
    }
}

/// dagrs 0.9.0: `DefaultNode`s with an `Action`, values passed through its channels.
pub async fn dagrs(shape: Shape, n: usize) -> Duration {
    use dagrs::{DefaultNode, EnvVar, Graph, Node, NodeTable};
    let mut out = 0;
    let time = timed(async {
        let mut table = NodeTable::new();
        let mut graph = Graph::new();
        fn add(
            name: String,
            action: impl dagrs::Action + 'static,
            table: &mut NodeTable,
            graph: &mut Graph,
        ) -> dagrs::NodeId {
            let node = DefaultNode::with_action(name, action, table);
            let id = node.id();
            graph.add_node(node).expect("a dagrs node");
            id
        }
        let mut node = |name: String, step: bool, graph: &mut Graph| {
            if step {
                add(name, Step, &mut table, graph)
            } else {
                add(name, Sum, &mut table, graph)
            }
        };
        let last = match shape {
            Shape::Chain => {
                let mut last = node("n0".into(), true, &mut graph);
                for i in 1..n {
                    let next = node(format!("n{i}"), true, &mut graph);
                    graph.add_edge(last, vec![next]).expect("a dagrs edge");
                    last = next;
                }
                last
            }
            Shape::Wide => {
                let source = node("source".into(), true, &mut graph);
                let parts: Vec<_> = (0..n)
                    .map(|i| node(format!("n{i}"), true, &mut graph))
                    .collect();
                let sink = node("sink".into(), false, &mut graph);
                graph.add_edge(source, parts.clone()).expect("a dagrs edge");
                for part in parts {
                    graph.add_edge(part, vec![sink]).expect("a dagrs edge");
                }
                sink
            }
        };
        graph.set_env(EnvVar::new(table));
        graph.async_start().await.expect("dagrs runs");
        let results = graph.get_results::<u64>();
        out = *results.get(&last).cloned().flatten().expect("an output");
    })
    .await;
    check("dagrs", shape, n, out);
    time
}
