//! The SQLite database behind both SQLite stores: schema and format version, the per-run OS
//! locks, and typed errors (SQLite's own, and rows that do not decode).

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{Connection, ErrorCode, OptionalExtension, TransactionBehavior, params};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::run_id::RunId;
use crate::store::Durability;
use crate::store::LastAttempts;
use crate::store::epoch::Epoch;
use crate::store::error::{StoreError, StoreResult};
use crate::store::fs::{create_private_dir, io_error, private_options};
use crate::store::records::{FORMAT_VERSION, RunHeader};
use crate::store::shared::lock;

const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS runs (
        run_id TEXT PRIMARY KEY,
        pipeline TEXT NOT NULL,
        started_at_ms INTEGER NOT NULL,
        header TEXT NOT NULL,
        epoch INTEGER NOT NULL DEFAULT 1
    );
    CREATE TABLE IF NOT EXISTS node_records (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id TEXT NOT NULL REFERENCES runs (run_id),
        record TEXT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS node_records_by_run ON node_records (run_id, seq);
    CREATE TABLE IF NOT EXISTS audit_runs (
        run_id TEXT PRIMARY KEY,
        header TEXT NOT NULL,
        epoch INTEGER NOT NULL DEFAULT 1
    );
    CREATE TABLE IF NOT EXISTS audit_entries (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id TEXT NOT NULL REFERENCES audit_runs (run_id),
        entry TEXT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS audit_entries_by_run ON audit_entries (run_id, seq);
    CREATE TABLE IF NOT EXISTS run_summaries (run_id TEXT PRIMARY KEY, summary TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS idempotency_keys (
        pipeline TEXT NOT NULL,
        key TEXT NOT NULL,
        run_id TEXT NOT NULL,
        expires_at_ms INTEGER NOT NULL,
        PRIMARY KEY (pipeline, key)
    );
    CREATE TABLE IF NOT EXISTS cache_entries (
        key TEXT PRIMARY KEY,
        created_at_ms INTEGER NOT NULL,
        entry TEXT NOT NULL,
        output TEXT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS run_waits (
        run_id TEXT PRIMARY KEY REFERENCES runs (run_id),
        waits TEXT NOT NULL
    );
";

/// Which store of the database a run lock belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) enum Kind {
    Checkpoint,
    Audit,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Checkpoint => "checkpoint",
            Kind::Audit => "audit",
        }
    }

    /// The table holding this kind's runs and their epochs.
    pub fn runs_table(self) -> &'static str {
        match self {
            Kind::Checkpoint => "runs",
            Kind::Audit => "audit_runs",
        }
    }
}

/// The database shared by a checkpointer and its audit log.
pub(super) struct Database {
    pub path: PathBuf,
    connection: Mutex<Connection>,
    /// The runs this process writes, each held by an OS lock on `<db>.locks/<kind>-<run>.lock`,
    /// at the epoch it was taken with.
    pub(super) locks: Mutex<HashMap<(Kind, RunId), (File, Epoch)>>,
    /// Joint writes waiting for the next group commit ([`super::queue`]).
    pub(super) joint: Mutex<super::queue::Queue>,
}

/// The typed error of SQLite operation `op` on the database at `path`.
pub(super) fn sql_error<'a>(
    op: &'static str,
    path: &'a Path,
) -> impl FnOnce(rusqlite::Error) -> StoreError + 'a {
    move |source| StoreError::Sqlite {
        op,
        path: path.to_owned(),
        source,
    }
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("path", &self.path)
            .finish()
    }
}

/// Whether `error` is a violated `PRIMARY KEY` or `UNIQUE` constraint.
fn is_unique_violation(error: &rusqlite::Error) -> bool {
    matches!(error, rusqlite::Error::SqliteFailure(e, _) if e.code == ErrorCode::ConstraintViolation
        && matches!(e.extended_code, rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY | rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE))
}

