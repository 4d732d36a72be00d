//! Which process writes a run of a SQLite store: an OS lock on a file per run and log in
//! `<database>.locks/`, taken with the run and removed when it is released (so the directory
//! keeps only the runs in progress); and deleting a run under that lock.

use std::fs::File;
use std::path::{Path, PathBuf};

use rusqlite::params;

use super::database::{Database, Kind, sql_error};
use crate::run_id::RunId;
use crate::store::epoch::Epoch;
use crate::store::error::{StoreError, StoreResult};
use crate::store::fs::{create_private_dir, io_error, lock_run, private_options};
use crate::store::shared::lock;

impl Database {
    /// Takes this process's OS lock on `(kind, run_id)`; [`StoreError::Locked`] if another holds it.
    /// The lock file is removed when the run is released, so a file locked here is checked to
    /// still be the one at its path (else it was just removed, and the lock is taken again on a
    /// new one).
    fn lock_file(&self, kind: Kind, run_id: &RunId) -> StoreResult<File> {
        let path = self.lock_path(kind, run_id);
        if let Some(dir) = path.parent() {
            create_private_dir(dir)?;
        }
        loop {
            let file = private_options()
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .map_err(io_error("create", &path))?;
            let file = lock_run(file, &path, run_id)?;
            if still_at(&file, &path) {
                return Ok(file);
            }
        }
    }

    /// Where the OS lock of `(kind, run_id)` is taken: a file in `<database>.locks/`.
    fn lock_path(&self, kind: Kind, run_id: &RunId) -> PathBuf {
        let dir = PathBuf::from(format!("{}.locks", self.path.display()));
        dir.join(format!("{}-{run_id}.lock", kind.name()))
    }

    /// Whether some handle holds `run_id`'s checkpoint lock now (the run is running).
    pub fn is_held(&self, run_id: &RunId) -> StoreResult<bool> {
        let path = self.lock_path(Kind::Checkpoint, run_id);
        Ok(crate::store::fs::is_locked(&path)?.unwrap_or(false))
    }

    /// Releases `(kind, run_id)` if this process holds it at `epoch`, removing its lock file
    /// while the lock is still held (so `<database>.locks/` keeps only the runs in progress).
    pub fn release(&self, kind: Kind, run_id: &RunId, epoch: Epoch) {
        let mut locks = lock(&self.locks);
        let key = (kind, run_id.clone());
        if locks.get(&key).is_some_and(|(_, held)| *held == epoch)
            && let Some((file, _)) = locks.remove(&key)
        {
            let _ = std::fs::remove_file(self.lock_path(kind, run_id));
            drop(file);
        }
    }

    /// Runs `take` holding `(kind, run_id)`'s OS lock, and keeps the lock at the epoch `take`
    /// returns (none when it returns `None`); the lock is dropped if `take` fails.
    pub fn take<T>(
        &self,
        kind: Kind,
        run_id: &RunId,
        take: impl FnOnce() -> Result<Option<(T, Epoch)>, StoreError>,
    ) -> StoreResult<Option<(T, Epoch)>> {
        let file = self.lock_file(kind, run_id)?;
        let taken = take()?;
        if let Some((_, epoch)) = &taken {
            lock(&self.locks).insert((kind, run_id.clone()), (file, *epoch));
        }
        Ok(taken)
    }

    /// Deletes run `run_id` (its runs row, records, audit trail, summary and waits) in one
    /// transaction, holding its checkpoint lock: [`StoreError::Locked`] while a process holds it.
    /// `Ok(false)` for an unknown run.
    pub fn delete_run(&self, run_id: &RunId) -> StoreResult<bool> {
        let held = self.lock_file(Kind::Checkpoint, run_id)?;
        let tables = [
            "node_records",
            "audit_entries",
            "run_summaries",
            "run_waits",
            "audit_runs",
            "runs",
        ];
        let deleted = self.delete_rows(run_id, &tables)?;
        let _ = std::fs::remove_file(self.lock_path(Kind::Checkpoint, run_id));
        let _ = std::fs::remove_file(self.lock_path(Kind::Audit, run_id));
        drop(held);
        Ok(deleted)
    }

    /// Deletes run `run_id`'s audit trail and summary; whether there were any.
    pub fn delete_audit(&self, run_id: &RunId) -> StoreResult<bool> {
        self.delete_rows(run_id, &["audit_entries", "run_summaries", "audit_runs"])
    }

    /// Deletes run `run_id`'s rows of `tables` in one transaction; whether there were any.
    fn delete_rows(&self, run_id: &RunId, tables: &[&str]) -> StoreResult<bool> {
        self.with_connection(|connection| {
            let error = || sql_error("delete from", &self.path);
            let tx = connection.transaction().map_err(error())?;
            let mut deleted = 0;
            for table in tables {
                let sql = format!("DELETE FROM {table} WHERE run_id = ?1");
                deleted += tx
                    .execute(&sql, params![run_id.as_str()])
                    .map_err(error())?;
            }
            tx.commit().map_err(error())?;
            Ok(deleted > 0)
        })
    }
}

/// Whether the open `file` is still the file at `path` (not removed or replaced meanwhile).
fn still_at(file: &File, path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        match (file.metadata(), std::fs::metadata(path)) {
            (Ok(open), Ok(named)) => open.dev() == named.dev() && open.ino() == named.ino(),
            _ => false,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (file, path);
        true
    }
}
