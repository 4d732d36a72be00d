//! Map items are bound to their inputs (issue 24, finding 3): each item record carries the
//! digest of its item, and a resume reuses a record only for an item with the same digest. The
//! node that produces the list runs again on resume (its record was lost), and yields the same
//! items in reverse order: before, the recorded outputs were paired with the wrong items (20 of 20
//! resumes gave a wrong result); now every pair is right and only the item that failed runs again.
//!
//! On files, SQLite and PostgreSQL, whose stores leave out of a resume the outputs it does not
//! need: a map over a list that runs again needs its item records.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use pipeline::prelude::*;
use pipeline::store::{Checkpointer, Epoch, NodeRecord, StoreResult};
use tests::{BoxFuture, Hooked, OnSave};

/// Calls of `numbers`: odd calls give the list reversed.
static LIST_CALLS: AtomicU64 = AtomicU64::new(0);
/// Calls of `square`.
static SQUARE_CALLS: AtomicU64 = AtomicU64::new(0);
/// Whether item 7 fails (once).
static SEVEN_FAILS: AtomicBool = AtomicBool::new(false);
/// Whether `pairs` fails (once).
static PAIRS_FAIL: AtomicBool = AtomicBool::new(false);

#[node]
fn numbers(n: u64) -> Vec<u64> {
    let mut list: Vec<u64> = (1..=n).collect();
    if LIST_CALLS.fetch_add(1, Ordering::SeqCst) % 2 == 1 {
        list.reverse();
    }
    list
}

#[node(on_error = skip_downstream)]
fn square(v: u64) -> Result<u64, std::io::Error> {
    SQUARE_CALLS.fetch_add(1, Ordering::SeqCst);
    if v == 7 && SEVEN_FAILS.swap(false, Ordering::SeqCst) {
        return Err(std::io::Error::other("seven is down"));
    }
    Ok(v * v)
}

#[node]
fn pairs(list: Vec<u64>, squares: Vec<u64>) -> Result<Vec<(u64, u64)>, std::io::Error> {
    if PAIRS_FAIL.swap(false, Ordering::SeqCst) {
        return Err(std::io::Error::other("pairs is down"));
    }
    Ok(list.into_iter().zip(squares).collect())
}

pipeline! {
    /// Squares a list, and pairs each number with its square.
    pub BoundItems(n: u64) -> Vec<(u64, u64)> {
        list    = numbers(n);
        squares = square(each list);
        out     = pairs(list, squares);
        out
    }
}

#[test]
fn compile_time_fingerprints_agree() {
    tests::assert_compile_time_fingerprints_agree(&["BoundItems"]);
}

/// A checkpointer that loses every record of node `list` (as when its output could not be
/// checkpointed), so that a resume runs it again.
struct LosesList(Arc<dyn Checkpointer>);

impl OnSave for LosesList {
    fn inner(&self) -> &dyn Checkpointer {
        &*self.0
    }
    fn save<'a>(
        &'a self,
        run_id: &'a pipeline::RunId,
        epoch: Epoch,
        record: &'a NodeRecord,
    ) -> BoxFuture<'a, StoreResult<()>> {
        match record.node.as_str() {
            "list" => Box::pin(std::future::ready(Ok(()))),
            _ => self.0.save(run_id, epoch, record),
        }
    }
}

/// Runs 20 numbers with item 7 failing (`seven`) or else `pairs` failing (every item then has
/// a record), then resumes with the list reversed.
async fn resume_with_the_list_reordered(stores: Stores, seven: bool) {
    let engine = PipelineEngine::new(BoundItems)
        .checkpointer(Hooked(LosesList(stores.checkpointer)))
        .audit_log(stores.audit);
    SEVEN_FAILS.store(seven, Ordering::SeqCst);
    PAIRS_FAIL.store(!seven, Ordering::SeqCst);
    LIST_CALLS.store(0, Ordering::SeqCst);
    let first = engine.run(BoundItemsInputs { n: 20 }).await.unwrap();
    assert_eq!(first.status, RunStatus::Failed);
    let before = SQUARE_CALLS.load(Ordering::SeqCst);
    let resumed = engine.resume(&first.run_id).await.unwrap();
    assert_eq!(resumed.status, RunStatus::Completed);
    assert_eq!(
        LIST_CALLS.load(Ordering::SeqCst),
        2,
        "the list was computed again"
    );
    let expected: Vec<(u64, u64)> = (1..=20).rev().map(|v| (v, v * v)).collect();
    assert_eq!(
        resumed.output,
        Some(expected),
        "each output is paired with its item"
    );
    assert_eq!(
        SQUARE_CALLS.load(Ordering::SeqCst) - before,
        u64::from(seven),
        "only an item that failed runs again; the others are bound to their records by digest"
    );
}

/// The tests share the statics above, so they run one at a time.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test]
async fn items_are_restored_by_their_digest_on_files_and_sqlite() {
    let _one = ONE_AT_A_TIME.lock().await;
    let dir = tempfile::tempdir().unwrap();
    for seven in [true, false] {
        resume_with_the_list_reordered(Stores::open(dir.path().join("files")).unwrap(), seven)
            .await;
        let sqlite = format!("sqlite://{}", dir.path().join("runs.db").display());
        resume_with_the_list_reordered(Stores::open(&sqlite).unwrap(), seven).await;
    }
}

#[tokio::test]
#[cfg_attr(
    no_postgres,
    ignore = "needs PostgreSQL, which did not answer when the tests were built: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
)]
async fn items_are_restored_by_their_digest_on_postgres() {
    let _one = ONE_AT_A_TIME.lock().await;
    let db = tests::postgres::TestDatabase::create();
    for seven in [true, false] {
        resume_with_the_list_reordered(Stores::open(&db.url).unwrap(), seven).await;
    }
}