impl Database {
    /// Opens (or creates, owner-only) the database at `path`. Safe to race: several processes
    /// opening one new file at once all succeed, because the busy timeout is set before anything
    /// else and the schema and version are written in one immediate transaction.
    pub fn open(path: &Path, durability: Durability) -> StoreResult<Database> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            create_private_dir(dir)?;
        }
        create_owner_only(path)?;
        // SQLite answers "busy" without waiting in a few cases (switching to WAL, recovering a
        // WAL another process left), which the busy timeout does not cover: try again.
        let mut attempt = 0;
        let connection = loop {
            match connect(path, durability) {
                Err(e) if is_busy(&e) && attempt < 100 => {
                    attempt += 1;
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                other => break other.map_err(sql_error("open", path))?,
            }
        };
        check_version(&connection, path)?;
        Ok(Database {
            path: path.to_owned(),
            connection: Mutex::new(connection),
            locks: Mutex::default(),
            joint: Mutex::default(),
        })
    }

    /// Moves `run_id` of `kind` to its next epoch and returns it; `None` for an unknown run.
    pub fn next_epoch(&self, kind: Kind, run_id: &RunId) -> StoreResult<Option<Epoch>> {
        let sql = format!(
            "UPDATE {} SET epoch = epoch + 1 WHERE run_id = ?1 RETURNING epoch",
            kind.runs_table()
        );
        lock(&self.connection)
            .query_row(&sql, params![run_id.as_str()], |row| row.get::<_, i64>(0))
            .optional()
            .map(|epoch| epoch.map(|e| Epoch::new(e.max(0) as u64)))
            .map_err(sql_error("write to", &self.path))
    }

    /// Runs `work` on the connection (for work of its own, like a transaction).
    pub fn with_connection<T>(
        &self,
        work: impl FnOnce(&mut Connection) -> StoreResult<T>,
    ) -> StoreResult<T> {
        work(&mut lock(&self.connection))
    }

    /// The run's current epoch, for the message of a refused write.
    fn current_epoch(&self, kind: Kind, run_id: &RunId) -> Option<Epoch> {
        let sql = format!("SELECT epoch FROM {} WHERE run_id = ?1", kind.runs_table());
        lock(&self.connection)
            .query_row(&sql, params![run_id.as_str()], |row| row.get::<_, i64>(0))
            .ok()
            .map(|e| Epoch::new(e.max(0) as u64))
    }

    fn decode<T: DeserializeOwned>(
        &self,
        table: &'static str,
        what: &'static str,
        row: i64,
        text: &str,
    ) -> StoreResult<T> {
        serde_json::from_str(text).map_err(|e| StoreError::CorruptRow {
            database: self.path.clone(),
            table,
            row,
            what,
            reason: e.to_string(),
        })
    }

    /// The JSON column `column` of the row of `table` keyed by `run_id`, decoded.
    pub fn by_run<T: DeserializeOwned>(
        &self,
        table: &'static str,
        column: &'static str,
        what: &'static str,
        run_id: &RunId,
    ) -> StoreResult<Option<T>> {
        let row: Option<(i64, String)> = lock(&self.connection)
            .query_row(
                &format!("SELECT rowid, {column} FROM {table} WHERE run_id = ?1"),
                params![run_id.as_str()],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()
            .map_err(sql_error("read", &self.path))?;
        row.map(|(id, text)| self.decode(table, what, id, &text))
            .transpose()
    }

    pub fn header(&self, table: &'static str, run_id: &RunId) -> StoreResult<Option<RunHeader>> {
        self.by_run(table, "header", "run header", run_id)
    }

    /// The decoded JSON rows `(seq, json)` of a run in `table`, in order.
    pub fn rows<T: DeserializeOwned>(
        &self,
        table: &'static str,
        column: &'static str,
        what: &'static str,
        run_id: &RunId,
    ) -> StoreResult<Vec<T>> {
        self.rows_where(table, column, what, run_id, None)
    }

    /// [`rows`](Database::rows) whose JSON has `node` as its `node` field, when given.
    pub fn rows_where<T: DeserializeOwned>(
        &self,
        table: &'static str,
        column: &'static str,
        what: &'static str,
        run_id: &RunId,
        node: Option<&str>,
    ) -> StoreResult<Vec<T>> {
        // Only a record's own `node` is compared: SQLite reads no JSON for the other queries.
        let sql = match node {
            None => format!("SELECT seq, {column} FROM {table} WHERE run_id = ?1 ORDER BY seq"),
            Some(_) => format!(
                "SELECT seq, {column} FROM {table} WHERE run_id = ?1 \
                 AND json_valid(record) AND json_extract(record, '$.node') = ?2 ORDER BY seq"
            ),
        };
        let connection = lock(&self.connection);
        let read = sql_error("read", &self.path);
        let mut statement = connection.prepare_cached(&sql).map_err(read)?;
        let read_row =
            |row: &rusqlite::Row<'_>| Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?));
        let rows = match node {
            None => statement.query_map(params![run_id.as_str()], read_row),
            Some(node) => statement.query_map(params![run_id.as_str(), node], read_row),
        }
        .map_err(sql_error("read", &self.path))?;
        let mut out = Vec::new();
        for row in rows {
            let (seq, text) = row.map_err(sql_error("read", &self.path))?;
            out.push(self.decode(table, what, seq, &text)?);
        }
        Ok(out)
    }

    /// The last attempt of each node and item in run `run_id`'s audit trail, counted in SQL: no
    /// entry is decoded. An entry that is not JSON fails the query, as reading it would.
    pub fn last_attempts(&self, run_id: &RunId) -> StoreResult<LastAttempts> {
        let sql = "SELECT json_extract(entry, '$.node'), json_extract(entry, '$.item.index'), \
                   max(json_extract(entry, '$.attempt')) FROM audit_entries WHERE run_id = ?1 \
                   GROUP BY 1, 2";
        let connection = lock(&self.connection);
        let read = || sql_error("read", &self.path);
        let mut statement = connection.prepare_cached(sql).map_err(read())?;
        let rows = statement
            .query_map(params![run_id.as_str()], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, Option<u32>>(1)?,
                    row.get::<_, u32>(2)?,
                ))
            })
            .map_err(read())?;
        let mut last = LastAttempts::new();
        for row in rows {
            let (node, item, attempt) = row.map_err(read())?;
            last.note(&node, item, attempt);
        }
        Ok(last)
    }

    /// Runs `sql` (an insert with `?1` the run id, `?2` the JSON of `value` and `?3` the epoch,
    /// which inserts only while the run is at that epoch) for the holder of `epoch`;
    /// [`StoreError::Fenced`] when the run is at another epoch.
    pub fn append(
        &self,
        kind: Kind,
        sql: &str,
        run_id: &RunId,
        epoch: Epoch,
        value: &impl Serialize,
    ) -> StoreResult<()> {
        let text = serde_json::to_string(value).map_err(StoreError::Encode)?;
        let values = params![run_id.as_str(), text, epoch.get() as i64];
        let inserted = lock(&self.connection)
            .prepare_cached(sql)
            .and_then(|mut statement| statement.execute(values))
            .map_err(sql_error("write to", &self.path))?;
        if inserted == 0 {
            return Err(StoreError::Fenced {
                run_id: run_id.clone(),
                epoch,
                current: self.current_epoch(kind, run_id),
            });
        }
        Ok(())
    }

    /// Runs `sql` with `?1` the run id and `?2` the JSON of `value`;
    /// [`StoreError::RunExists`] when it would duplicate a run.
    pub fn insert(&self, sql: &str, run_id: &RunId, value: &impl Serialize) -> StoreResult<()> {
        let text = serde_json::to_string(value).map_err(StoreError::Encode)?;
        self.execute(sql, run_id, params![run_id.as_str(), text])
    }

    pub fn execute(
        &self,
        sql: &str,
        run_id: &RunId,
        params: impl rusqlite::Params,
    ) -> StoreResult<()> {
        match lock(&self.connection).execute(sql, params) {
            Ok(_) => Ok(()),
            Err(e) if is_unique_violation(&e) => Err(StoreError::RunExists(run_id.clone())),
            Err(e) => Err(sql_error("write to", &self.path)(e)),
        }
    }

    pub fn list(&self, table: &str) -> StoreResult<Vec<RunId>> {
        let connection = lock(&self.connection);
        let read = || sql_error("read", &self.path);
        let mut statement = connection
            .prepare(&format!("SELECT run_id FROM {table} ORDER BY run_id"))
            .map_err(read())?;
        let ids = statement
            .query_map([], |row| row.get::<_, String>(0))
            .map_err(read())?;
        let mut runs = Vec::new();
        for id in ids {
            runs.extend(RunId::new(id.map_err(read())?).ok());
        }
        Ok(runs)
    }
}

