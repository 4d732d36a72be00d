//! The `ops` binary (`pipeline::cli::main()`) against real stores, one test per subcommand, and
//! bad input: a one-line error and a non-zero exit, never a panic.

use std::path::Path;
use std::process::Command;

mod common;

use common::{OPS, ORDERS, one_line_error, ops, ops_with, row};

/// Runs `Revenue` with a rates file that does not exist yet: `table` fails, `all` and `cents`
/// complete. Returns the run id and the rates path.
fn failed_run(store: &str, dir: &Path) -> (String, String) {
    let rates = dir.join("rates.json").display().to_string();
    let input = format!(r#"{{"orders": "{ORDERS}", "rates": "{rates}"}}"#);
    let out = ops(store, &["run", "Revenue", "--input", &input]);
    assert_eq!(
        out.code, 1,
        "a failed run exits 1: {}{}",
        out.stdout, out.stderr
    );
    let first = out.stdout.lines().next().unwrap_or_default();
    let run_id = first
        .strip_prefix("run ")
        .and_then(|rest| rest.strip_suffix(" failed"))
        .unwrap_or_else(|| panic!("unexpected first line: {first}"))
        .to_owned();
    assert!(
        out.stdout
            .contains("table (load_rates) failed after 2 attempts: cannot read"),
        "{}",
        out.stdout
    );
    // Not a terminal: progress comes as plain lines.
    assert!(out.stderr.contains("cents completed in"), "{}", out.stderr);
    (run_id, rates)
}

#[test]
fn list_shows_pipelines_and_nodes_with_source_and_docs() {
    let dir = tempfile::tempdir().unwrap();
    let out = ops(dir.path().to_str().unwrap(), &["list"]);
    assert_eq!(out.code, 0);
    assert!(
        out.stdout.contains("Revenue  (examples/src/bin/ops.rs:"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("Revenue in dollars and euros."),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("eur = to_eur(cents, table) -> f64"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("sizes = file_size(each paths) -> Vec<u64>"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("load_rates(path: String) -> BTreeMap<String, f64>"),
        "{}",
        out.stdout
    );
}

#[test]
fn graph_draws_a_pipeline_as_mermaid_or_dot() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().to_str().unwrap();
    let mermaid = ops(store, &["graph", "Revenue"]);
    assert!(
        mermaid.stdout.starts_with("flowchart TD\n"),
        "{}",
        mermaid.stdout
    );
    assert!(mermaid.stdout.contains("n1 --> n3"), "{}", mermaid.stdout);
    let dot = ops(store, &["graph", "Revenue", "--format", "dot"]);
    assert!(
        dot.stdout.starts_with("digraph \"Revenue\" {"),
        "{}",
        dot.stdout
    );
    assert!(
        dot.stdout.contains("\"cents\" -> \"eur\";"),
        "{}",
        dot.stdout
    );
}

fn operate_a_failed_run(store: &str, dir: &Path) {
    let (run_id, rates) = failed_run(store, dir);

    let runs = ops(store, &["runs"]);
    let row = runs
        .stdout
        .lines()
        .find(|l| l.starts_with(&run_id))
        .unwrap_or_else(|| panic!("{}", runs.stdout));
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cells[1..3], ["Revenue", "failed"], "{row}");
    assert_eq!(
        cells[cells.len() - 3..],
        ["2", "1", "0"],
        "done, failed, skipped: {row}"
    );
    assert!(
        ops(store, &["runs", "--status", "failed"])
            .stdout
            .contains(&run_id)
    );
    assert!(
        !ops(store, &["runs", "--status", "completed"])
            .stdout
            .contains(&run_id)
    );
    assert!(
        !ops(store, &["runs", "--pipeline", "Other"])
            .stdout
            .contains(&run_id)
    );

    let show = ops(store, &["show", &run_id]);
    assert!(show.stdout.contains("status   failed"), "{}", show.stdout);
    let table = show
        .stdout
        .lines()
        .find(|l| l.starts_with("table"))
        .unwrap();
    assert!(
        table.contains("failed     2") && table.contains("cannot read"),
        "{table}"
    );
    assert!(
        show.stdout
            .lines()
            .any(|l| l.starts_with("eur") && l.contains("not run"))
    );

    let audit = ops(store, &["audit", &run_id, "--node", "table"]);
    assert_eq!(
        audit
            .stdout
            .lines()
            .filter(|l| l.contains(" table "))
            .count(),
        2,
        "{}",
        audit.stdout
    );
    let json = ops(store, &["audit", &run_id, "--json"]);
    let entries: Vec<serde_json::Value> = json
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    assert_eq!(entries.len(), 4, "all, cents, and two attempts of table");
    assert!(
        entries
            .iter()
            .any(|e| e["node"] == "cents" && e["output"] == 259900)
    );

    let graph = ops(store, &["graph", &run_id]);
    assert!(graph.stdout.contains("class n2 failed"), "{}", graph.stdout);

    std::fs::write(&rates, r#"{"EUR": 0.5}"#).unwrap(); // the fix
    let resumed = ops(store, &["resume", &run_id]);
    assert_eq!(resumed.code, 0, "{}{}", resumed.stdout, resumed.stderr);
    assert!(
        resumed
            .stdout
            .contains("output revenue 2599.00 USD = 1299.50 EUR\n"),
        "{}",
        resumed.stdout
    );
    assert!(
        !resumed.stderr.contains("all started"),
        "completed nodes are not run again: {}",
        resumed.stderr
    );
    assert!(
        ops(store, &["runs", "--status", "completed"])
            .stdout
            .contains(&run_id)
    );
}

#[test]
fn runs_show_audit_graph_and_resume_operate_a_failed_run_in_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store").display().to_string();
    operate_a_failed_run(&store, dir.path());
}

#[test]
fn runs_show_audit_graph_and_resume_operate_a_failed_run_in_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite://{}", dir.path().join("runs.db").display());
    operate_a_failed_run(&store, dir.path());
}

/// A run of `Sizes` over five files, one of them missing: `show` and `graph` draw the mapped
/// node once with its counts, `audit` lists each item's attempt; after the file appears,
/// `resume` runs only that item.
fn operate_a_mapped_run(store: &str, dir: &Path) {
    let paths: Vec<String> = (0..5)
        .map(|i| dir.join(format!("f{i}.txt")).display().to_string())
        .collect();
    for (i, path) in paths.iter().enumerate().filter(|(i, _)| *i != 2) {
        std::fs::write(path, "x".repeat(i + 1)).unwrap();
    }
    let input = serde_json::json!({ "paths": paths }).to_string();
    let out = ops(store, &["run", "Sizes", "--input", &input]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    let run_id = out.stdout.lines().next().unwrap()["run ".len()..]
        .trim_end_matches(" failed")
        .to_owned();

    let show = ops(store, &["show", &run_id]);
    let row = show
        .stdout
        .lines()
        .find(|l| l.starts_with("sizes"))
        .unwrap_or_else(|| panic!("{}", show.stdout));
    assert!(row.starts_with("sizes ×5"), "{row}");
    assert!(row.contains("failed: 4 completed, 1 failed"), "{row}");
    assert!(row.contains("item 2: cannot read"), "{row}");

    let graph = ops(store, &["graph", &run_id]);
    assert_eq!(
        graph.stdout.matches("sizes = file_size()").count(),
        1,
        "{}",
        graph.stdout
    );
    assert!(
        graph.stdout.contains("×5: 4 completed, 1 failed"),
        "{}",
        graph.stdout
    );
    let dot = ops(store, &["graph", &run_id, "--format", "dot"]);
    assert!(
        dot.stdout.contains("×5: 4 completed, 1 failed"),
        "{}",
        dot.stdout
    );

    let audit = ops(store, &["audit", &run_id, "--node", "sizes"]);
    assert!(audit.stdout.contains("sizes[2]"), "{}", audit.stdout);
    let json = ops(store, &["audit", &run_id, "--json"]);
    let entries: Vec<serde_json::Value> = json
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let item = |e: &serde_json::Value| e["item"]["index"].as_u64();
    let third = entries.iter().find(|e| item(e) == Some(3)).unwrap();
    // The entry of item 3 shows the one path it read, and its own output.
    assert_eq!(
        third["inputs"]["paths"],
        serde_json::json!(paths[3]),
        "{third}"
    );
    assert_eq!(third["output"], serde_json::json!(4), "{third}");

    std::fs::write(&paths[2], "xyz").unwrap();
    let resumed = ops(store, &["resume", &run_id]);
    assert_eq!(resumed.code, 0, "{}{}", resumed.stdout, resumed.stderr);
    assert!(resumed.stdout.contains("15"), "{}", resumed.stdout);
    let show = ops(store, &["show", &run_id]);
    assert!(
        show.stdout.contains("completed: 5 completed"),
        "{}",
        show.stdout
    );
    let json = ops(store, &["audit", &run_id, "--json"]);
    let item_two = json
        .stdout
        .lines()
        .filter(|l| l.contains(r#""index":2"#))
        .count();
    assert_eq!(item_two, 2, "item 2 failed once, then ran once on resume");
    let others = json
        .stdout
        .lines()
        .filter(|l| l.contains(r#""index":3"#))
        .count();
    assert_eq!(others, 1, "item 3 ran once in all");
}

#[test]
fn a_mapped_run_is_shown_once_with_counts_in_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store").display().to_string();
    operate_a_mapped_run(&store, dir.path());
}

#[test]
fn a_mapped_run_is_shown_once_with_counts_in_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite://{}", dir.path().join("runs.db").display());
    operate_a_mapped_run(&store, dir.path());
}

/// Issue 26, finding 6: a run whose output's node was skipped printed `completed` and nothing
/// else. A refused payout completes without output, and says why.
fn a_refused_payout_says_why_it_has_no_output(store: &str) {
    let out = ops(store, &["run", "Payout", "--input", r#"{"cents": 7}"#]);
    assert_eq!(out.code, 2, "waiting exits 2: {}{}", out.stdout, out.stderr);
    let run_id = out.stdout.lines().next().unwrap()["run ".len()..]
        .trim_end_matches(" waiting")
        .to_owned();
    let refuse = r#"{"by": "finance", "ok": false}"#;
    let sent = ops(store, &["signal", &run_id, "approval", "--value", refuse]);
    assert_eq!(sent.code, 0, "{}{}", sent.stdout, sent.stderr);
    assert!(
        sent.stdout.contains(&format!("run {run_id} completed"))
            && sent.stdout.contains(
                "no output: the output reads a node that was skipped (skipped: `paid (pay_out)`)"
            ),
        "{}",
        sent.stdout
    );
}

#[test]
fn a_completed_run_without_output_says_why_in_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    a_refused_payout_says_why_it_has_no_output(&dir.path().join("store").display().to_string());
}

/// A run of `Payout` stops waiting for its approval (exit 2, the command to send it printed); a
/// payload of the wrong shape is refused in one line; the right one continues the run here.
fn approve_a_waiting_run(store: &str) {
    let out = ops(store, &["run", "Payout", "--input", r#"{"cents": 1250}"#]);
    assert_eq!(out.code, 2, "waiting exits 2: {}{}", out.stdout, out.stderr);
    let run_id = out.stdout.lines().next().unwrap()["run ".len()..]
        .trim_end_matches(" waiting")
        .to_owned();
    let hint = format!("send it with: signal {run_id} approval --value JSON");
    assert!(out.stdout.contains(&hint), "{}", out.stdout);
    let show = ops(store, &["show", &run_id]);
    assert!(show.stdout.contains("status   waiting"), "{}", show.stdout);

    let wrong = ops(
        store,
        &[
            "signal",
            &run_id,
            "approval",
            "--value",
            r#"{"by": "finance"}"#,
        ],
    );
    one_line_error(
        &wrong,
        "the signal for `approval` is not a `Approval`: missing field `ok`",
    );
    let approve = r#"{"by": "finance", "ok": true}"#;
    let sent = ops(store, &["signal", &run_id, "approval", "--value", approve]);
    assert_eq!(sent.code, 0, "{}{}", sent.stdout, sent.stderr);
    assert!(
        sent.stdout.contains("signal for `approval` stored"),
        "{}",
        sent.stdout
    );
    assert!(
        sent.stdout.contains(&format!("run {run_id} completed")),
        "{}",
        sent.stdout
    );
    assert!(
        sent.stdout.contains("paid 1250 cents, approved by finance"),
        "{}",
        sent.stdout
    );
    let again = ops(store, &["signal", &run_id, "approval", "--value", approve]);
    assert!(
        again.stdout.contains("was stored already"),
        "{}",
        again.stdout
    );
    let other = ops(
        store,
        &[
            "signal",
            &run_id,
            "approval",
            "--value",
            r#"{"by": "x", "ok": false}"#,
        ],
    );
    one_line_error(&other, "the wait `approval` has a signal already");
    // An operator takes a stored signal back (the repair for one that does not fit the run).
    let removed = ops(store, &["signal", &run_id, "approval", "--remove"]);
    assert_eq!(removed.code, 0, "{}{}", removed.stdout, removed.stderr);
    let line = format!("signal for `approval` of run {run_id} removed");
    assert!(removed.stdout.contains(&line), "{}", removed.stdout);
    let none = ops(store, &["signal", &run_id, "approval", "--remove"]);
    let line = format!("run {run_id} has no signal stored for `approval`: nothing removed");
    assert!(none.stdout.contains(&line), "{}", none.stdout);
}

/// A run of `Remind` with `--wait-in-process 0` stops at its 3 s timer (exit 2, the due time and
/// `resume-due` printed); `resume-due` continues nothing before the timer is due, and the run once
/// it is.
fn continue_a_due_timer(store: &str) {
    let input = r#"{"note": "call ada"}"#;
    let out = ops(
        store,
        &["--wait-in-process", "0", "run", "Remind", "--input", input],
    );
    assert_eq!(out.code, 2, "waiting exits 2: {}{}", out.stdout, out.stderr);
    let run_id = out.stdout.lines().next().unwrap()["run ".len()..]
        .trim_end_matches(" waiting")
        .to_owned();
    assert!(
        out.stdout.contains("timer `later` since ")
            && out
                .stdout
                .contains("; continue the run then with: resume-due"),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains("signal"), "{}", out.stdout);
    let early = ops(store, &["resume-due"]);
    assert_eq!(early.code, 0, "{}{}", early.stdout, early.stderr);
    assert!(
        early.stdout.contains("0 due run(s) continued"),
        "{}",
        early.stdout
    );
    // The timer began before `run` returned: three seconds from now it is due. `ops` takes the
    // engine's clock that far ahead (issue 26, item 8: this slept three seconds).
    let due = ops_with(store, &["resume-due"], &[("OPS_CLOCK_AHEAD_MS", "3000")]);
    assert_eq!(due.code, 0, "{}{}", due.stdout, due.stderr);
    assert!(
        due.stdout.contains(&format!("run {run_id} completed"))
            && due.stdout.contains("output reminder: call ada\n")
            && due.stdout.contains("1 due run(s) continued"),
        "{}",
        due.stdout
    );
    let show = ops(store, &["show", &run_id]);
    assert!(
        show.stdout.contains("status   completed"),
        "{}",
        show.stdout
    );
}

#[test]
fn a_due_timer_is_continued_by_resume_due_in_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    continue_a_due_timer(&dir.path().join("store").display().to_string());
}

#[test]
fn a_due_timer_is_continued_by_resume_due_in_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    continue_a_due_timer(&format!(
        "sqlite://{}",
        dir.path().join("runs.db").display()
    ));
}

#[test]
fn a_waiting_run_is_approved_from_the_command_line_in_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    approve_a_waiting_run(&dir.path().join("store").display().to_string());
}

#[test]
fn a_waiting_run_is_approved_from_the_command_line_in_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    approve_a_waiting_run(&format!(
        "sqlite://{}",
        dir.path().join("runs.db").display()
    ));
}

#[test]
fn bad_input_is_a_one_line_error_and_a_non_zero_exit() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().to_str().unwrap();
    one_line_error(
        &ops(store, &["run", "Nope"]),
        "unknown pipeline `Nope`; the pipelines are: Billing, Patient, Payout, Remind, Revenue, Sizes, Stall",
    );
    one_line_error(
        &ops(store, &["run", "Revenue", "--input", "{oops"]),
        "invalid inputs for pipeline `Revenue`",
    );
    one_line_error(
        &ops(store, &["run", "Revenue", "--input", r#"{"orders": "x"}"#]),
        "missing `rates` (String)",
    );
    one_line_error(
        &ops(
            store,
            &[
                "run",
                "Revenue",
                "--input",
                r#"{"orders": 1, "rates": "x"}"#,
            ],
        ),
        "invalid type: integer `1`, expected a string",
    );
    one_line_error(
        &ops(store, &["show", "no-such-run"]),
        "unknown run `no-such-run`",
    );
    one_line_error(
        &ops(store, &["resume", "no-such-run"]),
        "unknown run `no-such-run`",
    );
    one_line_error(
        &ops(store, &["audit", "../../etc/passwd"]),
        "invalid run id",
    );
    one_line_error(
        &ops(store, &["graph", "nothing"]),
        "no pipeline or run named `nothing`",
    );
    one_line_error(
        &ops(ORDERS, &["runs"]),
        "is a file; give a directory or sqlite://FILE",
    );
    let not_sqlite = dir.path().join("not.db");
    std::fs::write(&not_sqlite, "this is not a database").unwrap();
    let store = format!("sqlite://{}", not_sqlite.display());
    let out = ops(&store, &["runs"]);
    one_line_error(&out, "not.db");
    let usage = ops(dir.path().to_str().unwrap(), &["frobnicate"]);
    assert_eq!(usage.code, 2, "a usage error exits 2: {}", usage.stderr);
}

/// `repair` keeps the valid prefix of a run whose checkpoint is damaged before valid records,
/// copies the damaged file aside and says what it dropped; then `show` and `resume` work.
#[test]
fn repair_keeps_the_valid_prefix_of_a_damaged_run_and_says_what_it_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let store_dir = dir.path().join("store");
    let store = store_dir.display().to_string();
    let (run_id, _) = failed_run(&store, dir.path());
    let ckpt = store_dir.join(format!("{run_id}.ckpt"));
    let mut bytes = std::fs::read(&ckpt).unwrap();
    let first_record = String::from_utf8_lossy(&bytes).find("{\"node\":").unwrap();
    bytes[first_record + 3] ^= 0x20; // the first record is damaged; the next one is intact
    std::fs::write(&ckpt, &bytes).unwrap();
    one_line_error(&ops(&store, &["show", &run_id]), "valid records follow");

    let repaired = ops(&store, &["repair", &run_id]);
    assert_eq!(repaired.code, 0, "{}{}", repaired.stdout, repaired.stderr);
    assert!(
        repaired
            .stdout
            .contains("checkpoint  kept 0 records; dropped")
            && repaired
                .stdout
                .contains("damaged records and every record after them")
            && repaired.stdout.contains(".damaged-"),
        "{}",
        repaired.stdout
    );
    assert!(
        repaired.stdout.contains("audit       intact"),
        "{}",
        repaired.stdout
    );
    let show = ops(&store, &["show", &run_id]);
    assert_eq!(show.code, 0, "{}", show.stderr);
    let again = ops(&store, &["repair", &run_id]);
    assert!(
        again.stdout.contains("checkpoint  intact"),
        "{}",
        again.stdout
    );
    one_line_error(&ops(&store, &["repair", "no-such-run"]), "no-such-run");

    let sqlite = format!("sqlite://{}", dir.path().join("runs.db").display());
    let missing = ops(&sqlite, &["repair", &run_id]);
    one_line_error(&missing, "no such database file");
    let input = r#"{"note": "x"}"#;
    ops(
        &sqlite,
        &["--wait-in-process", "0", "run", "Remind", "--input", input],
    );
    let out = ops(&sqlite, &["repair", &run_id]);
    assert!(out.stdout.contains("nothing to repair"), "{}", out.stdout);
}

/// Three `ops worker` processes on one PostgreSQL database run what `ops submit` records: a
/// run that completes and one that fails, as `run` would report them, with `show` naming the
/// worker of each node; Ctrl-C stops each worker cleanly.
#[test]
#[cfg_attr(
    no_postgres,
    ignore = "needs PostgreSQL, which did not answer when the tests were built: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
)]
fn three_worker_processes_run_what_submit_records() {
    let db = tests::postgres::TestDatabase::create();
    let store = db.url.as_str();
    let dir = tempfile::tempdir().unwrap();
    let mut workers: Vec<std::process::Child> = (0..3)
        .map(|i| {
            Command::new(OPS)
                .args(["--store", store, "worker", "--concurrency", "2", "--id"])
                .arg(format!("proc-{i}"))
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("a worker starts")
        })
        .collect();
    // Each says it serves once its Ctrl-C handler is in place.
    let mut banners = Vec::new();
    for worker in &mut workers {
        use std::io::BufRead;
        let mut lines = std::io::BufReader::new(worker.stdout.take().unwrap()).lines();
        let banner = lines.next().unwrap().unwrap();
        // Every pipeline, the mapped one (`Sizes`) too.
        assert!(
            banner.contains("serving Billing, Patient, Payout, Remind, Revenue, Sizes, Stall ("),
            "{banner}"
        );
        banners.push(lines);
    }

    let rates = dir.path().join("rates.json");
    std::fs::write(&rates, r#"{"EUR": 0.5}"#).unwrap();
    let input = format!(
        r#"{{"orders": "{ORDERS}", "rates": "{}"}}"#,
        rates.display()
    );
    let good = ops(store, &["submit", "Revenue", "--input", &input, "--wait"]);
    assert_eq!(good.code, 0, "{}{}", good.stdout, good.stderr);
    assert!(good.stdout.starts_with("submitted "), "{}", good.stdout);
    assert!(
        good.stdout
            .contains("output revenue 2599.00 USD = 1299.50 EUR\n"),
        "{}",
        good.stdout
    );

    let missing = dir.path().join("missing.json");
    let input = format!(
        r#"{{"orders": "{ORDERS}", "rates": "{}"}}"#,
        missing.display()
    );
    let bad = ops(store, &["submit", "Revenue", "--input", &input, "--wait"]);
    assert_eq!(bad.code, 1, "{}{}", bad.stdout, bad.stderr);
    assert!(
        bad.stdout
            .contains("table (load_rates) failed after 2 attempts: cannot read"),
        "{}",
        bad.stdout
    );
    let run_id = bad
        .stdout
        .lines()
        .next()
        .unwrap()
        .trim_start_matches("submitted ");
    let show = ops(store, &["show", run_id]);
    assert!(show.stdout.contains("status   failed"), "{}", show.stdout);
    let all = show.stdout.lines().find(|l| l.starts_with("all ")).unwrap();
    assert!(all.contains("completed") && all.contains("proc-"), "{all}");
    // With its rates file in place, `resume` sends the failed run back to the workers: the
    // table's new attempt runs on one of them, and the run completes.
    std::fs::copy(&rates, &missing).unwrap();
    let resumed = ops(store, &["resume", run_id]);
    assert_eq!(resumed.code, 0, "{}{}", resumed.stdout, resumed.stderr);
    assert!(
        resumed.stdout.contains("output revenue"),
        "{}",
        resumed.stdout
    );
    let show = ops(store, &["show", run_id]);
    assert!(
        show.stdout.contains("status   completed"),
        "{}",
        show.stdout
    );
    let table = show
        .stdout
        .lines()
        .find(|l| l.starts_with("table "))
        .unwrap();
    assert!(
        table.contains("completed") && table.contains("proc-"),
        "{table}"
    );

    // A payout waits on the fleet for its approval, holding no worker; the signal, sent by
    // another process, makes it due, and a worker (woken by NOTIFY) completes it.
    let mut payout = Command::new(OPS)
        .args([
            "--store",
            store,
            "submit",
            "Payout",
            "--input",
            r#"{"cents": 990}"#,
        ])
        .arg("--wait")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("submit starts");
    let mut submitted = {
        use std::io::BufRead;
        std::io::BufReader::new(payout.stdout.take().unwrap()).lines()
    };
    let first = submitted.next().unwrap().unwrap();
    let payout_id = first.trim_start_matches("submitted ").to_owned();
    // Nothing is left but the wait: `--wait` says so and how to send the signal, as `run` does.
    let rest: Vec<String> = submitted.map_while(Result::ok).collect();
    assert_eq!(payout.wait().unwrap().code(), Some(2), "{rest:?}");
    assert!(
        rest.iter()
            .any(|l| l.contains(&format!("send it with: signal {payout_id} approval"))),
        "{rest:?}"
    );
    let approve = r#"{"by": "finance", "ok": true}"#;
    let sent = ops(
        store,
        &["signal", &payout_id, "approval", "--value", approve],
    );
    assert_eq!(sent.code, 0, "{}{}", sent.stdout, sent.stderr);
    assert!(
        sent.stdout.contains("signal for `approval` stored"),
        "{}",
        sent.stdout
    );
    // A worker continues it; `resume` follows it on the fleet to its end.
    let followed = ops(store, &["resume", &payout_id]);
    assert_eq!(followed.code, 0, "{}{}", followed.stdout, followed.stderr);
    assert!(
        followed
            .stdout
            .contains("paid 990 cents, approved by finance"),
        "{}",
        followed.stdout
    );

    for (worker, lines) in workers.into_iter().zip(banners) {
        let status = Command::new("kill")
            .args(["-INT", &worker.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let out = worker.wait_with_output().unwrap();
        let rest: Vec<String> = lines.map_while(Result::ok).collect();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{rest:?}{stderr}");
        // The worker logs through `tracing` by default, on stderr.
        assert!(
            stderr.contains("INFO") && stderr.contains("worker started"),
            "{stderr}"
        );
        assert!(stderr.contains("worker stopped"), "{stderr}");
        assert!(
            rest.iter().any(|l| l.starts_with("worker stopped: ")),
            "{rest:?}"
        );
    }

    let elsewhere = ops(dir.path().to_str().unwrap(), &["worker"]);
    one_line_error(&elsewhere, "`worker` needs a PostgreSQL store");
}

/// Issue 24, finding 8: parse errors echoed `password=` and `?password=`, and a key-value
/// conninfo was taken as a directory whose name held the password. No password is in any output
/// now, and a conninfo is read as PostgreSQL.
#[test]
fn store_passwords_never_show_and_a_conninfo_is_postgres() {
    let secret_free = |out: &common::Output| {
        let said = format!("{}{}", out.stdout, out.stderr);
        assert!(!said.contains("hunter"), "a password shows: {said}");
    };
    let unreachable = "postgres://u:hunter2@127.0.0.1:1/x?sslmode=disable&password=hunter3";
    let out = ops(unreachable, &["runs"]);
    assert_ne!(out.code, 0);
    secret_free(&out);
    assert!(
        out.stderr.contains("postgres://u@127.0.0.1:1/x"),
        "{}",
        out.stderr
    );

    let unknown = ops("mysql://u:hunter2@h/db?password=hunter3", &["runs"]);
    one_line_error(&unknown, "unknown scheme `mysql:`");
    secret_free(&unknown);

    let cwd = tempfile::tempdir().unwrap();
    let conninfo = "host=127.0.0.1 port=1 user=u password=hunter2 dbname=x";
    let out = common::ops_in(
        cwd.path(),
        conninfo,
        &["run", "Payout", "--input", r#"{"cents":5}"#],
    );
    assert_ne!(out.code, 0, "{}{}", out.stdout, out.stderr);
    secret_free(&out);
    let made: Vec<_> = std::fs::read_dir(cwd.path()).unwrap().collect();
    assert!(made.is_empty(), "a conninfo made a directory: {made:?}");
}

/// Issue 24, finding 5: with a store that cannot be reached, `run Payout` printed `waiting` and a
/// `signal` hint (exit 2) and `run Revenue` printed `completed` (exit 0), with nothing stored.
/// The store is checked before a run starts: a one-line error. A store that fails midway ends the
/// run with exit code 3, naming the records lost.
#[test]
fn a_run_is_refused_by_an_unusable_store_and_a_store_failing_midway_exits_3() {
    let unreachable = "postgres://u@127.0.0.1:1/x";
    let payout = ops(unreachable, &["run", "Payout", "--input", r#"{"cents":5}"#]);
    one_line_error(&payout, "cannot connect to the PostgreSQL database");
    assert!(payout.stdout.is_empty(), "{}", payout.stdout);
    let input = format!(r#"{{"orders": "{ORDERS}", "rates": "rates.json"}}"#);
    let revenue = ops(unreachable, &["run", "Revenue", "--input", &input]);
    one_line_error(&revenue, "cannot connect to the PostgreSQL database");

    // A file-size limit lets the run's headers be written and fails every later append with
    // `EFBIG`, as a full disk would (`SIGXFSZ` ignored, so the write fails instead).
    let dir = tempfile::tempdir().unwrap();
    let rates = dir.path().join("rates.json");
    std::fs::write(&rates, r#"{"EUR": 0.9}"#).unwrap();
    let input = format!(
        r#"{{"orders": "{ORDERS}", "rates": "{}"}}"#,
        rates.display()
    );
    let store = dir.path().join("runs");
    let out = Command::new("/bin/sh")
        .arg("-c")
        .arg("trap '' XFSZ; ulimit -f 2; exec \"$0\" \"$@\"")
        .arg(OPS)
        .args([
            "--store",
            store.to_str().unwrap(),
            "run",
            "Revenue",
            "--input",
            &input,
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{stdout}");
    assert!(stdout.contains(" completed\n"), "{stdout}");
    assert!(
        stdout.contains("lost: the checkpoint records of `") && stdout.contains("`report`"),
        "{stdout}"
    );
    assert!(stdout.contains("output revenue"), "{stdout}");
}

/// Issue 26, item 6: a resumed run's duration counted from its first start, so a run that failed
/// yesterday and was resumed today took "1440m" in `runs`. It counts from the resume now, and
/// says it was resumed; `show` gives both starts.
#[test]
fn a_resumed_run_counts_its_time_from_the_resume_not_from_its_first_start() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("runs.db");
    let store = format!("sqlite://{}", db.display());
    let (run_id, rates) = failed_run(&store, dir.path());
    // The run failed a day ago: its first start moves back a day wherever it is kept.
    let day = 86_400_000_i64;
    let sqlite = rusqlite::Connection::open(&db).unwrap();
    for (table, column) in [
        ("runs", "header"),
        ("audit_runs", "header"),
        ("run_summaries", "summary"),
    ] {
        let moved = sqlite
            .execute(
                &format!(
                    "UPDATE {table} SET {column} = json_set({column}, '$.started_at_ms', \
                     json_extract({column}, '$.started_at_ms') - ?1) WHERE run_id = ?2"
                ),
                (day, &run_id),
            )
            .unwrap();
        assert_eq!(moved, 1, "{table}");
    }
    sqlite
        .execute(
            "UPDATE runs SET started_at_ms = started_at_ms - ?1 WHERE run_id = ?2",
            (day, &run_id),
        )
        .unwrap();
    drop(sqlite);

    std::fs::write(&rates, r#"{"EUR": 0.5}"#).unwrap(); // the fix
    let resumed = ops(&store, &["resume", &run_id]);
    assert_eq!(resumed.code, 0, "{}{}", resumed.stdout, resumed.stderr);

    let runs = ops(&store, &["runs"]);
    let row = row(&runs.stdout, &run_id);
    // RUN PIPELINE STATUS STARTED(date time) TOOK ... : the resume took well under a minute.
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cells[2], "completed", "{row}");
    let took = cells[5];
    assert!(
        took.ends_with("ms") || !took.contains('m'),
        "the time since the resume, not since the first start: {row}"
    );
    assert_eq!(cells[6], "(resumed)", "{row}");

    let show = ops(&store, &["show", &run_id]);
    let line = |prefix: &str| {
        show.stdout
            .lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no `{prefix}` line: {}", show.stdout))
            .to_owned()
    };
    let (started, resumed) = (line("started  "), line("resumed  "));
    assert_ne!(
        started[9..19],
        resumed[9..19],
        "a day apart: {}",
        show.stdout
    );
}

/// Issue 26, item 6: attempt numbers restarted at 1 after a resume, so `audit` listed `table`'s
/// attempts as 1, 2, 1, 2 while `show` counted 4. They go on across starts (each start has the
/// node's retries again), in `audit`, `show` and the run's output.
fn attempt_numbers_go_on_after_a_resume(store: &str, dir: &Path) {
    let (run_id, rates) = failed_run(store, dir);
    let again = ops(store, &["resume", &run_id]);
    assert_eq!(again.code, 1, "{}{}", again.stdout, again.stderr);
    assert!(
        again
            .stdout
            .contains("table (load_rates) failed after 4 attempts: cannot read"),
        "two attempts in each of two starts: {}",
        again.stdout
    );
    let numbers = || -> Vec<u64> {
        let json = ops(store, &["audit", &run_id, "--node", "table", "--json"]);
        json.stdout
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .map(|e| e["attempt"].as_u64().unwrap())
            .collect()
    };
    assert_eq!(numbers(), [1, 2, 3, 4]);
    let show = ops(store, &["show", &run_id]);
    let table = row(&show.stdout, "table");
    assert!(table.contains("failed     4"), "{table}");

    std::fs::write(&rates, r#"{"EUR": 0.5}"#).unwrap(); // the fix
    let fixed = ops(store, &["resume", &run_id]);
    assert_eq!(fixed.code, 0, "{}{}", fixed.stdout, fixed.stderr);
    assert_eq!(numbers(), [1, 2, 3, 4, 5]);
    let text = ops(store, &["audit", &run_id, "--node", "table"]);
    let last = text
        .stdout
        .lines()
        .rfind(|l| l.contains(" table "))
        .unwrap_or_default()
        .to_owned();
    let cells: Vec<&str> = last.split_whitespace().collect();
    assert!(
        cells.contains(&"5") && cells.contains(&"completed"),
        "{}",
        text.stdout
    );
}

#[test]
fn attempt_numbers_go_on_after_a_resume_in_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store").display().to_string();
    attempt_numbers_go_on_after_a_resume(&store, dir.path());
}

#[test]
fn attempt_numbers_go_on_after_a_resume_in_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite://{}", dir.path().join("runs.db").display());
    attempt_numbers_go_on_after_a_resume(&store, dir.path());
}

/// Issue 27, item 1: `run --key` a second time reports the run that holds the key, and runs
/// nothing.
#[test]
fn a_second_run_with_the_same_key_reports_the_first_run() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store").display().to_string();
    let rates = dir.path().join("rates.json");
    std::fs::write(&rates, r#"{"EUR": 0.5}"#).unwrap();
    let input = format!(
        r#"{{"orders": "{ORDERS}", "rates": "{}"}}"#,
        rates.display()
    );
    let first = ops(
        &store,
        &["run", "Revenue", "--input", &input, "--key", "2026-12-06"],
    );
    assert_eq!(first.code, 0, "{}{}", first.stdout, first.stderr);
    let second = ops(
        &store,
        &["run", "Revenue", "--input", &input, "--key", "2026-12-06"],
    );
    assert_eq!(second.code, 0, "{}{}", second.stdout, second.stderr);
    let id = |out: &str| out.lines().next().unwrap_or_default().to_owned();
    assert_eq!(
        id(&second.stdout),
        id(&first.stdout),
        "the first run's line"
    );
    assert!(
        second.stdout.contains("output revenue 2599.00 USD"),
        "{}",
        second.stdout
    );
    assert!(
        second.stderr.contains("is held by run"),
        "{}",
        second.stderr
    );
    assert!(
        !second.stderr.contains("all started"),
        "nothing ran: {}",
        second.stderr
    );
    let runs = ops(&store, &["runs"]);
    assert_eq!(
        runs.stdout
            .lines()
            .filter(|l| l.contains("Revenue"))
            .count(),
        1,
        "{}",
        runs.stdout
    );
}

/// Issue 27, item 5: a fleet run over its key's run limit says in `runs` and `show` why it does
/// not run yet: which key, which limit, and its place in the queue.
#[test]
#[cfg_attr(
    no_postgres,
    ignore = "needs PostgreSQL, which did not answer when the tests were built: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
)]
fn a_queued_fleet_run_says_which_key_and_limit_it_waits_for_and_its_place() {
    let db = tests::postgres::TestDatabase::create();
    let store = db.url.as_str();
    // No worker: the first run of tenant acme holds the key's one place, the others queue.
    let ids: Vec<String> = (0..3)
        .map(|cents| {
            let input = format!(r#"{{"tenant": "acme", "cents": {cents}}}"#);
            let out = ops(store, &["submit", "Billing", "--input", &input]);
            assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
            out.stdout
                .trim()
                .trim_start_matches("submitted ")
                .to_owned()
        })
        .collect();
    let other = ops(
        store,
        &[
            "submit",
            "Billing",
            "--input",
            r#"{"tenant": "globex", "cents": 1}"#,
        ],
    );
    let other = other
        .stdout
        .trim()
        .trim_start_matches("submitted ")
        .to_owned();
    let runs = ops(store, &["runs"]);
    let status = |id: &str| {
        row(&runs.stdout, id)
            .split_whitespace()
            .nth(2)
            .map(str::to_owned)
    };
    assert_ne!(
        status(&ids[0]).as_deref(),
        Some("queued"),
        "{}",
        runs.stdout
    );
    assert_eq!(
        status(&ids[1]).as_deref(),
        Some("queued"),
        "{}",
        runs.stdout
    );
    assert_eq!(
        status(&ids[2]).as_deref(),
        Some("queued"),
        "{}",
        runs.stdout
    );
    assert_ne!(
        status(&other).as_deref(),
        Some("queued"),
        "another key: {}",
        runs.stdout
    );
    let show = ops(store, &["show", &ids[2]]);
    assert!(
        show.stdout.contains(
            r#"queued   2 of 2 queued runs of key ["acme"], which runs at most 1 at once"#
        ),
        "{}",
        show.stdout
    );
}

/// Issue 29, item 3: what a node's attempt logs is kept in its audit entry; `audit` says so,
/// and `audit --logs` prints it, one line per event, control characters escaped.
fn a_nodes_log_is_kept_and_printed(store: &str) {
    let out = ops(
        store,
        &[
            "run",
            "Payout",
            "--run-id",
            "logged-1",
            "--input",
            r#"{"cents": 7}"#,
        ],
    );
    assert_eq!(out.code, 2, "waiting exits 2: {}{}", out.stdout, out.stderr);
    let audit = ops(store, &["audit", "logged-1"]);
    assert_eq!(audit.code, 0, "{}{}", audit.stdout, audit.stderr);
    assert!(
        audit
            .stdout
            .ends_with("1 attempt logged: `audit logged-1 --logs` shows what\n"),
        "{}",
        audit.stdout
    );
    let logs = ops(store, &["audit", "logged-1", "--logs"]);
    assert_eq!(logs.code, 0, "{}{}", logs.stdout, logs.stderr);
    let after_table = logs
        .stdout
        .split_once("\nplan attempt 1:\n")
        .map(|(_, rest)| rest);
    let lines: Vec<&str> = after_table
        .unwrap_or_else(|| panic!("{}", logs.stdout))
        .lines()
        .collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].ends_with(" INFO  ops: payout planned cents=7"),
        "{lines:?}"
    );
    let json = ops(store, &["audit", "logged-1", "--json", "--node", "plan"]);
    let entry: serde_json::Value = serde_json::from_str(json.stdout.trim()).unwrap();
    assert_eq!(entry["logs"][0]["message"], "payout planned cents=7");
    assert_eq!(entry["logs"][0]["level"], "INFO");
}

#[test]
fn a_nodes_log_is_kept_and_printed_in_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    a_nodes_log_is_kept_and_printed(&dir.path().join("store").display().to_string());
}

#[test]
#[cfg_attr(
    no_postgres,
    ignore = "needs PostgreSQL, which did not answer when the tests were built: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
)]
fn a_nodes_log_is_kept_and_printed_in_postgres() {
    let db = tests::postgres::TestDatabase::create();
    a_nodes_log_is_kept_and_printed(&db.url);
}
