//! The run viewer's JSON API and pages, in process (`Viewer::router` served by `tower`'s
//! `oneshot`): statuses of completed, failed and interrupted runs, a node's error and values,
//! paging, the token and origin rules, escaping, and resume from the API.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use pipeline::web::Viewer;
use serde_json::Value;
use tests::web::{Runs, SCRIPT, make_runs};
use tower::ServiceExt;

const TOKEN: &str = "test-token-0123456789abcdef";

struct Reply {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

async fn send(viewer: &axum::Router, request: Request<Body>) -> Reply {
    let response = viewer.clone().oneshot(request).await.expect("infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body");
    Reply {
        status,
        headers,
        body: String::from_utf8(bytes.to_vec()).expect("utf-8"),
    }
}

fn get(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).expect("request")
}

fn post(uri: &str) -> axum::http::request::Builder {
    Request::post(uri).header(header::HOST, "127.0.0.1:8080")
}

async fn setup() -> (tempfile::TempDir, Runs, axum::Router) {
    let dir = tempfile::tempdir().expect("tempdir");
    let runs = make_runs(dir.path()).await;
    let router = Viewer::new(runs.stores.clone()).with_token(TOKEN).router();
    (dir, runs, router)
}

#[tokio::test]
async fn the_run_list_gives_each_run_its_status_newest_first() {
    let (_dir, runs, viewer) = setup().await;
    let list = send(&viewer, get("/api/runs")).await.json();
    let rows: Vec<(String, String)> = list["runs"]
        .as_array()
        .expect("runs")
        .iter()
        .map(|r| {
            (
                r["run_id"].as_str().unwrap().to_owned(),
                r["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        vec![
            (runs.interrupted.to_string(), "interrupted".to_owned()),
            (runs.failed.to_string(), "failed".to_owned()),
            (runs.completed.to_string(), "completed".to_owned()),
        ]
    );
    // Paging and filters.
    let first = send(&viewer, get("/api/runs?limit=2")).await.json();
    assert_eq!(first["runs"].as_array().unwrap().len(), 2);
    let next = first["next"].as_str().expect("a next page");
    let second = send(&viewer, get(&format!("/api/runs?limit=2&before={next}")))
        .await
        .json();
    assert_eq!(second["runs"][0]["run_id"], runs.completed.to_string());
    assert!(second["next"].is_null());
    let failed = send(&viewer, get("/api/runs?status=failed")).await.json();
    assert_eq!(failed["runs"].as_array().unwrap().len(), 1);
    let hanging = send(&viewer, get("/api/runs?pipeline=Hanging"))
        .await
        .json();
    assert_eq!(hanging["runs"][0]["run_id"], runs.interrupted.to_string());
    // The page shows the same.
    let page = send(&viewer, get("/")).await;
    assert_eq!(page.status, StatusCode::OK);
    for (id, status) in [
        (&runs.completed, "completed"),
        (&runs.failed, "failed"),
        (&runs.interrupted, "interrupted"),
    ] {
        assert!(
            page.body
                .contains(&format!("data-run=\"{id}\" data-status=\"{status}\"")),
            "{id} {status} in {}",
            page.body
        );
    }
}

#[tokio::test]
async fn a_run_gives_each_node_its_status_attempts_and_values() {
    let (_dir, runs, viewer) = setup().await;
    let failed = send(&viewer, get(&format!("/api/runs/{}", runs.failed)))
        .await
        .json();
    let statuses: Vec<(&str, &str)> = failed["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (n["id"].as_str().unwrap(), n["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        statuses,
        vec![("text", "failed"), ("loud", "not_run"), ("html", "not_run")]
    );
    let text = send(
        &viewer,
        get(&format!("/api/runs/{}/nodes/text", runs.failed)),
    )
    .await
    .json();
    let error = text["node"]["attempts"][0]["error"]
        .as_str()
        .expect("an error");
    assert!(error.contains("No such file"), "{error}");
    assert_eq!(text["inputs"]["path"], runs.missing.display().to_string());
    assert!(text["output"].is_null());

    let interrupted = send(
        &viewer,
        get(&format!("/api/runs/{}/status", runs.interrupted)),
    )
    .await
    .json();
    assert_eq!(interrupted["status"], "interrupted");
    assert_eq!(interrupted["nodes"]["text"], "completed");
    assert_eq!(interrupted["nodes"]["held"], "no_outcome");

    let html = send(
        &viewer,
        get(&format!("/api/runs/{}/nodes/html", runs.completed)),
    )
    .await
    .json();
    assert_eq!(html["output"], format!("{SCRIPT}HELLO"));
    // The page draws each node with its status.
    let page = send(&viewer, get(&format!("/runs/{}", runs.failed)))
        .await
        .body;
    assert!(
        page.contains("class=\"node s-failed\" data-node=\"text\""),
        "{page}"
    );
    assert!(
        page.contains("class=\"node s-not_run\" data-node=\"loud\""),
        "{page}"
    );
    assert!(
        !page.contains("<script>window"),
        "values are not in the page: {page}"
    );

    let unknown = send(
        &viewer,
        get("/api/runs/01a22a60-0000-7000-8000-000000000000"),
    )
    .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let bad = send(&viewer, get("/runs/%3Cscript%3Ealert(1)%3C%2Fscript%3E")).await;
    assert!(!bad.body.contains("<script>alert"), "{}", bad.body);
}

#[tokio::test]
async fn actions_need_the_token_and_the_same_origin() {
    let (_dir, runs, viewer) = setup().await;
    let uri = format!("/api/runs/{}/resume", runs.failed);
    let bare = send(&viewer, post(&uri).body(Body::empty()).unwrap()).await;
    assert_eq!(bare.status, StatusCode::UNAUTHORIZED, "{}", bare.body);
    let wrong = post(&uri).header(header::AUTHORIZATION, "Bearer nope");
    assert_eq!(
        send(&viewer, wrong.body(Body::empty()).unwrap())
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    let foreign = post(&uri)
        .header(header::COOKIE, format!("pipeline_token={TOKEN}"))
        .header(header::ORIGIN, "http://evil.example");
    let refused = send(&viewer, foreign.body(Body::empty()).unwrap()).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    // The URL `serve` prints sets the cookie and drops the token from the address.
    let login = send(&viewer, get(&format!("/?token={TOKEN}"))).await;
    assert_eq!(login.status, StatusCode::SEE_OTHER);
    assert_eq!(login.headers[header::LOCATION], "/");
    let cookie = login.headers[header::SET_COOKIE].to_str().unwrap();
    assert!(cookie.starts_with(&format!("pipeline_token={TOKEN}")) && cookie.contains("HttpOnly"));
    // A page of another site pointed at 127.0.0.1 (DNS rebinding) names its own host.
    let rebound = Request::get("/api/runs")
        .header(header::HOST, "evil.example:8080")
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&viewer, rebound).await.status, StatusCode::FORBIDDEN);
    for host in ["127.0.0.1:8080", "localhost:8080", "[::1]:8080"] {
        let local = Request::get("/api/runs")
            .header(header::HOST, host)
            .body(Body::empty())
            .unwrap();
        assert_eq!(send(&viewer, local).await.status, StatusCode::OK, "{host}");
    }
    // Nothing was resumed by the refused requests.
    let status = send(&viewer, get(&format!("/api/runs/{}/status", runs.failed)))
        .await
        .json();
    assert_eq!(status["status"], "failed");
}

#[tokio::test]
async fn a_private_viewer_needs_the_token_to_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let runs = make_runs(dir.path()).await;
    let viewer = Viewer::new(runs.stores.clone())
        .with_token(TOKEN)
        .private(true)
        .router();
    assert_eq!(
        send(&viewer, get("/api/runs")).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        send(&viewer, get("/")).await.status,
        StatusCode::UNAUTHORIZED
    );
    let with = Request::get("/api/runs")
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&viewer, with).await.status, StatusCode::OK);
}

