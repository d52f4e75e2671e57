//! Durable runs on SQLite: [`SqliteStore`] implements `flow_vm::Store`
//! over one database file (bundled SQLite, WAL, `synchronous=NORMAL`).
//!
//! What is durable when: a run's journal entries and events are queued at
//! each completion and committed by a writer thread in groups (see
//! `writer.rs`); the run's end is recorded only after everything it queued
//! is committed. A process crash therefore loses at most the completions of
//! the last group not yet committed (they run again on resume), never a run
//! reported finished. WAL with `synchronous=NORMAL` survives a process
//! crash; a power loss may lose the last transactions.

mod journal;
mod postgres;
mod schema;
mod writer;

pub use postgres::queue::{AGING_MS, PRIORITIES, Submission, priority};
pub use postgres::{PG_SCHEMA_VERSION, PgStore, is_postgres_url};

use flow_compiler::Code;
use flow_vm::{
    Control, Definition, RunEnd, RunFilter, RunRecord, RunStart, RunState, StepRecord, Store, StoreError, StoreResult,
    Waiting,
};
use futures::future::BoxFuture;
use journal::{FAILED, FINISHED, RunJournal, SKIPPED, key_node};
use rusqlite::{Connection, OptionalExtension, Row, params};
use sha2::Digest;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicI64;
use std::sync::{Arc, Mutex};
use writer::Writer;

pub use schema::VERSION as SCHEMA_VERSION;

/// Where `flowc` keeps runs when neither `--db` nor `FLOW_DB` says: in the
/// current directory.
pub const DEFAULT_PATH: &str = ".flow/flow.db";

/// How long a statement waits for a lock held by another process.
const BUSY_TIMEOUT_MS: u64 = 5_000;

