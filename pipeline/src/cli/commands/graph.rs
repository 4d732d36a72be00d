//! `graph`: a pipeline's graph, or a stored run's graph coloured by node status.

use std::collections::BTreeMap;

use clap::ValueEnum;

use crate::cli::error::CliError;
use crate::cli::output::out;
use crate::cli::stored::load_run;
use crate::graph::GraphSignature;
use crate::registry;
use crate::result::NodeStatus;
use crate::run_id::RunId;
use crate::store::Stores;

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

fn draw(
    format: Format,
    signature: &GraphSignature,
    name: &str,
    statuses: Option<&BTreeMap<String, NodeStatus>>,
) -> String {
    match (format, statuses) {
        (Format::Mermaid, None) => signature.to_mermaid(),
        (Format::Mermaid, Some(s)) => signature.to_mermaid_with_status(s),
        (Format::Dot, None) => signature.to_dot(name),
        (Format::Dot, Some(s)) => signature.to_dot_with_status(name, s),
    }
}

pub(super) async fn exec(args: Args, stores: &Stores) -> Result<i32, CliError> {
    let target = args.target;
    if let Some(info) = registry::pipeline(&target) {
        let signature = (info.pipeline)().signature();
        out!("{}", draw(args.format, &signature, info.name, None));
        return Ok(0);
    }
    let not_found = || CliError::NoPipelineOrRun(target.clone());
    let run_id = RunId::new(&target).map_err(|_| not_found())?;
    let run = load_run(stores, &run_id).await.map_err(|_| not_found())?;
    let header = &run.checkpoint.header;
    let statuses = Some(&run.summary.nodes);
    out!(
        "{}",
        draw(args.format, &header.graph, &header.pipeline, statuses)
    );
    Ok(0)
}
