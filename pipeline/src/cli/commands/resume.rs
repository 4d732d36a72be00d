//! `resume`: restores a stored run's completed nodes and runs the rest, with live progress; a
//! fleet run (PostgreSQL store) goes back to the fleet's workers.

use super::run::report;
use crate::cli::error::CliError;
use crate::cli::interrupt::cancel_on_ctrl_c;
use crate::cli::output::outln;
use crate::cli::stored::{parse_id, stored_pipeline};
use crate::engine::EngineSettings;
use crate::store::{StoreSpec, Stores};

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// The run id.
    run_id: String,
    /// Run this node again, with every node downstream of it, even though it completed (repeat
    /// for several): after fixing its code. The rerun is a new run; the original stays as it was.
    #[arg(long = "rerun", value_name = "NODE")]
    rerun: Vec<String>,
}

pub(super) async fn exec(
    args: Args,
    stores: Stores,
    spec: &StoreSpec,
    settings: &EngineSettings,
) -> Result<i32, CliError> {
    let run_id = parse_id(&args.run_id)?;
    let (pipeline, progress) = stored_pipeline(&stores, &run_id, settings).await?;
    let result = match args.rerun.is_empty() {
        true => {
            let cancel = cancel_on_ctrl_c(&run_id);
            match fleet_store(spec)? {
                #[cfg(feature = "postgres")]
                Some(store) => {
                    let events = progress.clone();
                    pipeline
                        .resume_on_fleet(store, &run_id, events, &cancel)
                        .await
                }
                _ => {
                    let events = progress.clone();
                    pipeline.resume(stores, &run_id, events, &cancel).await
                }
            }
        }
        false => {
            let rerun = pipeline.rerun(stores, &run_id, &args.rerun, progress.clone());
            let result = rerun.await;
            if let Ok(result) = &result {
                outln!("run {} reruns {}", result.run_id, args.rerun.join(", "));
                outln!("  of run {run_id} (which is unchanged)");
            }
            result
        }
    };
    progress.finish();
    Ok(report(&result?))
}

/// The PostgreSQL store `spec` names, where a fleet run resumes on the fleet (a run of one
/// process resumes here, as on any store); `None` for other stores.
#[cfg(feature = "postgres")]
fn fleet_store(spec: &StoreSpec) -> Result<Option<crate::store::PostgresStore>, CliError> {
    match spec {
        StoreSpec::Postgres(url) => Ok(Some(crate::store::PostgresStore::open(url)?)),
        _ => Ok(None),
    }
}

/// Without PostgreSQL, no store holds fleet runs.
#[cfg(not(feature = "postgres"))]
fn fleet_store(_: &StoreSpec) -> Result<Option<std::convert::Infallible>, CliError> {
    Ok(None)
}