/// A run store in one SQLite database.
pub struct SqliteStore {
    /// For messages.
    name: String,
    /// Reads and control-plane writes (begin, finish, cancel, answers...).
    conn: Mutex<Connection>,
    /// Journal entries and events, in groups.
    writer: Writer,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").field("name", &self.name).finish()
    }
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// The SHA-256 of a program's source, in hex: its identity in the store.
pub fn program_hash(source: &str) -> String {
    sha2::Sha256::digest(source.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

impl SqliteStore {
    /// Opens (creating it and its directory if needed) the store at `path`,
    /// applying migrations. A file that is not a Flow store, is corrupt, or
    /// stays locked by another process is error E0610.
    pub fn open(path: &Path) -> StoreResult<SqliteStore> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::unavailable(format!("cannot create {}: {e}", dir.display())))?;
        }
        create(path)?;
        SqliteStore::connect(path.display().to_string(), true, || Connection::open(path))
    }

    /// A store in memory, gone when dropped: for tests and hosts that want
    /// the store's API (list, cancel, resume within the process) without a file.
    pub fn in_memory() -> StoreResult<SqliteStore> {
        static NEXT: AtomicI64 = AtomicI64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // The memdb VFS: one database shared by this process's connections,
        // with ordinary locking (the busy timeout applies), unlike shared cache.
        let uri = format!("file:/flow-memory-{}-{n}?vfs=memdb", std::process::id());
        SqliteStore::connect("the in-memory store".to_string(), false, || Connection::open(&uri))
    }

    /// Two connections to one database (control and writer), configured and
    /// migrated, and the writer thread started.
    fn connect(name: String, file: bool, open: impl Fn() -> rusqlite::Result<Connection>) -> StoreResult<SqliteStore> {
        let connection = || -> StoreResult<Connection> {
            let conn = open().map_err(|e| sql_error(&name, e))?;
            configure(&conn, &name, file)?;
            Ok(conn)
        };
        let mut conn = connection()?;
        schema::migrate(&mut conn).map_err(|e| StoreError::unavailable(format!("{name}: {e}")))?;
        let writer = Writer::start(connection()?).map_err(StoreError::unavailable)?;
        Ok(SqliteStore { name, conn: Mutex::new(conn), writer })
    }

    /// Runs `f` on the control connection, naming the database in errors.
    fn with_conn<T>(&self, f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>) -> StoreResult<T> {
        let mut conn =
            self.conn.lock().map_err(|_| StoreError::unavailable(format!("{}: a thread panicked", self.name)))?;
        f(&mut conn).map_err(|e| sql_error(&self.name, e))
    }

    /// Waits until every journal entry and event queued so far is committed
    /// (an error if some could not be written).
    pub async fn flush(&self) -> StoreResult<()> {
        self.writer.flush(None).await.map_err(|e| StoreError::unavailable(format!("{}: {e}", self.name)))
    }

    fn begin_sync(&self, start: &RunStart<'_>) -> StoreResult<RunJournal> {
        let hash = program_hash(start.source);
        let now = now_ms();
        let owner = flow_vm::this_process();
        let begun = self.with_conn(|conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            tx.execute("INSERT OR IGNORE INTO programs (hash, source) VALUES (?1, ?2)", params![hash, start.source])?;
            let run: i64 = if start.resume {
                let (state, beat) = start.expect.map_or((None, None), |(s, b)| (Some(s.as_str()), Some(b)));
                let taken = tx
                    .query_row(
                        "UPDATE runs SET state = 'running', heartbeat_ms = ?2, ended_ms = NULL, cancel_requested = 0,
                     program = ?3, owner = ?4
                     WHERE id = ?1 AND (?5 IS NULL OR (state = ?5 AND heartbeat_ms = ?6)) RETURNING seq",
                        params![start.id, now, hash, owner, state, beat],
                        |r| r.get(0),
                    )
                    .optional()?;
                // Another process took the run over since it was found resumable.
                let Some(run) = taken else { return Ok(None) };
                run
            } else {
                tx.query_row(
                    "INSERT INTO runs (id, flow, state, input, definition, program, started_ms, heartbeat_ms, owner)
                     VALUES (?1, ?2, 'running', ?3, ?4, ?5, ?6, ?6, ?7) RETURNING seq",
                    params![start.id, start.flow, start.input.to_string(), start.definition, hash, now, owner],
                    |r| r.get(0),
                )?
            };
            let completed = if start.resume { load_completed(&tx, run)? } else { HashMap::new() };
            let next = |table: &str| -> rusqlite::Result<i64> {
                tx.query_row(&format!("SELECT coalesce(max(seq) + 1, 0) FROM {table} WHERE run = ?1"), [run], |r| {
                    r.get(0)
                })
            };
            let (entries, events) = (next("journal")?, next("events")?);
            tx.commit()?;
            Ok(Some((run, completed, entries, events)))
        })?;
        let (run, completed, entries, events) = begun.ok_or_else(|| {
            let message = format!("run `{}` was resumed or changed by another process meanwhile", start.id);
            StoreError::new(Code::NotResumable, message)
        })?;
        Ok(RunJournal {
            run,
            writer: journal::Queue::Sqlite(self.writer.clone()),
            completed,
            entry_seq: AtomicI64::new(entries),
            event_seq: AtomicI64::new(events),
        })
    }
}

/// Creates the store at `path` if there is none, whole: built under a
/// name of this process's own (WAL mode set, migrations applied) and linked
/// into place only if nobody else got there first. Two processes that open
/// a new store at once would otherwise both switch it to WAL, which needs
/// an exclusive lock while the other holds a shared one: a deadlock the
/// busy timeout only ends after 5 s, with E0610.
fn create(path: &Path) -> StoreResult<()> {
    if path.exists() {
        return Ok(());
    }
    let name = path.display().to_string();
    static MADE: AtomicI64 = AtomicI64::new(0);
    let n = MADE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let fresh = path.with_extension(format!("new-{}-{n}", std::process::id()));
    let built = (|| {
        let mut conn = Connection::open(&fresh).map_err(|e| sql_error(&name, e))?;
        configure(&conn, &name, true)?;
        schema::migrate(&mut conn).map_err(|e| StoreError::unavailable(format!("{name}: {e}")))?;
        conn.close().map_err(|(_, e)| sql_error(&name, e))
    })();
    // Linking fails if the store appeared meanwhile: then that one is used.
    let linked = built.and_then(|()| match std::fs::hard_link(&fresh, path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        // A file system without hard links: a rename, which may replace a
        // store made at the same instant (both are empty).
        Err(_) if !path.exists() => {
            std::fs::rename(&fresh, path).map_err(|e| StoreError::unavailable(format!("cannot create {name}: {e}")))
        }
        Err(_) => Ok(()),
    });
    for leftover in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{leftover}", fresh.display()));
    }
    linked
}

