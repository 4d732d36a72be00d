//! A newcomer's first hour with the `ops` binary (issue 15): the command line tells the truth
//! about runs that were killed, interrupted or made without an audit log, prints a run's id
//! before anything else, cancels on Ctrl-C, refuses stores and inputs it cannot use, and never
//! lets one foreign file hide the other runs.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use common::{OPS, ORDERS, one_line_error, ops, ops_in, row};

/// `ops run PIPELINE --input INPUT` on `store`, started: the process, the run id its first line
/// announced, and the rest of its progress lines.
fn started_run(
    store: &str,
    pipeline: &str,
    input: &str,
) -> (Child, String, impl Iterator<Item = String>) {
    let mut child = Command::new(OPS)
        .args(["--store", store, "run", pipeline, "--input", input])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ops starts");
    let mut lines = BufReader::new(child.stderr.take().unwrap())
        .lines()
        .map_while(Result::ok);
    let first = lines.next().expect("a first line");
    // `2026-11-30 01:02:03 run ID started; resume it with: /path/to/ops resume ID`
    let (_, rest) = first.split_once(" run ").expect(&first);
    let run_id = rest.split_whitespace().next().unwrap().to_owned();
    // The store it was given is part of the command: without it, `resume` would look in the
    // default store.
    assert!(
        first.ends_with(&format!(
            "started; resume it with: {OPS} --store {store} resume {run_id}"
        )),
        "{first}"
    );
    (child, run_id, lines)
}

/// `ops run Stall` on `store`, started; returns the process, the run id it announced, and the
/// rest of its progress lines, once `stall` has started.
fn stalled_run(store: &str) -> (Child, String, impl Iterator<Item = String>) {
    let (mut child, run_id, mut lines) = started_run(store, "Stall", r#"{"size": 3}"#);
    let mut seen = Vec::new();
    for line in lines.by_ref() {
        let started = line.ends_with("held started (attempt 1)");
        seen.push(line);
        if started {
            return (child, run_id, lines);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("`held` never started: {seen:?}");
}

/// The README's `hello` binary run in `dir`: its exit code and standard output.
fn hello(dir: &Path, args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_hello"))
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    (out.status.code(), stdout)
}

/// Asserts that `ops show` printed `status` and that each `(node, state)` row says its state.
fn assert_shows(show: &str, status: &str, rows: &[(&str, &str)]) {
    assert!(show.contains(&format!("status   {status}")), "{show}");
    for (node, state) in rows {
        assert!(
            row(show, node).contains(state),
            "{node} is not {state}: {show}"
        );
    }
}

/// The DURATION of a `runs` line (`850ms`, `1.2s`, `2m03s`, `≥ 1.2s`), in ms.
fn duration_ms(line: &str) -> u64 {
    let words: Vec<&str> = line.split_whitespace().collect();
    // RUN ID, PIPELINE, STATUS, STARTED (date and time), then DURATION.
    let word = match words[5] {
        "≥" => words[6],
        word => word,
    };
    let number = |text: &str| {
        text.parse::<f64>()
            .unwrap_or_else(|e| panic!("{text}: {e}"))
    };
    if let Some(ms) = word.strip_suffix("ms") {
        number(ms) as u64
    } else if let Some((m, s)) = word.strip_suffix('s').and_then(|w| w.split_once('m')) {
        (number(m) * 60_000.0 + number(s) * 1000.0) as u64
    } else {
        (number(word.trim_end_matches('s')) * 1000.0) as u64
    }
}

#[test]
fn a_killed_run_is_shown_interrupted_with_its_completed_nodes_and_the_attempt_in_flight() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store").display().to_string();
    let (mut child, run_id, _) = stalled_run(&store);

    let live = ops(&store, &["show", &run_id]);
    let rows = [("batch", "completed"), ("held", "running")];
    assert_shows(&live.stdout, "running", &rows);
    // Issue 26, finding 6: `runs` said a few ms for runs that had run for seconds. A running
    // run's duration counts until now: it passes a second while `held` holds.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let runs = ops(&store, &["runs"]);
        let line = row(&runs.stdout, &run_id).to_owned();
        let took = duration_ms(&line);
        if took >= 1_000 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the running run's duration stays at {took} ms: {line}"
        );
        std::thread::yield_now();
    }

    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    let show = ops(&store, &["show", &run_id]);
    assert_eq!(show.code, 0, "{}", show.stderr);
    let rows = [("batch", "completed"), ("held", "started, no outcome")];
    assert_shows(&show.stdout, "interrupted", &rows);
    let runs = ops(&store, &["runs"]);
    let line = row(&runs.stdout, &run_id);
    assert!(line.contains("interrupted"), "{line}");
    // What it did after its last record left no trace: at least that long.
    assert!(line.contains(" ≥ "), "{line}");
    let counts: Vec<&str> = line.split_whitespace().rev().take(3).collect();
    assert_eq!(
        counts,
        ["0", "0", "1"],
        "done 1, failed 0, skipped 0: {line}"
    );
    let filtered = ops(&store, &["runs", "--status", "interrupted"]);
    assert!(filtered.stdout.contains(&run_id), "{}", filtered.stdout);
    // `batch` is the first node (`n0`), coloured completed; `held` (`n1`), the attempt in
    // flight, is drawn as `show` tells it (issue 26, item 6: it was coloured `not run`).
    let graph = ops(&store, &["graph", &run_id]);
    assert!(
        graph.stdout.contains("class n0 completed") && graph.stdout.contains("class n1 no_outcome"),
        "{}",
        graph.stdout
    );
    let dot = ops(&store, &["graph", &run_id, "--format", "dot"]);
    assert!(
        dot.stdout.contains("tooltip=\"started, no outcome\""),
        "{}",
        dot.stdout
    );
    // The audit trail names that attempt too (it had no line: no entry is written before an
    // attempt ends).
    let audit = ops(&store, &["audit", &run_id]);
    let held = audit
        .stdout
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some("held"))
        .unwrap_or_else(|| panic!("no line for the attempt in flight: {}", audit.stdout));
    assert!(
        held.contains("started, no outcome") && held.contains("`resume` runs it again"),
        "{held}"
    );
}

