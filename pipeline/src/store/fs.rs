//! The file-system plumbing every store on disk shares: owner-only directories, exclusive
//! creation of new files, atomic replacement, directory `fsync`, and the per-run OS lock.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::error::{StoreError, StoreResult};
use crate::run_id::RunId;

/// The error of file-system operation `op` on `path`.
pub(crate) fn io_error<'a>(
    op: &'static str,
    path: &'a Path,
) -> impl FnOnce(io::Error) -> StoreError + 'a {
    move |source| StoreError::Io {
        op,
        path: path.to_owned(),
        source,
    }
}

/// Creates `dir` and its parents, owner-only (0700) on Unix, and refuses it if other users can
/// write to it (see [`check_private_dir`]).
pub(crate) fn create_private_dir(dir: &Path) -> StoreResult<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(dir)
        .map_err(io_error("create directory", dir))?;
    check_private_dir(dir)
}

/// Refuses a store directory that another user could write to, as ssh's `StrictModes` does: one
/// that is group- or world-writable, unless it is sticky and owned by this user (then others can
/// add files but not replace this user's).
#[cfg(unix)]
pub(crate) fn check_private_dir(dir: &Path) -> StoreResult<()> {
    use std::os::unix::fs::MetadataExt;
    let meta = fs::metadata(dir).map_err(io_error("inspect", dir))?;
    let mode = meta.mode() & 0o7777;
    let writable_by_others = mode & 0o022 != 0;
    let sticky_and_mine = mode & 0o1000 != 0 && meta.uid() == rustix::process::geteuid().as_raw();
    if writable_by_others && !sticky_and_mine {
        return Err(StoreError::InsecureDirectory {
            path: dir.to_owned(),
            mode,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
pub(crate) fn check_private_dir(_: &Path) -> StoreResult<()> {
    Ok(())
}

/// `fsync`s a directory, so that the files created or renamed in it survive a power loss.
pub(crate) fn sync_dir(dir: &Path) -> StoreResult<()> {
    #[cfg(unix)]
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_error("sync directory", dir))?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Open options for store files: owner-only (0600) on Unix, and never through a symlink (a link
/// planted at a store file's name is an error, not a way to make the store write elsewhere).
pub(crate) fn private_options() -> OpenOptions {
    let mut options = OpenOptions::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
        options.custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32);
    }
    options
}

/// Writes `bytes` to a new temporary file beside `path` and returns the temporary's path. The
/// file is created exclusively (never through an existing file or symlink) under a name no other
/// caller, in this process or another, uses at the same time. A name something else already
/// holds (a file left by a process that had this pid, a planted link) is skipped for the next.
fn write_temporary(path: &Path, bytes: &[u8], sync: bool) -> StoreResult<PathBuf> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    const TRIES: u32 = 16;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let mut tries = 0;
    let (tmp, mut file) = loop {
        let tmp = path.with_file_name(format!(
            ".{name}.{}.{}.tmp",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        tries += 1;
        match private_options().write(true).create_new(true).open(&tmp) {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && tries < TRIES => continue,
            // Not removed on failure: what is there is not ours.
            Err(e) => return Err(io_error("create", &tmp)(e)),
            Ok(file) => break (tmp, file),
        }
    };
    let written = file
        .write_all(bytes)
        .map_err(io_error("write", &tmp))
        .and_then(|()| match sync {
            true => file.sync_all().map_err(io_error("sync", &tmp)),
            false => Ok(()),
        });
    match written {
        Ok(()) => Ok(tmp),
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// Creates `path` holding `bytes`, whole or not at all: written to a temporary file, then linked
/// into place. `Ok(false)` when `path` already exists (another creator won).
pub(crate) fn create_whole(path: &Path, bytes: &[u8], sync: bool) -> StoreResult<bool> {
    let tmp = write_temporary(path, bytes, sync)?;
    let linked = fs::hard_link(&tmp, path);
    let _ = fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(io_error("create", path)(e)),
    }
}

/// Replaces `path` with `bytes` atomically: a reader sees the old file or the new one, never a
/// torn one.
pub(crate) fn replace_atomically(path: &Path, bytes: &[u8], sync: bool) -> StoreResult<()> {
    let tmp = write_temporary(path, bytes, sync)?;
    fs::rename(&tmp, path).map_err(|e| {
        let _ = fs::remove_file(&tmp);
        io_error("replace", path)(e)
    })
}

/// Whether a handle (in this process or another) holds the OS lock of the run file at `path`:
/// tried with a shared lock, given back at once. `None` when the file does not exist.
pub(crate) fn is_locked(path: &Path) -> StoreResult<Option<bool>> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_error("open", path)(e)),
    };
    match file.try_lock_shared() {
        Ok(()) => Ok(Some(false)),
        Err(fs::TryLockError::WouldBlock) => Ok(Some(true)),
        Err(fs::TryLockError::Error(e)) => Err(io_error("lock", path)(e)),
    }
}

/// Takes the exclusive OS lock on `file` for run `run_id`: [`StoreError::Locked`] while another
/// handle (in this process or another) holds it. The OS drops the lock when its process dies, so
/// the lock of a crashed process never blocks a resume.
pub(crate) fn lock_run(file: File, path: &Path, run_id: &RunId) -> StoreResult<File> {
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(fs::TryLockError::WouldBlock) => Err(StoreError::Locked(run_id.clone())),
        Err(fs::TryLockError::Error(e)) => Err(io_error("lock", path)(e)),
    }
}

/// Opens (creating it) the lock file at `path` and waits for its exclusive OS lock: held until
/// the returned file is dropped (or its process dies). For a change made by read, decide and
/// replace, which two processes must not make at once.
pub(crate) fn hold_lock_file(path: &Path) -> StoreResult<File> {
    let lock = private_options()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(io_error("open", path))?;
    lock.lock().map_err(io_error("lock", path))?;
    Ok(lock)
}
