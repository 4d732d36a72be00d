//! Group commit of a run file's appends with [`Durability::Sync`](crate::store::Durability):
//! records queue up behind one writer task, which appends every record queued and `fsync`s once
//! for all of them while the next ones queue; each append returns once its record is durable.
//! One blocking task per record, each waiting for the `fsync`, shared 2.3 records per `fsync`
//! on a million-item map; this shares hundreds.

use std::fs::File;
use std::io::{self, Write};
use std::sync::{Arc, Mutex};

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::store::epoch::Epoch;
use crate::store::error::{StoreError, StoreResult};
use crate::store::fs::io_error;
use crate::store::shared::lock;

/// A run's file while a run is being written, with group commit: with [`Durability::Sync`],
/// records queue up, and one writer appends every record queued and `fsync`s once for all of
/// them, while the next ones queue behind; each append returns once its record is durable.
#[derive(Debug)]
pub(super) struct OpenRun {
    pub file: File,
    /// The epoch this process holds the run at.
    pub epoch: Epoch,
    /// Serializes writes, so records never interleave.
    pub writing: Mutex<()>,
    /// The records waiting for the next group commit, and whether a writer is at work.
    group: Mutex<Group>,
}

/// The group commit's queue.
#[derive(Debug, Default)]
struct Group {
    queued: Vec<Queued>,
    /// Whether a writer task commits groups (it stops when the queue is empty).
    writer: bool,
}

/// A framed record waiting to be appended, and who waits for it.
#[derive(Debug)]
struct Queued {
    bytes: Vec<u8>,
    done: tokio::sync::oneshot::Sender<StoreResult<()>>,
}

impl OpenRun {
    pub fn new(file: File, epoch: Epoch) -> Arc<OpenRun> {
        Arc::new(OpenRun {
            file,
            epoch,
            writing: Mutex::new(()),
            group: Mutex::new(Group::default()),
        })
    }
}

/// What a file store has appended, counted for [`StoreStats`](super::StoreStats).
#[derive(Debug, Default)]
pub(super) struct Stats {
    pub records: AtomicU64,
    pub bytes: AtomicU64,
    pub fsyncs: AtomicU64,
}

impl Stats {
    /// Counts an appended record of `bytes` bytes.
    pub fn count_record(&self, bytes: usize) {
        self.records.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// Counts an `fsync` of appended records.
    pub fn count_fsync(&self) {
        self.fsyncs.fetch_add(1, Ordering::Relaxed);
    }
}

/// Queues framed `bytes` for the next group commit of `run` and waits until an `fsync` covered
/// them.
pub(super) async fn append(
    stats: Arc<Stats>,
    run: Arc<OpenRun>,
    path: PathBuf,
    bytes: Vec<u8>,
) -> StoreResult<()> {
    let (done, committed) = tokio::sync::oneshot::channel();
    let start_writer = {
        let mut group = lock(&run.group);
        group.queued.push(Queued { bytes, done });
        !std::mem::replace(&mut group.writer, true)
    };
    if start_writer {
        // A task of its own: a caller's future may be dropped, the queue must still drain.
        tokio::spawn(commit_groups(stats, run, path));
    } else {
        drop(run);
    }
    committed.await.unwrap_or_else(|_| {
        Err(StoreError::Backend(
            "the group commit stopped before it wrote the record".into(),
        ))
    })
}

/// Commits the queued records group by group (one `fsync` each) until none is queued. The
/// writer lets go of the run's file before it answers the last group: a caller that goes on to
/// release the run then closes the file (and its lock) at once.
async fn commit_groups(stats: Arc<Stats>, run: Arc<OpenRun>, path: PathBuf) {
    let mut group = match take(&run) {
        Some(group) => group,
        None => return,
    };
    loop {
        let (s, r, p) = (Arc::clone(&stats), Arc::clone(&run), path.clone());
        // A blocking task that panicked answers no one: its records' senders were dropped,
        // which their appends report.
        let written = tokio::task::spawn_blocking(move || commit(&s, &r, &p, group)).await;
        let answers = written.unwrap_or_default();
        match take(&run) {
            Some(next) => {
                answer(answers);
                group = next;
            }
            None => {
                drop(run);
                answer(answers);
                return;
            }
        }
    }
}

/// The queued records, or `None` (and the writer stops) when none is queued.
fn take(run: &OpenRun) -> Option<Vec<Queued>> {
    let mut group = lock(&run.group);
    if group.queued.is_empty() {
        group.writer = false;
        return None;
    }
    Some(std::mem::take(&mut group.queued))
}

type Answer = (
    tokio::sync::oneshot::Sender<StoreResult<()>>,
    StoreResult<()>,
);

fn answer(answers: Vec<Answer>) {
    for (done, result) in answers {
        let _ = done.send(result);
    }
}

/// Appends a group's records in order, each on its own (a failed one fails alone, as it would
/// without group commit), `fsync`s once if any was written, and says how each went.
fn commit(stats: &Stats, run: &OpenRun, path: &std::path::Path, group: Vec<Queued>) -> Vec<Answer> {
    let mut written = Vec::with_capacity(group.len());
    {
        let _writing = lock(&run.writing);
        for queued in &group {
            let result = (&run.file).write_all(&queued.bytes);
            if result.is_ok() {
                stats.count_record(queued.bytes.len());
            }
            written.push(result);
        }
    }
    let synced = match written.iter().any(Result::is_ok) {
        true => {
            stats.count_fsync();
            run.file.sync_data()
        }
        false => Ok(()),
    };
    group
        .into_iter()
        .zip(written)
        .map(|(queued, written)| {
            let result = match (written, &synced) {
                (Err(e), _) => Err(io_error("append to", path)(e)),
                (Ok(()), Ok(())) => Ok(()),
                (Ok(()), Err(e)) => Err(io_error("sync", path)(io::Error::new(
                    e.kind(),
                    e.to_string(),
                ))),
            };
            (queued.done, result)
        })
        .collect()
}