/// Issue 26, item 6: a map killed while its items waited to try again (retries left) said
/// `2 failed`, and `runs` counted the node FAILED. Its items are retrying: the node has no
/// outcome yet, and nothing failed.
#[test]
fn a_map_killed_while_its_items_wait_to_retry_says_retrying_not_failed() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store").display().to_string();
    let missing: Vec<String> = (0..2)
        .map(|i| dir.path().join(format!("missing{i}")).display().to_string())
        .collect();
    let input = serde_json::json!({ "paths": missing }).to_string();
    let (mut child, run_id, _) = started_run(&store, "Patient", &input);
    // Both items failed their first attempt and wait an hour to try again: their entries say so.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let json = ops(&store, &["audit", &run_id, "--json"]);
        let retrying = json
            .stdout
            .lines()
            .filter(|l| l.contains("\"retry_at_ms\""))
            .count();
        if retrying == 2 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the items did not fail their first attempt: {}",
            json.stdout
        );
        std::thread::yield_now();
    }
    child.kill().unwrap(); // SIGKILL, in the backoff
    child.wait().unwrap();

    let show = ops(&store, &["show", &run_id]);
    assert!(
        show.stdout.contains("status   interrupted"),
        "{}",
        show.stdout
    );
    let sizes = row(&show.stdout, "sizes");
    assert!(
        sizes.contains("started, no outcome: 0 completed, 2 retrying"),
        "{sizes}"
    );
    assert!(!sizes.contains("failed:"), "{sizes}");
    let runs = ops(&store, &["runs"]);
    let line = row(&runs.stdout, &run_id);
    let counts: Vec<&str> = line.split_whitespace().rev().take(3).collect();
    assert_eq!(
        counts,
        ["0", "0", "0"],
        "done 0, failed 0, skipped 0: {line}"
    );
    let graph = ops(&store, &["graph", &run_id]);
    assert!(
        graph.stdout.contains("×2: 0 completed, 2 retrying"),
        "{}",
        graph.stdout
    );
}

