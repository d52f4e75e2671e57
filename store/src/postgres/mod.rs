//! Durable runs on PostgreSQL: [`PgStore`] implements `flow_vm::Store` with
//! the same tables, keys and guarantees as the SQLite store (a run's end is
//! recorded only after everything it journaled is committed; journal
//! entries and events are committed in groups by one writer task), over a
//! connection pool, so that many processes — workers, servers, `flowc`
//! commands — share one store.

mod limits;
pub mod queue;
mod schema;
pub(crate) mod writer;

use crate::journal::{FAILED, FINISHED, Queue, RunJournal, SKIPPED, key_node};
use crate::{now_ms, program_hash, unknown_run};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use flow_compiler::Code;
use flow_vm::{
    Control, Definition, RunEnd, RunFilter, RunRecord, RunStart, RunState, StepRecord, Store, StoreError, StoreResult,
    Waiting,
};
use futures::future::BoxFuture;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::AtomicI64;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;
use writer::PgWriter;

pub use schema::VERSION as PG_SCHEMA_VERSION;

/// Connections in the pool: the writer, the heartbeats and the reads of a
/// busy process together.
const POOL_SIZE: usize = 8;

/// A run store in one PostgreSQL database (or one schema of it).
pub struct PgStore {
    /// For messages: the database's address without its password.
    name: String,
    pool: Pool,
    writer: PgWriter,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore").field("name", &self.name).finish()
    }
}

/// Whether `db` names a Postgres database (`postgres://` or `postgresql://`).
pub fn is_postgres_url(db: &str) -> bool {
    db.starts_with("postgres://") || db.starts_with("postgresql://")
}

impl PgStore {
    /// Connects to the database at `url` (a `postgres://` URL), applying
    /// the migrations it has not had. Unreachable, refusing or too new is
    /// error E0610.
    pub async fn connect(url: &str) -> StoreResult<PgStore> {
        PgStore::connect_in(url, None).await
    }

    /// As [`PgStore::connect`], with every table in `schema` (created if
    /// missing): several stores in one database, as tests use.
    pub async fn connect_in(url: &str, schema: Option<&str>) -> StoreResult<PgStore> {
        let name = redacted(url);
        let mut config: tokio_postgres::Config =
            url.parse().map_err(|e| StoreError::unavailable(format!("`{name}` is not a Postgres URL: {e}")))?;
        if let Some(schema) = schema {
            if !schema.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(StoreError::unavailable(format!("`{schema}` is not a plain schema name")));
            }
            create_schema(&config, schema, &name).await?;
            config.options(format!("-c search_path={schema}"));
        }
        let manager = Manager::from_config(
            config,
            tokio_postgres::NoTls,
            ManagerConfig { recycling_method: RecyclingMethod::Fast },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .build()
            .map_err(|e| StoreError::unavailable(format!("{name}: {e}")))?;
        let mut client = pool.get().await.map_err(|e| StoreError::unavailable(format!("{name}: {e}")))?;
        schema::migrate(&mut client).await.map_err(|e| StoreError::unavailable(format!("{name}: {e}")))?;
        drop(client);
        let writer = PgWriter::start(pool.clone());
        Ok(PgStore { name, pool, writer })
    }

    /// Applies the migrations to the database at `url` and says from which
    /// version to which (`flowc db migrate`).
    pub async fn migrate(url: &str) -> StoreResult<(usize, usize)> {
        let name = redacted(url);
        let config: tokio_postgres::Config =
            url.parse().map_err(|e| StoreError::unavailable(format!("`{name}` is not a Postgres URL: {e}")))?;
        let (mut client, connection) = config.connect(tokio_postgres::NoTls).await.map_err(|e| pg_error(&name, &e))?;
        let driver = tokio::spawn(connection);
        let before = schema::migrate(&mut client).await.map_err(|e| StoreError::unavailable(format!("{name}: {e}")));
        drop(client);
        let _ = driver.await;
        Ok((before?, schema::VERSION))
    }

    /// Waits until every journal entry and event queued so far is committed.
    pub async fn flush(&self) -> StoreResult<()> {
        self.writer.flush(None).await.map_err(|e| StoreError::unavailable(format!("{}: {e}", self.name)))
    }

    async fn client(&self) -> StoreResult<deadpool_postgres::Client> {
        self.pool.get().await.map_err(|e| StoreError::unavailable(format!("{}: {e}", self.name)))
    }

