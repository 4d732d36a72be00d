//! Inspection: lists every node and pipeline compiled into this binary, then runs one pipeline
//! and prints its typed checkpoint and its audit trail.
//!
//! ```text
//! cargo run -p examples --example inspect
//! ```

use std::io::Write;
use std::path::Path;

use pipeline::prelude::*;
use pipeline::registry;

/// Splits text into words.
#[node]
async fn words(text: String) -> Vec<String> {
    text.split_whitespace().map(str::to_lowercase).collect()
}

/// Counts the words.
#[node]
async fn count(words: Vec<String>) -> usize {
    words.len()
}

/// The longest word.
#[node]
async fn longest(words: Vec<String>) -> String {
    words
        .iter()
        .max_by_key(|w| w.len())
        .cloned()
        .unwrap_or_default()
}

pipeline! {
    /// Word statistics of a text.
    pub WordStats(text: String) -> (usize, String) {
        all  = words(text);
        n    = count(all);
        long = longest(all);
        (n, long)
    }
}

/// Lists the registry, then runs `WordStats` with file stores in `store` and prints its records.
pub async fn run(store: &Path, out: &mut impl Write) -> anyhow::Result<WordStatsCheckpoint> {
    writeln!(out, "pipelines:")?;
    for p in registry::pipelines() {
        let nodes: Vec<String> = p
            .nodes
            .iter()
            .map(|n| format!("{}={}", n.id, n.kind))
            .collect();
        writeln!(
            out,
            "  {} ({}:{}) {}: {}",
            p.name,
            p.file,
            p.line,
            p.doc,
            nodes.join(" ")
        )?;
    }
    writeln!(out, "nodes:")?;
    for n in registry::nodes() {
        let inputs: Vec<String> = n
            .inputs
            .iter()
            .map(|i| format!("{}: {}", i.name, i.type_name))
            .collect();
        writeln!(
            out,
            "  {}({}) -> {}  [{}:{}] {}",
            n.name,
            inputs.join(", "),
            n.output_type,
            n.file,
            n.line,
            n.doc
        )?;
    }

    let engine = PipelineEngine::new(WordStats)
        .checkpointer(FileCheckpointer::new(store))
        .audit_log(FileAuditLog::new(store));
    let text = "Durable pipelines resume where they stopped".to_owned();
    let result = engine.run(WordStatsInputs { text }).await?;

    let checkpoint = engine
        .checkpoint(&result.run_id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("run {} has no checkpoint", result.run_id))?;
    writeln!(
        out,
        "typed checkpoint of run {}:\n{checkpoint:#?}",
        result.run_id
    )?;
    writeln!(out, "audit trail:")?;
    for entry in engine
        .audit_trail(&result.run_id)
        .await?
        .unwrap_or_default()
    {
        // Values the run's header or checkpoint holds are referred to, not copied.
        let copies = entry.inputs.iter().map(|(k, v)| format!("{k}={}", v.get()));
        let refs = entry.input_refs.iter().map(|k| format!("{k} (stored)"));
        let inputs: Vec<String> = copies.chain(refs).collect();
        let output = match (&entry.output, entry.output_in_checkpoint) {
            (Some(output), _) => output.get().to_owned(),
            (None, true) => "(in the checkpoint)".to_owned(),
            (None, false) => "-".to_owned(),
        };
        writeln!(
            out,
            "  {} attempt {} {:?} in {}µs: ({}) -> {output}",
            entry.node,
            entry.attempt,
            entry.status,
            entry.duration_us,
            inputs.join(", ")
        )?;
    }
    Ok(checkpoint)
}

#[tokio::main]
pub async fn main() -> anyhow::Result<()> {
    let store = std::env::temp_dir().join("pipeline-inspect");
    run(&store, &mut std::io::stdout()).await.map(drop)
}
