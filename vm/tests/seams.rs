//! The engine's seams, from a host's side: every completion reaches the
//! [`Journal`] with a stable key (and a journal can hand a completed step
//! back), every pure expression goes through the [`ExprEval`], and the
//! event stream is bounded without losing events.

use flow_vm::test_support::{compile, run};
use flow_vm::{
    Engine, Entry, EntryKey, EntryKind, Event, ExprEval, Frame, Journal, Outcome, RunOptions, RunStatus, ToolError,
    TreeWalker, Value,
};
use serde::Deserialize;
use serde_json::json;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One journal entry, owned: kind, node, item path, attempt, turn, effect,
/// outcome, call path and run.
type Row = (EntryKind, String, Vec<u32>, u32, u32, bool, String, String, String);

#[derive(Clone, Default)]
struct Recorder {
    rows: Arc<Mutex<Vec<Row>>>,
    /// Values to give back for steps, by node id (a resumed run).
    done: HashMap<String, Value>,
}

impl Journal for Recorder {
    fn record(&self, e: &Entry<'_>) {
        let outcome = match e.outcome {
            Outcome::Value(v) => v.to_string(),
            Outcome::Json(j) => j.to_string(),
            Outcome::Skipped => "skipped".into(),
            Outcome::Failed(error) => format!("failed: {}", error.kind),
            _ => "?".into(),
        };
        let k = &e.key;
        let row = (
            k.kind,
            k.node.to_string(),
            k.item.to_vec(),
            k.attempt,
            k.turn,
            k.effect,
            outcome,
            k.call.to_string(),
            k.run.to_string(),
        );
        self.rows.lock().expect("not poisoned").push(row);
    }

    fn completed(&self, key: &EntryKey<'_>) -> Option<serde_json::Value> {
        let done =
            self.done.get(&format!("{}{}{:?}", key.call, key.node, key.item)).or_else(|| self.done.get(key.node));
        done.map(Value::to_json)
    }
}

#[derive(Deserialize)]
struct X {
    x: i64,
}

/// `inc` adds one, failing its first call with a transient error.
fn engine(calls: Arc<AtomicUsize>) -> Engine {
    Engine::new().tool("inc", move |a: X| {
        let n = calls.fetch_add(1, Ordering::SeqCst);
        async move {
            if n == 0 {
                return Err(ToolError::new("flaky"));
            }
            Ok::<_, ToolError>(json!(a.x + 1))
        }
    })
}

const PROGRAM: &str = r#"model m = mock("any")
tool inc(x: int) -> int
flow f(xs: [int]) -> [int] {
  step all = map x in xs (concurrency: 1) {
    step y = inc(x: x)
      retry 2 backoff 1s
    step z = llm m -> int { prompt: "${y}" }
    return y + z
  }
  step n = len(all)
  return all
}
"#;

