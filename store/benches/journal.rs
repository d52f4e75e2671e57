//! What a store costs a run: the engine's shapes (a chain of 10,000 pure
//! steps, of 10,000 host tool calls, a map over 100,000 items) with no
//! store, the SQLite store and (when `FLOW_BENCH_POSTGRES`, default the
//! machine's, answers) the Postgres store in a schema of its own; resuming a
//! run whose 10,000 steps all completed; and the SQLite database's bytes per
//! step (printed once). Figures go to BENCHMARKS.md.

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use flow_store::{PgStore, SqliteStore};
use flow_vm::test_support::chain_source;
use flow_vm::{Engine, RunOptions, RunStatus, Store, ToolError};
use serde::Deserialize;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

const MAP: &str = "flow fan(xs: [int]) -> int {
  step ys = map x in xs (concurrency: 1000) {
    step y = x * 2
    return y
  }
  return len(ys)
}";

#[derive(Deserialize)]
struct Inc {
    x: i64,
}

/// While set, `check` fails: the run's last step, to make a run to resume.
static FAIL: AtomicBool = AtomicBool::new(false);

fn engine() -> Engine {
    Engine::new().tool("inc", |a: Inc| async move { Ok::<_, ToolError>(a.x + 1) }).tool("check", |a: Inc| async move {
        if FAIL.load(Ordering::SeqCst) {
            return Err(ToolError::new("not yet"));
        }
        Ok::<_, ToolError>(a.x)
    })
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("flow-bench-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir.join("runs.db")
}

fn open(path: &Path) -> Arc<dyn Store> {
    Arc::new(SqliteStore::open(path).expect("opens"))
}

/// The database's size once its write-ahead log is folded in.
fn size(path: &Path) -> u64 {
    let conn = rusqlite::Connection::open(path).expect("opens");
    let _ = conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE); VACUUM;");
    std::fs::metadata(path).map_or(0, |m| m.len())
}

/// Prints the bytes per step a run of each shape adds to a fresh database.
fn report_sizes(runtime: &tokio::runtime::Runtime) {
    let shapes = [
        (
            "chain of 10k pure steps",
            chain_source(10_000, "", "start + 1", |p| format!("{p} + 1")),
            "chain",
            json!({"start": 0}),
            10_000,
        ),
        (
            "chain of 10k host tool calls",
            chain_source(10_000, "tool inc(x: int) -> int\n", "inc(x: start)", |p| format!("inc(x: {p})")),
            "chain",
            json!({"start": 0}),
            10_000,
        ),
        ("map over 100k items", MAP.to_string(), "fan", json!({ "xs": (0..100_000).collect::<Vec<i64>>() }), 100_000),
    ];
    for (name, source, flow, input, steps) in shapes {
        let path = scratch("size");
        let empty = {
            let _ = open(&path);
            size(&path)
        };
        {
            let engine = engine().store(open(&path));
            let program = engine.compile(&source).expect("compiles");
            runtime.block_on(engine.run(&program, flow, input)).expect("runs");
        }
        let bytes = size(&path).saturating_sub(empty);
        eprintln!("db size, {name}: {bytes} bytes, {:.0} bytes per step", bytes as f64 / steps as f64);
    }
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    report_sizes(&runtime);
    let n = 10_000;
    let store = open(&scratch("runs"));
    let mut engines = vec![("no store", engine()), ("sqlite", engine().store(store.clone()))];
    let postgres = runtime.block_on(postgres_store());
    if let Some((pg, _)) = &postgres {
        engines.push(("postgres", engine().store(pg.clone())));
    }

    let mut group = c.benchmark_group("journal");
    group.sample_size(10);
    group.throughput(Throughput::Elements(n as u64));
    let pure = chain_source(n, "", "start + 1", |p| format!("{p} + 1"));
    let tools = chain_source(n, "tool inc(x: int) -> int\n", "inc(x: start)", |p| format!("inc(x: {p})"));
    for (label, engine) in &engines {
        for (shape, source) in [("chain of 10k pure steps", &pure), ("chain of 10k host tool calls", &tools)] {
            let program = engine.compile(source).expect("compiles");
            group.bench_function(format!("{shape}, {label}"), |b| {
                b.iter(|| runtime.block_on(engine.run(&program, "chain", json!({ "start": 0 }))).expect("runs"))
            });
        }
    }
    group.throughput(Throughput::Elements(100_000));
    let input = json!({ "xs": (0..100_000).collect::<Vec<i64>>() });
    for (label, engine) in &engines {
        let program = engine.compile(MAP).expect("compiles");
        group.bench_function(format!("map over 100k items, {label}"), |b| {
            b.iter(|| runtime.block_on(engine.run(&program, "fan", input.clone())).expect("runs"))
        });
    }

    // A run whose 10,000 tool steps completed and whose last check failed:
    // resuming it reads the journal and replays every step from it.
    let resumable = chain_source(n, "tool inc(x: int) -> int\ntool check(x: int) -> int\n", "inc(x: start)", |p| {
        format!("inc(x: {p})")
    })
    .replace(&format!("  return s{}\n", n - 1), &format!("  step last = check(x: s{})\n  return last\n", n - 1));
    let engine = engine().store(store.clone());
    let program = engine.compile(&resumable).expect("compiles");
    group.throughput(Throughput::Elements(n as u64));
    let failed_run = || {
        FAIL.store(true, Ordering::SeqCst);
        let options = RunOptions::new("chain", json!({ "start": 0 }));
        let outcome = runtime.block_on(async { engine.start(&program, options).expect("starts").wait().await });
        assert_eq!(outcome.status, RunStatus::Failed);
        FAIL.store(false, Ordering::SeqCst);
        outcome.run_id
    };
    let resume = |engine: &Engine, id: &str| {
        let outcome = runtime.block_on(async { engine.resume(id).await.expect("resumes").wait().await });
        assert_eq!(outcome.status, RunStatus::Succeeded);
    };
    // The engine that compiled the program resumes it (a long-lived host).
    group.bench_function("resume a run of 10k completed steps", |b| {
        b.iter_batched(failed_run, |id| resume(&engine, &id), BatchSize::PerIteration)
    });
    // A new engine resumes it: the stored program is compiled first (what `flowc resume` does).
    group.bench_function("resume a run of 10k completed steps, compiling its program", |b| {
        b.iter_batched(
            || (failed_run(), self::engine().store(store.clone())),
            |(id, fresh)| resume(&fresh, &id),
            BatchSize::PerIteration,
        )
    });
    group.finish();
    if let Some((_, schema)) = postgres {
        runtime.block_on(drop_schema(&schema));
    }
}

fn postgres_url() -> String {
    std::env::var("FLOW_BENCH_POSTGRES").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string())
}

/// A Postgres store in a fresh schema, if the database answers.
async fn postgres_store() -> Option<(Arc<dyn Store>, String)> {
    let schema = format!("flow_bench_{}", std::process::id());
    match PgStore::connect_in(&postgres_url(), Some(&schema)).await {
        Ok(store) => Some((Arc::new(store), schema)),
        Err(e) => {
            eprintln!("no Postgres figures: {e}");
            None
        }
    }
}

async fn drop_schema(schema: &str) {
    if let Ok((client, connection)) = tokio_postgres::connect(&postgres_url(), tokio_postgres::NoTls).await {
        let driver = tokio::spawn(connection);
        let _ = client.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE")).await;
        drop(client);
        let _ = driver.await;
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
