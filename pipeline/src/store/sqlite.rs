//! Stores in one SQLite database (WAL mode, one transaction per record), so that listing runs
//! is a query instead of a directory scan.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::file::create_private_dir;
use super::{
    AuditEntry, AuditLog, Checkpoint, Checkpointer, Durability, FORMAT_VERSION, NodeRecord,
    RunHeader, RunSummary, StoreError,
};
use crate::RunId;

const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS runs (
        run_id TEXT PRIMARY KEY,
        pipeline TEXT NOT NULL,
        started_at_ms INTEGER NOT NULL,
        header TEXT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS node_records (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id TEXT NOT NULL REFERENCES runs (run_id),
        record TEXT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS node_records_by_run ON node_records (run_id, seq);
    CREATE TABLE IF NOT EXISTS audit_runs (run_id TEXT PRIMARY KEY, header TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS audit_entries (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id TEXT NOT NULL REFERENCES audit_runs (run_id),
        entry TEXT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS audit_entries_by_run ON audit_entries (run_id, seq);
    CREATE TABLE IF NOT EXISTS run_summaries (run_id TEXT PRIMARY KEY, summary TEXT NOT NULL);
";

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the connection leaves SQLite's own state consistent (each statement
    // is atomic), so a poisoned lock is still usable.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The database shared by a checkpointer and its audit log.
struct Database {
    path: PathBuf,
    connection: Mutex<Connection>,
    /// The runs this process writes, each held by an OS lock on `<db>.locks/<kind>-<run>.lock`.
    locks: Mutex<HashMap<(&'static str, RunId), File>>,
}

impl Database {
    fn open(path: &Path, durability: Durability) -> Result<Database, StoreError> {
        let sql = |e: rusqlite::Error| sql_error("open", path, e);
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            create_private_dir(dir)?;
        }
        let connection = Connection::open(path).map_err(sql)?;
        connection
            .pragma_update(None, "journal_mode", "WAL")
            .map_err(sql)?;
        let synchronous = match durability {
            Durability::Sync => "FULL",
            Durability::Async => "NORMAL",
        };
        connection
            .pragma_update(None, "synchronous", synchronous)
            .map_err(sql)?;
        connection
            .busy_timeout(std::time::Duration::from_secs(5))
            .map_err(sql)?;
        connection.execute_batch(SCHEMA).map_err(sql)?;
        let version: Option<String> = connection
            .query_row(
                "SELECT value FROM meta WHERE key = 'format_version'",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(sql)?;
        match version.map(|v| v.parse::<u32>()) {
            None => {
                connection
                    .execute(
                        "INSERT INTO meta (key, value) VALUES ('format_version', ?1)",
                        params![FORMAT_VERSION.to_string()],
                    )
                    .map_err(sql)?;
            }
            Some(Ok(FORMAT_VERSION)) => {}
            Some(Ok(found)) => {
                return Err(StoreError::UnsupportedVersion {
                    path: path.to_owned(),
                    found,
                    supported: FORMAT_VERSION,
                });
            }
            Some(Err(_)) => {
                return Err(StoreError::Corrupt {
                    path: path.to_owned(),
                    offset: 0,
                    reason: "the format version in table `meta` is not a number".into(),
                });
            }
        }
        Ok(Database {
            path: path.to_owned(),
            connection: Mutex::new(connection),
            locks: Mutex::default(),
        })
    }

    /// Takes this process's OS lock on `(kind, run_id)`; [`StoreError::Locked`] if another holds it.
    fn take_lock(&self, kind: &'static str, run_id: &RunId) -> Result<(), StoreError> {
        let dir = PathBuf::from(format!("{}.locks", self.path.display()));
        create_private_dir(&dir)?;
        let path = dir.join(format!("{kind}-{run_id}.lock"));
        let file = File::create(&path).map_err(|e| io_error("create", &path, e))?;
        match file.try_lock() {
            Ok(()) => {
                lock(&self.locks).insert((kind, run_id.clone()), file);
                Ok(())
            }
            Err(fs::TryLockError::WouldBlock) => Err(StoreError::Locked(run_id.clone())),
            Err(fs::TryLockError::Error(e)) => Err(io_error("lock", &path, e)),
        }
    }

    fn release(&self, kind: &'static str, run_id: &RunId) {
        lock(&self.locks).remove(&(kind, run_id.clone()));
    }

    fn decode<T: DeserializeOwned>(
        &self,
        what: &str,
        seq: i64,
        text: &str,
    ) -> Result<T, StoreError> {
        serde_json::from_str(text).map_err(|e| StoreError::Corrupt {
            path: self.path.clone(),
            offset: seq.max(0) as u64,
            reason: format!("undecodable {what} (row {seq}): {e}"),
        })
    }

    fn header(&self, table: &str, run_id: &RunId) -> Result<Option<RunHeader>, StoreError> {
        let text: Option<String> = lock(&self.connection)
            .query_row(
                &format!("SELECT header FROM {table} WHERE run_id = ?1"),
                params![run_id.as_str()],
                |row| row.get(0),
            )
            .optional()
            .map_err(|e| sql_error("read", &self.path, e))?;
        text.map(|t| self.decode("run header", 0, &t)).transpose()
    }

    fn rows<T: DeserializeOwned>(
        &self,
        sql: &str,
        run_id: &RunId,
        what: &str,
    ) -> Result<Vec<T>, StoreError> {
        let connection = lock(&self.connection);
        let mut statement = connection
            .prepare_cached(sql)
            .map_err(|e| sql_error("read", &self.path, e))?;
        let rows = statement
            .query_map(params![run_id.as_str()], |row| {
                Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?))
            })
            .map_err(|e| sql_error("read", &self.path, e))?;
        let mut out = Vec::new();
        for row in rows {
            let (seq, text) = row.map_err(|e| sql_error("read", &self.path, e))?;
            out.push(self.decode(what, seq, &text)?);
        }
        Ok(out)
    }

    /// Appends a record to a run this process holds; [`StoreError::UnknownRun`] for any other.
    fn append(
        &self,
        kind: &'static str,
        sql: &str,
        run_id: &RunId,
        value: &impl Serialize,
    ) -> Result<(), StoreError> {
        if !lock(&self.locks).contains_key(&(kind, run_id.clone())) {
            return Err(StoreError::UnknownRun(run_id.clone()));
        }
        self.insert(sql, run_id, value)
    }

    fn insert(&self, sql: &str, run_id: &RunId, value: &impl Serialize) -> Result<(), StoreError> {
        let text = serde_json::to_string(value).map_err(StoreError::Encode)?;
        let inserted = lock(&self.connection).execute(sql, params![run_id.as_str(), text]);
        inserted
            .map(drop)
            .map_err(|e| sql_error("write to", &self.path, e))
    }

    fn list(&self, table: &str) -> Result<Vec<RunId>, StoreError> {
        let connection = lock(&self.connection);
        let mut statement = connection
            .prepare(&format!("SELECT run_id FROM {table} ORDER BY run_id"))
            .map_err(|e| sql_error("read", &self.path, e))?;
        let ids = statement
            .query_map([], |row| row.get::<_, String>(0))
            .map_err(|e| sql_error("read", &self.path, e))?;
        let mut runs = Vec::new();
        for id in ids {
            let id = id.map_err(|e| sql_error("read", &self.path, e))?;
            runs.extend(RunId::new(id).ok());
        }
        Ok(runs)
    }
}

fn io_error(op: &'static str, path: &Path, source: io::Error) -> StoreError {
    StoreError::Io {
        op,
        path: path.to_owned(),
        source,
    }
}

fn sql_error(op: &'static str, path: &Path, error: rusqlite::Error) -> StoreError {
    let source = match error {
        rusqlite::Error::SqliteFailure(code, Some(message)) => {
            io::Error::other(format!("{message} ({:?})", code.code))
        }
        other => io::Error::other(other),
    };
    io_error(op, path, source)
}

fn is_unique_violation(error: &StoreError) -> bool {
    matches!(error, StoreError::Io { source, .. } if source.to_string().contains("UNIQUE constraint"))
}

/// Runs blocking database work off the async threads.
async fn blocking<T: Send + 'static>(
    db: &Arc<Database>,
    work: impl FnOnce(&Database) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    let db = Arc::clone(db);
    tokio::task::spawn_blocking(move || work(&db))
        .await
        .map_err(|e| StoreError::Backend(Box::new(e)))?
}

/// A [`Checkpointer`] in one SQLite database file (WAL mode; each record its own transaction).
///
/// ```no_run
/// use pipeline::store::SqliteCheckpointer;
///
/// let checkpointer = SqliteCheckpointer::open("./.pipeline/runs.db")?;
/// let audit_log = checkpointer.audit_log(); // same database
/// # Ok::<(), pipeline::StoreError>(())
/// ```
#[derive(Clone)]
pub struct SqliteCheckpointer {
    db: Arc<Database>,
}

impl std::fmt::Debug for SqliteCheckpointer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteCheckpointer")
            .field("path", &self.db.path)
            .finish()
    }
}

