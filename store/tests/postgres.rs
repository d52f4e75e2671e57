//! The store suite (`suite/`) against the machine's PostgreSQL
//! (`FLOW_TEST_POSTGRES`, default `postgres://postgres@127.0.0.1:5432/test`),
//! each store in a schema of its own that is dropped when the store is; and
//! what only Postgres does: migrations under concurrent connects, errors
//! that name the database without its password.

mod suite;

use flow_store::PgStore;
use flow_vm::{
    Control, Definition, Journal, RunEnd, RunFilter, RunRecord, RunStart, StepRecord, Store, StoreResult, Waiting,
};
use futures::future::BoxFuture;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

fn url() -> String {
    std::env::var("FLOW_TEST_POSTGRES").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string())
}

/// A schema name no other test (or test run) uses.
fn fresh_schema() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    format!("flow_test_{}_{}_{nanos}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

/// A Postgres store in its own schema, dropped with it.
struct Scoped {
    store: PgStore,
    schema: String,
}

impl Drop for Scoped {
    fn drop(&mut self) {
        let (url, schema) = (url(), self.schema.clone());
        // Its own thread and runtime: a Drop cannot await, and may run inside a runtime.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
            runtime.block_on(async {
                let (client, connection) =
                    tokio_postgres::connect(&url, tokio_postgres::NoTls).await.expect("connects");
                let driver = tokio::spawn(connection);
                client.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE")).await.expect("dropped");
                drop(client);
                let _ = driver.await;
            });
        });
        let _ = dropped.join();
    }
}

async fn scoped() -> Scoped {
    let schema = fresh_schema();
    let store = PgStore::connect_in(&url(), Some(&schema)).await.expect("the test database is reachable");
    Scoped { store, schema }
}

async fn store() -> Arc<dyn Store> {
    Arc::new(scoped().await)
}

impl Store for Scoped {
    fn begin<'a>(&'a self, start: RunStart<'a>) -> BoxFuture<'a, StoreResult<Arc<dyn Journal>>> {
        self.store.begin(start)
    }
    fn finish<'a>(&'a self, end: RunEnd<'a>) -> BoxFuture<'a, StoreResult<()>> {
        self.store.finish(end)
    }
    fn run<'a>(&'a self, id: &'a str) -> BoxFuture<'a, StoreResult<Option<RunRecord>>> {
        self.store.run(id)
    }
    fn runs<'a>(&'a self, filter: &'a RunFilter) -> BoxFuture<'a, StoreResult<Vec<RunRecord>>> {
        self.store.runs(filter)
    }
    fn source<'a>(&'a self, hash: &'a str) -> BoxFuture<'a, StoreResult<Option<String>>> {
        self.store.source(hash)
    }
    fn steps<'a>(&'a self, id: &'a str) -> BoxFuture<'a, StoreResult<Vec<StepRecord>>> {
        self.store.steps(id)
    }
    fn events<'a>(&'a self, id: &'a str) -> BoxFuture<'a, StoreResult<Vec<serde_json::Value>>> {
        self.store.events(id)
    }
    fn beat<'a>(&'a self, id: &'a str) -> BoxFuture<'a, StoreResult<Control>> {
        self.store.beat(id)
    }
    fn request_cancel<'a>(&'a self, id: &'a str) -> BoxFuture<'a, StoreResult<bool>> {
        self.store.request_cancel(id)
    }
    fn ask<'a>(&'a self, id: &'a str, waiting: &'a Waiting) -> BoxFuture<'a, StoreResult<Waiting>> {
        self.store.ask(id, waiting)
    }
    fn waiting<'a>(&'a self, id: &'a str) -> BoxFuture<'a, StoreResult<Vec<Waiting>>> {
        self.store.waiting(id)
    }
    fn answer<'a>(&'a self, id: &'a str, key: &'a str, value: &'a serde_json::Value) -> BoxFuture<'a, StoreResult<()>> {
        self.store.answer(id, key, value)
    }
    fn cache_get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, StoreResult<Option<serde_json::Value>>> {
        self.store.cache_get(key)
    }
    fn cache_put<'a>(&'a self, key: &'a str, value: &'a serde_json::Value) -> BoxFuture<'a, StoreResult<()>> {
        self.store.cache_put(key, value)
    }
    fn deploy<'a>(&'a self, name: &'a str, source: &'a str) -> BoxFuture<'a, StoreResult<Definition>> {
        self.store.deploy(name, source)
    }
    fn definitions(&self) -> BoxFuture<'_, StoreResult<Vec<Definition>>> {
        self.store.definitions()
    }
    fn definition<'a>(&'a self, name: &'a str, version: Option<u32>) -> BoxFuture<'a, StoreResult<Option<Definition>>> {
        self.store.definition(name, version)
    }
}

