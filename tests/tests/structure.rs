//! The shape of the source tree, checked so it cannot rot: no import cycle among the modules of
//! `pipeline` or `pipeline-macros`, crate-internal paths that name the defining module (not the
//! crate root's re-exports), no library source file over 450 lines, and every file opening with a
//! comment that says its one concern.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const MAX_LINES: usize = 450;
const LIBRARY_CRATES: [&str; 3] = ["pipeline", "pipeline-macros", "tests"];

/// A module with a file of its own: its path from the crate root (`["store", "file", "log"]`).
struct Module {
    path: Vec<String>,
    file: PathBuf,
    text: String,
}

fn src(krate: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(krate)
        .join("src")
}

fn modules(krate: &str) -> Vec<Module> {
    let root = src(krate);
    let mut out = Vec::new();
    let mut dirs = vec![root.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let file = entry.unwrap().path();
            if file.is_dir() {
                dirs.push(file);
                continue;
            }
            if file.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = file.strip_prefix(&root).unwrap().with_extension("");
            let mut path: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if matches!(
                path.last().map(String::as_str),
                Some("mod" | "lib" | "main")
            ) {
                path.pop();
            }
            if path.first().is_some_and(|p| p == "bin") {
                continue; // binaries are crates of their own
            }
            let text = std::fs::read_to_string(&file).unwrap();
            out.push(Module { path, file, text });
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

/// The lines that use other modules: not comments, not re-exports or `mod` declarations (a
/// parent re-exporting its children does not depend on them), and not the unit tests at the end.
fn code_lines(text: &str) -> impl Iterator<Item = &str> {
    let library = text.split("#[cfg(test)]\nmod ").next().unwrap_or(text);
    library.lines().map(str::trim).filter(|line| {
        let declaration = [
            "pub use ",
            "pub(crate) use ",
            "pub(super) use ",
            "mod ",
            "pub mod ",
        ]
        .iter()
        .any(|p| line.starts_with(p));
        !line.starts_with("//") && !line.starts_with("#[doc") && !declaration
    })
}

/// Every `a::b::c` path in `line`, as its segments, with where it starts.
fn paths(line: &str) -> Vec<Vec<&str>> {
    let bytes = line.as_bytes();
    let ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let starts = ident(bytes[i]) && (i == 0 || (!ident(bytes[i - 1]) && bytes[i - 1] != b':'));
        if !starts {
            i += 1;
            continue;
        }
        let mut segments = Vec::new();
        let mut j = i;
        loop {
            let start = j;
            while j < bytes.len() && ident(bytes[j]) {
                j += 1;
            }
            segments.push(&line[start..j]);
            if line[j..].starts_with("::") && j + 2 < bytes.len() && ident(bytes[j + 2]) {
                j += 2;
            } else {
                break;
            }
        }
        if segments.len() > 1 {
            out.push(segments);
        }
        i = j.max(i + 1);
    }
    out
}

/// The child modules `module` declares.
fn children(module: &Module) -> BTreeSet<&str> {
    module
        .text
        .lines()
        .map(str::trim)
        .filter_map(|l| {
            ["mod ", "pub mod ", "pub(crate) mod "]
                .iter()
                .find_map(|p| l.strip_prefix(p))
        })
        .filter_map(|l| l.strip_suffix(';'))
        .collect()
}

/// `segments` (relative to `module`) as a path from the crate root; `None` for other crates.
fn absolute(module: &Module, segments: &[&str], children: &BTreeSet<&str>) -> Option<Vec<String>> {
    let mut out: Vec<String> = match segments[0] {
        "crate" => Vec::new(),
        "self" | "super" => module.path.clone(),
        first if children.contains(first) => module.path.clone(),
        _ => return None,
    };
    let mut rest = segments;
    if rest[0] == "crate" || rest[0] == "self" {
        rest = &rest[1..];
    }
    while rest.first() == Some(&"super") {
        out.pop();
        rest = &rest[1..];
    }
    out.extend(rest.iter().map(|s| s.to_string()));
    Some(out)
}

type Reexports = BTreeMap<Vec<String>, BTreeMap<String, Vec<String>>>;

/// The `use` statements of a module's library code (`pub` ones when `public`, private ones
/// otherwise), as `(name bound, path as written)`, braces expanded.
fn use_items(module: &Module, public: bool) -> Vec<(String, String)> {
    let library = module
        .text
        .split("#[cfg(test)]\nmod ")
        .next()
        .unwrap_or(&module.text);
    let mut out = Vec::new();
    for statement in library.split(';') {
        let lines: Vec<&str> = statement
            .lines()
            .map(str::trim)
            .filter(|l| !l.starts_with("//") && !l.starts_with('#'))
            .collect();
        let text = lines.join(" ");
        let text = text.trim();
        let body = if public {
            ["pub use ", "pub(crate) use "]
                .iter()
                .find_map(|p| text.strip_prefix(p))
        } else {
            text.strip_prefix("use ")
        };
        let Some(body) = body else { continue };
        let (prefix, items) = match body.split_once("::{") {
            Some((prefix, items)) => (prefix, items.trim_end_matches('}')),
            None => match body.rsplit_once("::") {
                Some((prefix, item)) => (prefix, item),
                None => continue,
            },
        };
        for item in items.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (item, alias) = item.split_once(" as ").unwrap_or((item, item));
            let alias = alias.rsplit("::").next().unwrap_or(alias).trim();
            out.push((alias.to_owned(), format!("{prefix}::{}", item.trim())));
        }
    }
    out
}

