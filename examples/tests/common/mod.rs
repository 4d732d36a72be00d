//! What the command-line tests share: running the `ops` binary against a store.

#![allow(dead_code)] // each test file uses its own part

use std::path::Path;
use std::process::{Child, Command};

pub const OPS: &str = env!("CARGO_BIN_EXE_ops");
pub const ORDERS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/orders.json");

/// What a run of `ops` printed and how it exited.
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `ops --store STORE ARGS...`; fails the test if it panicked.
pub fn ops(store: &str, args: &[&str]) -> Output {
    ops_in(Path::new("."), store, args)
}

/// [`ops`] run in the directory `cwd`.
pub fn ops_in(cwd: &Path, store: &str, args: &[&str]) -> Output {
    run_ops(cwd, store, args, &[])
}

/// [`ops`] with these environment variables set.
pub fn ops_with(store: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    run_ops(Path::new("."), store, args, env)
}

fn run_ops(cwd: &Path, store: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    let out = Command::new(OPS)
        .current_dir(cwd)
        .arg("--store")
        .arg(store)
        .args(args)
        .env("RUST_BACKTRACE", "1")
        .envs(env.iter().copied())
        .output()
        .expect("ops starts");
    let output = Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert!(
        !output.stderr.contains("panicked"),
        "ops panicked: {}",
        output.stderr
    );
    output
}

/// A one-line error naming `expected`, and a non-zero exit.
pub fn one_line_error(out: &Output, expected: &str) {
    assert_ne!(out.code, 0);
    assert_eq!(
        out.stderr.trim_end().lines().count(),
        1,
        "one line: {}",
        out.stderr
    );
    assert!(
        out.stderr.contains(expected),
        "`{expected}` not in: {}",
        out.stderr
    );
}

/// The line of `table` that starts with `start` (a run id, a node id).
pub fn row<'a>(table: &'a str, start: &str) -> &'a str {
    table
        .lines()
        .find(|l| l.starts_with(start))
        .unwrap_or_else(|| panic!("no line starting with {start:?} in\n{table}"))
}

/// Kills the process when dropped, so a failing test leaves none behind.
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A port nothing listens on now.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}
