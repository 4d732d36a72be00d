//! The run viewer (feature `web`): `serve` shows every run of a store in the browser, as a
//! live, coloured DAG with a timeline of its attempts and a panel per node, and can resume,
//! cancel and signal runs.
//!
//! Pages are rendered on the server (the DAG and timeline as SVG) with a small script compiled
//! into the binary (no CDN: it works offline); the same data is a JSON API, documented in
//! `docs/web-api.md`. It binds `127.0.0.1` unless told otherwise; every action needs the
//! server's token, and so does every page when it listens beyond this machine.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use pipeline::Stores;
//! use pipeline::web::Viewer;
//!
//! let viewer = Viewer::new(Stores::open("runs")?);
//! println!("open http://127.0.0.1:8080/?token={}", viewer.token());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! viewer.serve(listener).await?;
//! # Ok(())
//! # }
//! ```

mod api;
mod auth;
mod codes;
mod dag;
mod detail;
mod glance;
mod html;
mod index;
mod layout;
mod pages;
mod schedules;
mod state;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};

use tokio::sync::Mutex;

use state::AppState;

pub use detail::{Attempt, Clipped, NodeDetail, NodeValues, RunDetail, RunStatusView, VALUE_CAP};
pub use index::{RunFilter, RunLine, RunPage};

use crate::engine::EngineSettings;
use crate::store::Stores;

/// The run viewer's server: its stores, token and engine settings. See the [module](self).
#[derive(Clone)]
pub struct Viewer {
    stores: Stores,
    settings: EngineSettings,
    token: String,
    private: bool,
    header_timeout: Duration,
    max_connections: usize,
}

/// How long a client has to send a request's headers (by default).
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// How many connections the server holds open at once (by default).
const MAX_CONNECTIONS: usize = 256;

/// A fresh random token (244 bits, hex).
fn new_token() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

impl Viewer {
    /// A viewer of `stores` with a fresh random token. Its pages and reads need no token, and it
    /// answers only requests for a loopback host name (`127.0.0.1`, `localhost`, `[::1]`): to
    /// serve other machines, make it [`private`](Viewer::private).
    pub fn new(stores: Stores) -> Viewer {
        Viewer {
            stores,
            settings: EngineSettings::default(),
            token: new_token(),
            private: false,
            header_timeout: HEADER_TIMEOUT,
            max_connections: MAX_CONNECTIONS,
        }
    }

    /// Uses `token` instead of a random one (it goes into a URL and a cookie: keep it to letters,
    /// digits and `-_.~`, as `serve --token` requires).
    pub fn with_token(mut self, token: impl Into<String>) -> Viewer {
        self.token = token.into();
        self
    }

    /// Whether reading needs the token too (for a server reachable from other machines; a
    /// private viewer answers any host name).
    pub fn private(mut self, private: bool) -> Viewer {
        self.private = private;
        self
    }

    /// How long [`serve`](Viewer::serve) gives a client to send a request's headers before it
    /// closes the connection (default 10 s): slow or half-sent requests cannot hold it open.
    pub fn header_timeout(mut self, timeout: Duration) -> Viewer {
        self.header_timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// How many connections [`serve`](Viewer::serve) holds open at once (default 256, at least
    /// 1); more wait to be accepted, so file descriptors never run out.
    pub fn max_connections(mut self, connections: usize) -> Viewer {
        self.max_connections = connections.max(1);
        self
    }

    /// The options of the engines that resume and signal runs.
    pub fn settings(mut self, settings: EngineSettings) -> Viewer {
        self.settings = settings;
        self
    }

    /// The token actions need.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The viewer as an [`axum::Router`], to serve or to nest in an application.
    pub fn router(&self) -> Router {
        let state = Arc::new(AppState {
            stores: self.stores.clone(),
            settings: self.settings.clone(),
            token: self.token.clone(),
            private: self.private,
            index: index::RunIndex::default(),
            active: Mutex::new(HashMap::new()),
            notes: Mutex::new(HashMap::new()),
            reads: tokio::sync::Semaphore::new(state::READS_AT_ONCE),
        });
        let api = Router::new()
            .route("/runs", get(api::runs))
            .route("/runs/{id}", get(api::run))
            .route("/runs/{id}/status", get(api::status))
            .route("/runs/{id}/nodes/{node}", get(api::node))
            .route("/runs/{id}/nodes/{node}/output", get(api::output))
            .route("/runs/{id}/resume", post(api::resume))
            .route("/runs/{id}/cancel", post(api::cancel))
            .route("/runs/{id}/signal", post(api::signal))
            .route("/schedules", get(schedules::api));
        Router::new()
            .route("/", get(runs_page))
            .route("/runs/{id}", get(run_page))
            .route("/schedules", get(schedules::html))
            .route("/assets/app.js", get(script))
            .route("/assets/style.css", get(style))
            .route("/metrics", get(metrics))
            .nest("/api", api)
            .layer(axum::middleware::from_fn_with_state(
                Arc::clone(&state),
                auth::guard,
            ))
            .layer(axum::middleware::map_response(security_headers))
            .with_state(state)
    }

    /// Serves the viewer on `listener` until the process ends: at most
    /// [`max_connections`](Viewer::max_connections) at once, each closed when its request's
    /// headers take longer than [`header_timeout`](Viewer::header_timeout). `Err` only when
    /// accepting fails for another reason than a connection's own error or a lack of file
    /// descriptors (which waits and tries again).
    pub async fn serve(self, listener: tokio::net::TcpListener) -> std::io::Result<()> {
        let router = self.router();
        let slots = Arc::new(tokio::sync::Semaphore::new(self.max_connections));
        let mut http = hyper::server::conn::http1::Builder::new();
        http.timer(hyper_util::rt::TokioTimer::new())
            .header_read_timeout(self.header_timeout);
        loop {
            let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
                return Ok(());
            };
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                Err(e) if accept_error_passes(&e) => {
                    // Out of file descriptors, or one connection's own error: wait a little
                    // (as axum's `serve` does) and go on.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
                Err(e) => return Err(e),
            };
            let service = hyper_util::service::TowerToHyperService::new(router.clone());
            let connection = http.serve_connection(hyper_util::rt::TokioIo::new(stream), service);
            tokio::spawn(async move {
                let _slot = slot;
                // A client that goes away or times out ends its connection, nothing more.
                let _ = connection.await;
            });
        }
    }
}

