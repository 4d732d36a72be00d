//! A run holds a node's output only while a node that reads it has not finished (or the
//! pipeline's output reads it), and resume decodes only the outputs a node that will run still
//! needs: memory follows the live frontier, not the whole run. Counted with a value type that
//! tracks how many of its instances are alive.

use std::sync::atomic::{AtomicUsize, Ordering};

use pipeline::*;
use serde::{Deserialize, Deserializer, Serialize};

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

/// A value that counts its live instances (creation, clone and decode add one; drop removes one).
#[derive(Debug, Serialize)]
struct Tracked(u64);

impl Tracked {
    fn new(v: u64) -> Self {
        let live = LIVE.fetch_add(1, Ordering::SeqCst) + 1;
        PEAK.fetch_max(live, Ordering::SeqCst);
        Tracked(v)
    }
}

impl Clone for Tracked {
    fn clone(&self) -> Self {
        Tracked::new(self.0)
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        LIVE.fetch_sub(1, Ordering::SeqCst);
    }
}

impl<'de> Deserialize<'de> for Tracked {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        u64::deserialize(d).map(Tracked::new)
    }
}

const NODES: u64 = 200;

/// x -> n0 -> ... -> n199, each a `Tracked`; `n199` fails while `down` is set.
fn chain(down: bool) -> Graph<u64, u64> {
    let mut g = GraphBuilder::<u64>::new("tracked_chain");
    let x = g.input("x", |x: &u64| *x);
    let mut last = g.node("n0").run(
        x,
        |x, _| async move { Ok::<_, std::io::Error>(Tracked::new(x)) },
    );
    for i in 1..NODES {
        last = g
            .node(format!("n{i}"))
            .run(last, move |t: Tracked, _| async move {
                if down && i == NODES - 1 {
                    return Err(std::io::Error::other("last node down"));
                }
                Ok(Tracked::new(t.0 + 1))
            });
    }
    let out = g.node("out").run(
        last,
        |t: Tracked, _| async move { Ok::<_, std::io::Error>(t.0) },
    );
    g.build(out).unwrap()
}

#[tokio::test]
async fn a_run_and_its_resume_hold_only_the_outputs_still_needed() {
    let dir = tempfile::tempdir().unwrap();
    let engine =
        |down| PipelineEngine::new(chain(down)).checkpointer(FileCheckpointer::new(dir.path()));
    PEAK.store(0, Ordering::SeqCst);
    let failed = engine(true).run(0).await.unwrap();
    assert_eq!(failed.status, RunStatus::Failed);
    let run_peak = PEAK.load(Ordering::SeqCst);
    // One output held for its reader, the reader's own copy, and the reader's new output.
    assert!(
        run_peak <= 4,
        "a {NODES}-node chain held {run_peak} outputs at once"
    );
    assert_eq!(LIVE.load(Ordering::SeqCst), 0, "outputs outlived the run");

    PEAK.store(0, Ordering::SeqCst);
    let resumed = engine(false).resume(&failed.run_id).await.unwrap();
    assert_eq!(resumed.output, Some(NODES - 1));
    let resume_peak = PEAK.load(Ordering::SeqCst);
    // Only n198's output is decoded: the one node that runs again reads it.
    assert!(
        resume_peak <= 4,
        "resume decoded {resume_peak} outputs at once"
    );
    assert_eq!(LIVE.load(Ordering::SeqCst), 0);
}