/// Per module, the names it re-exports (`pub use a::{B, c::D}`) and the paths they come from.
fn reexports(modules: &[Module]) -> Reexports {
    let mut out = Reexports::new();
    for module in modules {
        let children = children(module);
        let names = out.entry(module.path.clone()).or_default();
        for (alias, full) in use_items(module, true) {
            let segments: Vec<&str> = full.split("::").collect();
            if let Some(path) = absolute(module, &segments, &children) {
                names.insert(alias, path);
            }
        }
    }
    out
}

/// The module that defines what `path` names: its longest module prefix, followed through
/// re-exports.
fn defining_module(
    mut path: Vec<String>,
    known: &BTreeSet<Vec<String>>,
    reexports: &Reexports,
) -> Option<Vec<String>> {
    for _ in 0..8 {
        let module = (0..=path.len())
            .rev()
            .map(|n| path[..n].to_vec())
            .find(|prefix| known.contains(prefix))?;
        let next = path.get(module.len());
        match next.and_then(|name| reexports.get(&module)?.get(name)) {
            Some(source) if *source != path => path = source.clone(),
            _ => return Some(module),
        }
    }
    None
}

/// The modules `module` uses.
fn uses(
    module: &Module,
    known: &BTreeSet<Vec<String>>,
    reexports: &Reexports,
) -> BTreeSet<Vec<String>> {
    let children = children(module);
    let imports = use_items(module, false);
    let imported = imports
        .iter()
        .map(|(_, full)| full.split("::").collect::<Vec<_>>());
    let inline = code_lines(&module.text)
        .filter(|line| !line.starts_with("use "))
        .flat_map(paths);
    let mut found = BTreeSet::new();
    for segments in imported.chain(inline) {
        let Some(path) = absolute(module, &segments, &children) else {
            continue;
        };
        if let Some(target) = defining_module(path, known, reexports)
            && target != module.path
            && !target.is_empty()
        {
            found.insert(target);
        }
    }
    found
}

fn find_cycle(graph: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>) -> Option<Vec<String>> {
    fn visit(
        node: &Vec<String>,
        graph: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        state: &mut BTreeMap<Vec<String>, bool>,
        stack: &mut Vec<Vec<String>>,
    ) -> Option<Vec<String>> {
        match state.get(node) {
            Some(true) => return None,
            Some(false) => {
                let from = stack.iter().position(|n| n == node).unwrap_or(0);
                let mut cycle: Vec<String> = stack[from..].iter().map(|p| p.join("::")).collect();
                cycle.push(node.join("::"));
                return Some(cycle);
            }
            None => {}
        }
        state.insert(node.clone(), false);
        stack.push(node.clone());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, state, stack) {
                return Some(cycle);
            }
        }
        stack.pop();
        state.insert(node.clone(), true);
        None
    }
    let mut state = BTreeMap::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut state, &mut Vec::new()))
}

