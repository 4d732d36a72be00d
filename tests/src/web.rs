//! What the run viewer's tests share: two pipelines, and a store holding a completed, a failed
//! and an interrupted run of them.

use std::path::{Path, PathBuf};

use pipeline::prelude::*;
use pipeline::store::Stores;
use pipeline::{EventHandler, PipelineEngine, RunId};

/// What `markup` puts before its input: a script that must never run in the viewer.
pub const SCRIPT: &str = "<script>window.pwned = 1</script>";

/// Reads the file at `path` (fails while it does not exist).
#[node(retries = 0)]
fn source(path: String) -> Result<String, std::io::Error> {
    std::fs::read_to_string(&path)
}

/// Upper-cases its input.
#[node]
fn shout(text: String) -> String {
    text.to_uppercase()
}

/// Puts [`SCRIPT`] before its input.
#[node]
fn markup(text: String) -> String {
    format!("{SCRIPT}{text}")
}

/// Never returns.
#[node]
async fn hang(text: String) -> String {
    std::future::pending::<()>().await;
    text
}

pipeline! {
    /// Reads a file, shouts it, and wraps it in markup.
    pub Viewed(path: String) -> String {
        text = source(path);
        loud = shout(text);
        html = markup(loud);
        html
    }
}

pipeline! {
    /// Reads a file, then hangs.
    pub Hanging(path: String) -> String {
        text = source(path);
        held = hang(text);
        held
    }
}

pipeline! {
    /// Reads a file, waits for a reply, and shouts the reply.
    pub Replied(path: String) -> String {
        text  = source(path);
        reply = signal::<String>(text, timeout = "1h");
        loud  = shout(reply);
        loud
    }
}

/// A run of `Replied` in `stores` that ended `waiting` for its `reply` (its engine waits in
/// process for nothing).
pub async fn waiting_run(stores: &Stores, dir: &Path) -> RunId {
    let input = dir.join("question.txt");
    std::fs::write(&input, "question").expect("write input");
    let engine = PipelineEngine::new(Replied)
        .stores(stores.clone())
        .settings(EngineSettings::new().wait_in_process(std::time::Duration::ZERO));
    let inputs = RepliedInputs {
        path: input.display().to_string(),
    };
    engine.run(inputs).await.expect("run").run_id
}

/// A run of `Hanging` in `stores` that is running (its `held` node hangs) on a task of its own,
/// which lives as long as the runtime; its id, once `text` completed.
pub async fn running_run(stores: &Stores, dir: &Path) -> RunId {
    let input = dir.join("running.txt");
    std::fs::write(&input, "running").expect("write input");
    hanging_run(stores, &input).await.0
}

/// A run of `Hanging` on `input` started on a task, returned once its `text` completed (its
/// `held` hangs): its id and the task.
async fn hanging_run(
    stores: &Stores,
    input: &Path,
) -> (
    RunId,
    tokio::task::JoinHandle<Result<pipeline::PipelineResult<String>, pipeline::PipelineError>>,
) {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let events = Completed {
        node: "text",
        tx: std::sync::Mutex::new(Some(tx)),
    };
    let engine = PipelineEngine::new(Hanging)
        .stores(stores.clone())
        .event_handler(events);
    let id = RunId::generate();
    let run_id = id.clone();
    let inputs = HangingInputs {
        path: input.display().to_string(),
    };
    let task = tokio::spawn(async move { engine.run(inputs).id(run_id).await });
    rx.await.expect("`text` completes");
    (id, task)
}

/// A store with three runs, and the file whose absence failed one of them.
pub struct Runs {
    pub stores: Stores,
    pub completed: RunId,
    pub failed: RunId,
    pub interrupted: RunId,
    /// Create it (with [`fix`](Runs::fix)) and the failed run's resume completes.
    pub missing: PathBuf,
}

impl Runs {
    /// Makes the file the failed run could not read.
    pub fn fix(&self) {
        std::fs::write(&self.missing, "fixed").expect("write the missing file");
    }
}

/// Sends once when node `node` completes.
struct Completed {
    node: &'static str,
    tx: std::sync::Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
}

impl EventHandler for Completed {
    fn on_node_complete(&self, _: &RunId, node: &str, _: u32, _: std::time::Duration) {
        if node == self.node
            && let Some(tx) = self.tx.lock().unwrap_or_else(|p| p.into_inner()).take()
        {
            let _ = tx.send(());
        }
    }
}

/// Runs in a directory store in `dir` (see [`make_runs_in`]).
pub async fn make_runs(dir: &Path) -> Runs {
    make_runs_in(Stores::open(dir.join("store")).unwrap(), dir).await
}

/// Runs in `stores` (their input files in `dir`): `Viewed` completed and failed (its file
/// missing), and `Hanging` interrupted (its task dropped while `held` hangs, which releases the
/// run as a killed process would).
pub async fn make_runs_in(stores: Stores, dir: &Path) -> Runs {
    let input = dir.join("input.txt");
    std::fs::write(&input, "hello").expect("write input");
    let missing = dir.join("later.txt");
    let viewed = PipelineEngine::new(Viewed).stores(stores.clone());
    let path = |p: &Path| ViewedInputs {
        path: p.display().to_string(),
    };
    let completed = viewed.run(path(&input)).await.expect("run").run_id;
    let failed = viewed.run(path(&missing)).await.expect("run").run_id;
    // Dropping its task releases the run, as a killed process would.
    let (id, task) = hanging_run(&stores, &input).await;
    task.abort();
    let _ = task.await;
    Runs {
        stores,
        completed,
        failed,
        interrupted: id,
        missing,
    }
}
