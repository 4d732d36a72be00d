//! `graph`: a pipeline's graph, or a stored run's graph coloured by node status.

use std::collections::BTreeMap;

use clap::ValueEnum;

use crate::cli::error::CliError;
use crate::cli::output::out;
use crate::cli::stored::load_run;
use crate::graph::{GraphSignature, ItemCounts};
use crate::registry;
use crate::run_id::RunId;
use crate::store::{NodeState, Stores};

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// A pipeline name or a run id.
    target: String,
    /// The picture's language.
    #[arg(long, value_enum, default_value_t = Format::Mermaid)]
    format: Format,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Format {
    Mermaid,
    Dot,
}

/// A run's node states and mapped nodes' item counts.
type Run<'a> = Option<(
    &'a BTreeMap<String, NodeState>,
    &'a BTreeMap<String, ItemCounts>,
)>;

fn draw(format: Format, signature: &GraphSignature, name: &str, run: Run<'_>) -> String {
    match (format, run) {
        (Format::Mermaid, None) => signature.to_mermaid(),
        (Format::Mermaid, Some((s, items))) => signature.to_mermaid_with_items(s, items),
        (Format::Dot, None) => signature.to_dot(name),
        (Format::Dot, Some((s, items))) => signature.to_dot_with_items(name, s, items),
    }
}

pub(super) async fn exec(
    args: Args,
    stores: impl FnOnce() -> Result<Stores, CliError>,
) -> Result<i32, CliError> {
    let target = args.target;
    if let Some(info) = registry::pipeline(&target) {
        let signature = (info.pipeline)().signature();
        out!("{}", draw(args.format, &signature, info.name, None));
        return Ok(0);
    }
    let not_found = || CliError::NoPipelineOrRun(target.clone());
    let run_id = RunId::new(&target).map_err(|_| not_found())?;
    let stores = &stores()?;
    let run = match load_run(stores, &run_id).await {
        Err(CliError::UnknownRun(_)) => return Err(not_found()),
        other => other?,
    };
    let header = &run.checkpoint.header;
    let items = run
        .checkpoint
        .item_counts(run.trail.as_deref().unwrap_or_default());
    // As `show` tells them: a node running now, or the attempt a dead process left with no
    // outcome, is drawn as such, not as `not run`.
    let statuses = Some((&run.nodes, &items));
    out!(
        "{}",
        draw(args.format, &header.graph, &header.pipeline, statuses)
    );
    Ok(0)
}