#[test]
fn ctrl_c_cancels_the_run_cleanly_and_says_how_to_resume_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store").display().to_string();
    let (child, run_id, rest) = stalled_run(&store);
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let rest: Vec<String> = rest.collect();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{rest:?}");
    assert!(
        rest.iter()
            .any(|l| l.starts_with(&format!("cancelling run {run_id}"))),
        "{rest:?}"
    );
    assert!(
        stdout.contains(&format!("run {run_id} cancelled"))
            && stdout.contains(&format!(
                "resume it with: {OPS} --store {store} resume {run_id}"
            )),
        "{stdout}"
    );
    let show = ops(&store, &["show", &run_id]);
    assert_shows(&show.stdout, "cancelled", &[("batch", "completed")]);
}

#[test]
fn a_run_made_with_a_checkpointer_alone_is_read_for_what_it_is() {
    use pipeline::{FileCheckpointer, GraphBuilder, PipelineEngine, RunStatus};
    let dir = tempfile::tempdir().unwrap();
    let mut g = GraphBuilder::<u64>::new("lonely");
    let x = g.input("x", |x: &u64| *x);
    let double = g
        .node("double")
        .run(x, |x, _| async move { Ok::<_, std::io::Error>(x * 2) });
    let graph = g.build(double).unwrap();
    let engine = PipelineEngine::new(graph).checkpointer(FileCheckpointer::new(dir.path()));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let result = runtime.block_on(engine.run(4)).unwrap();
    assert_eq!(result.status, RunStatus::Completed);
    let (store, id) = (dir.path().to_str().unwrap(), result.run_id.to_string());

    let show = ops(store, &["show", &id]);
    assert_shows(&show.stdout, "completed", &[("double", "completed")]);
    let runs = ops(store, &["runs"]);
    let line = row(&runs.stdout, &id);
    assert!(line.contains("completed"), "{line}");
    let audit = ops(store, &["audit", &id]);
    one_line_error(&audit, "it ran with a checkpointer and no audit log");
}