impl SqliteCheckpointer {
    /// Opens (or creates) the database at `path`, with [`Durability::Sync`] (`synchronous=FULL`).
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::open_with(path, Durability::Sync)
    }

    /// Opens (or creates) the database at `path`; [`Durability::Async`] uses
    /// `synchronous=NORMAL`, which in WAL mode may lose the last transactions on power loss.
    pub fn open_with(path: impl AsRef<Path>, durability: Durability) -> Result<Self, StoreError> {
        Ok(SqliteCheckpointer {
            db: Arc::new(Database::open(path.as_ref(), durability)?),
        })
    }

    /// An audit log in the same database.
    pub fn audit_log(&self) -> SqliteAuditLog {
        SqliteAuditLog {
            db: Arc::clone(&self.db),
        }
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.db.path
    }
}

const CHECKPOINT: &str = "checkpoint";
const AUDIT: &str = "audit";

fn load_checkpoint(db: &Database, run_id: &RunId) -> Result<Option<Checkpoint>, StoreError> {
    let Some(header) = db.header("runs", run_id)? else {
        return Ok(None);
    };
    let nodes = db.rows(
        "SELECT seq, record FROM node_records WHERE run_id = ?1 ORDER BY seq",
        run_id,
        "node record",
    )?;
    Ok(Some(Checkpoint { header, nodes }))
}