/// Busy timeout, WAL (for a file) and `synchronous=NORMAL`: committed
/// transactions survive a process crash.
fn configure(conn: &Connection, name: &str, file: bool) -> StoreResult<()> {
    conn.busy_timeout(std::time::Duration::from_millis(BUSY_TIMEOUT_MS)).map_err(|e| sql_error(name, e))?;
    if file {
        conn.pragma_update(None, "journal_mode", "WAL").map_err(|e| sql_error(name, e))?;
    }
    conn.pragma_update(None, "synchronous", "NORMAL").map_err(|e| sql_error(name, e))?;
    Ok(())
}

/// A SQLite error as a coded store error naming the database and saying
/// what a user can do.
fn sql_error(name: &str, e: rusqlite::Error) -> StoreError {
    let text = e.to_string();
    let why = match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::NotADatabase) => format!("{name} is not a Flow store, or is corrupt ({text})"),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
            format!("{name} is locked by another process (waited {}s): {text}", BUSY_TIMEOUT_MS / 1000)
        }
        Some(rusqlite::ErrorCode::DatabaseCorrupt) => format!("{name} is corrupt: {text}"),
        Some(rusqlite::ErrorCode::ReadOnly | rusqlite::ErrorCode::CannotOpen) => {
            format!("cannot write {name}: {text}")
        }
        _ => format!("{name}: {text}"),
    };
    StoreError::unavailable(why)
}

/// The values of the steps and map items run `run` completed.
fn load_completed(conn: &Connection, run: i64) -> rusqlite::Result<HashMap<String, serde_json::Value>> {
    let mut stmt = conn.prepare(
        "SELECT key, value FROM journal WHERE run = ?1 AND outcome = ?2
         AND ((key >= 's:' AND key < 's;') OR (key >= 'm:' AND key < 'm;'))",
    )?;
    let rows =
        stmt.query_map(params![run, FINISHED], |r| Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?)))?;
    let mut completed = HashMap::new();
    for row in rows {
        let (key, value) = row?;
        // A value that does not parse is not reused: the step runs again.
        if let Some(value) = value.and_then(|v| serde_json::from_str(&v).ok()) {
            completed.insert(key, value);
        }
    }
    Ok(completed)
}

const RUN_COLUMNS: &str = "r.id, r.flow, r.state, r.input, r.output, r.error, r.totals, r.definition, r.program,
    r.started_ms, r.ended_ms, r.heartbeat_ms, r.cancel_requested, r.owner,
    (SELECT count(*) FROM journal j WHERE j.run = r.seq AND j.key >= 's:' AND j.key < 's;' AND j.outcome = 0)";

fn json_column(row: &Row<'_>, i: usize) -> rusqlite::Result<Option<serde_json::Value>> {
    Ok(row.get::<_, Option<String>>(i)?.and_then(|t| serde_json::from_str(&t).ok()))
}

fn run_record(row: &Row<'_>) -> rusqlite::Result<RunRecord> {
    let state: String = row.get(2)?;
    Ok(RunRecord {
        id: row.get(0)?,
        flow: row.get(1)?,
        state: RunState::parse(&state).unwrap_or(RunState::Failed),
        input: json_column(row, 3)?.unwrap_or_default(),
        output: json_column(row, 4)?,
        error: json_column(row, 5)?,
        totals: json_column(row, 6)?.unwrap_or_default(),
        definition: row.get(7)?,
        program: row.get(8)?,
        started_ms: row.get(9)?,
        ended_ms: row.get(10)?,
        heartbeat_ms: row.get(11)?,
        cancel_requested: row.get::<_, i64>(12)? != 0,
        owner: row.get(13)?,
        steps_done: row.get::<_, i64>(14)? as u64,
    })
}

fn waiting_row(row: &Row<'_>) -> rusqlite::Result<Waiting> {
    Ok(Waiting {
        key: row.get(0)?,
        node: row.get(1)?,
        prompt: row.get(2)?,
        schema: json_column(row, 3)?.unwrap_or_default(),
        deadline_ms: row.get(4)?,
        answer: json_column(row, 5)?,
    })
}

