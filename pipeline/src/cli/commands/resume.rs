//! `resume`: restores a stored run's completed nodes and runs the rest, with live progress; a
//! fleet run (PostgreSQL store) goes back to the fleet's workers.

use super::run::report;
use crate::cli::error::CliError;
use crate::cli::interrupt::cancel_on_ctrl_c;
use crate::cli::output::outln;
use crate::cli::stored::{parse_id, stored_pipeline};
use crate::engine::EngineSettings;
use crate::store::Stores;

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
    spec: &str,
    settings: &EngineSettings,
) -> Result<i32, CliError> {
    let _ = spec; // read only with PostgreSQL, whose fleet runs resume on the fleet
    let run_id = parse_id(&args.run_id)?;
    let (pipeline, progress) = stored_pipeline(&stores, &run_id, settings).await?;
    let result = match args.rerun.is_empty() {
        true => {
            let cancel = cancel_on_ctrl_c(&run_id);
            #[cfg(feature = "postgres")]
            if let Ok(crate::store::StoreSpec::Postgres(url)) = crate::store::StoreSpec::parse(spec)
            {
                let store = crate::store::PostgresStore::open(&url)?;
                let resumed = pipeline.resume_on_fleet(store, &run_id, progress.clone(), &cancel);
                let result = resumed.await;
                progress.finish();
                return Ok(report(&result?));
            }
            pipeline
                .resume_cancellable(stores, &run_id, progress.clone(), &cancel)
                .await
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