#[async_trait]
impl Checkpointer for SqliteCheckpointer {
    async fn create_run(&self, header: &RunHeader) -> Result<(), StoreError> {
        let header = header.clone();
        blocking(&self.db, move |db| {
            db.take_lock(CHECKPOINT, &header.run_id)?;
            let text = serde_json::to_string(&header).map_err(StoreError::Encode)?;
            let inserted = lock(&db.connection).execute(
                "INSERT INTO runs (run_id, pipeline, started_at_ms, header) VALUES (?1, ?2, ?3, ?4)",
                params![header.run_id.as_str(), header.pipeline, header.started_at_ms as i64, text],
            );
            let result = inserted.map(drop).map_err(|e| sql_error("write to", &db.path, e));
            match result {
                Err(e) if is_unique_violation(&e) => {
                    db.release(CHECKPOINT, &header.run_id);
                    Err(StoreError::RunExists(header.run_id.clone()))
                }
                Err(e) => {
                    db.release(CHECKPOINT, &header.run_id);
                    Err(e)
                }
                Ok(()) => Ok(()),
            }
        })
        .await
    }

    async fn resume_run(&self, run_id: &RunId) -> Result<Option<Checkpoint>, StoreError> {
        let run_id = run_id.clone();
        blocking(&self.db, move |db| {
            if db.header("runs", &run_id)?.is_none() {
                return Ok(None);
            }
            db.take_lock(CHECKPOINT, &run_id)?;
            let loaded = load_checkpoint(db, &run_id);
            if loaded.is_err() {
                db.release(CHECKPOINT, &run_id);
            }
            loaded
        })
        .await
    }

    async fn save(&self, run_id: &RunId, record: &NodeRecord) -> Result<(), StoreError> {
        let (run_id, record) = (run_id.clone(), record.clone());
        blocking(&self.db, move |db| {
            let sql = "INSERT INTO node_records (run_id, record) VALUES (?1, ?2)";
            db.append(CHECKPOINT, sql, &run_id, &record)
        })
        .await
    }

    async fn load(&self, run_id: &RunId) -> Result<Option<Checkpoint>, StoreError> {
        let run_id = run_id.clone();
        blocking(&self.db, move |db| load_checkpoint(db, &run_id)).await
    }