#[tokio::test(start_paused = true)]
async fn every_completion_reaches_the_journal_with_a_stable_key() {
    let journal = Recorder::default();
    let engine = engine(Arc::default()).journal(journal.clone());
    let (outcome, _) = run(&engine, PROGRAM, "f", json!({ "xs": [10, 20] })).await;
    assert_eq!(outcome.status, RunStatus::Succeeded, "{:?}", outcome.error);
    let rows = journal.rows.lock().expect("not poisoned").clone();
    let find = |kind: EntryKind, node: &str, item: &[u32]| {
        rows.iter().find(|r| r.0 == kind && r.1 == node && r.2 == item).cloned()
    };
    // The first call of `inc` failed: its step completed on attempt 2.
    let y0 = find(EntryKind::Step, "f/all/body/y", &[0]).expect("item 0's y");
    assert_eq!((y0.3, y0.5, y0.6.as_str()), (2, true, "11"));
    let y1 = find(EntryKind::Step, "f/all/body/y", &[1]).expect("item 1's y");
    assert_eq!((y1.3, y1.6.as_str()), (1, "21"));
    let call = find(EntryKind::ModelCall, "f/all/body/z", &[1]).expect("item 1's model call");
    assert_eq!(call.4, 1, "the first turn");
    assert!(find(EntryKind::MapItem, "f/all/body", &[0]).is_some());
    assert!(find(EntryKind::MapItem, "f/all/body", &[1]).is_some());
    let all = find(EntryKind::Step, "f/all", &[]).expect("the map step");
    assert!(all.5, "a map has effects");
    let n = find(EntryKind::Step, "f/n", &[]).expect("the pure step");
    assert!(!n.5, "a pure step is marked as such: a journal may skip it");
    // Every entry is keyed by the run.
    assert!(!outcome.run_id.is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_step_the_journal_completed_is_not_run_again() {
    let calls = Arc::new(AtomicUsize::new(1)); // no failure first
    let mut journal = Recorder::default();
    journal.done.insert("f/all/body/y".into(), Value::Int(100));
    let engine = engine(calls.clone()).journal(journal);
    let (outcome, _) = run(&engine, PROGRAM, "f", json!({ "xs": [10, 20] })).await;
    assert_eq!(outcome.status, RunStatus::Succeeded, "{:?}", outcome.error);
    assert_eq!(calls.load(Ordering::SeqCst), 1, "`inc` was never called");
    assert_eq!(outcome.output, Some(json!([101, 101])), "100 from the journal, 1 from the mock model");
}

/// Counts evaluations and turns the literal 41 into 42: an evaluator sees
/// every pure expression and may answer any of them itself.
struct Tweaked {
    count: Arc<AtomicUsize>,
}

impl ExprEval for Tweaked {
    fn eval(&self, expr: &flow_compiler::ir::Expr, frame: &Frame) -> Result<Value, flow_vm::EvalError> {
        self.count.fetch_add(1, Ordering::SeqCst);
        if matches!(expr.kind, flow_compiler::ir::ExprKind::Int(41)) {
            return Ok(Value::Int(42));
        }
        TreeWalker.eval(expr, frame)
    }
}

#[tokio::test]
async fn pure_expressions_go_through_the_evaluator() {
    let count = Arc::new(AtomicUsize::new(0));
    let engine = Engine::new().evaluator(Tweaked { count: count.clone() });
    let source = "flow f(a: int) -> int {\n  step b = a + 1\n  step c = when b > 0 { 41 }\n  return c ?? 0\n}\n";
    let (outcome, _) = run(&engine, source, "f", json!({ "a": 1 })).await;
    assert_eq!(outcome.output, Some(json!(42)));
    // `b`, the `when` condition, its value, and `return`.
    assert_eq!(count.load(Ordering::SeqCst), 4);
}

const WIDE: &str = "flow f(xs: [int]) -> [int] {\n  step all = map x in xs {\n    step y = x * 2\n    return y\n  }\n  return all\n}\n";

#[tokio::test(start_paused = true)]
async fn a_small_event_buffer_loses_nothing() {
    let xs: Vec<i64> = (0..500).collect();
    let roomy = Engine::new();
    let (_, all) = run(&roomy, WIDE, "f", json!({ "xs": xs })).await;
    let tight = Engine::new().event_capacity(4);
    let (outcome, events) = run(&tight, WIDE, "f", json!({ "xs": xs })).await;
    assert_eq!(outcome.status, RunStatus::Succeeded);
    assert_eq!(events.len(), all.len(), "every event arrives");
    assert!(matches!(events.last(), Some(Event::RunFinished { .. })));
    let order =
        |events: &[Event]| -> Vec<String> { events.iter().filter_map(|e| e.step().map(String::from)).collect() };
    assert_eq!(order(&events), order(&all), "in the same order");
}

#[tokio::test(start_paused = true)]
async fn a_subscriber_that_stops_reading_holds_the_run_until_it_is_cancelled() {
    let engine = Engine::new().event_capacity(4);
    let program = compile(&engine, WIDE);
    let xs: Vec<i64> = (0..500).collect();
    let mut run = engine.start(&program, RunOptions::new("f", json!({ "xs": xs })).events(true)).expect("starts");
    let _never_read = run.events().expect("events");
    let canceller = run.canceller();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(10)).await;
        canceller.cancel();
    });
    let started = tokio::time::Instant::now();
    let outcome = run.wait().await;
    assert_eq!(outcome.status, RunStatus::Cancelled);
    assert_eq!(started.elapsed(), Duration::from_secs(10), "the run waited for its subscriber until cancelled");
}

#[tokio::test(start_paused = true)]
async fn a_dropped_subscriber_does_not_hold_the_run() {
    let engine = Engine::new().event_capacity(4);
    let program = compile(&engine, WIDE);
    let xs: Vec<i64> = (0..500).collect();
    let mut run = engine.start(&program, RunOptions::new("f", json!({ "xs": xs })).events(true)).expect("starts");
    drop(run.events());
    let outcome = run.wait().await;
    assert_eq!(outcome.status, RunStatus::Succeeded);
}

#[derive(Deserialize)]
struct Ms {
    ms: u64,
}

