//! The JSON API behind the viewer's pages (documented in `docs/web-api.md`): the run list, a
//! run, its live status, a node's values, and the actions (resume, cancel, signal).

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::codes::is_resumable;
use super::detail::{NodeValues, RunDetail, RunStatusView};
use super::index::{RunFilter, RunPage};
use super::state::AppState;
use crate::engine::{CancelHandle, Signal};
use crate::event::NoEvents;
use crate::registry;
use crate::run_id::RunId;
use crate::store::RunView;

/// An error as the API answers it: a status and `{"error": "..."}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    pub(super) fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }

    fn store(error: impl std::fmt::Display) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, error.to_string())
    }

    pub(super) fn status(&self) -> StatusCode {
        self.status
    }

    pub(super) fn message(&self) -> &str {
        &self.message
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": self.message });
        (self.status, Json(body)).into_response()
    }
}

/// The query of the run list.
#[derive(Debug, Default, Deserialize)]
pub(super) struct ListQuery {
    pipeline: Option<String>,
    status: Option<String>,
    /// Text the run id contains.
    run: Option<String>,
    before: Option<String>,
    limit: Option<usize>,
}

impl ListQuery {
    pub fn filter(self) -> RunFilter {
        let given = |v: Option<String>| v.filter(|v| !v.is_empty());
        RunFilter {
            pipeline: given(self.pipeline),
            status: given(self.status),
            search: given(self.run),
            before: given(self.before),
            limit: self.limit.unwrap_or(50).clamp(1, 500),
        }
    }
}

pub(super) fn parse_id(text: &str) -> Result<RunId, ApiError> {
    RunId::new(text).map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.to_string()))
}

/// A permit to read a run's stores (see [`AppState::reads`]).
async fn read_permit(state: &AppState) -> Result<tokio::sync::SemaphorePermit<'_>, ApiError> {
    state
        .reads
        .acquire()
        .await
        .map_err(|_| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "the server is stopping"))
}

/// Run `id` as its stores tell it (its records, never its outputs); 404 when unknown.
pub(super) async fn view(state: &AppState, id: &str) -> Result<(RunId, RunView), ApiError> {
    let run_id = parse_id(id)?;
    let _permit = read_permit(state).await?;
    match state.stores.view(&run_id).await.map_err(ApiError::store)? {
        Some(view) => Ok((run_id, view)),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no run {run_id} in this store"),
        )),
    }
}

pub(super) async fn runs(
    State(state): State<Arc<AppState>>,
    Query(query): Query<ListQuery>,
) -> Result<Json<RunPage>, ApiError> {
    let page = state.index.page(&state.stores, &query.filter()).await;
    Ok(Json(page.map_err(ApiError::store)?))
}

pub(super) async fn run(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (run_id, view) = view(&state, &id).await?;
    let mut run = serde_json::to_value(RunDetail::of(&view)).map_err(ApiError::store)?;
    // Why a queued fleet run does not run yet: its key, its key's limit, its place.
    let queued = state.stores.checkpointer.queue_place(&run_id).await;
    if let Ok(Some(place)) = queued {
        run["queued"] = serde_json::json!({
            "key": place.key,
            "runs": place.runs,
            "position": place.position,
            "queued": place.queued,
        });
    }
    Ok(Json(run))
}

pub(super) async fn status(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let (run_id, view) = view(&state, &id).await?;
    let mut status = serde_json::to_value(RunStatusView::of(&view)).map_err(ApiError::store)?;
    if let Some(note) = state.notes.lock().await.get(&run_id) {
        status["note"] = serde_json::Value::String(note.clone());
    }
    Ok(Json(status).into_response())
}

pub(super) async fn node(
    State(state): State<Arc<AppState>>,
    Path((id, node)): Path<(String, String)>,
) -> Result<Json<NodeValues>, ApiError> {
    let (_, view) = view(&state, &id).await?;
    let detail = RunDetail::of(&view);
    let Some(node_detail) = detail.nodes.into_iter().find(|n| n.id == node) else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("run {id} has no node `{node}`"),
        ));
    };
    let _permit = read_permit(&state).await?;
    let node_detail = node_detail.with_logs(&view);
    let values = NodeValues::load(&state.stores, &view.checkpoint, node_detail)
        .await
        .map_err(|e| ApiError::store(format!("run {id}: the values of `{node}`: {e}")))?;
    Ok(Json(values))
}

/// A node's whole stored output, as the JSON it is stored as (for a value too big to show).
pub(super) async fn output(
    State(state): State<Arc<AppState>>,
    Path((id, node)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let run_id = parse_id(&id)?;
    let _permit = read_permit(&state).await?;
    let output = state
        .stores
        .checkpointer
        .load_output(&run_id, &node)
        .await
        .map_err(ApiError::store)?;
    match output {
        Some(json) => Ok((
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            json.get().to_owned(),
        )
            .into_response()),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("run {run_id} has no stored output of `{node}`"),
        )),
    }
}

/// What an action answers when it was accepted.
fn accepted(run_id: &RunId, message: String) -> Response {
    let body = serde_json::json!({ "run_id": run_id.to_string(), "message": message });
    (StatusCode::ACCEPTED, Json(body)).into_response()
}