fn module_graph(krate: &str) -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
    let modules = modules(krate);
    let known: BTreeSet<Vec<String>> = modules.iter().map(|m| m.path.clone()).collect();
    let reexports = reexports(&modules);
    modules
        .iter()
        .filter(|m| !m.path.is_empty())
        .map(|m| (m.path.clone(), uses(m, &known, &reexports)))
        .collect()
}

#[test]
fn the_checker_sees_a_cycle_and_its_edges() {
    let line = "use super::builder::GraphBuilder; let x = crate::store::fs::io_error(op, p);";
    assert_eq!(
        paths(line),
        vec![
            vec!["super", "builder", "GraphBuilder"],
            vec!["crate", "store", "fs", "io_error"]
        ]
    );
    let graph = module_graph("pipeline");
    let path = |p: &str| p.split("::").map(String::from).collect::<Vec<_>>();
    // `use crate::store::{AuditLog, ..}` in the engine reaches the modules that define them.
    assert!(
        graph[&path("engine")].contains(&path("store::traits")),
        "{graph:?}"
    );
    assert!(
        graph[&path("store::spec")].contains(&path("store")),
        "{graph:?}"
    );
    let mut cyclic = graph.clone();
    cyclic
        .entry(path("store::traits"))
        .or_default()
        .insert(path("engine"));
    assert!(find_cycle(&cyclic).is_some());
}

#[test]
fn no_import_cycle_among_modules() {
    for krate in ["pipeline", "pipeline-macros"] {
        let graph = module_graph(krate);
        assert!(
            graph.len() > 5,
            "{krate}: only {} modules found",
            graph.len()
        );
        if let Some(cycle) = find_cycle(&graph) {
            panic!("{krate}: modules import each other: {}", cycle.join(" -> "));
        }
    }
}

#[test]
fn crate_internal_paths_name_the_defining_module() {
    for module in modules("pipeline").iter().filter(|m| !m.path.is_empty()) {
        for line in code_lines(&module.text) {
            for segments in paths(line) {
                if segments[0] == "crate"
                    && segments
                        .get(1)
                        .is_some_and(|s| s.starts_with(char::is_uppercase))
                {
                    panic!(
                        "{}: `{line}` goes through the crate root's re-exports",
                        module.file.display()
                    );
                }
            }
            assert!(
                !line.starts_with("use crate::{"),
                "{}: `{line}` goes through the crate root's re-exports",
                module.file.display()
            );
        }
    }
}

#[test]
fn library_files_are_short_and_say_their_concern() {
    for krate in LIBRARY_CRATES {
        for module in modules(krate) {
            let lines = module.text.lines().count();
            assert!(
                lines <= MAX_LINES,
                "{} has {lines} lines; split it by concern (at most {MAX_LINES})",
                module.file.display()
            );
            assert!(
                module.text.starts_with("//!"),
                "{} does not open with a `//!` comment saying what it is for",
                module.file.display()
            );
        }
    }
}