    fn error(&self, e: &tokio_postgres::Error) -> StoreError {
        pg_error(&self.name, e)
    }

    async fn query(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> StoreResult<Vec<Row>> {
        let client = self.client().await?;
        let stmt = client.prepare_cached(sql).await.map_err(|e| self.error(&e))?;
        client.query(&stmt, params).await.map_err(|e| self.error(&e))
    }

    async fn query_opt(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> StoreResult<Option<Row>> {
        Ok(self.query(sql, params).await?.into_iter().next())
    }

    async fn execute(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> StoreResult<u64> {
        let client = self.client().await?;
        let stmt = client.prepare_cached(sql).await.map_err(|e| self.error(&e))?;
        client.execute(&stmt, params).await.map_err(|e| self.error(&e))
    }

    async fn begin_run(&self, start: &RunStart<'_>) -> StoreResult<RunJournal> {
        let hash = program_hash(start.source);
        let now = now_ms();
        let owner = flow_vm::this_process();
        let mut client = self.client().await?;
        let e = |e: tokio_postgres::Error| self.error(&e);
        let tx = client.transaction().await.map_err(e)?;
        tx.execute(
            "INSERT INTO programs (hash, source) VALUES ($1, $2) ON CONFLICT (hash) DO NOTHING",
            &[&hash, &start.source],
        )
        .await
        .map_err(e)?;
        let run: i64 = if start.resume {
            let (state, beat) = start.expect.map_or((None, None), |(s, b)| (Some(s.as_str()), Some(b)));
            let taken = tx
                .query_opt(
                    "UPDATE runs SET state = 'running', heartbeat_ms = $2, ended_ms = NULL, cancel_requested = false,
                     program = $3, owner = $4, claimed_until_ms = NULL
                     WHERE id = $1 AND ($5::text IS NULL OR (state = $5 AND heartbeat_ms = $6)) RETURNING seq",
                    &[&start.id, &now, &hash, &owner, &state, &beat],
                )
                .await
                .map_err(e)?;
            match taken {
                Some(row) => row.get(0),
                None => {
                    let message = format!("run `{}` was resumed or changed by another process meanwhile", start.id);
                    return Err(StoreError::new(Code::NotResumable, message));
                }
            }
        } else {
            let input = start.input.to_string();
            tx.query_one(
                "INSERT INTO runs (id, flow, state, input, definition, program, started_ms, heartbeat_ms, owner)
                 VALUES ($1, $2, 'running', $3, $4, $5, $6, $6, $7) RETURNING seq",
                &[&start.id, &start.flow, &input, &start.definition, &hash, &now, &owner],
            )
            .await
            .map_err(e)?
            .get(0)
        };
        let mut completed = HashMap::new();
        if start.resume {
            let rows = tx
                .query(
                    "SELECT key, value FROM journal WHERE run = $1 AND outcome = $2
                     AND (key LIKE 's:%' OR key LIKE 'm:%')",
                    &[&run, &i16::from(FINISHED)],
                )
                .await
                .map_err(e)?;
            for row in rows {
                let value: Option<String> = row.get(1);
                // A value that does not parse is not reused: the step runs again.
                if let Some(value) = value.and_then(|v| serde_json::from_str(&v).ok()) {
                    completed.insert(row.get::<_, String>(0), value);
                }
            }
        }
        let next = tx
            .query_one(
                "SELECT (SELECT coalesce(max(seq) + 1, 0) FROM journal WHERE run = $1),
                        (SELECT coalesce(max(seq) + 1, 0) FROM events WHERE run = $1)",
                &[&run],
            )
            .await
            .map_err(e)?;
        let (entries, events): (i64, i64) = (next.get(0), next.get(1));
        tx.commit().await.map_err(e)?;
        Ok(RunJournal {
            run,
            writer: Queue::Postgres(self.writer.clone()),
            completed,
            entry_seq: AtomicI64::new(entries),
            event_seq: AtomicI64::new(events),
        })
    }

    async fn deploy_program(&self, name: &str, source: &str) -> StoreResult<Definition> {
        let hash = program_hash(source);
        let mut client = self.client().await?;
        let e = |e: tokio_postgres::Error| self.error(&e);
        let tx = client.transaction().await.map_err(e)?;
        // Two deploys of one name at once get different versions.
        tx.execute("SELECT pg_advisory_xact_lock(hashtext('flow-deploy:' || $1))", &[&name]).await.map_err(e)?;
        let latest = tx
            .query_opt("SELECT version, hash FROM definitions WHERE name = $1 ORDER BY version DESC LIMIT 1", &[&name])
            .await
            .map_err(e)?
            .map(|r| (r.get::<_, i32>(0), r.get::<_, String>(1)));
        let version = match &latest {
            Some((v, h)) if *h == hash => *v,
            Some((v, _)) => v + 1,
            None => 1,
        };
        if latest.as_ref().is_none_or(|(_, h)| *h != hash) {
            tx.execute(
                "INSERT INTO programs (hash, source) VALUES ($1, $2) ON CONFLICT (hash) DO NOTHING",
                &[&hash, &source],
            )
            .await
            .map_err(e)?;
            tx.execute(
                "INSERT INTO definitions (name, version, hash, created_ms) VALUES ($1, $2, $3, $4)",
                &[&name, &version, &hash, &now_ms()],
            )
            .await
            .map_err(e)?;
        }
        let row = tx
            .query_one(&format!("{DEFINITION_SELECT} WHERE d.name = $1 AND d.version = $2"), &[&name, &version])
            .await
            .map_err(e)?;
        tx.commit().await.map_err(e)?;
        Ok(definition_row(&row))
    }
}

/// Creates `schema` if it is missing (its own short connection).
async fn create_schema(config: &tokio_postgres::Config, schema: &str, name: &str) -> StoreResult<()> {
    let (client, connection) = config.connect(tokio_postgres::NoTls).await.map_err(|e| pg_error(name, &e))?;
    let driver = tokio::spawn(connection);
    let made = client.batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {schema}")).await;
    drop(client);
    let _ = driver.await;
    // Two stores creating one schema at once: one of them sees a duplicate; both then use it.
    match made {
        Ok(()) => Ok(()),
        Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION) => Ok(()),
        Err(e) => Err(pg_error(name, &e)),
    }
}

/// The URL without its password, for messages.
fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// A Postgres error as a coded store error naming the database.
fn pg_error(name: &str, e: &tokio_postgres::Error) -> StoreError {
    let detail = match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => e.to_string(),
    };
    StoreError::unavailable(format!("{name}: {detail}"))
}

const RUN_SELECT: &str = "SELECT r.id, r.flow, r.state, r.input, r.output, r.error, r.totals, r.definition, r.program,
    r.started_ms, r.ended_ms, r.heartbeat_ms, r.cancel_requested, r.owner,
    (SELECT count(*) FROM journal j WHERE j.run = r.seq AND j.key LIKE 's:%' AND j.outcome = 0)
    FROM runs r";

const DEFINITION_SELECT: &str =
    "SELECT d.name, d.version, d.hash, d.created_ms, p.source FROM definitions d JOIN programs p ON p.hash = d.hash";

const WAITING_SELECT: &str = "SELECT a.key, a.node, a.prompt, a.schema, a.deadline_ms, a.answer FROM asks a";

fn json_column(row: &Row, i: usize) -> Option<serde_json::Value> {
    row.get::<_, Option<String>>(i).and_then(|t| serde_json::from_str(&t).ok())
}

fn run_record(row: &Row) -> RunRecord {
    let state: String = row.get(2);
    RunRecord {
        id: row.get(0),
        flow: row.get(1),
        state: RunState::parse(&state).unwrap_or(RunState::Failed),
        input: json_column(row, 3).unwrap_or_default(),
        output: json_column(row, 4),
        error: json_column(row, 5),
        totals: json_column(row, 6).unwrap_or_default(),
        definition: row.get(7),
        program: row.get(8),
        started_ms: row.get(9),
        ended_ms: row.get(10),
        heartbeat_ms: row.get(11),
        cancel_requested: row.get(12),
        owner: row.get(13),
        steps_done: row.get::<_, i64>(14) as u64,
    }
}

fn waiting_row(row: &Row) -> Waiting {
    Waiting {
        key: row.get(0),
        node: row.get(1),
        prompt: row.get(2),
        schema: json_column(row, 3).unwrap_or_default(),
        deadline_ms: row.get(4),
        answer: json_column(row, 5),
    }
}

fn definition_row(row: &Row) -> Definition {
    Definition {
        name: row.get(0),
        version: row.get::<_, i32>(1) as u32,
        hash: row.get(2),
        created_ms: row.get(3),
        source: row.get(4),
    }
}

impl Store for PgStore {
    fn begin<'a>(&'a self, start: RunStart<'a>) -> BoxFuture<'a, StoreResult<Arc<dyn flow_vm::Journal>>> {
        Box::pin(async move { Ok(Arc::new(self.begin_run(&start).await?) as Arc<dyn flow_vm::Journal>) })
    }

