//! Traces over OTLP (issue 29): an OTLP/HTTP receiver inside the test decodes the protobuf the
//! exporter sends (OpenTelemetry's own message types), and the spans of `ops` processes are
//! checked: one trace per run, under the caller's `TRACEPARENT`, the run span the parent of its
//! nodes' spans across two worker processes, attempts inside nodes, a node's own span inside its
//! attempt.

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use common::{Killed, OPS, ORDERS, free_port, ops_with};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use prost::Message;

/// One span as received: ids in hex, its attributes and its process's, as text.
#[derive(Clone, Debug)]
struct Received {
    trace: String,
    id: String,
    parent: String,
    name: String,
    attributes: HashMap<String, String>,
    pid: String,
    error: Option<String>,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn text(attributes: &[KeyValue]) -> HashMap<String, String> {
    attributes
        .iter()
        .filter_map(|kv| {
            let value = match kv.value.as_ref()?.value.as_ref()? {
                Value::StringValue(s) => s.clone(),
                Value::IntValue(i) => i.to_string(),
                Value::BoolValue(b) => b.to_string(),
                other => format!("{other:?}"),
            };
            Some((kv.key.clone(), value))
        })
        .collect()
}

/// An OTLP/HTTP receiver on 127.0.0.1: each `POST /v1/traces` decoded and kept.
#[derive(Clone, Default)]
struct Receiver {
    spans: Arc<(Mutex<Vec<Received>>, Condvar)>,
}

impl Receiver {
    fn start() -> (Receiver, u16) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let receiver = Receiver::default();
        let keep = receiver.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let keep = keep.clone();
                std::thread::spawn(move || keep.serve(stream));
            }
        });
        (receiver, port)
    }

    fn serve(&self, stream: TcpStream) {
        let mut reader = BufReader::new(stream);
        let mut request_line = String::new();
        reader.read_line(&mut request_line).unwrap();
        let mut length = 0;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if line.trim().is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap();
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        assert!(
            request_line.starts_with("POST /v1/traces "),
            "{request_line}"
        );
        let request = ExportTraceServiceRequest::decode(&body[..]).expect("OTLP protobuf");
        let mut received = Vec::new();
        for resource in request.resource_spans {
            let process = text(&resource.resource.map(|r| r.attributes).unwrap_or_default());
            for scope in resource.scope_spans {
                for span in scope.spans {
                    received.push(Received {
                        trace: hex(&span.trace_id),
                        id: hex(&span.span_id),
                        parent: hex(&span.parent_span_id),
                        name: span.name.clone(),
                        attributes: text(&span.attributes),
                        pid: process.get("process.pid").cloned().unwrap_or_default(),
                        // STATUS_CODE_ERROR is 2.
                        error: span.status.filter(|s| s.code == 2).map(|s| s.message),
                    });
                }
            }
        }
        let mut stream = reader.into_inner();
        let answer = "HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\n\
                      Content-Length: 0\r\nConnection: close\r\n\r\n";
        stream.write_all(answer.as_bytes()).unwrap();
        let (spans, arrived) = &*self.spans;
        spans.lock().unwrap().extend(received);
        arrived.notify_all();
    }

    /// The spans received once `done` holds of them (a minute at most).
    fn until(&self, what: &str, done: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        let deadline = Instant::now() + Duration::from_secs(60);
        let (spans, arrived) = &*self.spans;
        let mut spans = spans.lock().unwrap();
        while !done(&spans) {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "{what}: not received in a minute; got {spans:#?}"
            );
            spans = arrived.wait_timeout(spans, left).unwrap().0;
        }
        spans.clone()
    }
}

fn named<'a>(spans: &'a [Received], name: &str) -> Vec<&'a Received> {
    spans.iter().filter(|s| s.name == name).collect()
}

fn one<'a>(spans: &'a [Received], name: &str) -> &'a Received {
    match named(spans, name)[..] {
        [span] => span,
        ref other => panic!("one span `{name}` expected, got {other:#?}"),
    }
}

const CALLER_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

