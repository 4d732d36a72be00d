//! The result cache through the `readings` binary (issue 28): over a growing directory, each run
//! parses only the files no earlier run parsed; `cache ls`, `why-miss`, `cache clear` and
//! `cache gc` say and do what they promise.

use std::path::Path;
use std::process::Command;

const READINGS: &str = env!("CARGO_BIN_EXE_readings");

/// Runs `readings --store STORE ARGS...`: its exit code and standard output.
fn readings(store: &Path, args: &[&str]) -> (i32, String) {
    let out = Command::new(READINGS)
        .arg("--store")
        .arg(store)
        .args(args)
        .output()
        .expect("readings starts");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    (out.status.code().unwrap_or(-1), format!("{stdout}{stderr}"))
}

fn write_files(dir: &Path, range: std::ops::Range<usize>) {
    for i in range {
        let text = format!("day,reading\nmon,{i}\ntue,1.5\n");
        std::fs::write(dir.join(format!("r{i:04}.csv")), text).expect("a reading file");
    }
}

/// Runs the pipeline over `dir`: the run id and what `show` says of its `summaries` node.
fn run(store: &Path, dir: &Path) -> (String, String) {
    let input = format!("{{\"dir\": {:?}}}", dir.display().to_string());
    let (code, out) = readings(store, &["run", "Readings", "--input", &input]);
    assert_eq!(code, 0, "{out}");
    let run_id = out
        .lines()
        .find_map(|l| l.strip_prefix("run ")?.strip_suffix(" completed"))
        .unwrap_or_else(|| panic!("a completed run: {out}"))
        .to_owned();
    let (_, show) = readings(store, &["show", &run_id]);
    let line = show
        .lines()
        .find(|l| l.starts_with("summaries"))
        .unwrap_or_else(|| panic!("summaries in {show}"))
        .to_owned();
    (run_id, line)
}

#[test]
fn each_run_parses_only_the_files_no_earlier_run_parsed() {
    let temp = tempfile::tempdir().expect("a temporary directory");
    let (store, dir) = (temp.path().join("store"), temp.path().join("readings"));
    std::fs::create_dir(&dir).unwrap();
    write_files(&dir, 0..40);
    let (first, line) = run(&store, &dir);
    assert!(
        line.contains("×40") && line.contains("40 completed"),
        "{line}"
    );
    assert!(!line.contains("from the cache"), "{line}");

    write_files(&dir, 40..43);
    let (second, line) = run(&store, &dir);
    assert!(line.contains("43 completed (40 from the cache)"), "{line}");

    // One entry per file, each naming the run that parsed it (and one per report: `total` is
    // cached whole).
    let (code, ls) = readings(&store, &["cache", "ls", "--node", "summarize"]);
    assert_eq!(code, 0, "{ls}");
    assert!(ls.contains("43 entries"), "{ls}");
    let (_, all) = readings(&store, &["cache", "ls"]);
    assert!(all.contains("45 entries"), "{all}");
    assert_eq!(
        ls.lines().filter(|l| l.contains(&first)).count(),
        40,
        "{ls}"
    );
    assert_eq!(
        ls.lines().filter(|l| l.contains(&second)).count(),
        3,
        "{ls}"
    );

    // The second run's misses: three new files, each differing from its nearest entry in the
    // file it names.
    let (code, why) = readings(&store, &["why-miss", &second, "summaries"]);
    assert_eq!(code, 0, "{why}");
    assert!(
        why.contains("40 of `summaries`'s calls came from the cache"),
        "{why}"
    );
    assert_eq!(why.matches("missed; the nearest entry").count(), 3, "{why}");
    assert!(why.contains("input `files` differed in"), "{why}");
    assert!(why.contains("path"), "{why}");

    // A changed file is parsed again; the others are not.
    write_files(&dir, 5..6);
    let later = std::time::SystemTime::now() + std::time::Duration::from_secs(5);
    let file = std::fs::File::options()
        .write(true)
        .open(dir.join("r0005.csv"))
        .unwrap();
    file.set_modified(later).unwrap();
    let (_, line) = run(&store, &dir);
    assert!(line.contains("43 completed (42 from the cache)"), "{line}");

    // `clear` wants a filter; with one it empties the node's entries, and the next run parses
    // every file again.
    let (code, out) = readings(&store, &["cache", "clear"]);
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("--all"), "{out}");
    let (code, out) = readings(&store, &["cache", "clear", "--node", "summarize"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("removed 44 entries"), "{out}");
    let (after, line) = run(&store, &dir);
    assert!(
        line.contains("43 completed") && !line.contains("cache"),
        "{line}"
    );
    // Its summaries equal the ones the run before computed, so its report (cached whole, and
    // not cleared) came from the cache: `show` names the run that computed it.
    let (_, show) = readings(&store, &["show", &after]);
    let report = show
        .lines()
        .find(|l| l.starts_with("report"))
        .unwrap_or_default();
    assert!(report.contains("cached (from "), "{show}");
    assert!(!report.contains(&after), "{show}");

    // `cache gc` (and `gc`) keep the newest that fit a size: they list the others, then remove
    // them with --delete.
    let (code, out) = readings(&store, &["cache", "gc", "--max-size", "1KB"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("would be removed"), "{out}");
    let (code, out) = readings(&store, &["gc", "--cache-max-size", "1KB", "--delete"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("removed") && out.contains("cache entries"),
        "{out}"
    );
    let (code, out) = readings(&store, &["gc", "--cache-max-size", "lots"]);
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("--cache-max-size"), "{out}");
    // What is left fits the size (1KB is 1,000 bytes), and is not nothing: each row's size is
    // in bytes (an entry is under 1 KB), and the total line counts the rows.
    let (_, ls) = readings(&store, &["cache", "ls"]);
    let total = ls.lines().last().unwrap_or_default();
    let entries: usize = total
        .split_once(" entries, ")
        .and_then(|(n, _)| n.parse().ok())
        .unwrap_or_else(|| panic!("a total line `N entries, SIZE`: {ls}"));
    let sizes: Vec<u64> = ls
        .lines()
        .skip(1)
        .filter(|l| l.contains("readings::"))
        .map(|l| {
            let mut words = l.split_whitespace().skip(3);
            let (n, unit) = (words.next(), words.next());
            match (n.and_then(|n| n.parse::<u64>().ok()), unit) {
                (Some(n), Some("B")) => n,
                _ => panic!("a size in bytes: {l}"),
            }
        })
        .collect();
    assert_eq!(sizes.len(), entries, "{ls}");
    assert!((1..43).contains(&entries), "{ls}");
    assert!(sizes.iter().sum::<u64>() <= 1000, "{ls}");
}
