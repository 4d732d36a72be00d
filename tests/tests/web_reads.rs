//! The run viewer reads a run's records, never its outputs, except the one node a user opens
//! (issue 24, finding 6): every page of a run, its `/status`, a node and `GET /` loaded the
//! whole checkpoint (a 200-node run with 1 MB outputs: 1.2 s and 425 MB per request). Now the
//! pages and `/status` read no output at all, a node reads its own output and its inputs', each
//! cut to 64 KiB with a link to download it whole.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use pipeline::store::*;
use pipeline::web::{VALUE_CAP, Viewer};
use pipeline::*;
use tower::ServiceExt;

const BIG: usize = 300 * 1024;

/// x -> n0 -> n1 -> ... -> n9, each a fresh 300 KiB string; the last fails while `fail` is set.
fn big_chain(fail: bool) -> Graph<u64, usize> {
    let mut g = GraphBuilder::<u64>::new("big_chain_viewed");
    let x = g.input("x", |x: &u64| *x);
    let mut last = g.node("n0").run(x, |x, _| async move {
        // (A format width this large panics: widths are limited to 16 bits.)
        let digits = x.to_string();
        Ok::<_, std::io::Error>("0".repeat(BIG - digits.len()) + &digits)
    });
    for i in 1..10 {
        last = g
            .node(format!("n{i}"))
            .run(last, move |s: String, _| async move {
                if fail && i == 9 {
                    return Err(std::io::Error::other("the last node is down"));
                }
                Ok::<_, std::io::Error>(s.chars().rev().collect::<String>())
            });
    }
    let len = g.node("len").run(last, |s: String, _| async move {
        Ok::<_, std::io::Error>(s.len())
    });
    g.build(len).unwrap()
}

/// A checkpointer that counts every output it reads: whole checkpoints, and single outputs.
struct Counting {
    inner: Arc<dyn Checkpointer>,
    whole: AtomicUsize,
    single: std::sync::Mutex<Vec<String>>,
}

#[async_trait]
impl Checkpointer for Counting {
    async fn create_run(&self, header: &RunHeader) -> StoreResult<Epoch> {
        self.inner.create_run(header).await
    }
    async fn resume_run(
        &self,
        run_id: &RunId,
        filter: &OutputFilter,
    ) -> StoreResult<Option<Resumed>> {
        self.inner.resume_run(run_id, filter).await
    }
    async fn save(&self, run_id: &RunId, epoch: Epoch, record: &NodeRecord) -> StoreResult<()> {
        self.inner.save(run_id, epoch, record).await
    }
    async fn load(&self, run_id: &RunId) -> StoreResult<Option<Checkpoint>> {
        self.whole.fetch_add(1, Ordering::SeqCst);
        self.inner.load(run_id).await
    }
    async fn load_records(&self, run_id: &RunId) -> StoreResult<Option<Checkpoint>> {
        self.inner.load_records(run_id).await
    }
    async fn load_output(&self, run_id: &RunId, node: &str) -> StoreResult<Option<Json>> {
        self.single.lock().unwrap().push(node.to_owned());
        self.inner.load_output(run_id, node).await
    }
    async fn header(&self, run_id: &RunId) -> StoreResult<Option<RunHeader>> {
        self.inner.header(run_id).await
    }
    async fn list_runs(&self) -> StoreResult<Vec<RunId>> {
        self.inner.list_runs().await
    }
    fn release_run(&self, run_id: &RunId, epoch: Epoch) {
        self.inner.release_run(run_id, epoch)
    }
    async fn waits(&self, run_id: &RunId) -> StoreResult<RunWaits> {
        self.inner.waits(run_id).await
    }
    async fn is_held(&self, run_id: &RunId) -> StoreResult<Option<bool>> {
        self.inner.is_held(run_id).await
    }
}

async fn get(router: &axum::Router, uri: &str) -> (StatusCode, String) {
    let request = Request::get(uri)
        .header(header::HOST, "127.0.0.1")
        .body(Body::empty())
        .unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

async fn pages_and_status_read_no_output_and_a_node_reads_its_own(kind: &str) {
    let dir = tempfile::tempdir().unwrap();
    let stores = match kind {
        "files" => Stores::open(dir.path().join("runs")).unwrap(),
        "sqlite" => {
            Stores::open(format!("sqlite://{}", dir.path().join("runs.db").display())).unwrap()
        }
        url => Stores::open(url).unwrap(),
    };
    let failed = PipelineEngine::new(big_chain(true))
        .stores(stores.clone())
        .run(7)
        .await
        .unwrap();
    assert_eq!(failed.status, RunStatus::Failed);
    let counting = Arc::new(Counting {
        inner: Arc::clone(&stores.checkpointer),
        whole: AtomicUsize::new(0),
        single: Default::default(),
    });
    let viewed = Stores {
        checkpointer: counting.clone(),
        audit: stores.audit.clone(),
    };
    let router = Viewer::new(viewed).router();
    let id = failed.run_id.to_string();
    for uri in [
        "/".to_owned(),
        "/api/runs".to_owned(),
        format!("/runs/{id}"),
        format!("/api/runs/{id}"),
        format!("/api/runs/{id}/status"),
    ] {
        let (status, _) = get(&router, &uri).await;
        assert_eq!(status, StatusCode::OK, "{uri}");
    }
    assert_eq!(
        counting.whole.load(Ordering::SeqCst),
        0,
        "a whole checkpoint was read"
    );
    assert!(
        counting.single.lock().unwrap().is_empty(),
        "an output was read"
    );

    let (status, body) = get(&router, &format!("/api/runs/{id}/nodes/n3")).await;
    assert_eq!(status, StatusCode::OK);
    let values: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        *counting.single.lock().unwrap(),
        ["n2", "n3"],
        "its input's and its own"
    );
    assert_eq!(counting.whole.load(Ordering::SeqCst), 0);
    let output = values["output"].as_str().unwrap();
    assert!(output.len() <= VALUE_CAP + 4, "cut: {} bytes", output.len());
    let download = format!("/api/runs/{id}/nodes/n3/output");
    assert_eq!(values["clipped"]["output"]["bytes"], BIG + 2);
    assert_eq!(values["clipped"]["output"]["download"], download.as_str());
    assert_eq!(values["clipped"]["n2"]["bytes"], BIG + 2);
    let (status, whole) = get(&router, &download).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(whole.len(), BIG + 2, "the whole output, as JSON");
    let (status, _) = get(&router, &format!("/api/runs/{id}/nodes/n9/output")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "n9 failed: no output");
}

#[tokio::test]
async fn pages_and_status_read_no_output_on_files() {
    pages_and_status_read_no_output_and_a_node_reads_its_own("files").await;
}

#[tokio::test]
async fn pages_and_status_read_no_output_on_sqlite() {
    pages_and_status_read_no_output_and_a_node_reads_its_own("sqlite").await;
}

#[tokio::test]
#[cfg_attr(
    no_postgres,
    ignore = "needs PostgreSQL, which did not answer when the tests were built: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
)]
async fn pages_and_status_read_no_output_on_postgres() {
    let db = tests::postgres::TestDatabase::create();
    pages_and_status_read_no_output_and_a_node_reads_its_own(&db.url).await;
}
