//! The real Prometheus (Debian's `prometheus`) scrapes an `ops worker --metrics` process and
//! its query API then says how many runs the worker ended (issue 29).

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Killed, OPS, ORDERS, free_port, ops};

/// `GET path` on 127.0.0.1:`port`: the body, or `None` when nothing answers yet.
fn get(port: u16, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    let request = format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    Some(response.split_once("\r\n\r\n")?.1.to_owned())
}

/// `text` with every byte but letters and digits percent-encoded, for a URL's query.
fn encoded(text: &str) -> String {
    text.bytes()
        .map(|b| match b.is_ascii_alphanumeric() || b == b'_' {
            true => (b as char).to_string(),
            false => format!("%{b:02X}"),
        })
        .collect()
}

#[test]
#[cfg_attr(
    no_postgres,
    ignore = "needs PostgreSQL, which did not answer when the tests were built: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
)]
#[cfg_attr(
    no_prometheus,
    ignore = "needs Debian's prometheus, not installed when the tests were built: apt-get install -y prometheus"
)]
fn prometheus_scrapes_a_worker_and_counts_its_runs() {
    let db = tests::postgres::TestDatabase::create();
    let store = db.url.as_str();
    let dir = tempfile::tempdir().unwrap();

    // A worker with its metrics on a port of its own choosing, which it prints.
    let mut worker = Killed(
        Command::new(OPS)
            .args(["--store", store, "worker", "--metrics", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("a worker starts"),
    );
    let mut lines = BufReader::new(worker.0.stdout.take().unwrap()).lines();
    let said = lines.next().expect("a first line").unwrap();
    let metrics_port: u16 = said
        .strip_prefix("metrics at http://127.0.0.1:")
        .and_then(|rest| rest.strip_suffix("/metrics"))
        .and_then(|port| port.parse().ok())
        .unwrap_or_else(|| panic!("where the metrics are: {said}"));
    let banner = lines.next().expect("the banner").unwrap();
    assert!(banner.contains(" serving "), "{banner}");

    // Two runs it ends: one completes, one fails.
    let rates = dir.path().join("rates.json");
    std::fs::write(&rates, r#"{"EUR": 0.5}"#).unwrap();
    let input = |rates: &str| format!(r#"{{"orders": "{ORDERS}", "rates": "{rates}"}}"#);
    let good = ops(
        store,
        &[
            "submit",
            "Revenue",
            "--input",
            &input(&rates.display().to_string()),
            "--wait",
        ],
    );
    assert_eq!(good.code, 0, "{}{}", good.stdout, good.stderr);
    let missing = dir.path().join("missing.json").display().to_string();
    let bad = ops(
        store,
        &["submit", "Revenue", "--input", &input(&missing), "--wait"],
    );
    assert_eq!(bad.code, 1, "{}{}", bad.stdout, bad.stderr);
    let text = get(metrics_port, "/metrics").expect("the worker answers /metrics");
    assert!(
        text.contains("pipeline_runs_ended_total{pipeline=\"Revenue\",status=\"completed\"} 1\n"),
        "{text}"
    );

    // Prometheus scrapes it every second.
    let prometheus_port = free_port();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: worker\n    \
             static_configs:\n      - targets: ['127.0.0.1:{metrics_port}']\n"
        ),
    )
    .unwrap();
    let _prometheus = Killed(
        Command::new("/usr/bin/prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("tsdb").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{prometheus_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus starts"),
    );
    let query = |q: &str| {
        get(
            prometheus_port,
            &format!("/api/v1/query?query={}", encoded(q)),
        )
    };
    let wanted = [
        (
            "pipeline_runs_ended_total{pipeline=\"Revenue\",status=\"completed\"}",
            "1",
        ),
        (
            "pipeline_runs_ended_total{pipeline=\"Revenue\",status=\"failed\"}",
            "1",
        ),
    ];
    // `{"status":"success","data":{"result":[{"metric":{…},"value":[1.7e9,"1"]}]}}`: the one
    // series' labels and value.
    let answer = |q: &str| -> Option<(serde_json::Value, String)> {
        let json: serde_json::Value = serde_json::from_str(&query(q)?).ok()?;
        let [found] = json["data"]["result"].as_array()?.as_slice() else {
            return None;
        };
        Some((
            found["metric"].clone(),
            found["value"][1].as_str()?.to_owned(),
        ))
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    for (series, value) in wanted {
        loop {
            let found = answer(series);
            if let Some((labels, got)) = &found
                && got == value
            {
                assert_eq!(labels["job"], "worker", "{labels}");
                break;
            }
            assert!(
                Instant::now() < deadline,
                "Prometheus never had {series} = {value}: {found:?}"
            );
            // Prometheus scrapes on its own clock: ask again in a moment.
            std::thread::sleep(Duration::from_millis(250));
        }
    }
    // The worker's attempts are a histogram Prometheus reads as one.
    let (_, attempts) =
        answer("sum(pipeline_node_attempt_duration_seconds_count{pipeline=\"Revenue\"})")
            .expect("the attempts' count");
    assert!(
        attempts.parse::<f64>().is_ok_and(|n| n >= 4.0),
        "{attempts}"
    );
}
