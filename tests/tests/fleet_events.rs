//! A fleet worker calls its event handler for the nodes it runs: the same events, node by node,
//! as an engine's handler hears for the same pipeline run in one process (a retry, a failure
//! under skip-downstream, a false gate, the skips they cause).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use pipeline::fleet::Worker;
use pipeline::*;
use tests::RecordingEvents;
use tests::fleet::{Fleet, wait};

/// x -> a (fails once, then completes) -> b (gate false) -> c; x -> d (fails) -> e; x -> f.
fn graph(a_failures: Arc<AtomicUsize>) -> Graph<u64, (u64, u64)> {
    let mut g = GraphBuilder::<u64>::new("heard");
    let x = g.input("x", |x: &u64| *x);
    let a = g
        .node("a")
        .retries(1)
        .backoff(Backoff {
            initial: Duration::from_millis(1),
            max: Duration::from_millis(1),
        })
        .run(x, move |x, _| {
            let failures = Arc::clone(&a_failures);
            async move {
                match failures.fetch_add(1, Ordering::SeqCst) {
                    0 => Err(std::io::Error::other("a fails once")),
                    _ => Ok(x + 1),
                }
            }
        });
    let b = g
        .node("b")
        .when(a, |a| a > 100)
        .run(a, |a, _| async move { Ok::<_, std::io::Error>(a) });
    let c = g
        .node("c")
        .run(b, |b, _| async move { Ok::<_, std::io::Error>(b) });
    let d = g.node("d").run(x, |_, _| async move {
        Err::<u64, _>(std::io::Error::other("d fails"))
    });
    let e = g
        .node("e")
        .run(d, |d, _| async move { Ok::<_, std::io::Error>(d) });
    let f = g
        .node("f")
        .run(x, |x, _| async move { Ok::<_, std::io::Error>(x * 2) });
    let _ = (c, e);
    g.build((a, f)).unwrap()
}

fn node_events(events: &RecordingEvents) -> Vec<String> {
    let mut lines: Vec<String> = events
        .0
        .lines()
        .into_iter()
        .filter(|l| l.starts_with("node_"))
        .collect();
    lines.sort();
    lines
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    no_postgres,
    ignore = "needs PostgreSQL, which did not answer when the tests were built: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
)]
async fn a_worker_hears_what_an_engine_in_one_process_hears() {
    let in_process = RecordingEvents::default();
    let local = PipelineEngine::new(graph(Arc::default()))
        .settings(EngineSettings::new().on_error(OnError::SkipDownstream))
        .event_handler(in_process.clone())
        .run(1)
        .await
        .unwrap();
    assert_eq!(local.status, RunStatus::Failed);
    let heard = node_events(&in_process);
    assert!(heard.contains(&"node_retry:a:1".to_owned()), "{heard:?}");
    assert!(heard.contains(&"node_skip:c".to_owned()), "{heard:?}");

    let mut fleet = Fleet::start(&graph(Arc::default()), 0).await;
    let on_fleet = RecordingEvents::default();
    // One counter for the whole fleet: whichever worker runs `a` first sees it fail.
    let failures = Arc::new(AtomicUsize::new(0));
    for i in 0..2 {
        fleet.add(
            Worker::new(fleet.store.clone())
                .serve(&graph(Arc::clone(&failures)))
                .event_handler(on_fleet.clone())
                .id(format!("w{i}")),
        );
    }
    let engine = fleet
        .engine(graph(Arc::default()))
        .settings(EngineSettings::new().on_error(OnError::SkipDownstream));
    let run_id = engine.submit(1).await.unwrap();
    let remote = wait(&engine, &run_id).await;
    fleet.stop().await;
    assert_eq!(remote.status, local.status);
    for node in ["a", "b", "c", "d", "e", "f"] {
        assert_eq!(remote.nodes.get(node), local.nodes.get(node), "{node}");
    }
    assert_eq!(node_events(&on_fleet), heard);
}