fn otel_env(port: u16) -> Vec<(&'static str, String)> {
    vec![
        (
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            format!("http://127.0.0.1:{port}"),
        ),
        // Batches sent every 50 ms, so the test waits little.
        ("OTEL_BSP_SCHEDULE_DELAY", "50".to_owned()),
        ("TRACEPARENT", format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01")),
    ]
}

/// A worker process sending its spans to the receiver; stopped with Ctrl-C (SIGINT), after which
/// it sends what it has left.
fn worker(store: &str, port: u16) -> Child {
    let mut child = Command::new(OPS)
        .args(["--store", store, "worker"])
        .envs(otel_env(port))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("a worker starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let banner = lines.next().expect("a banner").unwrap();
    assert!(banner.contains(" serving "), "{banner}");
    child
}

fn stop(mut worker: Child) {
    let status = Command::new("kill")
        .args(["-INT", &worker.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(worker.wait().unwrap().success());
}

/// A `Payout` run submitted (under the caller's `TRACEPARENT`) to a first worker process, which
/// plans it and begins its wait, then stops; a second worker, another process, runs the rest
/// once the approval is sent. The run's id, the first worker's process id, and the second
/// worker (running: the caller stops it once its spans are where they are expected).
fn payout_on_two_workers(store: &str, port: u16) -> (String, String, Child) {
    let env = otel_env(port);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let first = worker(store, port);
    let first_pid = first.id().to_string();
    let input = r#"{"cents": 990}"#;
    let submitted = ops_with(store, &["submit", "Payout", "--input", input], &env);
    assert_eq!(
        submitted.code, 0,
        "{}{}",
        submitted.stdout, submitted.stderr
    );
    let run_id = submitted
        .stdout
        .trim()
        .trim_start_matches("submitted ")
        .to_owned();
    // The plan ran and the wait began (committed before the worker stops, which sends its spans).
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ops_with(store, &["show", &run_id], &env)
        .stdout
        .contains("waiting")
    {
        assert!(Instant::now() < deadline, "the run never waited");
        std::thread::sleep(Duration::from_millis(100));
    }
    stop(first);
    let second = worker(store, port);
    let approval = r#"{"by": "finance", "ok": true}"#;
    let sent = ops_with(
        store,
        &["signal", &run_id, "approval", "--value", approval],
        &env,
    );
    assert_eq!(sent.code, 0, "{}{}", sent.stdout, sent.stderr);
    (run_id, first_pid, second)
}

/// Checks the spans of one run: all in the caller's trace, the run span under the caller's span,
/// each node's span under the run span, each attempt's under its node's; returns the run span.
fn check_run<'a>(spans: &'a [Received], run_id: &str, pipeline: &str) -> Vec<&'a Received> {
    let of_run: Vec<&Received> = spans
        .iter()
        .filter(|s| s.attributes.get("pipeline.run_id").map(String::as_str) == Some(run_id))
        .collect();
    let runs: Vec<&&Received> = of_run
        .iter()
        .filter(|s| s.name == format!("run {pipeline}"))
        .collect();
    let [run] = runs[..] else {
        panic!("one run span expected: {of_run:#?}")
    };
    assert_eq!(
        (run.trace.as_str(), run.parent.as_str()),
        (CALLER_TRACE, CALLER_SPAN)
    );
    assert_eq!(run.attributes["pipeline.name"], pipeline);
    for span in spans.iter().filter(|s| s.trace == CALLER_TRACE) {
        if span.name.starts_with("node ") {
            assert_eq!(span.parent, run.id, "{span:#?}");
            assert_eq!(span.attributes["pipeline.run_id"], run_id);
        }
        if span.name.starts_with("attempt ") {
            let node = spans
                .iter()
                .find(|s| s.id == span.parent)
                .expect("the attempt's node");
            assert!(node.name.starts_with("node "), "{node:#?}");
        }
    }
    of_run
}

#[test]
#[cfg_attr(
    no_postgres,
    ignore = "needs PostgreSQL, which did not answer when the tests were built: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
)]
fn a_fleet_run_is_one_trace_across_two_workers_under_the_callers_span() {
    let db = tests::postgres::TestDatabase::create();
    let store = db.url.as_str();
    let (receiver, port) = Receiver::start();
    let (run_id, first_pid, second) = payout_on_two_workers(store, port);
    let second_pid = second.id().to_string();
    let spans = receiver.until("the run's span", |s| {
        s.iter().any(|s| s.name == "run Payout")
    });
    stop(second);

    let of_run = check_run(&spans, &run_id, "Payout");
    let run = one(&spans, "run Payout");
    assert_eq!(run.attributes["pipeline.status"], "completed");
    let plan = one(&spans, "node plan");
    let paid = one(&spans, "node paid");
    // Two processes, one trace: the plan on the first worker, the payout on the second.
    assert_eq!(
        (plan.pid.as_str(), paid.pid.as_str()),
        (first_pid.as_str(), second_pid.as_str())
    );
    assert_eq!(
        run.pid, second_pid,
        "the worker that ended the run made its span"
    );
    assert!(of_run.iter().all(|s| s.trace == CALLER_TRACE));
    // The node's own span is a child of its attempt.
    let check = one(&spans, "payout.check");
    let attempt = spans
        .iter()
        .find(|s| s.id == check.parent)
        .unwrap_or_else(|| panic!("the check's parent: {spans:#?}"));
    assert_eq!(
        (attempt.name.as_str(), attempt.parent.as_str()),
        ("attempt 1", plan.id.as_str())
    );
    assert_eq!(check.trace, CALLER_TRACE);
}

#[test]
fn a_run_in_one_process_is_one_trace_and_a_failed_attempt_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store").display().to_string();
    let (receiver, port) = Receiver::start();
    let env = otel_env(port);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let missing = dir.path().join("missing.json").display().to_string();
    let input = format!(r#"{{"orders": "{ORDERS}", "rates": "{missing}"}}"#);
    let args = ["run", "Revenue", "--run-id", "traced-1", "--input", &input];
    let out = ops_with(&store, &args, &env);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    // The process sent its spans before it exited.
    let spans = receiver.until("the run's span", |s| {
        s.iter().any(|s| s.name == "run Revenue")
    });
    check_run(&spans, "traced-1", "Revenue");
    let run = one(&spans, "run Revenue");
    assert_eq!(run.attributes["pipeline.status"], "failed");
    assert!(run.error.is_some(), "{run:#?}");
    let rates = one(&spans, "node table");
    let failed: Vec<&Received> = spans
        .iter()
        .filter(|s| s.parent == rates.id && s.name.starts_with("attempt "))
        .collect();
    assert!(!failed.is_empty(), "{spans:#?}");
    for attempt in failed {
        let error = attempt.error.as_deref().expect("a failed attempt's status");
        assert!(error.contains("missing.json"), "{error}");
    }
}