#[tokio::test]
async fn resume_from_the_api_completes_a_failed_run() {
    let (_dir, runs, viewer) = setup().await;
    let uri = format!("/api/runs/{}/resume", runs.failed);
    let authorized = || {
        post(&uri)
            .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
            .header(header::ORIGIN, "http://127.0.0.1:8080")
            .body(Body::empty())
            .unwrap()
    };
    let completed = send(
        &viewer,
        post(&format!("/api/runs/{}/resume", runs.completed))
            .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(completed.status, StatusCode::CONFLICT, "{}", completed.body);
    runs.fix();
    let accepted = send(&viewer, authorized()).await;
    assert_eq!(accepted.status, StatusCode::ACCEPTED, "{}", accepted.body);
    // The resume runs in the server; follow it as the page does.
    let mut status = Value::Null;
    for _ in 0..500 {
        status = send(&viewer, get(&format!("/api/runs/{}/status", runs.failed)))
            .await
            .json();
        if status["status"] == "completed" {
            break;
        }
        tokio::task::yield_now().await;
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(status["status"], "completed", "{status}");
    assert_eq!(status["nodes"]["html"], "completed");
}

/// Polls the run's status as the page does until it is `want`.
async fn until_status(viewer: &axum::Router, run_id: &str, want: &str) -> Value {
    until(viewer, run_id, want, |status| status["status"] == want).await
}

/// Polls the run's status as the page does until `done` holds of it.
async fn until(
    viewer: &axum::Router,
    run_id: &str,
    want: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let mut status = Value::Null;
    for _ in 0..1000 {
        status = send(viewer, get(&format!("/api/runs/{run_id}/status")))
            .await
            .json();
        if done(&status) {
            return status;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("run {run_id} never became {want}: {status}");
}

fn action(uri: &str, body: Option<Value>) -> Request<Body> {
    let builder = post(uri)
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
        .header(header::CONTENT_TYPE, "application/json");
    let body = body.map_or_else(Body::empty, |b| Body::from(b.to_string()));
    builder.body(body).expect("request")
}

#[tokio::test]
async fn a_signal_from_the_api_continues_a_waiting_run_and_a_wrong_one_is_refused() {
    let (dir, runs, viewer) = setup().await;
    let id = tests::web::waiting_run(&runs.stores, dir.path())
        .await
        .to_string();
    let run = send(&viewer, get(&format!("/api/runs/{id}"))).await.json();
    assert_eq!(run["status"], "waiting");
    assert_eq!(run["waiting"], serde_json::json!(["reply"]));
    let uri = format!("/api/runs/{id}/signal");
    let wrong_type = send(
        &viewer,
        action(
            &uri,
            Some(serde_json::json!({"wait": "reply", "payload": 5})),
        ),
    )
    .await;
    assert_eq!(
        wrong_type.status,
        StatusCode::BAD_REQUEST,
        "{}",
        wrong_type.body
    );
    let unknown = send(
        &viewer,
        action(
            &uri,
            Some(serde_json::json!({"wait": "nope", "payload": "x"})),
        ),
    )
    .await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST, "{}", unknown.body);
    assert!(
        unknown.json()["error"]
            .as_str()
            .unwrap_or_default()
            .contains("nope"),
        "{}",
        unknown.body
    );
    let sent = send(
        &viewer,
        action(
            &uri,
            Some(serde_json::json!({"wait": "reply", "payload": "yes"})),
        ),
    )
    .await;
    assert_eq!(sent.status, StatusCode::ACCEPTED, "{}", sent.body);
    until_status(&viewer, &id, "completed").await;
    let loud = send(&viewer, get(&format!("/api/runs/{id}/nodes/loud")))
        .await
        .json();
    assert_eq!(loud["output"], "YES");
}

#[tokio::test]
async fn cancel_from_the_api_ends_a_waiting_run_and_a_resume_the_server_runs() {
    let (dir, runs, viewer) = setup().await;
    let waiting = tests::web::waiting_run(&runs.stores, dir.path())
        .await
        .to_string();
    let cancelled = send(
        &viewer,
        action(&format!("/api/runs/{waiting}/cancel"), None),
    )
    .await;
    assert_eq!(cancelled.status, StatusCode::ACCEPTED, "{}", cancelled.body);
    until_status(&viewer, &waiting, "cancelled").await;

    // The interrupted run hangs in `held` when resumed: the server runs it until cancelled.
    let id = runs.interrupted.to_string();
    let resumed = send(&viewer, action(&format!("/api/runs/{id}/resume"), None)).await;
    assert_eq!(resumed.status, StatusCode::ACCEPTED, "{}", resumed.body);
    // The run holds its lock before it writes the summary that names the restored nodes.
    let running = until(&viewer, &id, "running, `text` restored", |s| {
        s["status"] == "running" && s["nodes"]["text"] == "restored"
    })
    .await;
    assert_eq!(running["nodes"]["held"], "running");
    let again = send(&viewer, action(&format!("/api/runs/{id}/resume"), None)).await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);
    let cancel = send(&viewer, action(&format!("/api/runs/{id}/cancel"), None)).await;
    assert_eq!(cancel.status, StatusCode::ACCEPTED, "{}", cancel.body);
    until_status(&viewer, &id, "cancelled").await;
    let ended = send(
        &viewer,
        action(&format!("/api/runs/{}/cancel", runs.completed), None),
    )
    .await;
    assert_eq!(ended.status, StatusCode::CONFLICT, "{}", ended.body);
}

/// The run list, a run's statuses and a resume, on `stores`.
async fn lists_and_resumes_on(stores: pipeline::store::Stores, dir: &std::path::Path) {
    let runs = tests::web::make_runs_in(stores.clone(), dir).await;
    let viewer = Viewer::new(stores).with_token(TOKEN).router();
    let list = send(&viewer, get("/api/runs")).await.json();
    let statuses: Vec<(&str, &str)> = list["runs"]
        .as_array()
        .expect("runs")
        .iter()
        .map(|r| (r["run_id"].as_str().unwrap(), r["status"].as_str().unwrap()))
        .collect();
    let (completed, failed, interrupted) = (
        runs.completed.to_string(),
        runs.failed.to_string(),
        runs.interrupted.to_string(),
    );
    assert_eq!(
        statuses,
        vec![
            (interrupted.as_str(), "interrupted"),
            (failed.as_str(), "failed"),
            (completed.as_str(), "completed"),
        ]
    );
    let held = send(&viewer, get(&format!("/api/runs/{interrupted}/status")))
        .await
        .json();
    assert_eq!(held["nodes"]["held"], "no_outcome", "{held}");
    runs.fix();
    let resumed = send(&viewer, action(&format!("/api/runs/{failed}/resume"), None)).await;
    assert_eq!(resumed.status, StatusCode::ACCEPTED, "{}", resumed.body);
    until_status(&viewer, &failed, "completed").await;
}

#[tokio::test]
async fn the_viewer_reads_and_resumes_runs_in_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = format!("sqlite://{}", dir.path().join("runs.db").display());
    let stores = pipeline::store::Stores::open(&spec).expect("sqlite store");
    lists_and_resumes_on(stores, dir.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    no_postgres,
    ignore = "needs PostgreSQL, which did not answer when the tests were built: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
)]
async fn the_viewer_reads_and_resumes_runs_in_postgres() {
    let db = tests::postgres::TestDatabase::create();
    let dir = tempfile::tempdir().expect("tempdir");
    let stores = pipeline::store::Stores::open(&db.url).expect("postgres store");
    lists_and_resumes_on(stores, dir.path()).await;
}

/// Noted on each tick of its schedules (the viewer only lists them here).
#[pipeline::node]
fn noted(day: String) -> String {
    day
}

pipeline::pipeline! {
    /// A pipeline with two schedules, for the viewer's schedule list.
    #[schedule(cron = "0 3 * * *", tz = "Europe/Paris", inputs = nightly)]
    #[schedule(name = "hourly", cron = "0 * * * *", inputs = nightly)]
    pub Scheduled(day: String) -> String {
        note = noted(day);
        note
    }
}

fn nightly(tick: &pipeline::schedule::Tick) -> ScheduledInputs {
    ScheduledInputs { day: tick.date() }
}

pipeline::pipeline! {
    /// A schedule in a time zone no system knows.
    #[schedule(cron = "0 3 * * *", tz = "Mars/Olympus", inputs = on_mars)]
    pub Misplaced(day: String) -> String {
        note = noted(day);
        note
    }
}

fn on_mars(tick: &pipeline::schedule::Tick) -> MisplacedInputs {
    MisplacedInputs { day: tick.date() }
}

#[tokio::test]
async fn the_schedules_of_the_pipelines_compiled_in_are_listed_with_their_next_tick() {
    let (_dir, _runs, viewer) = setup().await;
    let reply = send(&viewer, get("/api/schedules")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let rows = reply.json();
    let of = |pipeline: &str| -> Vec<Value> {
        let rows = rows.as_array().unwrap().iter();
        rows.filter(|row| row["pipeline"] == pipeline)
            .cloned()
            .collect()
    };
    let ours = of("Scheduled");
    let names: Vec<&str> = ours.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["nightly", "hourly"]);
    let nightly = &ours[0];
    assert_eq!(
        (nightly["cron"].as_str(), nightly["time_zone"].as_str()),
        (Some("0 3 * * *"), Some("Europe/Paris"))
    );
    assert_eq!(nightly["missed"], "skip");
    let next = nightly["next"].as_str().unwrap();
    assert!(
        next.contains("T03:00:00+0") && next.ends_with("[Europe/Paris]"),
        "{next}"
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let wait = nightly["next_ms"].as_i64().unwrap() - now.as_millis() as i64;
    assert!(
        (0..=24 * 3600 * 1000).contains(&wait),
        "next tick in {wait} ms"
    );
    // An unknown time zone makes a pipeline's schedules unable to fire here: a row says so.
    let misplaced = of("Misplaced");
    assert_eq!(misplaced.len(), 1, "{rows}");
    let error = misplaced[0]["error"].as_str().unwrap();
    assert!(error.contains("`Mars/Olympus` is unknown"), "{error}");
    let page = send(&viewer, get("/schedules")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("data-schedule=\"Scheduled/hourly\""),
        "{}",
        page.body
    );
    assert!(page.body.contains("Mars/Olympus"), "{}", page.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    no_postgres,
    ignore = "needs PostgreSQL, which did not answer when the tests were built: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
)]
async fn a_queued_fleet_run_says_which_key_and_limit_it_waits_for_and_its_place() {
    let db = tests::postgres::TestDatabase::create();
    let store = pipeline::store::PostgresStore::open(&db.url).unwrap();
    store.migrate().await.unwrap();
    // One run of a customer at a time; no worker runs, so the first holds the place.
    let mut g = pipeline::GraphBuilder::<String>::new("billing");
    let customer = g.input("customer", |c: &String| c.clone());
    g.limit_runs(|c: &String| c.clone(), 1);
    let bill = g
        .node("bill")
        .run(customer, |c, _| async move { Ok::<_, std::io::Error>(c) });
    let engine = pipeline::PipelineEngine::new(g.build(bill).unwrap()).fleet(store);
    let first = engine.submit("acme".into()).await.unwrap();
    let second = engine.submit("acme".into()).await.unwrap();
    let third = engine.submit("acme".into()).await.unwrap();
    let stores = pipeline::store::Stores::open(&db.url).unwrap();
    let viewer = Viewer::new(stores).with_token(TOKEN).router();
    let run = send(&viewer, get(&format!("/api/runs/{third}")))
        .await
        .json();
    assert_eq!(
        run["queued"],
        serde_json::json!({"key": "\"acme\"", "runs": 1, "position": 2, "queued": 2}),
        "{run}"
    );
    let run = send(&viewer, get(&format!("/api/runs/{first}")))
        .await
        .json();
    assert!(run.get("queued").is_none(), "{run}");
    let page = send(&viewer, get(&format!("/runs/{second}"))).await;
    assert!(
        page.body
            .contains("queued: 1 of 2 queued runs of key &quot;acme&quot;")
            || page
                .body
                .contains("queued: 1 of 2 queued runs of key \"acme\""),
        "{}",
        page.body
    );
}

/// A node restored from the cache: its status is `cached`, its attempt says where the output
/// came from, and the page draws it in the cache's own colour.
#[tokio::test]
async fn a_cached_node_is_shown_cached_with_the_run_it_came_from() {
    use pipeline::cache::NodeCache;
    use pipeline::{GraphBuilder, PipelineEngine};
    let dir = tempfile::tempdir().expect("tempdir");
    let stores = pipeline::store::Stores::open(dir.path()).expect("a directory store");
    let mut g = GraphBuilder::<u64>::new("cached");
    let x = g.input("x", |x: &u64| *x);
    let double = g
        .node("double")
        .cache(NodeCache::new("web_api::double", "v1"))
        .run(x, |x: u64, _| async move { Ok::<_, std::io::Error>(x * 2) });
    let engine = PipelineEngine::new(g.build(double).unwrap()).stores(stores.clone());
    let first = engine.run(21).await.unwrap();
    let second = engine.run(21).await.unwrap();
    let viewer = Viewer::new(stores).with_token(TOKEN).router();
    let run = send(&viewer, get(&format!("/api/runs/{}", second.run_id)))
        .await
        .json();
    let node = &run["nodes"][0];
    assert_eq!(node["status"], "cached", "{run}");
    assert_eq!(node["attempts"][0]["status"], "cached");
    assert_eq!(node["attempts"][0]["attempt"], 0);
    assert_eq!(node["attempts"][0]["cached_from"], first.run_id.to_string());
    let ran = send(&viewer, get(&format!("/api/runs/{}", first.run_id)))
        .await
        .json();
    assert_eq!(ran["nodes"][0]["status"], "completed");
    assert!(ran["nodes"][0]["attempts"][0]["cached_from"].is_null());
    let page = send(&viewer, get(&format!("/runs/{}", second.run_id)))
        .await
        .body;
    assert!(
        page.contains("class=\"node s-cached\" data-node=\"double\""),
        "{page}"
    );
}
