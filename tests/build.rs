// Decides, when the tests are built, which of the machine's servers and tools they can use. A
// test that needs one that is missing is compiled `#[ignore]`d, with the reason and the command
// that provides it (`cargo test` then reports it as ignored, never as passed):
//
// - `no_postgres`: no PostgreSQL answers at `PIPELINE_TEST_POSTGRES` (by default
//   `postgres://postgres@127.0.0.1:5432/postgres`);
// - `no_chromium`: Debian's `/usr/bin/chromium` or `/usr/bin/chromedriver` is not installed;
// - `no_prometheus`: Debian's `/usr/bin/prometheus` is not installed;
// - `no_phoenix`: Arize Phoenix (an OpenTelemetry collector with a trace UI, from PyPI) is not
//   installed at `PIPELINE_PHOENIX` (by default where `.ci/run` installs it,
//   `~/.cache/pipeline-ci/phoenix-20.26.1/bin/phoenix`); the tests read its path from
//   `env!("PIPELINE_PHOENIX")`.
//
// Under `CI=true` none is ever set: there a missing server or browser fails its tests.
//
// The answers are built in, so they are looked at again when what they depend on changes: the
// environment variables above, `/usr/bin` (where the browser and PostgreSQL's commands are
// installed) and PostgreSQL's socket directory (where a starting or stopping server creates or
// removes its socket). `examples/build.rs` is this file too.

use std::net::{TcpStream, ToSocketAddrs};
use std::path::Path;
use std::time::Duration;

const DEFAULT_SERVER: &str = "postgres://postgres@127.0.0.1:5432/postgres";
const SOCKETS: &str = "/var/run/postgresql";

fn main() {
    println!("cargo::rustc-check-cfg=cfg(no_postgres, no_chromium, no_prometheus, no_phoenix)");
    println!("cargo::rerun-if-changed=build.rs");
    let phoenix = std::env::var("PIPELINE_PHOENIX").unwrap_or_else(|_| {
        let home = std::env::var("HOME").unwrap_or_else(|_| "/root".to_owned());
        format!("{home}/.cache/pipeline-ci/phoenix-20.26.1/bin/phoenix")
    });
    println!("cargo::rustc-env=PIPELINE_PHOENIX={phoenix}");
    println!("cargo::rerun-if-changed={phoenix}");
    for var in ["CI", "PIPELINE_TEST_POSTGRES", "PIPELINE_PHOENIX", "HOME"] {
        println!("cargo::rerun-if-env-changed={var}");
    }
    println!("cargo::rerun-if-changed=/usr/bin");
    if Path::new(SOCKETS).is_dir() {
        println!("cargo::rerun-if-changed={SOCKETS}");
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        return;
    }
    let server = std::env::var("PIPELINE_TEST_POSTGRES").unwrap_or(DEFAULT_SERVER.to_owned());
    if !answers(&server) {
        println!("cargo::rustc-cfg=no_postgres");
        println!(
            "cargo::warning=PostgreSQL does not answer at {server}: the tests that need it are \
             ignored. Start it with: pg_ctlcluster --skip-systemctl-redirect \
             $(ls /etc/postgresql) main start"
        );
    }
    if !["/usr/bin/chromium", "/usr/bin/chromedriver"]
        .iter()
        .all(|path| Path::new(path).exists())
    {
        println!("cargo::rustc-cfg=no_chromium");
        println!(
            "cargo::warning=Debian's chromium and chromium-driver are not installed: the \
             browser tests are ignored. Install them with: apt-get install -y chromium \
             chromium-driver"
        );
    }
    if !Path::new(&phoenix).exists() {
        println!("cargo::rustc-cfg=no_phoenix");
        println!(
            "cargo::warning=Arize Phoenix is not installed at {phoenix}: the test that exports \
             traces to it is ignored. Install it with: python3 -m venv \
             ~/.cache/pipeline-ci/phoenix-20.26.1 && \
             ~/.cache/pipeline-ci/phoenix-20.26.1/bin/pip install arize-phoenix==20.26.1"
        );
    }
    if !Path::new("/usr/bin/prometheus").exists() {
        println!("cargo::rustc-cfg=no_prometheus");
        println!(
            "cargo::warning=Debian's prometheus is not installed: the test that scrapes a worker \
             with it is ignored. Install it with: apt-get install -y prometheus"
        );
    }
}

/// Whether something listens at the host and port of the URL `server`
/// (`postgres://USER@HOST:PORT/DATABASE`). A URL this cannot read is taken to answer: its tests
/// then run, and say what is wrong with it.
fn answers(server: &str) -> bool {
    let Some(address) = host_and_port(server) else {
        return true;
    };
    let Ok(addresses) = address.to_socket_addrs() else {
        return false;
    };
    addresses
        .into_iter()
        .any(|at| TcpStream::connect_timeout(&at, Duration::from_secs(2)).is_ok())
}

fn host_and_port(server: &str) -> Option<String> {
    let rest = server.split_once("://")?.1;
    let authority = rest.split(['/', '?']).next()?;
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    match host {
        "" => None,
        host if host.contains(':') && !host.ends_with(']') => Some(host.to_owned()),
        host => Some(format!("{host}:5432")),
    }
}