/// Opens a connection with the busy timeout set before anything else, then writes the schema
/// and the epoch columns in one immediate transaction, so racing openers of a new file all
/// succeed.
fn connect(path: &Path, durability: Durability) -> rusqlite::Result<Connection> {
    let mut connection = Connection::open(path)?;
    connection.busy_timeout(std::time::Duration::from_secs(30))?;
    let synchronous = match durability {
        Durability::Sync => "FULL",
        Durability::Async => "NORMAL",
    };
    connection.pragma_update(None, "journal_mode", "WAL")?;
    connection.pragma_update(None, "synchronous", synchronous)?;
    let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    transaction.execute_batch(SCHEMA)?;
    add_epoch_columns(&transaction)?;
    transaction.execute(
        "INSERT OR IGNORE INTO meta (key, value) VALUES ('format_version', ?1)",
        params![FORMAT_VERSION.to_string()],
    )?;
    transaction.commit()?;
    Ok(connection)
}

fn is_busy(error: &rusqlite::Error) -> bool {
    matches!(error, rusqlite::Error::SqliteFailure(e, _)
        if matches!(e.code, ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked))
}

/// Creates the database file owner-only (0600) if it does not exist, never through a symlink, so
/// SQLite (and its `-wal` and `-shm` files, which take the database's permissions) never starts
/// one with the umask's.
fn create_owner_only(path: &Path) -> StoreResult<()> {
    match private_options().write(true).create_new(true).open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(io_error("create", path)(e)),
    }
}

