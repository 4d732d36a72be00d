//! Deleting a run from a directory store: under the run file's own lock (a run some process holds
//! is refused), its file, its epoch file and the other files named, then the directory synced.

use std::path::PathBuf;

use super::log::RunFiles;
use crate::run_id::RunId;
use crate::store::error::StoreResult;
use crate::store::fs::{io_error, lock_run, private_options, sync_dir};

/// Deletes run `run_id`'s file of `files`, its epoch file and `others`; `Ok(false)` when the run
/// file does not exist. [`StoreError::Locked`](crate::StoreError::Locked) while it is held.
pub(super) fn delete(files: &RunFiles, run_id: &RunId, others: &[PathBuf]) -> StoreResult<bool> {
    let path = files.path(run_id);
    let file = match private_options().read(true).append(true).open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(io_error("open", &path)(e)),
    };
    let held = lock_run(file, &path, run_id)?;
    let epoch = files.epoch_path(run_id);
    for doomed in others.iter().chain([&epoch, &path]) {
        match std::fs::remove_file(doomed) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_error("delete", doomed)(e)),
        }
    }
    drop(held);
    sync_dir(&files.dir)?;
    Ok(true)
}
