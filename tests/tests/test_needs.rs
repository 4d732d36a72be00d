//! A test that needs PostgreSQL or Chromium says so, so that on a machine without them it is
//! reported ignored (with the command that provides it) rather than failing or passing: each
//! test fn that calls what starts a database, a fleet or a browser carries the `cfg_attr` that
//! `tests/build.rs` decides (`no_postgres`, `no_chromium`), or an unconditional `ignore`.

use std::path::{Path, PathBuf};

/// What a test calls that needs the server or browser, and the cfg its attribute must name.
const NEEDS: [(&str, &str); 4] = [
    ("TestDatabase::create()", "no_postgres"),
    ("Fleet::start", "no_postgres"),
    ("Backend::postgres()", "no_postgres"),
    ("browser(", "no_chromium"),
];

fn test_files() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    for dir in ["tests/tests", "examples/tests"] {
        let entries = std::fs::read_dir(root.join(dir)).expect("the test folders");
        for entry in entries {
            let path = entry.expect("a directory entry").path();
            // This file names the calls it looks for.
            if path.extension().is_some_and(|e| e == "rs") && !path.ends_with("test_needs.rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// The test fns of `text`: each one's name, the attributes above it, and its body (up to the
/// next line that closes a top-level item).
fn tests_of(text: &str) -> Vec<(String, String, String)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut found = Vec::new();
    for (at, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        let Some(rest) = trimmed
            .strip_prefix("async fn ")
            .or_else(|| trimmed.strip_prefix("fn "))
        else {
            continue;
        };
        let name = rest.split(['(', '<']).next().unwrap_or_default().to_owned();
        let mut attributes = Vec::new();
        let mut above = at;
        while above > 0 {
            above -= 1;
            let line = lines[above].trim();
            if line.starts_with("#[") || line.starts_with("///") || line.starts_with(')') {
                attributes.push(line);
            } else if line.starts_with("no_") || line.starts_with("ignore =") {
                attributes.push(line); // inside a `#[cfg_attr(` written over lines
            } else {
                break;
            }
        }
        let attributes = attributes.join("\n");
        if !attributes.contains("test]") && !attributes.contains("test(") {
            continue;
        }
        let indent = line.len() - trimmed.len();
        let end = lines[at + 1..]
            .iter()
            .position(|l| l.len() > indent && l[indent..].starts_with('}') || l.trim() == "}")
            .map_or(lines.len(), |n| at + 1 + n);
        found.push((name, attributes, lines[at..end].join("\n")));
    }
    found
}

#[test]
fn tests_that_need_postgres_or_chromium_say_so() {
    let mut unmarked = Vec::new();
    let mut marked = 0;
    for file in test_files() {
        let text = std::fs::read_to_string(&file).expect("a test file");
        for (name, attributes, body) in tests_of(&text) {
            for (call, cfg) in NEEDS {
                if !body.contains(call) {
                    continue;
                }
                if attributes.contains(cfg) || attributes.contains("#[ignore") {
                    marked += 1;
                } else {
                    unmarked.push(format!("{}: {name} calls {call}", file.display()));
                }
            }
        }
    }
    assert!(
        unmarked.is_empty(),
        "these tests need a server or browser and are not marked \
         #[cfg_attr({{no_postgres|no_chromium}}, ignore = \"...\")]:\n{}",
        unmarked.join("\n")
    );
    // The check saw the tests it is about.
    assert!(marked >= 30, "only {marked} marked tests found");
}

#[test]
fn the_reader_of_test_fns_sees_attributes_over_lines() {
    let text = "#[tokio::test]\n#[cfg_attr(\n    no_postgres,\n    ignore = \"why\"\n)]\nasync fn a() {\n    let db = TestDatabase::create();\n}\n\n#[test]\nfn b() {\n    Fleet::start(&g, 1);\n}\n";
    let found = tests_of(text);
    assert_eq!(found.len(), 2);
    assert!(found[0].1.contains("no_postgres"), "{found:?}");
    assert!(found[0].2.contains("TestDatabase::create()"));
    assert!(!found[1].1.contains("no_postgres"));
    assert!(found[1].2.contains("Fleet::start"));
}