#[test]
fn a_store_that_cannot_be_used_is_an_error_that_names_it_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let inside = |name: &str| dir.path().join(name).display().to_string();
    // A relative spec is read from the directory the command runs in.
    let typo = ops_in(dir.path(), "sqlite:runs.db", &["runs"]);
    one_line_error(
        &typo,
        "unknown scheme `sqlite:`; did you mean `sqlite://runs.db`?",
    );
    for (spec, says) in [
        ("", "is empty"),
        ("sqlite://", "names no database file"),
        (
            "sqlite://:memory:",
            "an in-memory database, which keeps nothing",
        ),
        ("mysql://db/x", "unknown scheme `mysql:`"),
    ] {
        let out = ops_in(
            dir.path(),
            spec,
            &["run", "Stall", "--input", r#"{"size": 1}"#],
        );
        one_line_error(&out, says);
        assert!(
            out.stderr
                .contains("give a directory, sqlite://FILE or postgres://USER@HOST/DB"),
            "{}",
            out.stderr
        );
    }
    let missing = inside("nowhere");
    let runs = ops(&missing, &["runs"]);
    one_line_error(
        &runs,
        &format!("no store at `{missing}`: no such directory"),
    );
    let sqlite = format!("sqlite://{}", inside("none.db"));
    let show = ops(&sqlite, &["runs"]);
    one_line_error(&show, "no such database file");
    for spec in ["/dev/null", "/proc/self"] {
        let out = ops(spec, &["run", "Stall", "--input", r#"{"size": 1}"#]);
        one_line_error(&out, &format!("no store at `{spec}`"));
        assert!(!out.stderr.contains("started"), "{}", out.stderr);
    }
    let deep = inside("a/b");
    let out = ops(&deep, &["run", "Remind", "--input", r#"{"note": "x"}"#]);
    one_line_error(&out, "its parent");
    // A mistake in the command makes no store either.
    let typo = ops(&inside("new"), &["run", "Nope"]);
    one_line_error(&typo, "unknown pipeline `Nope`");
    let postgres = ops("postgres://nobody@127.0.0.1:1/x", &["runs"]);
    assert_ne!(postgres.code, 0);
    // Nothing was created by any of them.
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "{left:?}");
    // A new directory store inside one that exists is made by `run`.
    let fresh = inside("fresh");
    let out = ops(
        &fresh,
        &[
            "--wait-in-process",
            "0",
            "run",
            "Remind",
            "--input",
            r#"{"note": "x"}"#,
        ],
    );
    assert_eq!(out.code, 2, "{}{}", out.stdout, out.stderr);
    assert!(Path::new(&fresh).is_dir());
}

#[test]
fn a_foreign_file_in_the_store_is_reported_below_the_runs_that_can_be_read() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().display().to_string();
    let input = r#"{"note": "x"}"#;
    let out = ops(
        &store,
        &["--wait-in-process", "0", "run", "Remind", "--input", input],
    );
    let run_id = out.stdout.lines().next().unwrap()["run ".len()..]
        .trim_end_matches(" waiting")
        .to_owned();
    std::fs::write(dir.path().join("foo.ckpt"), b"not a checkpoint").unwrap();
    let runs = ops(&store, &["runs"]);
    assert_eq!(runs.code, 0, "{}", runs.stderr);
    assert!(
        row(&runs.stdout, &run_id).contains("waiting"),
        "{}",
        runs.stdout
    );
    assert!(
        runs.stdout.contains("1 run(s) could not be read:") && runs.stdout.contains("  foo: "),
        "{}",
        runs.stdout
    );
}

#[test]
fn inputs_are_named_when_missing_or_unknown_and_read_from_a_file_or_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store").display().to_string();
    let none = ops(&store, &["run", "Revenue"]);
    one_line_error(
        &none,
        "invalid inputs for pipeline `Revenue`: missing `orders` (String); missing `rates` \
         (String); its inputs are `orders`: String, `rates`: String",
    );
    let extra = ops(
        &store,
        &["run", "Payout", "--input", r#"{"cents": 5, "extra": true}"#],
    );
    one_line_error(&extra, "unknown `extra`");

    // Over 128 KiB, more than an argument may hold: from a file, and from standard input.
    let rates = dir.path().join("rates.json");
    std::fs::write(&rates, r#"{"EUR": 0.5}"#).unwrap();
    let padding = " ".repeat(200 * 1024);
    let input = format!(
        r#"{{"orders": "{ORDERS}",{padding} "rates": "{}"}}"#,
        rates.display()
    );
    let file = dir.path().join("input.json");
    std::fs::write(&file, &input).unwrap();
    let from_file = ops(
        &store,
        &["run", "Revenue", "--input", &format!("@{}", file.display())],
    );
    assert_eq!(
        from_file.code, 0,
        "{}{}",
        from_file.stdout, from_file.stderr
    );
    let mut child = Command::new(OPS)
        .args(["--store", &store, "run", "Revenue", "--input", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains("output revenue 2599.00 USD = 1299.50 EUR\n"),
        "{stdout}"
    );
    let unreadable = ops(&store, &["run", "Revenue", "--input", "@/nonexistent.json"]);
    one_line_error(
        &unreadable,
        "cannot read the inputs from `/nonexistent.json`",
    );
}

#[test]
fn run_takes_a_chosen_id_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store").display().to_string();
    let input = r#"{"cents": 5}"#;
    let first = ops(
        &store,
        &["run", "Payout", "--run-id", "payout-1", "--input", input],
    );
    assert!(
        first.stdout.starts_with("run payout-1 waiting"),
        "{}",
        first.stdout
    );
    let again = ops(
        &store,
        &["run", "Payout", "--run-id", "payout-1", "--input", input],
    );
    one_line_error(&again, "payout-1");
    assert!(again.stderr.contains("already exists"), "{}", again.stderr);
}

#[test]
fn the_program_has_its_own_name_version_and_description_and_help_lists_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().display().to_string();
    let version = ops(&store, &["-V"]);
    assert_eq!(
        version.stdout.trim(),
        format!("ops {}", env!("CARGO_PKG_VERSION"))
    );
    let help = ops(&store, &["--help"]);
    assert!(
        help.stdout.starts_with("Operations: revenue reports")
            && help.stdout.contains("Usage: ops"),
        "{}",
        help.stdout
    );
    assert!(
        !help.stdout.contains("DAG"),
        "the library's description: {}",
        help.stdout
    );
    let run = ops(&store, &["run", "--help"]);
    assert!(
        run.stdout
            .contains(r#"Revenue  {"orders": String, "rates": String}"#)
            && run.stdout.contains(r#"Payout  {"cents": u64}"#),
        "{}",
        run.stdout
    );
}

/// The README's first screen: its `src/main.rs` is `hello.rs` (verbatim), and its commands do
/// what it says: the run fails without the file, resume completes it without running again
/// what completed, and `runs`, `show` and `audit` tell it.
#[test]
fn the_readme_first_screen_runs_as_written() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("../README.md")).unwrap();
    let source = std::fs::read_to_string(root.join("src/bin/hello.rs")).unwrap();
    assert!(
        readme.contains(&format!("```rust\n{source}```")),
        "the README shows hello.rs"
    );

    let dir = tempfile::tempdir().unwrap();
    let hello = |args: &[&str]| hello(dir.path(), args);
    let (code, first) = hello(&["run", "WordCount", "--input", r#"{"path": "notes.txt"}"#]);
    assert_eq!(code, Some(1), "{first}");
    let run_id = first.lines().next().unwrap()["run ".len()..]
        .trim_end_matches(" failed")
        .to_owned();
    assert!(
        first.contains("text (read) failed after 2 attempts: No such file or directory"),
        "{first}"
    );
    // The command it suggests works as printed, from where the program was started (`hello` is
    // on no PATH here, as after `cargo run`: the suggestion is the program's path).
    let hint = first
        .lines()
        .find_map(|line| line.strip_prefix("resume it with: "))
        .unwrap_or_else(|| panic!("a resume hint: {first}"));
    let words: Vec<&str> = hint.split_whitespace().collect();
    assert_eq!(words[1..], ["resume", run_id.as_str()], "{hint}");
    std::fs::write(dir.path().join("notes.txt"), "resume what failed\n").unwrap();
    let out = Command::new(words[0])
        .current_dir(dir.path())
        .args(&words[1..])
        .output()
        .unwrap_or_else(|e| panic!("the suggested command `{hint}` starts: {e}"));
    let (code, resumed) = (out.status.code(), String::from_utf8_lossy(&out.stdout));
    assert_eq!(code, Some(0), "{resumed}");
    assert!(resumed.contains("output 1 lines, 3 words\n"), "{resumed}");
    let (_, runs) = hello(&["runs"]);
    assert!(row(&runs, &run_id).contains("completed"), "{runs}");
    let (_, show) = hello(&["show", &run_id]);
    assert!(show.contains("status   completed"), "{show}");
    let (_, audit) = hello(&["audit", &run_id]);
    assert_eq!(
        audit.matches(" text ").count(),
        3,
        "two failed attempts, one completed: {audit}"
    );
    assert!(dir.path().join(".pipeline").is_dir());
}

/// `gc` lists, then deletes, runs by status and age; never a run a process holds; and SQLite's
/// lock files go away with the runs that used them.
fn collect_garbage(store: &str, dir: &Path) {
    let rates = dir.join("rates.json");
    std::fs::write(&rates, r#"{"EUR": 0.5}"#).unwrap();
    let good = format!(
        r#"{{"orders": "{ORDERS}", "rates": "{}"}}"#,
        rates.display()
    );
    let bad = format!(
        r#"{{"orders": "{ORDERS}", "rates": "{}/none.json"}}"#,
        dir.display()
    );
    let id = |out: common::Output| out.stdout.split_whitespace().nth(1).unwrap().to_owned();
    let completed = id(ops(store, &["run", "Revenue", "--input", &good]));
    let failed = id(ops(store, &["run", "Revenue", "--input", &bad]));
    let waiting = id(ops(store, &["run", "Payout", "--input", r#"{"cents": 1}"#]));
    let (mut child, running, _) = stalled_run(store);

    let dry = ops(store, &["gc"]);
    assert!(
        dry.stdout.contains(&completed)
            && dry.stdout.contains(&failed)
            && !dry.stdout.contains(&waiting)
            && !dry.stdout.contains(&running)
            && dry
                .stdout
                .contains("2 run(s) would be deleted; run again with --delete"),
        "{}",
        dry.stdout
    );
    let young = ops(store, &["gc", "--older-than", "1d"]);
    assert!(
        young.stdout.contains("0 run(s) would be deleted"),
        "{}",
        young.stdout
    );
    let held = ops(
        store,
        &[
            "gc",
            "--status",
            "running",
            "--status",
            "interrupted",
            "--delete",
        ],
    );
    assert!(held.stdout.contains("deleted 0 run(s)"), "{}", held.stdout);
    let runs = ops(store, &["runs"]);
    assert_eq!(
        runs.stdout.lines().count(),
        5,
        "nothing was deleted: {}",
        runs.stdout
    );

    let gone = ops(store, &["gc", "--delete"]);
    assert!(gone.stdout.contains("deleted 2 run(s)"), "{}", gone.stdout);
    let also = ops(store, &["gc", "--status", "waiting", "--delete"]);
    assert!(also.stdout.contains("deleted 1 run(s)"), "{}", also.stdout);
    one_line_error(&ops(store, &["show", &completed]), "unknown run");
    child.kill().unwrap();
    child.wait().unwrap();
    let left = ops(store, &["gc", "--status", "interrupted", "--delete"]);
    assert!(left.stdout.contains("deleted 1 run(s)"), "{}", left.stdout);
    let runs = ops(store, &["runs"]);
    assert_eq!(
        runs.stdout.lines().count(),
        1,
        "only the header: {}",
        runs.stdout
    );
    let bad_age = ops(store, &["gc", "--older-than", "a week"]);
    one_line_error(&bad_age, "`a week` is not an age like `30d`");
}

#[test]
fn gc_deletes_runs_by_status_and_age_in_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    collect_garbage(&store.display().to_string(), dir.path());
    let files: Vec<_> = std::fs::read_dir(&store)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(
        files.is_empty(),
        "every file of the deleted runs is gone: {files:?}"
    );
}

#[test]
fn gc_deletes_runs_by_status_and_age_in_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("runs.db");
    let store = format!("sqlite://{}", db.display());
    collect_garbage(&store, dir.path());
    let locks: Vec<_> = std::fs::read_dir(dir.path().join("runs.db.locks"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(
        locks.is_empty(),
        "a run's lock files go when it ends: {locks:?}"
    );
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&db).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600, "the database is the owner's alone");
}

/// `resume ID --rerun NODE` runs a node that completed again, with its dependents, as a new run
/// (after its code, or here its input file, changed); the original run stays as it was.
#[test]
fn resume_rerun_runs_a_completed_node_again_as_a_new_run() {
    let dir = tempfile::tempdir().unwrap();
    let hello = |args: &[&str]| hello(dir.path(), args);
    std::fs::write(dir.path().join("notes.txt"), "one\n").unwrap();
    let (_, first) = hello(&["run", "WordCount", "--input", r#"{"path": "notes.txt"}"#]);
    let run_id = first.split_whitespace().nth(1).unwrap().to_owned();
    assert!(first.contains("output 1 lines, 1 words"), "{first}");
    std::fs::write(dir.path().join("notes.txt"), "one two\nthree\n").unwrap();
    let (_, resumed) = hello(&["resume", &run_id]);
    assert!(
        resumed.contains("output 1 lines, 1 words"),
        "resume restores: {resumed}"
    );
    let (code, rerun) = hello(&["resume", &run_id, "--rerun", "text"]);
    assert_eq!(code, Some(0), "{rerun}");
    assert!(
        rerun.contains("reruns text")
            && rerun.contains(&format!("of run {run_id} (which is unchanged)")),
        "{rerun}"
    );
    assert!(rerun.contains("output 2 lines, 3 words"), "{rerun}");
    let (_, show) = hello(&["show", &run_id]);
    assert!(
        row(&show, "text").contains("completed  1"),
        "one attempt, untouched: {show}"
    );
    let (code, unknown) = hello(&["resume", &run_id, "--rerun", "txt"]);
    assert_eq!(code, Some(1), "{unknown}");
}
