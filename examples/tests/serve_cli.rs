//! `ops serve` through the real binary: it prints the URL with its token, serves the run list
//! and a run's JSON, refuses actions without the token, needs the token for every page when it
//! listens beyond this machine, and refuses a short token and an address in use.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};

use common::{OPS, ORDERS, one_line_error, ops};

/// A running `ops serve`, killed when dropped.
struct Server {
    child: Child,
    addr: String,
    token: String,
    said: Vec<String>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `ops --store STORE serve ARGS...` and reads the address and token it prints.
fn serve(store: &str, args: &[&str]) -> Server {
    let mut child = Command::new(OPS)
        .args(["--store", store, "serve"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("ops starts");
    let mut said = Vec::new();
    let mut lines = BufReader::new(child.stdout.take().expect("stdout"))
        .lines()
        .map_while(Result::ok);
    for line in lines.by_ref() {
        said.push(line.clone());
        if let Some(url) = line.strip_prefix("open http://") {
            let (addr, token) = url.split_once("/?token=").expect(&line);
            let (addr, token) = (addr.to_owned(), token.to_owned());
            // The rest of what it says at start.
            said.extend(lines.by_ref().take(2));
            return Server {
                child,
                addr,
                token,
                said,
            };
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("serve printed no URL: {said:?}");
}

/// One HTTP/1.1 request to the server: the status code and the body.
fn request(server: &Server, method: &str, path: &str, headers: &[String]) -> (u16, String) {
    let mut stream = TcpStream::connect(&server.addr).expect("connect");
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
        server.addr
    );
    for header in headers {
        head.push_str(header);
        head.push_str("\r\n");
    }
    head.push_str("Content-Length: 0\r\n\r\n");
    stream.write_all(head.as_bytes()).expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("receive");
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not HTTP: {response}"));
    let body = response
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_owned();
    (status, body)
}

fn failed_run(store: &str) -> String {
    let inputs = format!(r#"{{"orders": "{ORDERS}", "rates": "/nonexistent/rates.json"}}"#);
    let run = ops(store, &["run", "Revenue", "--input", &inputs]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let line = run
        .stdout
        .lines()
        .find(|l| l.starts_with("run "))
        .expect(&run.stdout);
    line.split_whitespace().nth(1).expect(line).to_owned()
}

#[test]
fn serve_prints_its_url_and_token_and_guards_actions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("runs").display().to_string();
    let run_id = failed_run(&store);
    let server = serve(&store, &["--listen", "127.0.0.1:0"]);
    assert!(
        server
            .said
            .iter()
            .any(|l| l.contains("actions need the token")),
        "{:?}",
        server.said
    );
    let (status, body) = request(&server, "GET", "/api/runs", &[]);
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains(&format!(
            r#""run_id":"{run_id}","pipeline":"Revenue","status":"failed""#
        )),
        "{body}"
    );
    let (status, body) = request(&server, "GET", &format!("/runs/{run_id}"), &[]);
    assert_eq!(status, 200);
    assert!(body.contains("data-node=\"table\""), "{body}");
    let resume = format!("/api/runs/{run_id}/resume");
    let (status, body) = request(&server, "POST", &resume, &[]);
    assert_eq!(status, 401, "{body}");
    let (status, _) = request(&server, "GET", &format!("/?token={}", server.token), &[]);
    assert_eq!(status, 303);
    // A second server on the same address is refused, naming it.
    let taken = ops(&store, &["serve", "--listen", &server.addr]);
    one_line_error(&taken, &format!("cannot listen on {}", server.addr));
}

#[test]
fn serve_beyond_this_machine_needs_the_token_for_every_page() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("runs").display().to_string();
    failed_run(&store);
    let short = ops(&store, &["serve", "--token", "short"]);
    one_line_error(&short, "at least 16 characters");
    let unsafe_token = ops(&store, &["serve", "--token", "sixteen chars; and=more"]);
    one_line_error(&unsafe_token, "only letters, digits");
    let token = "a-token-of-enough-length";
    let mut server = serve(&store, &["--listen", "0.0.0.0:0", "--token", token]);
    assert_eq!(server.token, token);
    assert!(
        server
            .said
            .iter()
            .any(|l| l.contains("every page needs the token")),
        "{:?}",
        server.said
    );
    // Reached through loopback, as another machine would reach 0.0.0.0.
    server.addr = server.addr.replace("0.0.0.0", "127.0.0.1");
    let (status, body) = request(&server, "GET", "/api/runs", &[]);
    assert_eq!(status, 401, "{body}");
    let (status, _) = request(&server, "GET", "/", &[]);
    assert_eq!(status, 401);
    let bearer = format!("Authorization: Bearer {token}");
    let (status, body) = request(&server, "GET", "/api/runs", &[bearer]);
    assert_eq!(status, 200, "{body}");
}

/// Issue 24, finding 8: `serve` printed the whole store URL, password included.
#[test]
#[cfg_attr(
    no_postgres,
    ignore = "needs PostgreSQL, which did not answer when the tests were built: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
)]
fn serve_hides_the_password_of_its_store() {
    let db = tests::postgres::TestDatabase::create();
    // The local server trusts local connections, so the password is given but not needed.
    let url = db.url.replacen("://postgres@", "://postgres:hunter2@", 1);
    assert_ne!(
        url, db.url,
        "the test database's URL names the user `postgres`"
    );
    let server = serve(&url, &["--listen", "127.0.0.1:0"]);
    let said = server.said.join("\n");
    assert!(!said.contains("hunter2"), "{said}");
    assert!(
        said.contains("serving the runs of postgres://postgres:***@"),
        "{said}"
    );
}
