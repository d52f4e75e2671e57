//! Durable runs as an operator meets them: real `flowc` processes, killed
//! with real signals, against a real local model server whose request log
//! says what was sent. Each test keeps its runs in a database of its own.

use serde_json::{Value as J, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// A scratch directory and store for one test: a SQLite file in the
/// directory, or a schema of its own in the machine's Postgres.
struct Scratch {
    dir: PathBuf,
    /// The Postgres schema holding the store, when it is there.
    schema: Option<String>,
}

/// The machine's Postgres (`FLOW_TEST_POSTGRES` to use another).
fn postgres_url() -> String {
    std::env::var("FLOW_TEST_POSTGRES").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string())
}

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("flowc-durable-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch dir");
        Scratch { dir, schema: None }
    }

    /// A scratch whose store is a fresh schema of the machine's Postgres.
    async fn postgres(name: &str) -> Scratch {
        let schema = format!("flowc_durable_{}_{name}", std::process::id());
        postgres_sql(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}")).await;
        let mut scratch = Scratch::new(name);
        scratch.schema = Some(schema);
        scratch
    }

    /// `--db`/`FLOW_DB` for this scratch's store.
    fn db(&self) -> String {
        match &self.schema {
            Some(schema) => format!("{}?options=-c%20search_path%3D{schema}", postgres_url()),
            None => self.dir.join("runs.db").display().to_string(),
        }
    }

    fn file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.join(name);
        std::fs::write(&path, text).expect("write");
        path
    }

    fn flowc(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_flowc"));
        cmd.args(args)
            .env("FLOW_DB", self.db())
            .env_remove("FLOW_MODEL_SERVER")
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        cmd
    }

    /// Runs `flowc` to the end: exit code, stdout, stderr.
    async fn run(&self, args: &[&str]) -> (i32, String, String) {
        let out = self.flowc(args).output().await.expect("flowc runs");
        let (stdout, stderr) =
            (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned());
        assert!(!stderr.contains("panicked"), "flowc panicked: {stderr}");
        (out.status.code().unwrap_or(-1), stdout, stderr)
    }

    async fn json(&self, args: &[&str]) -> J {
        let (code, stdout, stderr) = self.run(args).await;
        assert_eq!(code, 0, "{args:?}: {stderr}");
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{args:?} printed no JSON ({e}): {stdout}"))
    }

    /// The id of the newest run, once there is one.
    async fn latest_run(&self) -> String {
        self.latest_run_of(None).await
    }

    /// The id of the newest run (the one `child` started), once the store
    /// has it; if the child exits first, why.
    async fn latest_run_of(&self, mut child: Option<&mut tokio::process::Child>) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let (_, stdout, stderr) = self.run(&["runs", "--json", "--limit", "1"]).await;
            if let Some(line) = stdout.lines().next() {
                let run: J = serde_json::from_str(line).expect("a JSON line");
                return run["id"].as_str().expect("an id").to_string();
            }
            if let Some(child) = child.as_deref_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!("the run exited with {status} before it was stored: {}", stderr_of(child).await);
            }
            assert!(Instant::now() < deadline, "no run appeared in the store ({stderr})");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Steps of a run the store has as finished (`key`s).
    async fn finished_steps(&self, id: &str) -> BTreeSet<String> {
        let status = self.json(&["status", id, "--json"]).await;
        status["steps"]
            .as_array()
            .expect("steps")
            .iter()
            .filter(|s| s["outcome"] == "finished")
            .map(|s| s["key"].as_str().expect("key").to_string())
            .collect()
    }
}

/// What a child process wrote to stderr (it has exited).
async fn stderr_of(child: &mut tokio::process::Child) -> String {
    use tokio::io::AsyncReadExt;
    let mut text = String::new();
    if let Some(mut err) = child.stderr.take() {
        let _ = err.read_to_string(&mut text).await;
    }
    text
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
        if let Some(schema) = self.schema.take() {
            // A Drop cannot await: a thread with a runtime of its own.
            let sql = format!("DROP SCHEMA IF EXISTS {schema} CASCADE");
            let _ = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
                runtime.block_on(postgres_sql(&sql));
            })
            .join();
        }
    }
}

/// The numbers whose `double N` step of FIVE_CALLS the store has journaled as finished.
async fn journaled_numbers(scratch: &Scratch) -> BTreeSet<i64> {
    let schema = scratch.schema.as_deref().expect("a Postgres scratch");
    let (client, connection) =
        tokio_postgres::connect(&postgres_url(), tokio_postgres::NoTls).await.expect("the machine's Postgres");
    let driver = tokio::spawn(connection);
    let sql = format!(
        "SELECT r.input, j.key FROM {schema}.journal j JOIN {schema}.runs r ON r.seq = j.run
         WHERE j.key LIKE 's:%five/doubled/body/d[%' AND j.outcome = 0"
    );
    let rows = client.query(&sql, &[]).await.expect("the journal");
    drop(client);
    let _ = driver.await;
    rows.iter()
        .filter_map(|row| {
            let input: J = serde_json::from_str(row.get::<_, &str>(0)).ok()?;
            let key: &str = row.get(1);
            let k: i64 = key.rsplit_once('[')?.1.strip_suffix(']')?.parse().ok()?;
            Some(input["base"].as_i64()? + k)
        })
        .collect()
}

/// Runs SQL on the machine's Postgres.
async fn postgres_sql(sql: &str) {
    let (client, connection) =
        tokio_postgres::connect(&postgres_url(), tokio_postgres::NoTls).await.expect("the machine's Postgres");
    let driver = tokio::spawn(connection);
    client.batch_execute(sql).await.expect("SQL runs");
    drop(client);
    let _ = driver.await;
}