    async fn list_runs(&self) -> Result<Vec<RunId>, StoreError> {
        blocking(&self.db, |db| db.list("runs")).await
    }

    fn release_run(&self, run_id: &RunId) {
        self.db.release(CHECKPOINT, run_id);
    }
}

/// An [`AuditLog`] in a SQLite database; get one from [`SqliteCheckpointer::audit_log`] or
/// [`SqliteAuditLog::open`].
#[derive(Clone)]
pub struct SqliteAuditLog {
    db: Arc<Database>,
}

impl std::fmt::Debug for SqliteAuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteAuditLog")
            .field("path", &self.db.path)
            .finish()
    }
}

impl SqliteAuditLog {
    /// Opens (or creates) the database at `path`, with [`Durability::Sync`].
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Ok(SqliteCheckpointer::open(path)?.audit_log())
    }
}

#[async_trait]
impl AuditLog for SqliteAuditLog {
    async fn create_run(&self, header: &RunHeader) -> Result<(), StoreError> {
        let header = header.clone();
        blocking(&self.db, move |db| {
            db.take_lock(AUDIT, &header.run_id)?;
            let result = db.insert(
                "INSERT INTO audit_runs (run_id, header) VALUES (?1, ?2)",
                &header.run_id,
                &header,
            );
            match result {
                Err(e) => {
                    db.release(AUDIT, &header.run_id);
                    if is_unique_violation(&e) {
                        return Err(StoreError::RunExists(header.run_id.clone()));
                    }
                    Err(e)
                }
                Ok(()) => Ok(()),
            }
        })
        .await
    }

    async fn resume_run(&self, header: &RunHeader) -> Result<(), StoreError> {
        let header = header.clone();
        blocking(&self.db, move |db| {
            db.take_lock(AUDIT, &header.run_id)?;
            if db.header("audit_runs", &header.run_id)?.is_none() {
                let created = db.insert(
                    "INSERT INTO audit_runs (run_id, header) VALUES (?1, ?2)",
                    &header.run_id,
                    &header,
                );
                if let Err(e) = created {
                    db.release(AUDIT, &header.run_id);
                    return Err(e);
                }
            }
            Ok(())
        })
        .await
    }

    async fn append(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        let entry = entry.clone();
        blocking(&self.db, move |db| {
            let sql = "INSERT INTO audit_entries (run_id, entry) VALUES (?1, ?2)";
            db.append(AUDIT, sql, &entry.run_id, &entry)
        })
        .await
    }

    async fn write_summary(&self, summary: &RunSummary) -> Result<(), StoreError> {
        let summary = summary.clone();
        blocking(&self.db, move |db| {
            db.insert(
                "INSERT OR REPLACE INTO run_summaries (run_id, summary) VALUES (?1, ?2)",
                &summary.run_id,
                &summary,
            )
        })
        .await
    }

    async fn summary(&self, run_id: &RunId) -> Result<Option<RunSummary>, StoreError> {
        let run_id = run_id.clone();
        blocking(&self.db, move |db| {
            let text: Option<String> = lock(&db.connection)
                .query_row(
                    "SELECT summary FROM run_summaries WHERE run_id = ?1",
                    params![run_id.as_str()],
                    |row| row.get(0),
                )
                .optional()
                .map_err(|e| sql_error("read", &db.path, e))?;
            text.map(|t| db.decode("run summary", 0, &t)).transpose()
        })
        .await
    }

    async fn entries(&self, run_id: &RunId) -> Result<Option<Vec<AuditEntry>>, StoreError> {
        let run_id = run_id.clone();
        blocking(&self.db, move |db| {
            if db.header("audit_runs", &run_id)?.is_none() {
                return Ok(None);
            }
            db.rows(
                "SELECT seq, entry FROM audit_entries WHERE run_id = ?1 ORDER BY seq",
                &run_id,
                "audit entry",
            )
            .map(Some)
        })
        .await
    }

    async fn list_runs(&self) -> Result<Vec<RunId>, StoreError> {
        blocking(&self.db, |db| db.list("audit_runs")).await
    }

    fn release_run(&self, run_id: &RunId) {
        self.db.release(AUDIT, run_id);
    }
}