fn definition_row(row: &Row<'_>) -> rusqlite::Result<Definition> {
    Ok(Definition {
        name: row.get(0)?,
        version: row.get(1)?,
        hash: row.get(2)?,
        created_ms: row.get(3)?,
        source: row.get(4)?,
    })
}

fn run_seq(conn: &Connection, id: &str) -> rusqlite::Result<Option<i64>> {
    conn.query_row("SELECT seq FROM runs WHERE id = ?1", [id], |r| r.get(0)).optional()
}

pub(crate) fn unknown_run(id: &str) -> StoreError {
    StoreError::new(Code::UnknownRun, format!("there is no run `{id}` in the store"))
}

impl Store for SqliteStore {
    fn begin<'a>(&'a self, start: RunStart<'a>) -> BoxFuture<'a, StoreResult<Arc<dyn flow_vm::Journal>>> {
        Box::pin(async move { Ok(Arc::new(self.begin_sync(&start)?) as Arc<dyn flow_vm::Journal>) })
    }

    fn finish<'a>(&'a self, end: RunEnd<'a>) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move {
            let run = self.with_conn(|conn| run_seq(conn, end.id))?;
            let lost = self.writer.flush(run).await;
            lost.map_err(|e| StoreError::unavailable(format!("{}: the run's journal is incomplete: {e}", self.name)))?;
            let output = end.output.map(|v| v.to_string());
            let error = end.error.map(|v| v.to_string());
            let updated = self.with_conn(|conn| {
                conn.execute(
                    "UPDATE runs SET state = ?2, output = ?3, error = ?4, totals = ?5, ended_ms = ?6
                     WHERE id = ?1 AND (?7 IS NULL OR owner = ?7)",
                    params![end.id, end.state.as_str(), output, error, end.totals.to_string(), now_ms(), end.owner],
                )
            })?;
            if updated == 0 && end.owner.is_some() {
                let message =
                    format!("run `{}` was taken over by another process: this outcome is not recorded", end.id);
                return Err(StoreError::new(Code::NotResumable, message));
            }
            Ok(())
        })
    }

    fn run<'a>(&'a self, id: &'a str) -> BoxFuture<'a, StoreResult<Option<RunRecord>>> {
        Box::pin(async move {
            let sql = format!("SELECT {RUN_COLUMNS} FROM runs r WHERE r.id = ?1");
            self.with_conn(|conn| conn.query_row(&sql, [id], run_record).optional())
        })
    }

    fn runs<'a>(&'a self, filter: &'a RunFilter) -> BoxFuture<'a, StoreResult<Vec<RunRecord>>> {
        Box::pin(async move {
            let sql = format!(
                "SELECT {RUN_COLUMNS} FROM runs r WHERE (?1 IS NULL OR r.state = ?1) AND (?2 IS NULL OR r.flow = ?2)
                 ORDER BY r.seq DESC LIMIT ?3"
            );
            let state = filter.state.map(RunState::as_str);
            let limit = filter.limit.map_or(-1, |n| n as i64);
            self.with_conn(|conn| {
                let mut stmt = conn.prepare(&sql)?;
                let rows = stmt.query_map(params![state, filter.flow, limit], run_record)?;
                rows.collect()
            })
        })
    }

    fn source<'a>(&'a self, hash: &'a str) -> BoxFuture<'a, StoreResult<Option<String>>> {
        Box::pin(async move {
            self.with_conn(|conn| {
                conn.query_row("SELECT source FROM programs WHERE hash = ?1", [hash], |r| r.get(0)).optional()
            })
        })
    }

    fn steps<'a>(&'a self, id: &'a str) -> BoxFuture<'a, StoreResult<Vec<StepRecord>>> {
        Box::pin(async move {
            self.with_conn(|conn| {
                let mut stmt = conn.prepare(
                    "SELECT j.key, j.outcome, j.attempt FROM journal j JOIN runs r ON r.seq = j.run
                     WHERE r.id = ?1 AND j.key >= 's:' AND j.key < 's;' ORDER BY j.seq",
                )?;
                let rows = stmt.query_map([id], |r| {
                    let key: String = r.get(0)?;
                    let outcome = match r.get::<_, u8>(1)? {
                        FINISHED => "finished",
                        SKIPPED => "skipped",
                        FAILED => "failed",
                        _ => "answered",
                    };
                    let node = key_node(&key).to_string();
                    let key = key.trim_start_matches("s:").replacen('|', "", 1);
                    Ok(StepRecord { key, node, outcome: outcome.to_string(), attempt: r.get(2)? })
                })?;
                rows.collect()
            })
        })
    }

    fn events<'a>(&'a self, id: &'a str) -> BoxFuture<'a, StoreResult<Vec<serde_json::Value>>> {
        Box::pin(async move {
            self.with_conn(|conn| {
                let mut stmt = conn.prepare(
                    "SELECT e.event FROM events e JOIN runs r ON r.seq = e.run WHERE r.id = ?1 ORDER BY e.seq",
                )?;
                let chunks = stmt.query_map([id], |r| r.get::<_, String>(0))?;
                let mut events = Vec::new();
                for chunk in chunks {
                    // A line that does not parse is skipped, not fatal: the history is for reading.
                    events.extend(chunk?.lines().filter_map(|line| serde_json::from_str(line).ok()));
                }
                Ok(events)
            })
        })
    }

    fn beat<'a>(&'a self, id: &'a str) -> BoxFuture<'a, StoreResult<Control>> {
        Box::pin(async move {
            let cancel = self.with_conn(|conn| {
                conn.query_row(
                    "UPDATE runs SET heartbeat_ms = ?2 WHERE id = ?1 AND owner = ?3 RETURNING cancel_requested",
                    params![id, now_ms(), flow_vm::this_process()],
                    |r| r.get::<_, i64>(0),
                )
                .optional()
            })?;
            // No row: another process took the run over; this one stops.
            Ok(Control { cancel: cancel.is_none_or(|c| c != 0) })
        })
    }

    fn request_cancel<'a>(&'a self, id: &'a str) -> BoxFuture<'a, StoreResult<bool>> {
        Box::pin(async move {
            self.with_conn(|conn| Ok(conn.execute("UPDATE runs SET cancel_requested = 1 WHERE id = ?1", [id])? > 0))
        })
    }

    fn ask<'a>(&'a self, id: &'a str, waiting: &'a Waiting) -> BoxFuture<'a, StoreResult<Waiting>> {
        Box::pin(async move {
            self.with_conn(|conn| {
                let Some(run) = run_seq(conn, id)? else { return Ok(None) };
                let read = |conn: &Connection| {
                    conn.query_row(
                        "SELECT key, node, prompt, schema, deadline_ms, answer FROM asks WHERE run = ?1 AND key = ?2",
                        params![run, waiting.key],
                        waiting_row,
                    )
                    .optional()
                };
                // Asked before (a poll, or a resumed run): a read, no write lock.
                if let Some(row) = read(conn)? {
                    return Ok(Some(row));
                }
                conn.execute(
                    "INSERT OR IGNORE INTO asks (run, key, node, prompt, schema, deadline_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![run, waiting.key, waiting.node, waiting.prompt, waiting.schema.to_string(), waiting.deadline_ms],
                )?;
                read(conn)
            })?
            .ok_or_else(|| unknown_run(id))
        })
    }

    fn waiting<'a>(&'a self, id: &'a str) -> BoxFuture<'a, StoreResult<Vec<Waiting>>> {
        Box::pin(async move {
            self.with_conn(|conn| {
                let mut stmt = conn.prepare(
                    "SELECT a.key, a.node, a.prompt, a.schema, a.deadline_ms, a.answer FROM asks a JOIN runs r ON r.seq = a.run
                     WHERE r.id = ?1 ORDER BY a.key",
                )?;
                let rows = stmt.query_map([id], waiting_row)?;
                rows.collect()
            })
        })
    }

    fn answer<'a>(&'a self, id: &'a str, key: &'a str, value: &'a serde_json::Value) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move {
            let updated = self.with_conn(|conn| {
                conn.execute(
                    "UPDATE asks SET answer = ?3
                     WHERE key = ?2 AND answer IS NULL AND run = (SELECT seq FROM runs WHERE id = ?1)",
                    params![id, key, value.to_string()],
                )
            })?;
            if updated == 0 {
                let message = format!("run `{id}` has no step `{key}` waiting (or it was answered already)");
                return Err(StoreError::new(Code::BadAnswer, message));
            }
            Ok(())
        })
    }

    fn cache_get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, StoreResult<Option<serde_json::Value>>> {
        Box::pin(async move {
            let text: Option<String> = self.with_conn(|conn| {
                conn.query_row("SELECT value FROM cache WHERE key = ?1", [program_hash(key)], |r| r.get(0)).optional()
            })?;
            Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
        })
    }

    fn cache_put<'a>(&'a self, key: &'a str, value: &'a serde_json::Value) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move {
            self.with_conn(|conn| {
                conn.execute(
                    "INSERT OR REPLACE INTO cache (key, value, created_ms) VALUES (?1, ?2, ?3)",
                    params![program_hash(key), value.to_string(), now_ms()],
                )
            })
            .map(|_| ())
        })
    }

    fn deploy<'a>(&'a self, name: &'a str, source: &'a str) -> BoxFuture<'a, StoreResult<Definition>> {
        Box::pin(async move {
            let hash = program_hash(source);
            self.with_conn(|conn| {
                // The write lock from the start: two deploys at once get different versions.
                let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                let latest: Option<(u32, String)> = tx
                    .query_row(
                        "SELECT version, hash FROM definitions WHERE name = ?1 ORDER BY version DESC LIMIT 1",
                        [name],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )
                    .optional()?;
                let version = match &latest {
                    Some((v, h)) if *h == hash => *v,
                    Some((v, _)) => v + 1,
                    None => 1,
                };
                if latest.as_ref().is_none_or(|(_, h)| *h != hash) {
                    tx.execute("INSERT OR IGNORE INTO programs (hash, source) VALUES (?1, ?2)", params![hash, source])?;
                    tx.execute(
                        "INSERT INTO definitions (name, version, hash, created_ms) VALUES (?1, ?2, ?3, ?4)",
                        params![name, version, hash, now_ms()],
                    )?;
                }
                let definition = tx.query_row(
                    "SELECT d.name, d.version, d.hash, d.created_ms, p.source FROM definitions d
                     JOIN programs p ON p.hash = d.hash WHERE d.name = ?1 AND d.version = ?2",
                    params![name, version],
                    definition_row,
                )?;
                tx.commit()?;
                Ok(definition)
            })
        })
    }

    fn definitions(&self) -> BoxFuture<'_, StoreResult<Vec<Definition>>> {
        Box::pin(async move {
            self.with_conn(|conn| {
                let mut stmt = conn.prepare(
                    "SELECT d.name, d.version, d.hash, d.created_ms, p.source FROM definitions d
                     JOIN programs p ON p.hash = d.hash ORDER BY d.name, d.version DESC",
                )?;
                let rows = stmt.query_map([], definition_row)?;
                rows.collect()
            })
        })
    }

    fn definition<'a>(&'a self, name: &'a str, version: Option<u32>) -> BoxFuture<'a, StoreResult<Option<Definition>>> {
        Box::pin(async move {
            self.with_conn(|conn| {
                conn.query_row(
                    "SELECT d.name, d.version, d.hash, d.created_ms, p.source FROM definitions d
                     JOIN programs p ON p.hash = d.hash WHERE d.name = ?1 AND (?2 IS NULL OR d.version = ?2)
                     ORDER BY d.version DESC LIMIT 1",
                    params![name, version],
                    definition_row,
                )
                .optional()
            })
        })
    }
}

/// Where the SQLite store is: `--db`/`FLOW_DB` if given, else
/// [`DEFAULT_PATH`]. `postgres://` URLs are for [`PgStore::connect`].
pub fn resolve(db: Option<&str>) -> StoreResult<PathBuf> {
    match db {
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            Err(StoreError::unavailable(format!("`{url}` is a Postgres database, not a SQLite file")))
        }
        Some(path) => Ok(PathBuf::from(path.strip_prefix("sqlite://").unwrap_or(path))),
        None => Ok(PathBuf::from(DEFAULT_PATH)),
    }
}