/// An OpenAI-compatible model that doubles the number in `double N`, after
/// a delay; for the item `fail` holds, it answers text that is not JSON.
struct Doubler {
    fail: Arc<AtomicI64>,
    delay: Duration,
}

fn asked_number(request: &Request) -> Option<i64> {
    let body: J = serde_json::from_slice(&request.body).ok()?;
    let messages = body["messages"].as_array()?;
    let prompt = messages.iter().rev().find(|m| m["role"] == "user")?["content"].as_str()?.to_string();
    prompt.strip_prefix("double ")?.trim().parse().ok()
}

impl Respond for Doubler {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let n = asked_number(request).unwrap_or(-1);
        let content = if n == self.fail.load(Ordering::SeqCst) {
            "I cannot".to_string()
        } else {
            json!({ "value": n * 2 }).to_string()
        };
        ResponseTemplate::new(200).set_delay(self.delay).set_body_json(json!({
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 1_700_000_000,
            "model": "test-model",
            "choices": [{ "index": 0, "message": { "role": "assistant", "content": content }, "finish_reason": "stop" }],
            "usage": { "prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15 }
        }))
    }
}

async fn model_server(fail: Arc<AtomicI64>, delay: Duration) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST")).respond_with(Doubler { fail, delay }).mount(&server).await;
    server
}

/// How many requests asked to double each number.
async fn requests_per_item(server: &MockServer) -> BTreeMap<i64, usize> {
    let mut counts = BTreeMap::new();
    for request in server.received_requests().await.unwrap_or_default() {
        if let Some(n) = asked_number(&request) {
            *counts.entry(n).or_default() += 1;
        }
    }
    counts
}

const BATCH: &str = r#"model m = openai("test-model") { stream: false, repair: 0 }

flow batch(xs: [int]) -> [int] {
  step answers = map x in xs (concurrency: 4) {
    step doubled = llm m -> int { prompt: "double ${x}" }
    return doubled
  }
  return answers
}
"#;

fn hundred() -> String {
    json!({ "xs": (0..100).collect::<Vec<i64>>() }).to_string()
}

fn doubled_hundred() -> J {
    json!((0..100).map(|x| x * 2).collect::<Vec<i64>>())
}

/// The item index of a finished step key such as `batch/answers/body/doubled[42]`.
fn item_of(key: &str) -> Option<i64> {
    key.strip_prefix("batch/answers/body/doubled[")?.strip_suffix(']')?.parse().ok()
}

/// A pseudo-random delay, different on every run of the test.
fn random_ms(low: u64, high: u64) -> u64 {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    low + u64::from(nanos) % (high - low)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_killed_with_sigkill_resumes_without_sending_a_completed_call_again() {
    killed_and_resumed(Scratch::new("kill")).await;
}

/// The same with the runs in Postgres.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_killed_with_sigkill_resumes_from_postgres() {
    killed_and_resumed(Scratch::postgres("kill_pg").await).await;
}

/// A 100-item run killed with SIGKILL at a random point resumes from its
/// journal: the same output, and no completed model call sent again.
async fn killed_and_resumed(scratch: Scratch) {
    let server = model_server(Arc::new(AtomicI64::new(-1)), Duration::from_millis(40)).await;
    let url = format!("{}/v1", server.uri());
    let file = scratch.file("batch.flow", BATCH);
    let file = file.to_str().expect("utf-8 path");
    let input = hundred();

    let mut first: Child =
        scratch.flowc(&["run", file, "--input", &input, "--model-server", &url]).spawn().expect("flowc starts");
    // 100 calls of 40 ms, 4 at a time: about a second. Once some are done,
    // kill it at a random point.
    let id = scratch.latest_run_of(Some(&mut first)).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while scratch.finished_steps(&id).await.len() < 8 {
        assert!(Instant::now() < deadline, "the run made no progress");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(random_ms(0, 400))).await;
    first.kill().await.expect("SIGKILL");
    let before = requests_per_item(&server).await;
    let completed: BTreeSet<i64> = scratch.finished_steps(&id).await.iter().filter_map(|k| item_of(k)).collect();
    assert!(!completed.is_empty() && completed.len() < 100, "killed halfway: {} items done", completed.len());
    let shown = scratch.json(&["status", &id, "--json"]).await;
    assert_eq!(shown["state"], "interrupted", "a run whose process died is shown interrupted");

    let (code, stdout, stderr) = scratch.run(&["resume", &id, "--model-server", &url]).await;
    assert_eq!(code, 0, "{stderr}");
    let output: J = serde_json::from_str(&stdout).expect("the output");
    assert_eq!(output, doubled_hundred(), "the same output as an uninterrupted run");

    let after = requests_per_item(&server).await;
    for item in &completed {
        assert_eq!(after.get(item), Some(&1), "item {item} completed before the kill and was sent again");
    }
    assert_eq!(after.len(), 100, "every item was asked");
    // At most what was in flight (4) or not yet committed was sent twice.
    let again: usize = after.values().map(|n| n - 1).sum();
    let sent_before: usize = before.values().sum();
    assert!(again <= sent_before - completed.len(), "{again} repeated, {sent_before} sent before the kill");
    assert_eq!(scratch.json(&["status", &id, "--json"]).await["state"], "succeeded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_map_that_failed_an_item_keeps_the_rest_and_resumes_after_the_fix() {
    let scratch = Scratch::new("redrive");
    let fail = Arc::new(AtomicI64::new(37));
    let server = model_server(fail.clone(), Duration::from_millis(2)).await;
    let url = format!("{}/v1", server.uri());
    let file = scratch.file("batch.flow", BATCH);
    let input = hundred();

    let (code, _, stderr) =
        scratch.run(&["run", file.to_str().expect("utf-8"), "--input", &input, "--model-server", &url]).await;
    assert_eq!(code, 1, "item 37 fails the map: {stderr}");
    assert!(stderr.contains("flowc resume"), "the failure says how to go on: {stderr}");
    let id = scratch.latest_run().await;
    let completed: BTreeSet<i64> = scratch.finished_steps(&id).await.iter().filter_map(|k| item_of(k)).collect();
    assert!(!completed.contains(&37));
    let sent_before = requests_per_item(&server).await;

    // The cause is fixed (the model answers item 37 now); the run is resumed.
    fail.store(-1, Ordering::SeqCst);
    let (code, stdout, stderr) = scratch.run(&["resume", &id, "--model-server", &url]).await;
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(serde_json::from_str::<J>(&stdout).expect("output"), doubled_hundred());
    let after = requests_per_item(&server).await;
    for item in &completed {
        assert_eq!(after[item], 1, "item {item} had completed and was sent again");
    }
    assert_eq!(after[&37], sent_before[&37] + 1, "the failed item ran again, once");
}

const SLOW: &str = r#"tool slow() -> int = command ["sh", "-c", "echo $$ > child.pid; exec sleep 300"] { timeout: 10m }

flow wait_a_while() -> int {
  step n = slow()
  return n
}
"#;

/// Waits until the command tool's child wrote its pid.
async fn child_pid(scratch: &Scratch) -> u32 {
    let path = scratch.dir.join("child.pid");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(text) = std::fs::read_to_string(&path)
            && let Ok(pid) = text.trim().parse()
        {
            return pid;
        }
        assert!(Instant::now() < deadline, "the command tool never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat.rsplit_once(") ").is_some_and(|(_, rest)| rest.starts_with('Z')),
        Err(_) => false,
    }
}

