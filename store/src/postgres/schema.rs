//! The Postgres store's tables, as numbered migrations applied in order
//! when a store connects (or by `flowc db migrate`). `flow_schema` holds how
//! many were applied; an advisory lock makes concurrent migrators wait for
//! each other. A migration is never edited once released.

use tokio_postgres::Client;

/// Migration `i` takes the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: runs, programs, journal, events, asks, the model cache, definitions.
    // Keys compare bytewise (`COLLATE "C"`): prefixes select kinds of entries.
    r#"
    CREATE TABLE runs (
        seq BIGSERIAL PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        flow TEXT NOT NULL,
        state TEXT NOT NULL,
        input TEXT NOT NULL,
        output TEXT,
        error TEXT,
        totals TEXT NOT NULL DEFAULT '{}',
        definition TEXT,
        program TEXT NOT NULL,
        started_ms BIGINT NOT NULL,
        ended_ms BIGINT,
        heartbeat_ms BIGINT NOT NULL,
        cancel_requested BOOLEAN NOT NULL DEFAULT false,
        owner TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX runs_by_state ON runs (state, seq);
    CREATE TABLE programs (hash TEXT PRIMARY KEY, source TEXT NOT NULL);
    CREATE TABLE journal (
        run BIGINT NOT NULL,
        key TEXT COLLATE "C" NOT NULL,
        seq BIGINT NOT NULL,
        attempt INTEGER NOT NULL,
        outcome SMALLINT NOT NULL,
        value TEXT,
        PRIMARY KEY (run, key)
    );
    CREATE TABLE events (run BIGINT NOT NULL, seq BIGINT NOT NULL, event TEXT NOT NULL, PRIMARY KEY (run, seq));
    CREATE TABLE asks (
        run BIGINT NOT NULL,
        key TEXT COLLATE "C" NOT NULL,
        node TEXT NOT NULL,
        prompt TEXT NOT NULL,
        schema TEXT NOT NULL,
        deadline_ms BIGINT,
        answer TEXT,
        PRIMARY KEY (run, key)
    );
    CREATE TABLE cache (key TEXT PRIMARY KEY, value TEXT NOT NULL, created_ms BIGINT NOT NULL);
    CREATE TABLE definitions (
        name TEXT NOT NULL,
        version INTEGER NOT NULL,
        hash TEXT NOT NULL,
        created_ms BIGINT NOT NULL,
        PRIMARY KEY (name, version)
    );
    "#,
    // 2: the queue workers claim runs from (runs with a priority are queued runs).
    r#"
    ALTER TABLE runs ADD COLUMN priority SMALLINT;
    ALTER TABLE runs ADD COLUMN queued_ms BIGINT;
    ALTER TABLE runs ADD COLUMN claimed_until_ms BIGINT;
    ALTER TABLE runs ADD COLUMN first_claimed_ms BIGINT;
    CREATE INDEX runs_queue ON runs (state, seq) WHERE priority IS NOT NULL;
    "#,
    // 3: model limits held across processes: slots in flight, requests of the last minute, pauses.
    r#"
    CREATE TABLE model_slots (slot BIGSERIAL PRIMARY KEY, model TEXT NOT NULL, expires_ms BIGINT NOT NULL);
    CREATE INDEX model_slots_by_model ON model_slots (model, expires_ms);
    CREATE TABLE model_requests (model TEXT NOT NULL, at_ms BIGINT NOT NULL);
    CREATE INDEX model_requests_by_model ON model_requests (model, at_ms);
    CREATE TABLE model_pauses (model TEXT PRIMARY KEY, until_ms BIGINT NOT NULL);
    "#,
];

/// The schema version this build writes.
pub const VERSION: usize = MIGRATIONS.len();

/// Applies the migrations the database has not had, in one transaction
/// under an advisory lock on the schema. A database from a newer flowc is
/// refused. Returns the version found before.
pub async fn migrate(client: &mut Client) -> Result<usize, String> {
    let e = |e: tokio_postgres::Error| e.to_string();
    let tx = client.transaction().await.map_err(e)?;
    tx.execute("SELECT pg_advisory_xact_lock(hashtext('flow-schema:' || current_schema()))", &[]).await.map_err(e)?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS flow_schema (version INTEGER NOT NULL)").await.map_err(e)?;
    let found: Option<i32> = tx.query_opt("SELECT version FROM flow_schema", &[]).await.map_err(e)?.map(|r| r.get(0));
    let current = found.unwrap_or(0) as usize;
    if current > VERSION {
        return Err(format!(
            "its schema is version {current}, newer than this flowc knows ({VERSION}); use a newer flowc"
        ));
    }
    for sql in MIGRATIONS.iter().skip(current) {
        tx.batch_execute(sql).await.map_err(e)?;
    }
    let version = VERSION as i32;
    match found {
        Some(_) => tx.execute("UPDATE flow_schema SET version = $1", &[&version]).await.map_err(e)?,
        None => tx.execute("INSERT INTO flow_schema (version) VALUES ($1)", &[&version]).await.map_err(e)?,
    };
    tx.commit().await.map_err(e)?;
    Ok(current)
}