/// Adds the `epoch` columns to a database written before epochs existed.
fn add_epoch_columns(connection: &Connection) -> rusqlite::Result<()> {
    for table in [Kind::Checkpoint.runs_table(), Kind::Audit.runs_table()] {
        let mut statement = connection.prepare(&format!("PRAGMA table_info({table})"))?;
        let columns: Vec<String> = statement
            .query_map([], |row| row.get::<_, String>(1))?
            .collect::<rusqlite::Result<_>>()?;
        if !columns.iter().any(|c| c == "epoch") {
            connection.execute_batch(&format!(
                "ALTER TABLE {table} ADD COLUMN epoch INTEGER NOT NULL DEFAULT 1"
            ))?;
        }
    }
    Ok(())
}

/// Refuses a database of another format version than this build's.
fn check_version(connection: &Connection, path: &Path) -> StoreResult<()> {
    let version: String = connection
        .query_row(
            "SELECT value FROM meta WHERE key = 'format_version'",
            [],
            |r| r.get(0),
        )
        .map_err(sql_error("open", path))?;
    match version.parse::<u32>() {
        Ok(FORMAT_VERSION) => Ok(()),
        Ok(found) => Err(StoreError::UnsupportedVersion {
            path: path.to_owned(),
            found,
            supported: FORMAT_VERSION,
        }),
        Err(_) => Err(StoreError::Corrupt {
            path: path.to_owned(),
            offset: 0,
            reason: "the format version in table `meta` is not a number".into(),
        }),
    }
}