    fn finish<'a>(&'a self, end: RunEnd<'a>) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move {
            let run = self.query_opt("SELECT seq FROM runs WHERE id = $1", &[&end.id]).await?.map(|r| r.get(0));
            let lost = self.writer.flush(run).await;
            lost.map_err(|e| StoreError::unavailable(format!("{}: the run's journal is incomplete: {e}", self.name)))?;
            let output = end.output.map(|v| v.to_string());
            let error = end.error.map(|v| v.to_string());
            let totals = end.totals.to_string();
            let updated = self
                .execute(
                    "UPDATE runs SET state = $2, output = $3, error = $4, totals = $5, ended_ms = $6
                     WHERE id = $1 AND ($7::text IS NULL OR owner = $7)",
                    &[&end.id, &end.state.as_str(), &output, &error, &totals, &now_ms(), &end.owner],
                )
                .await?;
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
            Ok(self.query_opt(&format!("{RUN_SELECT} WHERE r.id = $1"), &[&id]).await?.as_ref().map(run_record))
        })
    }

    fn runs<'a>(&'a self, filter: &'a RunFilter) -> BoxFuture<'a, StoreResult<Vec<RunRecord>>> {
        Box::pin(async move {
            let state = filter.state.map(RunState::as_str);
            let limit = filter.limit.map(|n| n as i64);
            let sql = format!(
                "{RUN_SELECT} WHERE ($1::text IS NULL OR r.state = $1) AND ($2::text IS NULL OR r.flow = $2)
                 ORDER BY r.seq DESC LIMIT $3"
            );
            Ok(self.query(&sql, &[&state, &filter.flow, &limit]).await?.iter().map(run_record).collect())
        })
    }

    fn source<'a>(&'a self, hash: &'a str) -> BoxFuture<'a, StoreResult<Option<String>>> {
        Box::pin(async move {
            Ok(self.query_opt("SELECT source FROM programs WHERE hash = $1", &[&hash]).await?.map(|r| r.get(0)))
        })
    }

    fn steps<'a>(&'a self, id: &'a str) -> BoxFuture<'a, StoreResult<Vec<StepRecord>>> {
        Box::pin(async move {
            let rows = self
                .query(
                    "SELECT j.key, j.outcome, j.attempt FROM journal j JOIN runs r ON r.seq = j.run
                     WHERE r.id = $1 AND j.key LIKE 's:%' ORDER BY j.seq",
                    &[&id],
                )
                .await?;
            Ok(rows
                .iter()
                .map(|r| {
                    let key: String = r.get(0);
                    let outcome = match u8::try_from(r.get::<_, i16>(1)).unwrap_or(u8::MAX) {
                        FINISHED => "finished",
                        SKIPPED => "skipped",
                        FAILED => "failed",
                        _ => "answered",
                    };
                    let node = key_node(&key).to_string();
                    let key = key.trim_start_matches("s:").replacen('|', "", 1);
                    StepRecord { key, node, outcome: outcome.to_string(), attempt: r.get::<_, i32>(2) as u32 }
                })
                .collect())
        })
    }

    fn events<'a>(&'a self, id: &'a str) -> BoxFuture<'a, StoreResult<Vec<serde_json::Value>>> {
        Box::pin(async move {
            let rows = self
                .query(
                    "SELECT e.event FROM events e JOIN runs r ON r.seq = e.run WHERE r.id = $1 ORDER BY e.seq",
                    &[&id],
                )
                .await?;
            // A line that does not parse is skipped, not fatal: the history is for reading.
            Ok(rows
                .iter()
                .flat_map(|r| {
                    let chunk: String = r.get(0);
                    chunk.lines().filter_map(|line| serde_json::from_str(line).ok()).collect::<Vec<_>>()
                })
                .collect())
        })
    }

    fn beat<'a>(&'a self, id: &'a str) -> BoxFuture<'a, StoreResult<Control>> {
        Box::pin(async move {
            let cancel = self
                .query_opt(
                    "UPDATE runs SET heartbeat_ms = $2 WHERE id = $1 AND owner = $3 RETURNING cancel_requested",
                    &[&id, &now_ms(), &flow_vm::this_process()],
                )
                .await?
                .map(|r| r.get::<_, bool>(0));
            // No row: another process took the run over; this one stops.
            Ok(Control { cancel: cancel.unwrap_or(true) })
        })
    }

    fn request_cancel<'a>(&'a self, id: &'a str) -> BoxFuture<'a, StoreResult<bool>> {
        Box::pin(async move {
            // A queued run is cancelled at once: no process would read the request.
            let updated = self
                .execute(
                    "UPDATE runs SET cancel_requested = true,
                         state = CASE WHEN state = 'queued' THEN 'cancelled' ELSE state END,
                         ended_ms = CASE WHEN state = 'queued' THEN $2 ELSE ended_ms END
                     WHERE id = $1",
                    &[&id, &now_ms()],
                )
                .await?;
            Ok(updated > 0)
        })
    }

    fn ask<'a>(&'a self, id: &'a str, waiting: &'a Waiting) -> BoxFuture<'a, StoreResult<Waiting>> {
        Box::pin(async move {
            let Some(run) = self.query_opt("SELECT seq FROM runs WHERE id = $1", &[&id]).await? else {
                return Err(unknown_run(id));
            };
            let run: i64 = run.get(0);
            let schema = waiting.schema.to_string();
            self.execute(
                "INSERT INTO asks (run, key, node, prompt, schema, deadline_ms) VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (run, key) DO NOTHING",
                &[&run, &waiting.key, &waiting.node, &waiting.prompt, &schema, &waiting.deadline_ms],
            )
            .await?;
            let row = self
                .query_opt(&format!("{WAITING_SELECT} WHERE a.run = $1 AND a.key = $2"), &[&run, &waiting.key])
                .await?;
            row.as_ref().map(waiting_row).ok_or_else(|| unknown_run(id))
        })
    }

    fn waiting<'a>(&'a self, id: &'a str) -> BoxFuture<'a, StoreResult<Vec<Waiting>>> {
        Box::pin(async move {
            let sql = format!("{WAITING_SELECT} JOIN runs r ON r.seq = a.run WHERE r.id = $1 ORDER BY a.key");
            Ok(self.query(&sql, &[&id]).await?.iter().map(waiting_row).collect())
        })
    }

    fn answer<'a>(&'a self, id: &'a str, key: &'a str, value: &'a serde_json::Value) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move {
            let text = value.to_string();
            let updated = self
                .execute(
                    "UPDATE asks SET answer = $3
                     WHERE key = $2 AND answer IS NULL AND run = (SELECT seq FROM runs WHERE id = $1)",
                    &[&id, &key, &text],
                )
                .await?;
            if updated == 0 {
                let message = format!("run `{id}` has no step `{key}` waiting (or it was answered already)");
                return Err(StoreError::new(Code::BadAnswer, message));
            }
            Ok(())
        })
    }

    fn cache_get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, StoreResult<Option<serde_json::Value>>> {
        Box::pin(async move {
            let row = self.query_opt("SELECT value FROM cache WHERE key = $1", &[&program_hash(key)]).await?;
            Ok(row.and_then(|r| serde_json::from_str(&r.get::<_, String>(0)).ok()))
        })
    }

    fn cache_put<'a>(&'a self, key: &'a str, value: &'a serde_json::Value) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move {
            let text = value.to_string();
            self.execute(
                "INSERT INTO cache (key, value, created_ms) VALUES ($1, $2, $3)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value, created_ms = excluded.created_ms",
                &[&program_hash(key), &text, &now_ms()],
            )
            .await
            .map(|_| ())
        })
    }

    fn deploy<'a>(&'a self, name: &'a str, source: &'a str) -> BoxFuture<'a, StoreResult<Definition>> {
        Box::pin(self.deploy_program(name, source))
    }

    fn definitions(&self) -> BoxFuture<'_, StoreResult<Vec<Definition>>> {
        Box::pin(async move {
            let sql = format!("{DEFINITION_SELECT} ORDER BY d.name, d.version DESC");
            Ok(self.query(&sql, &[]).await?.iter().map(definition_row).collect())
        })
    }

    fn definition<'a>(&'a self, name: &'a str, version: Option<u32>) -> BoxFuture<'a, StoreResult<Option<Definition>>> {
        Box::pin(async move {
            let version = version.map(|v| v as i32);
            let sql = format!(
                "{DEFINITION_SELECT} WHERE d.name = $1 AND ($2::int IS NULL OR d.version = $2) ORDER BY d.version DESC LIMIT 1"
            );
            Ok(self.query_opt(&sql, &[&name, &version]).await?.as_ref().map(definition_row))
        })
    }
}