fn conflict(message: String) -> ApiError {
    ApiError::new(StatusCode::CONFLICT, message)
}

/// The registered pipeline of a stored run, configured as the server's engines are.
fn pipeline_of(
    state: &AppState,
    view: &RunView,
) -> Result<Box<dyn registry::DynPipeline>, ApiError> {
    let name = &view.checkpoint.header.pipeline;
    let info = registry::pipeline(name).ok_or_else(|| {
        conflict(format!(
            "pipeline `{name}` is not compiled into this program, so it cannot continue the run"
        ))
    })?;
    let mut pipeline = (info.pipeline)();
    pipeline.configure(state.settings.clone());
    Ok(pipeline)
}

pub(super) async fn resume(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let (run_id, view) = view(&state, &id).await?;
    let status = super::codes::run_code(view.state);
    if !is_resumable(status) {
        return Err(conflict(format!(
            "run {run_id} is {status}: only a failed, cancelled or interrupted run is resumed"
        )));
    }
    let pipeline = pipeline_of(&state, &view)?;
    let cancel = CancelHandle::new();
    {
        let mut active = state.active.lock().await;
        if active.contains_key(&run_id) {
            return Err(conflict(format!("run {run_id} is being resumed already")));
        }
        active.insert(run_id.clone(), cancel.clone());
    }
    state.notes.lock().await.remove(&run_id);
    let task_state = Arc::clone(&state);
    let task_id = run_id.clone();
    tokio::spawn(async move {
        let stores = task_state.stores.clone();
        let result = pipeline
            .resume(stores, &task_id, Arc::new(NoEvents), &cancel)
            .await;
        task_state.active.lock().await.remove(&task_id);
        if let Err(e) = result {
            let note = format!("resume failed: {e}");
            task_state.notes.lock().await.insert(task_id, note);
        }
    });
    Ok(accepted(&run_id, format!("resuming run {run_id}")))
}

pub(super) async fn cancel(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let (run_id, view) = view(&state, &id).await?;
    if let Some(handle) = state.active.lock().await.get(&run_id) {
        handle.cancel();
        return Ok(accepted(&run_id, format!("cancelling run {run_id}")));
    }
    match super::codes::run_code(view.state) {
        "waiting" => {
            let pipeline = pipeline_of(&state, &view)?;
            let stores = state.stores.clone();
            pipeline
                .cancel_waiting(stores, &run_id)
                .await
                .map_err(|e| conflict(e.to_string()))?;
            Ok(accepted(&run_id, format!("run {run_id} cancelled")))
        }
        "running" | "unknown" => Err(conflict(format!(
            "run {run_id} runs in another process: stop it there (Ctrl-C cancels it)"
        ))),
        status => Err(conflict(format!(
            "run {run_id} is {status}: there is nothing to cancel"
        ))),
    }
}

/// The body of a signal: the wait, the payload, and an optional idempotency key.
#[derive(Debug, Deserialize)]
pub(super) struct SignalBody {
    wait: String,
    #[serde(default)]
    payload: serde_json::Value,
    key: Option<String>,
}

pub(super) async fn signal(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    Json(body): Json<SignalBody>,
) -> Result<Response, ApiError> {
    let (run_id, view) = view(&state, &id).await?;
    let pipeline = pipeline_of(&state, &view)?;
    let mut signal = Signal::new(body.wait.clone(), &body.payload)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.to_string()))?;
    if let Some(key) = body.key {
        signal = signal.key(key);
    }
    state.notes.lock().await.remove(&run_id);
    // The signal is stored and checked first; when the run waits on it, `signal` goes on to
    // run it to its next wait or its end, which the page follows live.
    let (sent_tx, sent_rx) = tokio::sync::oneshot::channel();
    let task_state = Arc::clone(&state);
    let task_id = run_id.clone();
    tokio::spawn(async move {
        let stores = task_state.stores.clone();
        let events = Arc::new(SentFirst(std::sync::Mutex::new(Some(sent_tx))));
        let result = pipeline
            .signal(stores, &task_id, signal, events.clone())
            .await;
        let message = match &result {
            Ok(outcome) => Ok(format!("signal {:?}", outcome.sent)),
            Err(e) => Err(e.to_string()),
        };
        if let Some(tx) = events.0.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = tx.send(message.clone());
        }
        if let Err(e) = message {
            task_state
                .notes
                .lock()
                .await
                .insert(task_id, format!("signal failed: {e}"));
        }
    });
    match sent_rx.await {
        Ok(Err(e)) => Err(ApiError::new(StatusCode::BAD_REQUEST, e)),
        _ => Ok(accepted(
            &run_id,
            format!("signal `{}` sent to run {run_id}", body.wait),
        )),
    }
}

/// Answers the signal request as soon as the run continues (or the call ends, with its error).
struct SentFirst(std::sync::Mutex<Option<tokio::sync::oneshot::Sender<Result<String, String>>>>);

impl crate::event::EventHandler for SentFirst {
    fn on_pipeline_start(&self, _pipeline: &str, run_id: &RunId, _resumed: bool) {
        if let Some(tx) = self.0.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = tx.send(Ok(format!("run {run_id} continues")));
        }
    }
}
