//! The store suite (`suite/`) against SQLite, in memory, and what only a
//! SQLite file does: reopening, being created by many processes at once,
//! and a run taken over by another process writing the file.

mod suite;

use flow_store::SqliteStore;
use flow_vm::{Engine, RunOptions, RunState, RunStatus, Store};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use suite::{PROGRAM, engine};

async fn store() -> Arc<dyn Store> {
    Arc::new(SqliteStore::in_memory().expect("an in-memory store"))
}

#[tokio::test]
async fn a_store_file_reopens_with_its_runs() {
    let dir = std::env::temp_dir().join(format!("flow-store-reopen-{}", std::process::id()));
    let path = dir.join("nested").join("runs.db");
    let calls = Arc::new(AtomicUsize::new(0));
    let id = {
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).expect("opens"));
        let engine = engine(&store, &calls, -1);
        let program = engine.compile(PROGRAM).expect("compiles");
        engine.start(&program, RunOptions::new("f", json!({ "xs": [1] }))).expect("starts").wait().await.run_id
    };
    let store = SqliteStore::open(&path).expect("reopens");
    assert_eq!(store.run(&id).await.expect("ok").map(|r| r.state), Some(RunState::Succeeded));
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_process_whose_run_was_taken_over_stops_and_records_nothing() {
    let dir = std::env::temp_dir().join(format!("flow-store-takeover-{}", std::process::id()));
    let path = dir.join("runs.db");
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).expect("opens"));
    let engine = Engine::new().store(store.clone());
    let program = engine.compile("flow f() -> bool {\n  step ok = ask -> bool { prompt: \"Go?\" }\n  return ok\n}\n");
    let program = program.expect("compiles");
    let mut options = RunOptions::new("f", json!({}));
    options.wait_for_answers = true;
    let run = engine.start_recorded(&program, options).await.expect("starts");
    let id = run.id().to_string();
    // Another process takes the run over (as a resume after a stalled heartbeat would).
    let other = rusqlite::Connection::open(&path).expect("opens");
    other.execute("UPDATE runs SET owner = 'elsewhere:1' WHERE id = ?1", [&id]).expect("taken over");
    let outcome = run.wait().await;
    assert_eq!(outcome.status, RunStatus::Cancelled, "it stops at its next beat");
    let error = outcome.error.map(|e| e.message).unwrap_or_default();
    assert!(error.contains("taken over"), "{error}");
    let record = store.run(&id).await.expect("ok").expect("run");
    assert_eq!(record.state, RunState::Running, "the new owner's record stands");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Processes (here threads) that open a new store at once all get it: the
/// store is created whole and linked into place, never switched to WAL by
/// two of them at the same time (a deadlock that ended in E0610 after 5 s).
#[test]
fn a_new_store_opened_by_many_at_once_opens_for_all() {
    let dir = std::env::temp_dir().join(format!("flow-store-race-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let path = dir.join("runs.db");
    let opened: Vec<bool> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8).map(|_| s.spawn(|| flow_store::SqliteStore::open(&path).is_ok())).collect();
        handles.into_iter().map(|h| h.join().unwrap_or(false)).collect()
    });
    assert_eq!(opened, vec![true; 8]);
    let names: Vec<String> = std::fs::read_dir(&dir)
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    assert!(names.iter().all(|n| n.starts_with("runs.db")), "no half-made store is left behind: {names:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