/// Library code never calls `unwrap()` or `expect()`: data from users or from disk gets a typed
/// error, and what cannot fail says why in its own terms (`unwrap_or_else(|_| unreachable!(..))`
/// with the reason). Unit tests (a `tests` module, or the `#[cfg(test)]` part at a file's end)
/// and doc examples may.
/// Where a file's `#[cfg(test)] mod ...` begins, if it has one.
fn test_module_start(text: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(at) = text[from..].find("#[cfg(test)]") {
        let at = from + at;
        let after = text[at + "#[cfg(test)]".len()..].trim_start();
        if after.starts_with("mod ") {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

#[test]
fn library_code_neither_unwraps_nor_expects() {
    // The `tests` crate is test support: it panics to fail a test.
    for krate in ["pipeline", "pipeline-macros"] {
        for module in modules(krate) {
            if module
                .path
                .iter()
                .any(|p| p == "tests" || p.ends_with("_tests"))
            {
                continue;
            }
            // Up to the test module: an item marked `#[cfg(test)]` before it (a helper) does
            // not hide the library code after it.
            let library =
                test_module_start(&module.text).map_or(&*module.text, |at| &module.text[..at]);
            for (n, line) in library.lines().enumerate() {
                let code = line.trim_start();
                if code.starts_with("//") {
                    continue;
                }
                assert!(
                    !code.contains(".unwrap()") && !code.contains(".expect("),
                    "{}:{}: `{code}`: return a typed error, or say why it cannot fail",
                    module.file.display(),
                    n + 1
                );
            }
        }
    }
}

/// The top-level modules of `pipeline` and which of them each one uses (a folder and its files
/// as one), without the modules nearly everything uses.
fn folder_graph() -> BTreeMap<String, BTreeSet<String>> {
    let mut folders: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, uses) in module_graph("pipeline") {
        let from = module[0].clone();
        let entry = folders.entry(from.clone()).or_default();
        for to in uses.iter().map(|u| &u[0]) {
            if *to != from && !EVERYWHERE.contains(&to.as_str()) {
                entry.insert(to.clone());
            }
        }
    }
    folders.retain(|folder, _| !EVERYWHERE.contains(&folder.as_str()));
    folders
}

/// Modules used nearly everywhere, left out of the architecture's picture (and of no cycle:
/// they use no other module of the crate but each other).
const EVERYWHERE: [&str; 3] = ["data", "run_id", "sync"];

#[test]
fn no_import_cycle_among_folders() {
    let folders = folder_graph();
    let graph: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = folders
        .iter()
        .map(|(from, to)| {
            let to = to.iter().map(|t| vec![t.clone()]).collect();
            (vec![from.clone()], to)
        })
        .collect();
    assert!(graph.len() > 10, "only {} folders found", graph.len());
    if let Some(cycle) = find_cycle(&graph) {
        panic!(
            "pipeline: top-level modules import each other: {}",
            cycle.join(" -> ")
        );
    }
    // The modules left out of the picture use no module that is in it.
    for module in EVERYWHERE {
        for (path, uses) in module_graph("pipeline") {
            if path[0] == module {
                let outside: Vec<_> = uses
                    .iter()
                    .filter(|u| !EVERYWHERE.contains(&u[0].as_str()))
                    .collect();
                assert!(outside.is_empty(), "{path:?} uses {outside:?}");
            }
        }
    }
}

#[test]
fn the_architecture_picture_is_the_module_graph() {
    let doc = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/ARCHITECTURE.md");
    let doc = std::fs::read_to_string(doc).unwrap();
    let drawn: BTreeSet<(String, String)> = doc
        .split("```mermaid")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .unwrap_or_default()
        .lines()
        .filter_map(|line| line.trim().split_once(" --> "))
        .map(|(a, b)| (a.trim().to_owned(), b.trim().to_owned()))
        .collect();
    let real: BTreeSet<(String, String)> = folder_graph()
        .into_iter()
        .flat_map(|(from, to)| to.into_iter().map(move |t| (from.clone(), t)))
        .collect();
    let picture: String = real
        .iter()
        .map(|(a, b)| format!("    {a} --> {b}\n"))
        .collect();
    assert!(
        drawn == real,
        "docs/ARCHITECTURE.md's picture is not the module graph; it is:\n\
         ```mermaid\nflowchart LR\n{picture}```\n\
         drawn but not real: {:?}\nreal but not drawn: {:?}",
        drawn.difference(&real).collect::<Vec<_>>(),
        real.difference(&drawn).collect::<Vec<_>>()
    );
    // Every top-level module has its row in the table.
    let table = doc.split("```mermaid").next().unwrap_or_default();
    for module in modules("pipeline").iter().filter(|m| m.path.len() == 1) {
        let name = &module.path[0];
        assert!(
            table.contains(&format!("`{name}/`")) || table.contains(&format!("`{name}.rs`")),
            "docs/ARCHITECTURE.md has no row for `{name}`"
        );
    }
}