#[test]
fn a_sync_nodes_own_span_is_a_child_of_its_attempt_in_one_process_too() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store").display().to_string();
    let (receiver, port) = Receiver::start();
    let env = otel_env(port);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let args = [
        "run",
        "Payout",
        "--run-id",
        "payout-1",
        "--input",
        r#"{"cents": 5}"#,
    ];
    let out = ops_with(&store, &args, &env);
    // It waits for the approval.
    assert_eq!(out.code, 2, "{}{}", out.stdout, out.stderr);
    let spans = receiver.until("the run's span", |s| {
        s.iter().any(|s| s.name == "run Payout")
    });
    check_run(&spans, "payout-1", "Payout");
    assert_eq!(
        one(&spans, "run Payout").attributes["pipeline.status"],
        "waiting"
    );
    // The body of the sync `plan_payout` runs on the blocking pool, inside its attempt's span.
    let check = one(&spans, "payout.check");
    let attempt = spans
        .iter()
        .find(|s| s.id == check.parent)
        .expect("the check's parent");
    let plan = one(&spans, "node plan");
    assert_eq!(
        (attempt.name.as_str(), attempt.parent.as_str()),
        ("attempt 1", plan.id.as_str())
    );
}

/// `GET path` on 127.0.0.1:`port`: the body of a 200, or `None`.
fn get(port: u16, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .ok()?;
    let request = format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.1 200").then(|| body.to_owned())
}

/// The same fleet run, exported to a real OpenTelemetry backend: Arize Phoenix (from PyPI; an
/// OTLP collector with a trace UI, `.ci/run` installs it). What it stored, read back from its
/// REST API, is one trace under the caller's span: the run span, each node's span under it
/// (from both workers), each attempt's under its node's, the node's own span under its attempt.
#[test]
#[cfg_attr(
    no_postgres,
    ignore = "needs PostgreSQL, which did not answer when the tests were built: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
)]
#[cfg_attr(
    no_phoenix,
    ignore = "needs Arize Phoenix, not installed when the tests were built: python3 -m venv ~/.cache/pipeline-ci/phoenix-20.26.1 && ~/.cache/pipeline-ci/phoenix-20.26.1/bin/pip install arize-phoenix==20.26.1"
)]
fn phoenix_stores_a_fleet_run_as_one_trace() {
    let db = tests::postgres::TestDatabase::create();
    let store = db.url.as_str();
    let (port, grpc) = (free_port(), free_port());
    let data = tempfile::tempdir().unwrap();
    let _phoenix = Killed(
        Command::new(env!("PIPELINE_PHOENIX"))
            .arg("serve")
            .env("PHOENIX_PORT", port.to_string())
            .env("PHOENIX_GRPC_PORT", grpc.to_string())
            .env("PHOENIX_WORKING_DIR", data.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("phoenix starts"),
    );
    // Its first start (a Python server, a database to create) takes seconds.
    let deadline = Instant::now() + Duration::from_secs(180);
    while get(port, "/v1/projects").is_none() {
        assert!(
            Instant::now() < deadline,
            "Phoenix did not answer in three minutes"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let (run_id, _, second) = payout_on_two_workers(store, port);
    let deadline = Instant::now() + Duration::from_secs(60);
    let spans = loop {
        let body = get(port, "/v1/projects/default/spans?limit=100").unwrap_or_default();
        let json: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        let spans: Vec<Received> = json["data"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|s| Received {
                trace: s["context"]["trace_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                id: s["context"]["span_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                parent: s["parent_id"].as_str().unwrap_or_default().to_owned(),
                name: s["name"].as_str().unwrap_or_default().to_owned(),
                attributes: s["attributes"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(k, v)| (k.clone(), v.as_str().map_or(v.to_string(), str::to_owned)))
                    .collect(),
                pid: String::new(),
                error: None,
            })
            .collect();
        if spans.iter().any(|s| s.name == "run Payout")
            && spans.iter().any(|s| s.name == "node paid")
        {
            break spans;
        }
        assert!(
            Instant::now() < deadline,
            "Phoenix has not the run's spans: {spans:#?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    stop(second);
    check_run(&spans, &run_id, "Payout");
    let check = one(&spans, "payout.check");
    let attempt = spans
        .iter()
        .find(|s| s.id == check.parent)
        .expect("the check's parent");
    assert_eq!(attempt.parent, one(&spans, "node plan").id);
    assert_eq!(
        one(&spans, "node paid").parent,
        one(&spans, "run Payout").id
    );
}