/// Cancelling a run whose subscriber is behind loses nothing: what is
/// still queued is delivered after the run ends, `run_finished` last.
#[tokio::test(start_paused = true)]
async fn a_cancelled_run_still_delivers_every_event() {
    let engine = Engine::new().event_capacity(4).tool("wait", |a: Ms| async move {
        tokio::time::sleep(Duration::from_millis(a.ms)).await;
        Ok::<_, ToolError>(json!(0))
    });
    let source = "tool wait(ms: int) -> int\nflow f(xs: [int]) -> [int] {\n  step all = map x in xs (concurrency: 50) {\n    step w = wait(ms: 3600000)\n    return w\n  }\n  return all\n}\n";
    let program = compile(&engine, source);
    let xs: Vec<i64> = (0..50).collect();
    let mut run = engine.start(&program, RunOptions::new("f", json!({ "xs": xs })).events(true)).expect("starts");
    let mut events = run.events().expect("events");
    let canceller = run.canceller();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(1)).await;
        canceller.cancel();
    });
    let outcome = run.wait().await;
    assert_eq!(outcome.status, RunStatus::Cancelled);
    let mut all = Vec::new();
    while let Some(e) = events.recv().await {
        all.push(e);
    }
    assert!(matches!(all.last(), Some(Event::RunFinished { .. })), "{:?}", all.last());
    let started = all.iter().filter(|e| matches!(e, Event::StepStarted { .. })).count();
    let ended = all.iter().filter(|e| matches!(e, Event::StepCancelled { .. } | Event::StepFinished { .. })).count();
    assert_eq!(started, ended, "every started step is reported ended");
}

/// A sub-flow's steps are keyed by the call that ran them, so the same step
/// called from two map items (or two call sites) never shares a key, and a
/// run started under a journal's run id takes exactly its completed steps.
#[tokio::test(start_paused = true)]
async fn sub_flow_steps_are_keyed_by_their_caller_and_resume_by_run_id() {
    let source = r#"tool inc(x: int) -> int
flow double(x: int) -> int {
  step y = inc(x: x)
  return y * 2
}
flow f(xs: [int]) -> [int] {
  step all = map x in xs {
    step d = double(x: x)
    return d
  }
  return all
}
"#;
    let journal = Recorder::default();
    let first = engine(Arc::new(AtomicUsize::new(1))).journal(journal.clone());
    let (outcome, _) = run(&first, source, "f", json!({ "xs": [1, 2] })).await;
    assert_eq!(outcome.output, Some(json!([4, 6])));
    let rows = journal.rows.lock().expect("not poisoned").clone();
    let mut calls: Vec<String> = rows.iter().filter(|r| r.1 == "double/y").map(|r| r.7.clone()).collect();
    calls.sort();
    assert_eq!(calls, ["f/all/body/d[0]/", "f/all/body/d[1]/"]);
    assert!(rows.iter().all(|r| r.8 == outcome.run_id), "every entry names the run");

    // Resume: item 1's `inc` is in the journal, item 0's is not.
    let calls = Arc::new(AtomicUsize::new(1));
    let mut resumed = Recorder::default();
    resumed.done.insert("f/all/body/d[1]/double/y[]".into(), Value::Int(100));
    let second = engine(calls.clone()).journal(resumed);
    let program = compile(&second, source);
    let options = RunOptions::new("f", json!({ "xs": [1, 2] })).run_id(&outcome.run_id);
    let again = second.start(&program, options).expect("starts").wait().await;
    assert_eq!(again.run_id, outcome.run_id);
    assert_eq!(again.output, Some(json!([4, 200])));
    assert_eq!(calls.load(Ordering::SeqCst), 2, "only item 0's `inc` ran");
}

/// A retried flow call runs its flow again under a key of its own: the
/// first attempt's failure and the second's value never share a key.
#[tokio::test(start_paused = true)]
async fn a_retried_call_keys_its_second_attempt_apart() {
    let source = r#"tool inc(x: int) -> int
flow g(x: int) -> int {
  step y = inc(x: x)
  return y
}
flow f(x: int) -> int {
  step s = g(x: x)
    retry 2 backoff 1s
  return s
}
"#;
    let journal = Recorder::default();
    let engine = engine(Arc::default()).journal(journal.clone());
    let (outcome, _) = run(&engine, source, "f", json!({ "x": 10 })).await;
    assert_eq!(outcome.output, Some(json!(11)));
    let rows = journal.rows.lock().expect("not poisoned").clone();
    let y: Vec<(String, String)> = rows.iter().filter(|r| r.1 == "g/y").map(|r| (r.7.clone(), r.6.clone())).collect();
    assert_eq!(y, [("f/s/".to_string(), "failed: tool".to_string()), ("f/s@2/".to_string(), "11".to_string())]);
}