async fn exit_within(child: &mut Child, limit: Duration) -> i32 {
    let status = tokio::time::timeout(limit, child.wait()).await.expect("flowc exits in time").expect("wait");
    status.code().unwrap_or(-1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_interrupts_the_run_kills_its_children_and_leaves_it_resumable() {
    let scratch = Scratch::new("sigterm");
    let file = scratch.file("slow.flow", SLOW);
    let mut run = scratch.flowc(&["run", file.to_str().expect("utf-8"), "--allow-commands"]).spawn().expect("starts");
    let pid = child_pid(&scratch).await;
    assert!(alive(pid));
    let flowc = run.id().expect("a pid").to_string();
    let sent = std::process::Command::new("kill").args(["-TERM", &flowc]).status().expect("kill");
    assert!(sent.success());
    assert_eq!(exit_within(&mut run, Duration::from_secs(10)).await, 143);
    let deadline = Instant::now() + Duration::from_secs(5);
    while alive(pid) {
        assert!(Instant::now() < deadline, "the command tool's process {pid} outlived flowc");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let id = scratch.latest_run().await;
    let status = scratch.json(&["status", &id, "--json"]).await;
    assert_eq!(status["state"], "interrupted");
    let (code, _, stderr) = scratch.run(&["resume", &id, "--no-store"]).await;
    assert_eq!(code, 2, "resume needs the store: {stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_reaches_a_run_in_another_process_within_a_second() {
    let scratch = Scratch::new("cancel");
    let file = scratch.file("slow.flow", SLOW);
    let mut run = scratch.flowc(&["run", file.to_str().expect("utf-8"), "--allow-commands"]).spawn().expect("starts");
    let pid = child_pid(&scratch).await;
    let id = scratch.latest_run_of(Some(&mut run)).await;
    let status = scratch.json(&["status", &id, "--json"]).await;
    assert_eq!((status["state"].as_str(), status["in_flight"].clone()), (Some("running"), json!(["wait_a_while/n"])));
    let asked = Instant::now();
    let (code, _, stderr) = scratch.run(&["cancel", &id]).await;
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(exit_within(&mut run, Duration::from_secs(10)).await, 130);
    // The run beats every second; allow for a loaded machine, but not for minutes.
    assert!(asked.elapsed() < Duration::from_secs(5), "took {:?}", asked.elapsed());
    assert_eq!(scratch.json(&["status", &id, "--json"]).await["state"], "cancelled");
    let deadline = Instant::now() + Duration::from_secs(5);
    while alive(pid) {
        assert!(Instant::now() < deadline, "the command tool's process outlived the cancel");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples").join(name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_run_outlives_its_process_and_is_finished_by_an_answer() {
    let scratch = Scratch::new("ask");
    let file = example("approval.flow");
    let file = file.to_str().expect("utf-8");
    let input = r#"{"path": "rows.csv"}"#;
    let (code, _, stderr) = scratch.run(&["run", file, "--mock", "--input", input]).await;
    assert_eq!(code, 3, "the run waits, and its process exits: {stderr}");
    let id = scratch.latest_run().await;
    let status = scratch.json(&["status", &id, "--json"]).await;
    assert_eq!(status["state"], "waiting");
    assert_eq!(status["asks"][0]["key"], "load_with_approval/approval");
    assert!(status["asks"][0]["prompt"].as_str().expect("prompt").starts_with("Load "));

    // An answer that does not fit is refused, and the run keeps waiting.
    let (code, _, stderr) = scratch.run(&["answer", &id, "approval", "--value", r#"{"approved": "yes"}"#]).await;
    assert_eq!(code, 1);
    assert!(stderr.contains("E0614") && stderr.contains("should be a bool"), "{stderr}");
    assert_eq!(scratch.json(&["status", &id, "--json"]).await["state"], "waiting");

    let (code, _, stderr) =
        scratch.run(&["answer", &id, "approval", "--value", r#"{"approved": true, "by": "dana"}"#]).await;
    assert_eq!(code, 0, "{stderr}");
    let (code, stdout, stderr) = scratch.run(&["resume", &id, "--mock"]).await;
    assert_eq!(code, 0, "{stderr}");
    let output: J = serde_json::from_str(&stdout).expect("output");
    assert_eq!(output["approved_by"], "dana");
    let (code, _, stderr) =
        scratch.run(&["answer", &id, "approval", "--value", r#"{"approved": true, "by": "x"}"#]).await;
    assert_eq!(code, 1, "a second answer is refused: {stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_waiting_in_its_process_takes_an_answer_from_another() {
    let scratch = Scratch::new("ask-live");
    let file = example("approval.flow");
    let input = r#"{"path": "rows.csv"}"#;
    let mut run = scratch
        .flowc(&["run", file.to_str().expect("utf-8"), "--mock", "--input", input, "--wait"])
        .spawn()
        .expect("starts");
    let id = scratch.latest_run_of(Some(&mut run)).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let status = scratch.json(&["status", &id, "--json"]).await;
        if status["asks"].as_array().is_some_and(|a| !a.is_empty()) {
            break;
        }
        assert!(Instant::now() < deadline, "the run never asked");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (code, _, stderr) =
        scratch.run(&["answer", &id, "approval", "--value", r#"{"approved": false, "by": "eve"}"#]).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("goes on in its process"), "{stderr}");
    assert_eq!(exit_within(&mut run, Duration::from_secs(10)).await, 0);
    let mut stdout = String::new();
    if let Some(mut out) = run.stdout.take() {
        use tokio::io::AsyncReadExt;
        let _ = out.read_to_string(&mut stdout).await;
    }
    let output: J = serde_json::from_str(&stdout).expect("output");
    assert_eq!(output, json!({ "inserted": 0, "approved_by": "eve" }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_or_locked_store_is_a_clear_error() {
    let scratch = Scratch::new("broken");
    let file = example("triage.flow");
    let file = file.to_str().expect("utf-8");
    let input = r#"{"feedback": "ok"}"#;
    let garbage = scratch.file("garbage.db", &"this is not a database\n".repeat(200));
    let (code, _, stderr) =
        scratch.run(&["run", file, "--mock", "--input", input, "--db", garbage.to_str().expect("utf-8")]).await;
    assert_eq!(code, 1);
    assert!(stderr.contains("E0610") && stderr.contains("not a Flow store"), "{stderr}");
    let (code, _, stderr) = scratch.run(&["runs", "--db", garbage.to_str().expect("utf-8")]).await;
    assert_eq!(code, 1, "{stderr}");

    // Another process holds the database locked for longer than flowc waits.
    let (code, _, _) = scratch.run(&["run", file, "--mock", "--input", input]).await;
    assert_eq!(code, 0);
    let holder = rusqlite::Connection::open(scratch.db()).expect("open");
    holder.execute_batch("BEGIN EXCLUSIVE").expect("lock");
    let (code, _, stderr) = scratch.run(&["run", file, "--mock", "--input", input]).await;
    assert_eq!(code, 1);
    assert!(stderr.contains("E0610") && stderr.contains("locked"), "{stderr}");
    holder.execute_batch("ROLLBACK").expect("unlock");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployed_flows_run_by_name_and_version_and_runs_record_it() {
    let scratch = Scratch::new("deploy");
    let v1 = scratch.file("greet.flow", "flow greet(name: string) -> string {\n  return \"Hello, ${name}!\"\n}\n");
    let (code, stdout, _) = scratch.run(&["deploy", v1.to_str().expect("utf-8")]).await;
    assert_eq!((code, stdout.split_whitespace().next()), (0, Some("greet@1")));
    let (_, again, _) = scratch.run(&["deploy", v1.to_str().expect("utf-8")]).await;
    assert!(again.starts_with("greet@1"), "the same program is the same version: {again}");
    let v2 = scratch.file("greet.flow", "flow greet(name: string) -> string {\n  return \"Hi, ${name}!\"\n}\n");
    let (_, stdout, _) = scratch.run(&["deploy", v2.to_str().expect("utf-8")]).await;
    assert!(stdout.starts_with("greet@2"), "{stdout}");

    let input = r#"{"name": "Ana"}"#;
    let (code, stdout, _) = scratch.run(&["run", "greet", "--input", input]).await;
    assert_eq!((code, stdout.trim()), (0, "\"Hi, Ana!\""));
    let (code, stdout, _) = scratch.run(&["run", "greet@1", "--input", input]).await;
    assert_eq!((code, stdout.trim()), (0, "\"Hello, Ana!\""));
    let (code, _, stderr) = scratch.run(&["run", "greet@9", "--input", input]).await;
    assert!(code == 1 && stderr.contains("E0615"), "{stderr}");

    let (_, runs, _) = scratch.run(&["runs", "--json"]).await;
    let definitions: Vec<String> = runs
        .lines()
        .map(|l| serde_json::from_str::<J>(l).expect("JSON")["definition"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(definitions, ["greet@1", "greet@2"], "newest first, each with the version it ran");
    let (_, flows, _) = scratch.run(&["flows"]).await;
    assert_eq!(flows.lines().count(), 3, "a header and two versions: {flows}");
    let (_, succeeded, _) = scratch.run(&["runs", "--status", "succeeded", "--flow", "greet"]).await;
    assert_eq!(succeeded.lines().count(), 3, "{succeeded}");
    let (code, _, stderr) = scratch.run(&["runs", "--status", "bogus"]).await;
    assert!(code == 2 && stderr.contains("not a run status"), "{stderr}");
}

const DOUBLING: &str = r#"model m = openai("test-model") { stream: false, repair: 0 }

flow grow() -> { value: int, count: int, done: bool } {
  step rounds = loop last (max: 6) {
    step d = llm m -> int { prompt: "double ${last ?? 1}" }
    return d
  } until d >= 16
  return rounds
}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loop_resumes_at_the_iteration_that_failed() {
    let scratch = Scratch::new("loop");
    let fail = Arc::new(AtomicI64::new(8));
    let server = model_server(fail.clone(), Duration::from_millis(1)).await;
    let url = format!("{}/v1", server.uri());
    let file = scratch.file("grow.flow", DOUBLING);

    let (code, _, stderr) = scratch.run(&["run", file.to_str().expect("utf-8"), "--model-server", &url]).await;
    assert_eq!(code, 1, "the fourth iteration fails: {stderr}");
    let id = scratch.latest_run().await;
    let finished = scratch.finished_steps(&id).await;
    for i in 0..3 {
        assert!(finished.contains(&format!("grow/rounds/body/d[{i}]")), "iteration {i} is journaled: {finished:?}");
    }

    fail.store(-1, Ordering::SeqCst);
    let (code, stdout, stderr) = scratch.run(&["resume", &id, "--model-server", &url]).await;
    assert_eq!(code, 0, "{stderr}");
    let output: J = serde_json::from_str(&stdout).expect("output");
    assert_eq!(output, json!({ "value": 16, "count": 4, "done": true }));
    let asked = requests_per_item(&server).await;
    assert_eq!(asked, BTreeMap::from([(1, 1), (2, 1), (4, 1), (8, 2)]), "finished iterations are not asked again");
}

const FIVE_CALLS: &str = r#"model m = openai("test-model") { stream: false, repair: 0 }

flow five(base: int) -> [int] {
  step doubled = map k in [0, 1, 2, 3, 4] (concurrency: 1) {
    step d = llm m -> int { prompt: "double ${base + k}" }
    return d
  }
  return doubled
}
"#;

/// Queues `count` runs of FIVE_CALLS (run `i` asks about `100 * i` up to
/// `100 * i + 4`) with the given priorities, in turn.
async fn submit_runs(scratch: &Scratch, count: i64, priorities: &[&str]) -> Vec<String> {
    let file = scratch.file("five.flow", FIVE_CALLS);
    let file = file.to_str().expect("utf-8 path");
    let mut ids = Vec::new();
    for i in 0..count {
        let input = json!({ "base": 100 * i }).to_string();
        let priority = priorities[i as usize % priorities.len()];
        let (code, stdout, stderr) = scratch.run(&["submit", file, "--input", &input, "--priority", priority]).await;
        assert_eq!(code, 0, "{stderr}");
        ids.push(stdout.trim().to_string());
    }
    ids
}

fn worker(scratch: &Scratch, url: &str, concurrency: &str) -> Child {
    scratch
        .flowc(&["worker", "--model-server", url, "--concurrency", concurrency, "--lease", "2s", "--grace", "5s"])
        .spawn()
        .expect("a worker starts")
}

/// The states of every run.
async fn states(scratch: &Scratch) -> BTreeMap<String, usize> {
    let (_, stdout, _) = scratch.run(&["runs", "--json", "--limit", "1000"]).await;
    let mut counts = BTreeMap::new();
    for line in stdout.lines() {
        let run: J = serde_json::from_str(line).expect("a JSON line");
        *counts.entry(run["state"].as_str().unwrap_or("?").to_string()).or_default() += 1;
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_workers_finish_every_run_when_one_is_killed() {
    let scratch = Scratch::postgres("workers").await;
    let server = model_server(Arc::new(AtomicI64::new(-1)), Duration::from_millis(30)).await;
    let url = format!("{}/v1", server.uri());
    let ids = submit_runs(&scratch, 24, &["critical", "high", "normal", "low", "background"]).await;
    let mut workers: Vec<Child> = (0..3).map(|_| worker(&scratch, &url, "2")).collect();
    // Once some runs are done, the first worker dies without a word.
    let deadline = Instant::now() + Duration::from_secs(60);
    while states(&scratch).await.get("succeeded").copied().unwrap_or(0) < 4 {
        assert!(Instant::now() < deadline, "the workers made no progress");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    workers[0].kill().await.expect("SIGKILL");
    while states(&scratch).await.get("succeeded").copied().unwrap_or(0) < ids.len() {
        assert!(Instant::now() < deadline, "not every run finished: {:?}", states(&scratch).await);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for worker in &workers[1..] {
        let pid = worker.id().expect("a pid");
        let _ = std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status();
    }
    for worker in &mut workers[1..] {
        assert_eq!(exit_within(worker, Duration::from_secs(20)).await, 0, "a worker stops on SIGTERM");
    }
    for (i, id) in ids.iter().enumerate() {
        let output = scratch.json(&["status", id, "--json"]).await["output"].clone();
        let base = 100 * i as i64;
        assert_eq!(output, json!((0..5).map(|k| (base + k) * 2).collect::<Vec<_>>()), "run {i}");
    }
    // Only calls in flight at the kill, or answered but not yet committed, were sent again:
    // at most two per run the dead worker held (2).
    let asked = requests_per_item(&server).await;
    assert_eq!(asked.len(), 24 * 5, "every call was made");
    let again: usize = asked.values().map(|n| n - 1).sum();
    assert!(again <= 4, "{again} calls were sent again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_takes_higher_priorities_first_oldest_first_within_a_level() {
    let scratch = Scratch::postgres("priorities").await;
    let server = model_server(Arc::new(AtomicI64::new(-1)), Duration::from_millis(1)).await;
    let url = format!("{}/v1", server.uri());
    let priorities = ["low", "critical", "background", "normal", "high", "critical", "low"];
    let ids = submit_runs(&scratch, priorities.len() as i64, &priorities).await;
    let mut one = worker(&scratch, &url, "1");
    let deadline = Instant::now() + Duration::from_secs(60);
    while states(&scratch).await.get("succeeded").copied().unwrap_or(0) < ids.len() {
        assert!(Instant::now() < deadline, "the worker made no progress");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let pid = one.id().expect("a pid");
    let _ = std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status();
    assert_eq!(exit_within(&mut one, Duration::from_secs(20)).await, 0);
    // One run at a time: the order of the runs' first calls is the order they were taken in.
    let asked = server.received_requests().await.unwrap_or_default();
    let order: Vec<i64> = asked.iter().filter_map(asked_number).filter(|n| n % 100 == 0).map(|n| n / 100).collect();
    let expected = [1, 5, 4, 3, 0, 6, 2];
    assert_eq!(order, expected, "critical first (oldest first), then high, normal, low, background");
}

// ------------------------------------------------------------------ the HTTP API

/// A `flowc server` process and a client that checks every JSON answer
/// against the server's own OpenAPI document.
struct Api {
    _process: Child,
    base: String,
    client: reqwest::Client,
    doc: J,
}

impl Api {
    async fn start(scratch: &Scratch) -> Api {
        let mut process = scratch
            .flowc(&["server", "--listen", "127.0.0.1:0", "--api-keys", "secret-key"])
            .spawn()
            .expect("the server starts");
        let stderr = process.stderr.take().expect("stderr");
        let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(stderr));
        let first = tokio::time::timeout(Duration::from_secs(20), lines.next_line()).await;
        let line = first.expect("the server says where it listens").expect("a line").expect("not closed");
        let address = line.strip_prefix("listening on ").unwrap_or_else(|| panic!("unexpected: {line}")).to_string();
        let base = format!("http://{address}");
        let client = reqwest::Client::new();
        let doc: J = client.get(format!("{base}/openapi.json")).send().await.expect("sent").json().await.expect("JSON");
        Api { _process: process, base, client, doc }
    }

    /// How many runs have succeeded.
    async fn succeeded(&self) -> usize {
        let path = "/v1/runs?state=succeeded&limit=1000";
        self.call("get", path, "/v1/runs", None).await.1["runs"].as_array().map_or(0, Vec::len)
    }

    /// Calls the API with the key; checks the answer against the document's
    /// schema for this path, method and status; gives the status and body.
    async fn call(&self, method: &str, path: &str, route: &str, body: Option<J>) -> (u16, J) {
        let url = format!("{}{path}", self.base);
        let request = match method {
            "post" => self.client.post(&url),
            _ => self.client.get(&url),
        };
        let request = request.bearer_auth("secret-key");
        let request = match body {
            Some(b) => request.json(&b),
            None => request,
        };
        let response = request.send().await.expect("the server answers");
        let status = response.status().as_u16();
        let value: J = response.json().await.unwrap_or(J::Null);
        let schema =
            &self.doc["paths"][route][method]["responses"][status.to_string()]["content"]["application/json"]["schema"];
        assert!(!schema.is_null(), "the OpenAPI document has no {status} answer for {method} {route}: {value}");
        let root = json!({ "$ref": schema["$ref"], "components": self.doc["components"] });
        let validator = jsonschema::validator_for(&root).expect("a valid schema");
        let problems: Vec<String> = validator.iter_errors(&value).map(|e| e.to_string()).collect();
        assert!(problems.is_empty(), "{method} {path} -> {status} does not match the document: {problems:?}\n{value}");
        (status, value)
    }
}

const ASKS: &str = r#"flow approve(amount: int) -> bool {
  step ok = ask -> bool { prompt: "Approve ${amount}?" }
  return ok
}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_http_api_with_three_workers_finishes_200_runs_when_one_worker_dies() {
    let scratch = Scratch::postgres("api").await;
    let server = model_server(Arc::new(AtomicI64::new(-1)), Duration::from_millis(10)).await;
    let url = format!("{}/v1", server.uri());
    let api = Api::start(&scratch).await;

    // Unauthenticated calls are refused; health is open.
    let refused = api.client.get(format!("{}/v1/runs", api.base)).send().await.expect("answers");
    assert_eq!(refused.status().as_u16(), 401);
    assert_eq!(api.call("get", "/health", "/health", None).await, (200, json!({ "status": "ok" })));

    let (status, deployed) =
        api.call("post", "/v1/definitions", "/v1/definitions", Some(json!({ "source": FIVE_CALLS }))).await;
    assert_eq!((status, deployed["definitions"][0]["name"].clone()), (201, json!("five")));
    api.call("post", "/v1/definitions", "/v1/definitions", Some(json!({ "source": ASKS }))).await;
    let (status, bad) =
        api.call("post", "/v1/runs", "/v1/runs", Some(json!({ "flow": "five", "input": { "x": 1 } }))).await;
    assert_eq!((status, bad["error"]["code"].clone()), (422, json!("E0602")), "{bad}");

    // A queued run cancelled before any worker runs it never runs.
    let (_, doomed) =
        api.call("post", "/v1/runs", "/v1/runs", Some(json!({ "flow": "five", "input": { "base": 99_900 } }))).await;
    let doomed = doomed["id"].as_str().expect("an id").to_string();
    let path = format!("/v1/runs/{doomed}/cancel");
    let (status, cancelled) = api.call("post", &path, "/v1/runs/{id}/cancel", None).await;
    assert_eq!((status, cancelled["state"].clone()), (202, json!("cancelled")));

    let levels = ["critical", "high", "normal", "low", "background"];
    let mut ids = Vec::new();
    for i in 0..200 {
        let body = json!({ "flow": "five", "input": { "base": 100 * i }, "priority": levels[i as usize % 5] });
        let (status, submitted) = api.call("post", "/v1/runs", "/v1/runs", Some(body)).await;
        assert_eq!(status, 201, "{submitted}");
        ids.push(submitted["id"].as_str().expect("an id").to_string());
    }
    let (_, waiting) =
        api.call("post", "/v1/runs", "/v1/runs", Some(json!({ "flow": "approve", "input": { "amount": 5 } }))).await;
    let waiting = waiting["id"].as_str().expect("an id").to_string();

    let mut workers: Vec<Child> = (0..3).map(|_| worker(&scratch, &url, "2")).collect();
    let deadline = Instant::now() + Duration::from_secs(90);
    while api.succeeded().await < 20 {
        assert!(Instant::now() < deadline, "the workers made no progress");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    workers[0].kill().await.expect("SIGKILL");
    let journaled = journaled_numbers(&scratch).await;

    // The ask: answered over HTTP once it waits, then finished by a worker.
    let path = format!("/v1/runs/{waiting}");
    while api.call("get", &path, "/v1/runs/{id}", None).await.1["state"] != "waiting" {
        assert!(Instant::now() < deadline, "the ask never waited");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let answer = format!("/v1/runs/{waiting}/answers/ok");
    let (status, answered) =
        api.call("post", &answer, "/v1/runs/{id}/answers/{step}", Some(json!({ "value": true }))).await;
    assert_eq!(status, 200, "{answered}");

    while api.succeeded().await < ids.len() + 1 {
        assert!(Instant::now() < deadline, "not every run finished");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, run) = api.call("get", &path, "/v1/runs/{id}", None).await;
    assert_eq!(run["output"], json!(true), "the answered run finished with its answer");
    // Its events, as Server-Sent Events: the stream ends with the run's end.
    let events = api
        .client
        .get(format!("{}/v1/runs/{waiting}/events", api.base))
        .bearer_auth("secret-key")
        .send()
        .await
        .expect("the server answers");
    assert_eq!(events.headers()["content-type"], "text/event-stream");
    let text = events.text().await.expect("the stream ends");
    assert!(text.starts_with("event: run_started\ndata: {"), "{text}");
    assert!(text.contains("event: step_waiting") || text.contains("event: run_finished"), "{text}");
    assert!(text.trim_end().ends_with('}') && text.contains("event: run_finished"), "{text}");
    let (_, doomed) = api.call("get", &format!("/v1/runs/{doomed}"), "/v1/runs/{id}", None).await;
    assert_eq!(doomed["state"], "cancelled", "a cancelled run stays cancelled");
    // Resumed over HTTP, it is queued again and a worker finishes it.
    let doomed = doomed["id"].as_str().expect("an id").to_string();
    let path = format!("/v1/runs/{doomed}/resume");
    let (status, resumed) =
        api.call("post", &path, "/v1/runs/{id}/resume", Some(json!({ "priority": "critical" }))).await;
    assert_eq!((status, resumed["state"].clone()), (202, json!("queued")));
    while api.succeeded().await < ids.len() + 2 {
        assert!(Instant::now() < deadline, "the resumed run did not finish");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // No completed call was made twice; only the dead worker's in-flight ones may have been.
    let asked = requests_per_item(&server).await;
    assert_eq!(asked.len(), 201 * 5, "every call was made");
    for n in &journaled {
        assert_eq!(asked.get(n), Some(&1), "the call for {n} was journaled before the kill and was sent again");
    }
    // At most, per run the dead worker held (2), its call in flight and one not yet committed.
    let again: usize = asked.values().map(|n| n - 1).sum();
    assert!(again <= 4, "{again} calls were sent again");
    // Higher priorities started earlier: each level's mean place in the order of first calls.
    let order: Vec<i64> = server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter_map(asked_number)
        .filter(|n| n % 100 == 0)
        .map(|n| n / 100)
        .collect();
    let mean = |level: i64| {
        let places: Vec<usize> =
            order.iter().enumerate().filter(|(_, run)| *run % 5 == level).map(|(p, _)| p).collect();
        places.iter().sum::<usize>() as f64 / places.len().max(1) as f64
    };
    let means: Vec<f64> = (0..5).map(mean).collect();
    assert!(means.windows(2).all(|w| w[0] < w[1]), "levels started in priority order: {means:?}");

    for worker in &workers[1..] {
        let pid = worker.id().expect("a pid");
        let _ = std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status();
    }
    for worker in &mut workers[1..] {
        assert_eq!(exit_within(worker, Duration::from_secs(20)).await, 0);
    }
    let (status, listed) = api.call("get", "/v1/definitions", "/v1/definitions", None).await;
    assert_eq!((status, listed["definitions"].as_array().map(Vec::len)), (200, Some(2)));
}

/// An OpenAI-compatible model that notes when each request arrives and
/// answers `{"value": 1}` after `delay`.
struct Clocked {
    arrivals: Arc<std::sync::Mutex<Vec<Instant>>>,
    delay: Duration,
}

impl Respond for Clocked {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        if let Ok(mut arrivals) = self.arrivals.lock() {
            arrivals.push(Instant::now());
        }
        ResponseTemplate::new(200).set_delay(self.delay).set_body_json(json!({
            "id": "chatcmpl-1", "object": "chat.completion", "created": 1_700_000_000, "model": "test-model",
            "choices": [{ "index": 0, "message": { "role": "assistant", "content": "{\"value\": 1}" }, "finish_reason": "stop" }],
            "usage": { "prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15 }
        }))
    }
}

const ONE_AT_A_TIME: &str = r#"model m = openai("test-model") { stream: false, repair: 0, concurrency: 1 }

flow twice(n: int) -> int {
  step a = llm m -> int { prompt: "first ${n}" }
  step b = llm m -> int { prompt: "second ${n}" }
  return a + b
}
"#;

/// A model's `concurrency: 1` holds across two workers that could run four
/// calls at once: the model never has two requests at a time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_models_concurrency_holds_across_workers() {
    let scratch = Scratch::postgres("shared_limits").await;
    let arrivals = Arc::new(std::sync::Mutex::new(Vec::new()));
    let delay = Duration::from_millis(60);
    let server = MockServer::start().await;
    Mock::given(method("POST")).respond_with(Clocked { arrivals: arrivals.clone(), delay }).mount(&server).await;
    let url = format!("{}/v1", server.uri());
    let file = scratch.file("twice.flow", ONE_AT_A_TIME);
    for n in 0..6 {
        let input = json!({ "n": n }).to_string();
        let (code, _, stderr) = scratch.run(&["submit", file.to_str().expect("utf-8"), "--input", &input]).await;
        assert_eq!(code, 0, "{stderr}");
    }
    let mut workers: Vec<Child> = (0..2).map(|_| worker(&scratch, &url, "2")).collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    while states(&scratch).await.get("succeeded").copied().unwrap_or(0) < 6 {
        assert!(Instant::now() < deadline, "the runs did not finish: {:?}", states(&scratch).await);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for worker in &mut workers {
        let _ = worker.kill().await;
    }
    let mut times = arrivals.lock().map(|a| a.clone()).unwrap_or_default();
    times.sort();
    assert_eq!(times.len(), 12);
    // One request at a time: each arrives after the one before was answered.
    let closest = times.windows(2).map(|w| w[1] - w[0]).min().unwrap_or_default();
    assert!(closest >= delay * 9 / 10, "two requests overlapped: {closest:?} apart");
}

/// A queued run that cannot start on a worker (here: a command tool the
/// worker does not allow) fails with why, instead of being claimed forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_that_cannot_start_on_a_worker_fails_with_why() {
    let scratch = Scratch::postgres("cannot_start").await;
    let file = scratch
        .file("cmd.flow", "tool t() -> int = command [\"true\"]\nflow f() -> int {\n  step a = t()\n  return a\n}\n");
    let (code, id, stderr) = scratch.run(&["submit", file.to_str().expect("utf-8")]).await;
    assert_eq!(code, 0, "{stderr}");
    let mut one = scratch.flowc(&["worker"]).spawn().expect("a worker starts");
    let deadline = Instant::now() + Duration::from_secs(20);
    let run = loop {
        let run = scratch.json(&["status", id.trim(), "--json"]).await;
        if run["state"] == "failed" {
            break run;
        }
        assert!(Instant::now() < deadline, "the run was never failed: {run}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let message = run["error"]["message"].as_str().unwrap_or_default().to_string();
    assert!(message.contains("E0604"), "{message}");
    let _ = one.kill().await;
}

/// Answers the first request 429 with `Retry-After: 2`, then `{"value": 1}`;
/// notes when each request arrives.
struct LimitedOnce {
    arrivals: Arc<std::sync::Mutex<Vec<Instant>>>,
}

impl Respond for LimitedOnce {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let first = match self.arrivals.lock() {
            Ok(mut arrivals) => {
                arrivals.push(Instant::now());
                arrivals.len() == 1
            }
            Err(_) => false,
        };
        if first {
            return ResponseTemplate::new(429)
                .insert_header("retry-after", "2")
                .set_body_json(json!({ "error": { "message": "slow down" } }));
        }
        ResponseTemplate::new(200).set_body_json(json!({
            "id": "chatcmpl-1", "object": "chat.completion", "created": 1_700_000_000, "model": "test-model",
            "choices": [{ "index": 0, "message": { "role": "assistant", "content": "{\"value\": 1}" }, "finish_reason": "stop" }],
            "usage": { "prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15 }
        }))
    }
}

/// A 429 one worker gets holds back the other worker's calls to that model too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_pauses_the_model_in_every_worker() {
    let scratch = Scratch::postgres("pause").await;
    let arrivals = Arc::new(std::sync::Mutex::new(Vec::new()));
    let server = MockServer::start().await;
    Mock::given(method("POST")).respond_with(LimitedOnce { arrivals: arrivals.clone() }).mount(&server).await;
    let url = format!("{}/v1", server.uri());
    let file = scratch.file("one.flow", "model m = openai(\"test-model\") { stream: false }\nflow one(n: int) -> int {\n  step a = llm m -> int { prompt: \"${n}\" }\n  return a\n}\n");
    let file = file.to_str().expect("utf-8");
    let submit = |n: i64| {
        let input = json!({ "n": n }).to_string();
        let scratch = &scratch;
        async move {
            let (code, _, stderr) = scratch.run(&["submit", file, "--input", &input]).await;
            assert_eq!(code, 0, "{stderr}");
        }
    };
    submit(0).await;
    let mut first = worker(&scratch, &url, "2");
    let deadline = Instant::now() + Duration::from_secs(30);
    while arrivals.lock().map_or(0, |a| a.len()) == 0 {
        assert!(Instant::now() < deadline, "the first call never came");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for n in 1..4 {
        submit(n).await;
    }
    let mut second = worker(&scratch, &url, "2");
    while states(&scratch).await.get("succeeded").copied().unwrap_or(0) < 4 {
        assert!(Instant::now() < deadline, "the runs did not finish: {:?}", states(&scratch).await);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = first.kill().await;
    let _ = second.kill().await;
    let times = arrivals.lock().map(|a| a.clone()).unwrap_or_default();
    let limited = times[0];
    let soonest = times[1..].iter().map(|t| *t - limited).min().unwrap_or_default();
    assert!(soonest >= Duration::from_millis(1900), "a call came {soonest:?} after the 429 that asked for 2 s");
}
