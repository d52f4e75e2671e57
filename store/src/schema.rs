//! The database's tables, as numbered migrations applied in order when a
//! store opens (`PRAGMA user_version` holds how many were applied). A
//! migration is never edited once released: changes are new migrations.

use rusqlite::{Connection, TransactionBehavior};

/// Migration `i` takes the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: runs, programs, journal, events, asks, the model cache, definitions.
    r#"
    CREATE TABLE runs (
        seq INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        flow TEXT NOT NULL,
        state TEXT NOT NULL,
        input TEXT NOT NULL,
        output TEXT,
        error TEXT,
        totals TEXT NOT NULL DEFAULT '{}',
        definition TEXT,
        program TEXT NOT NULL,
        started_ms INTEGER NOT NULL,
        ended_ms INTEGER,
        heartbeat_ms INTEGER NOT NULL,
        cancel_requested INTEGER NOT NULL DEFAULT 0,
        owner TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX runs_by_state ON runs (state, seq);
    CREATE TABLE programs (hash TEXT PRIMARY KEY, source TEXT NOT NULL) WITHOUT ROWID;
    CREATE TABLE journal (
        run INTEGER NOT NULL,
        key TEXT NOT NULL,
        seq INTEGER NOT NULL,
        attempt INTEGER NOT NULL,
        outcome INTEGER NOT NULL,
        value TEXT,
        PRIMARY KEY (run, key)
    ) WITHOUT ROWID;
    -- A group of one run's events as JSON lines; `seq` is the first one's.
    CREATE TABLE events (run INTEGER NOT NULL, seq INTEGER NOT NULL, event TEXT NOT NULL, PRIMARY KEY (run, seq))
        WITHOUT ROWID;
    CREATE TABLE asks (
        run INTEGER NOT NULL,
        key TEXT NOT NULL,
        node TEXT NOT NULL,
        prompt TEXT NOT NULL,
        schema TEXT NOT NULL,
        deadline_ms INTEGER,
        answer TEXT,
        PRIMARY KEY (run, key)
    ) WITHOUT ROWID;
    CREATE TABLE cache (key TEXT PRIMARY KEY, value TEXT NOT NULL, created_ms INTEGER NOT NULL) WITHOUT ROWID;
    CREATE TABLE definitions (
        name TEXT NOT NULL,
        version INTEGER NOT NULL,
        hash TEXT NOT NULL,
        created_ms INTEGER NOT NULL,
        PRIMARY KEY (name, version)
    ) WITHOUT ROWID;
    "#,
];

/// The schema version this build writes.
pub const VERSION: usize = MIGRATIONS.len();

/// Applies the migrations `conn` has not had, in one transaction that
/// holds the write lock from the start: two processes opening a new store
/// at once do not both migrate it. A database from a newer flowc (a higher
/// version) is refused.
pub fn migrate(conn: &mut Connection) -> Result<(), String> {
    // A store already at this version is not written to: commands that only
    // read (`flowc runs`, polled by scripts) never take the write lock.
    let seen: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(|e| e.to_string())?;
    if seen as usize == VERSION {
        return Ok(());
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(|e| e.to_string())?;
    let current: usize =
        tx.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0)).map_err(|e| e.to_string())? as usize;
    if current > VERSION {
        return Err(format!(
            "its schema is version {current}, newer than this flowc knows ({VERSION}); use a newer flowc"
        ));
    }
    for sql in MIGRATIONS.iter().skip(current) {
        tx.execute_batch(sql).map_err(|e| e.to_string())?;
    }
    tx.pragma_update(None, "user_version", VERSION as i64).map_err(|e| e.to_string())?;
    tx.commit().map_err(|e| e.to_string())
}