/// Whether an `accept` error is one connection's, or a passing lack of resources.
fn accept_error_passes(error: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        error.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset | Interrupted | WouldBlock
    ) || matches!(error.raw_os_error(), Some(23 | 24 | 105 | 12)) // ENFILE, EMFILE, ENOBUFS, ENOMEM
}

/// What every response says to a browser: the pages load only their own script and style, are
/// never framed, and their types are not sniffed.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; \
     frame-ancestors 'none'";

async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        header::HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        header::HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::X_FRAME_OPTIONS,
        header::HeaderValue::from_static("DENY"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        header::HeaderValue::from_static("no-referrer"),
    );
    response
}

fn error_page(error: api::ApiError) -> Response {
    let title = match error.status() {
        StatusCode::NOT_FOUND => "not found",
        _ => "error",
    };
    let page = pages::error_page(title, error.message());
    (error.status(), Html(page)).into_response()
}

async fn runs_page(
    State(state): State<Arc<AppState>>,
    Query(query): Query<api::ListQuery>,
) -> Response {
    let filter = query.filter();
    match state.index.page(&state.stores, &filter).await {
        Ok(list) => {
            let pipelines = state.index.pipelines().await;
            Html(pages::runs_page(&list, &filter, &pipelines)).into_response()
        }
        Err(e) => error_page(api::ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            e.to_string(),
        )),
    }
}

async fn run_page(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Response {
    match api::view(&state, &id).await {
        Ok((run_id, view)) => {
            // Why a queued fleet run does not run yet (a reader that cannot tell says nothing).
            let queued = state.stores.checkpointer.queue_place(&run_id).await;
            let queued = queued.ok().flatten();
            let detail = RunDetail::of(&view);
            // What a waiting run waits for, with deadlines (read only for one that waits; a
            // reader that cannot tell shows none).
            let waiting = match detail.waiting.is_empty() {
                true => Vec::new(),
                false => {
                    let waits = state.stores.checkpointer.waits(&run_id).await;
                    waits.map(|w| w.waiting).unwrap_or_default()
                }
            };
            // With the pipeline compiled in: a completed run's output, and each signal's
            // payload template (its form starts from it).
            let pipeline = crate::registry::pipeline(&view.checkpoint.header.pipeline)
                .map(|info| (info.pipeline)());
            let output = match (&pipeline, detail.status) {
                (Some(pipeline), "completed") => {
                    let stored = pipeline.stored_output(state.stores.clone(), &view).await;
                    stored.ok().flatten()
                }
                _ => None,
            };
            let inputs = &view.checkpoint.header.inputs;
            let now = crate::store::now_ms();
            let glance = glance::glance(&detail, output.as_deref(), inputs, &waiting, now);
            let template = |wait: &str| pipeline.as_ref()?.signal_template(wait);
            let page = pages::run_page(&detail, queued.as_ref(), &glance, &template);
            Html(page).into_response()
        }
        Err(e) => error_page(e),
    }
}

async fn script() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("assets/app.js"),
    )
}

/// This process's metrics (`pipeline::metrics`), for Prometheus: open on loopback like the
/// pages; beyond it, with `Authorization: Bearer <token>` (Prometheus' `authorization`).
async fn metrics() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)],
        crate::metrics::text(),
    )
}

async fn style() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("assets/style.css"),
    )
}