/// Stores connecting at once to one new schema all migrate it (one does
/// the work, the others wait for its lock and find it done).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stores_connecting_at_once_migrate_the_schema_once() {
    let first = scoped().await;
    let schema = first.schema.clone();
    let connects = (0..6).map(|_| {
        let schema = schema.clone();
        tokio::spawn(async move { PgStore::connect_in(&url(), Some(&schema)).await.is_ok() })
    });
    let opened = futures::future::join_all(connects).await;
    assert!(opened.into_iter().all(|o| matches!(o, Ok(true))));
    let (before, after) = migrate_in(&schema).await;
    assert_eq!((before, after), (flow_store::PG_SCHEMA_VERSION, flow_store::PG_SCHEMA_VERSION), "nothing left to do");
}

async fn migrate_in(schema: &str) -> (usize, usize) {
    let url = format!("{}?options=-c%20search_path%3D{schema}", url());
    PgStore::migrate(&url).await.expect("migrates")
}

#[tokio::test]
async fn an_unreachable_database_is_a_coded_error_without_the_password() {
    let error = PgStore::connect("postgres://flow:hunter2@127.0.0.1:1/nowhere").await.expect_err("refused");
    let text = error.to_string();
    assert!(text.contains("E0610"), "{text}");
    assert!(text.contains("flow:***@127.0.0.1:1") && !text.contains("hunter2"), "{text}");
}

fn model(key: &str, concurrency: Option<u64>, rpm: Option<u64>, hold_ms: u64) -> flow_vm::SharedModel<'_> {
    let mut m = flow_vm::SharedModel::default_for(key);
    m.concurrency = concurrency;
    m.rpm = rpm;
    m.hold = std::time::Duration::from_millis(hold_ms);
    m
}

#[tokio::test]
async fn shared_model_limits_hold_slots_requests_and_pauses() {
    use flow_vm::{SharedLimits, Taken};
    let scoped = scoped().await;
    let store = &scoped.store;
    // Two in flight at once: a third waits until one is given back.
    let slots = model("m|openai|x|2", Some(2), None, 60_000);
    let Taken::Slot(first) = store.try_take(slots).await.expect("answers") else { panic!("a first slot") };
    assert!(matches!(store.try_take(slots).await, Ok(Taken::Slot(_))));
    assert!(matches!(store.try_take(slots).await, Ok(Taken::Wait(_))), "the third waits");
    store.give_back(slots.key, first).await;
    assert!(matches!(store.try_take(slots).await, Ok(Taken::Slot(_))), "a slot given back is free");
    // A slot whose holder died expires after its hold.
    let short = model("m|openai|x|1", Some(1), None, 0);
    assert!(matches!(store.try_take(short).await, Ok(Taken::Slot(_))));
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    assert!(matches!(store.try_take(short).await, Ok(Taken::Slot(_))), "an expired slot is free");
    // Three requests a minute: the fourth waits for the first to leave the window.
    let rpm = model("m|openai|x|rpm", None, Some(3), 60_000);
    for _ in 0..3 {
        assert!(matches!(store.try_take(rpm).await, Ok(Taken::Slot(_))));
    }
    match store.try_take(rpm).await {
        Ok(Taken::Wait(wait)) => assert!(wait > std::time::Duration::from_secs(50), "{wait:?}"),
        other => panic!("the fourth request of the minute waits, got {other:?}"),
    }
    // A 429's pause holds back every process's calls to the model.
    let free = model("m|openai|x|free", None, None, 60_000);
    assert!(matches!(store.try_take(free).await, Ok(Taken::Slot(_))));
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("time").as_millis() as i64;
    store.pause(free.key, now + 5_000).await;
    assert!(matches!(store.try_take(free).await, Ok(Taken::Wait(w)) if w > std::time::Duration::from_secs(3)));
}
