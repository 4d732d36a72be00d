//! `list`: the pipelines and nodes compiled into the program, with their source locations.

use crate::cli::error::CliError;
use crate::cli::output::outln;
use crate::registry::{self, Param};

fn first_line(doc: &str) -> &str {
    doc.lines().next().unwrap_or_default()
}

fn params(params: &[Param]) -> String {
    let params: Vec<String> = params
        .iter()
        .map(|p| format!("{}: {}", p.name, p.type_name))
        .collect();
    params.join(", ")
}

pub(super) fn exec() -> Result<i32, CliError> {
    outln!("pipelines:");
    for p in registry::pipelines() {
        outln!(
            "  {}  ({}:{})  {}",
            p.name,
            p.file,
            p.line,
            first_line(p.doc)
        );
        outln!("    inputs: {}", params(p.inputs));
        for node in (p.pipeline)().signature().nodes {
            let version = node
                .version
                .as_deref()
                .map(|v| format!("  (version {v})"))
                .unwrap_or_default();
            outln!(
                "    {} = {}({}) -> {}{version}",
                node.id,
                node.kind,
                node.written_inputs().join(", "),
                node.output_type
            );
        }
        outln!("    output: {}", p.output_type);
    }
    outln!("nodes:");
    for n in registry::nodes() {
        let doc = first_line(n.doc);
        outln!(
            "  {}({}) -> {}  ({}:{}){}{doc}",
            n.name,
            params(n.inputs),
            n.output_type,
            n.file,
            n.line,
            if doc.is_empty() { "" } else { "  " }
        );
    }
    Ok(0)
}
