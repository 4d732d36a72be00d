//! `repair`: keeps the valid prefix of a run whose checkpoint or audit file is damaged, after
//! copying the damaged file aside, and says what it dropped.

use crate::cli::error::CliError;
use crate::cli::output::outln;
use crate::cli::stored::parse_id;
use crate::store::{FileAuditLog, FileCheckpointer, Repair, StoreError, StoreSpec};

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// The run id.
    run_id: String,
}

pub(super) fn exec(args: Args, spec: &StoreSpec) -> Result<i32, CliError> {
    let run_id = parse_id(&args.run_id)?;
    let dir = match spec {
        StoreSpec::Directory(dir) => dir,
        StoreSpec::Sqlite(_) => {
            outln!("SQLite stores keep their own pages intact (WAL): nothing to repair");
            return Ok(0);
        }
        StoreSpec::Postgres(_) => {
            outln!("PostgreSQL keeps its own pages intact (WAL, transactions): nothing to repair");
            return Ok(0);
        }
    };
    let checkpoint = FileCheckpointer::new(dir).repair(&run_id)?;
    let audit = FileAuditLog::new(dir).repair(&run_id)?;
    if checkpoint.is_none() && !FileCheckpointer::new(dir).path(&run_id).exists() {
        return Err(StoreError::UnknownRun(run_id).into());
    }
    report("checkpoint", checkpoint.as_ref());
    report("audit", audit.as_ref());
    Ok(0)
}

fn report(what: &str, repair: Option<&Repair>) {
    let Some(repair) = repair else {
        outln!("{what:<11} intact");
        return;
    };
    let dropped = match repair.truncated.dropped_valid_records {
        true => "damaged records and every record after them",
        false => "a torn tail",
    };
    outln!(
        "{what:<11} kept {} records; dropped {} bytes at offset {} ({dropped}); the damaged file \
         was copied to {}",
        repair.kept_records,
        repair.truncated.bytes,
        repair.truncated.offset,
        repair.damaged_copy.display()
    );
}
