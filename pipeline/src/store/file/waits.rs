//! A run's waits in a directory store: `<run id>.waits`, a JSON [`RunWaits`] replaced
//! atomically (file and directory fsynced: a signal comes from outside and is kept before
//! anything else), each change made under the OS lock of `<run id>.waits.lock`, so senders in
//! several processes and the run's holder never lose each other's changes.

use std::path::{Path, PathBuf};

use super::log::RunFiles;
use crate::result::WaitingOn;
use crate::run_id::RunId;
use crate::store::epoch::Epoch;
use crate::store::error::{StoreError, StoreResult};
use crate::store::fs::{hold_lock_file, io_error, replace_atomically, sync_dir};
use crate::store::waits::{RunWaits, SignalRecord, SignalSent};

fn waits_path(files: &RunFiles, run_id: &RunId) -> PathBuf {
    files.dir.join(format!("{run_id}.waits"))
}

/// The files of the run's waits (for deleting the run).
pub(super) fn files(files: &RunFiles, run_id: &RunId) -> Vec<PathBuf> {
    vec![
        waits_path(files, run_id),
        files.dir.join(format!("{run_id}.waits.lock")),
    ]
}

/// The run's waits as stored; none when the file does not exist.
pub(super) fn read(files: &RunFiles, run_id: &RunId) -> StoreResult<RunWaits> {
    read_at(&waits_path(files, run_id))
}

fn read_at(path: &Path) -> StoreResult<RunWaits> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(RunWaits::default()),
        Err(e) => return Err(io_error("read", path)(e)),
    };
    serde_json::from_slice(&bytes).map_err(|e| StoreError::Corrupt {
        path: path.to_owned(),
        offset: 0,
        reason: format!("undecodable waits file: {e}"),
    })
}

/// Changes the run's waits with `change` under their lock, and writes them back if it says so.
fn change<T>(
    files: &RunFiles,
    run_id: &RunId,
    change: impl FnOnce(&mut RunWaits) -> StoreResult<(T, bool)>,
) -> StoreResult<T> {
    let path = waits_path(files, run_id);
    let lock_path = files.dir.join(format!("{run_id}.waits.lock"));
    let _lock = hold_lock_file(&lock_path)?;
    let mut waits = read_at(&path)?;
    let (answer, write) = change(&mut waits)?;
    if write {
        let bytes = serde_json::to_vec(&waits).map_err(StoreError::Encode)?;
        replace_atomically(&path, &bytes, true)?;
        // The rename too must survive a power loss: a stored signal is never lost.
        sync_dir(&files.dir)?;
    }
    Ok(answer)
}

/// Stores `signal` for run `run_id` (see [`Checkpointer::send_signal`](crate::store::Checkpointer::send_signal)).
pub(super) fn send(
    files: &RunFiles,
    run_id: &RunId,
    signal: &SignalRecord,
) -> StoreResult<SignalSent> {
    if !files.path(run_id).exists() {
        return Err(StoreError::UnknownRun(run_id.clone()));
    }
    change(files, run_id, |waits| waits.add(run_id, signal))
}

/// Removes the signal of `wait` (see [`Checkpointer::remove_signal`](crate::store::Checkpointer::remove_signal)).
pub(super) fn remove(files: &RunFiles, run_id: &RunId, wait: &str) -> StoreResult<bool> {
    if !files.path(run_id).exists() {
        return Err(StoreError::UnknownRun(run_id.clone()));
    }
    change(files, run_id, |waits| waits.remove(wait))
}

/// Marks the run cancelled (see [`Checkpointer::cancel_waits`](crate::store::Checkpointer::cancel_waits)).
pub(super) fn cancel(files: &RunFiles, run_id: &RunId) -> StoreResult<()> {
    if !files.path(run_id).exists() {
        return Err(StoreError::UnknownRun(run_id.clone()));
    }
    change(files, run_id, |waits| waits.cancel())
}

/// Replaces what the run waits on, for the holder of `epoch`.
pub(super) fn set_waiting(
    files: &RunFiles,
    run_id: &RunId,
    epoch: Epoch,
    waiting: &[WaitingOn],
) -> StoreResult<()> {
    files.check(run_id, epoch)?;
    change(files, run_id, |waits| waits.replace_waiting(waiting))
}
