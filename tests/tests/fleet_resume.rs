//! A failed fleet run is resumed on the fleet: `resume` on an engine with a fleet sends the run
//! back to the workers, which run only what did not complete; a run that is running, completed
//! or cancelled is not run again.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use pipeline::*;
use tests::fleet::{Fleet, wait};

#[derive(Clone, Default)]
struct Probe {
    failing: Arc<AtomicBool>,
    a: Arc<AtomicUsize>,
    b: Arc<AtomicUsize>,
    c: Arc<AtomicUsize>,
}

/// x -> a -> b (fails while `failing`); x -> c. Output: (b, c).
fn graph(probe: &Probe) -> Graph<u64, (u64, u64)> {
    let mut g = GraphBuilder::<u64>::new("resumable");
    let x = g.input("x", |x: &u64| *x);
    let p = probe.clone();
    let a = g.node("a").run(x, move |x, _| {
        p.a.fetch_add(1, Ordering::SeqCst);
        async move { Ok::<_, std::io::Error>(x + 1) }
    });
    let p = probe.clone();
    let b = g.node("b").run(a, move |a, _| {
        p.b.fetch_add(1, Ordering::SeqCst);
        let failing = p.failing.load(Ordering::SeqCst);
        async move {
            match failing {
                true => Err(std::io::Error::other("b fails")),
                false => Ok(a * 10),
            }
        }
    });
    let p = probe.clone();
    let c = g.node("c").run(x, move |x, _| {
        p.c.fetch_add(1, Ordering::SeqCst);
        async move { Ok::<_, std::io::Error>(x * 2) }
    });
    g.build((b, c)).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    no_postgres,
    ignore = "needs PostgreSQL, which did not answer when the tests were built: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
)]
async fn a_failed_fleet_run_resumes_on_the_fleet_and_runs_only_what_failed() {
    let probe = Probe::default();
    probe.failing.store(true, Ordering::SeqCst);
    let mut fleet = Fleet::start(&graph(&probe), 2).await;
    let engine = fleet.engine(graph(&Probe::default()));
    let run_id = engine.submit(1).await.unwrap();
    let failed = wait(&engine, &run_id).await;
    assert_eq!(failed.status, RunStatus::Failed);
    assert_eq!(failed.nodes.get("b"), Some(NodeStatus::Failed));

    probe.failing.store(false, Ordering::SeqCst);
    let resumed = engine.resume(&run_id).await.unwrap();
    assert_eq!(
        resumed.status,
        RunStatus::Completed,
        "{:?}",
        resumed.failures
    );
    assert_eq!(resumed.output, Some((20, 2)));
    let counts = |p: &Probe| {
        let n = |c: &AtomicUsize| c.load(Ordering::SeqCst);
        (n(&p.a), n(&p.b), n(&p.c))
    };
    assert_eq!(
        counts(&probe),
        (1, 2, 1),
        "only `b` runs again, on the workers"
    );
    // Every attempt ran on a worker: the resume went back to the fleet.
    let trail = engine.audit_trail(&run_id).await.unwrap().unwrap();
    let b: Vec<_> = trail.iter().filter(|e| e.node == "b").collect();
    assert_eq!(b.len(), 2, "{trail:?}");
    assert!(b.iter().all(|e| e.worker.is_some()), "{b:?}");
    // Its summary says when it was resumed, as one process's does, so its time counts from there.
    let summary = pipeline::AuditLog::summary(&fleet.store, &run_id)
        .await
        .unwrap()
        .expect("a summary");
    let resumed_at = summary.resumed_at_ms.expect("the resume is recorded");
    assert!(resumed_at >= summary.started_at_ms && resumed_at <= summary.updated_at_ms);

    // A completed run is not run again: resuming it returns it.
    let again = engine.resume(&run_id).await.unwrap();
    assert_eq!(again.status, RunStatus::Completed);
    assert_eq!(counts(&probe), (1, 2, 1));
    fleet.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    no_postgres,
    ignore = "needs PostgreSQL, which did not answer when the tests were built: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
)]
async fn a_cancelled_fleet_run_stays_cancelled_on_resume() {
    let probe = Probe::default();
    // No worker: the run waits for one, and is cancelled meanwhile.
    let mut fleet = Fleet::start(&graph(&probe), 0).await;
    let engine = fleet.engine(graph(&probe));
    let run_id = engine.submit(1).await.unwrap();
    assert!(engine.cancel(&run_id).await.unwrap());
    let resumed = engine.resume(&run_id).await.unwrap();
    assert_eq!(resumed.status, RunStatus::Cancelled);
    assert_eq!(probe.a.load(Ordering::SeqCst), 0);
    fleet.stop().await;
}
