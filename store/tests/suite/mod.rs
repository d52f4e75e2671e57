//! The store suite: what every backend does, through the embedding API —
//! an `Engine` with the store records runs, journals, keeps events, resumes
//! from the journal (refusing a program changed under completed steps),
//! waits for answers, caches model calls and keeps definitions. Run against
//! SQLite (`store.rs`) and Postgres (`postgres.rs`), each giving `store()`.

use super::store;

use flow_vm::{Engine, RunFilter, RunOptions, RunState, RunStatus, Store, ToolError};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

#[derive(Deserialize)]
struct X {
    x: i64,
}

/// `inc` adds one and counts its calls; it fails for `x == fail_on`.
pub fn engine(store: &Arc<dyn Store>, calls: &Arc<AtomicUsize>, fail_on: i64) -> Engine {
    let calls = calls.clone();
    Engine::new().store(store.clone()).tool("inc", move |a: X| {
        calls.fetch_add(1, Ordering::SeqCst);
        async move {
            if a.x == fail_on {
                return Err(ToolError::new("broken"));
            }
            Ok::<_, ToolError>(json!(a.x + 1))
        }
    })
}

pub const PROGRAM: &str = r#"tool inc(x: int) -> int
flow f(xs: [int]) -> int {
  step each = map x in xs (concurrency: 1) {
    step y = inc(x: x)
    return y * 10
  }
  step first = inc(x: 100)
  return sum(each) + first
}
"#;

/// The error of a call expected to be refused, as printed.
fn refused<T>(result: Result<T, flow_vm::RunError>) -> String {
    match result {
        Ok(_) => panic!("expected a refusal"),
        Err(e) => e.to_string(),
    }
}

#[tokio::test]
async fn a_failed_run_resumes_with_completed_work_from_the_journal() {
    let store = store().await;
    let calls = Arc::new(AtomicUsize::new(0));
    let broken = engine(&store, &calls, 3);
    let program = broken.compile(PROGRAM).expect("compiles");
    let input = json!({ "xs": [1, 2, 3, 4] });
    let outcome = broken.start(&program, RunOptions::new("f", input.clone())).expect("starts").wait().await;
    assert_eq!(outcome.status, RunStatus::Failed);
    let id = outcome.run_id.clone();
    let record = store.run(&id).await.expect("readable").expect("recorded");
    assert_eq!((record.state, record.flow.as_str(), record.input.clone()), (RunState::Failed, "f", input));
    let before = calls.load(Ordering::SeqCst);

    // Fixed (the tool no longer fails), resumed: items 1 and 2 come from the journal.
    let fixed = engine(&store, &calls, -1);
    let outcome = fixed.resume(&id).await.expect("resumes").wait().await;
    assert_eq!(outcome.status, RunStatus::Succeeded, "{:?}", outcome.error);
    assert_eq!(outcome.output, Some(json!(20 + 30 + 40 + 50 + 101)));
    assert_eq!(outcome.run_id, id, "the same run");
    let resumed_calls = calls.load(Ordering::SeqCst) - before;
    assert_eq!(resumed_calls, 3, "items 3 and 4 and `first` ran; items 1 and 2 did not");
    assert_eq!(store.run(&id).await.expect("ok").expect("run").state, RunState::Succeeded);

    // A succeeded run is not resumed again.
    let again = refused(fixed.resume(&id).await);
    assert!(again.contains("E0612") && again.contains("already succeeded"), "{again}");
    let unknown = refused(fixed.resume("no-such-run").await);
    assert!(unknown.contains("E0611"), "{unknown}");
}

#[tokio::test]
async fn a_changed_program_is_refused_unless_completed_steps_keep_their_types() {
    let store = store().await;
    let calls = Arc::new(AtomicUsize::new(0));
    let broken = engine(&store, &calls, 3);
    let program = broken.compile(PROGRAM).expect("compiles");
    let outcome =
        broken.start(&program, RunOptions::new("f", json!({ "xs": [1, 2, 3] }))).expect("starts").wait().await;
    let id = outcome.run_id;

    // `y` completed as an int; the change makes it a string.
    let retyped = PROGRAM.replace("tool inc(x: int) -> int", "tool inc(x: int) -> string").replace("y * 10", "10");
    let retyped = broken.compile(&retyped.replace("sum(each) + first", "sum(each)")).expect("compiles");
    let refusal = refused(broken.resume_options(&id, Some(retyped)).await);
    assert!(refusal.contains("E0613") && refusal.contains("f/each/body/y"), "{refusal}");

    // A compatible change (a new step) is accepted, and the run finishes with it.
    let extended =
        PROGRAM.replace("  return sum(each) + first", "  step extra = inc(x: 0)\n  return sum(each) + first + extra");
    let fixed = engine(&store, &calls, -1);
    let extended = fixed.compile(&extended).expect("compiles");
    let (program, options) = fixed.resume_options(&id, Some(extended)).await.expect("accepted");
    let outcome = fixed.start(&program, options).expect("starts").wait().await;
    assert_eq!(outcome.output, Some(json!(20 + 30 + 40 + 101 + 1)));
}

#[tokio::test]
async fn runs_are_listed_with_their_events_and_steps() {
    let store = store().await;
    let calls = Arc::new(AtomicUsize::new(0));
    let engine = engine(&store, &calls, -1);
    let program = engine.compile(PROGRAM).expect("compiles");
    for xs in [json!([1]), json!([1, 2])] {
        let outcome = engine.start(&program, RunOptions::new("f", json!({ "xs": xs }))).expect("starts").wait().await;
        assert_eq!(outcome.status, RunStatus::Succeeded);
    }
    let runs = store.runs(&RunFilter::default()).await.expect("listed");
    assert_eq!(runs.len(), 2);
    assert!(runs[0].id > runs[1].id, "newest first, and ids sort by time");
    assert_eq!(runs[0].input, json!({ "xs": [1, 2] }));
    let events = store.events(&runs[0].id).await.expect("events");
    assert_eq!(events.first().and_then(|e| e["event"].as_str()), Some("run_started"));
    assert_eq!(events.last().and_then(|e| e["event"].as_str()), Some("run_finished"));
    let steps = store.steps(&runs[0].id).await.expect("steps");
    let keys: Vec<&str> = steps.iter().map(|s| s.key.as_str()).collect();
    assert!(keys.contains(&"f/each/body/y[1]") && keys.contains(&"f/first"), "{keys:?}");
    assert_eq!(runs[0].steps_done, 4, "two items' `y`, the map, `first`");
}

#[tokio::test(start_paused = true)]
async fn an_ask_suspends_the_run_and_an_answer_resumes_it() {
    let store = store().await;
    let engine = Engine::new().store(store.clone());
    let source = r#"flow deploy(version: string) -> bool {
  step ok = ask -> { go: bool } { prompt: "Deploy ${version}?" }
  return ok.go
}
"#;
    let program = engine.compile(source).expect("compiles");
    let outcome =
        engine.start(&program, RunOptions::new("deploy", json!({ "version": "1.2" }))).expect("starts").wait().await;
    assert_eq!(outcome.status, RunStatus::Waiting);
    let id = outcome.run_id;
    assert_eq!(store.run(&id).await.expect("ok").expect("run").state, RunState::Waiting);
    let asks = store.waiting(&id).await.expect("asks");
    assert_eq!((asks[0].key.as_str(), asks[0].prompt.as_str()), ("deploy/ok", "Deploy 1.2?"));
    assert_eq!(asks[0].schema["properties"]["go"]["type"], "boolean");

    let wrong = refused(engine.answer(&id, "ok", json!({ "go": "yes" })).await);
    assert!(wrong.contains("E0614"), "{wrong}");
    let missing = refused(engine.answer(&id, "nope", json!({ "go": true })).await);
    assert!(missing.contains("E0614") && missing.contains("deploy/ok"), "{missing}");
    assert_eq!(engine.answer(&id, "ok", json!({ "go": true })).await.expect("answered"), "deploy/ok");
    let outcome = engine.resume(&id).await.expect("resumes").wait().await;
    assert_eq!(outcome.output, Some(json!(true)));
}

#[tokio::test(start_paused = true)]
async fn an_ask_times_out_durably_and_catch_takes_over() {
    let store = store().await;
    let engine = Engine::new().store(store.clone());
    let source = r#"flow deploy() -> bool {
  step ok = ask -> bool { prompt: "Go?" }
    timeout 1h
    catch e when e.kind == "timeout" => false
  return ok
}
"#;
    let program = engine.compile(source).expect("compiles");
    let mut options = RunOptions::new("deploy", json!({}));
    options.wait_for_answers = true;
    let outcome = engine.start(&program, options).expect("starts").wait().await;
    assert_eq!(outcome.output, Some(json!(false)), "{:?}", outcome.error);
}

#[tokio::test]
async fn without_a_store_an_ask_needs_a_mock() {
    let engine = Engine::new();
    let program = engine.compile("flow f() -> bool {\n  step ok = ask -> bool { prompt: \"Go?\" }\n  return ok\n}\n");
    let program = program.expect("compiles");
    let refusal = refused(engine.start(&program, RunOptions::new("f", json!({}))));
    assert!(refusal.contains("E0607"), "{refusal}");
    let mocked = Engine::new().mock("ok", json!(true));
    assert_eq!(mocked.run(&program, "f", json!({})).await.expect("runs"), json!(true));
}

#[tokio::test]
async fn identical_model_calls_are_answered_from_the_cache_across_runs() {
    let store = store().await;
    let engine = Engine::new().store(store.clone()).mock_models(true);
    let source = r#"model cached = mock("m") { cache: true }
model fresh = mock("m")
flow f(q: string) -> [string] {
  step a = llm cached -> string { prompt: "say ${q}" }
  step b = llm fresh -> string { prompt: "say ${q}" }
  return [a, b]
}
"#;
    let program = engine.compile(source).expect("compiles");
    let first = engine.start(&program, RunOptions::new("f", json!({ "q": "hi" }))).expect("starts").wait().await;
    assert_eq!((first.totals.model_calls, first.totals.cache_hits), (2, 0));
    let second = engine.start(&program, RunOptions::new("f", json!({ "q": "hi" }))).expect("starts").wait().await;
    assert_eq!((second.totals.model_calls, second.totals.cache_hits), (1, 1), "`cached` answered from the store");
    assert!(second.totals.cache_saved_tokens > 0);
    assert_eq!(first.output, second.output);
    let other = engine.start(&program, RunOptions::new("f", json!({ "q": "bye" }))).expect("starts").wait().await;
    assert_eq!(other.totals.cache_hits, 0, "another prompt is another request");
}

#[tokio::test]
async fn definitions_get_a_new_version_only_when_the_program_changes() {
    let store = store().await;
    let a = store.deploy("greet", "flow greet() -> int {\n  return 1\n}\n").await.expect("stored");
    let same = store.deploy("greet", "flow greet() -> int {\n  return 1\n}\n").await.expect("stored");
    let b = store.deploy("greet", "flow greet() -> int {\n  return 2\n}\n").await.expect("stored");
    assert_eq!((a.version, same.version, b.version), (1, 1, 2));
    assert_eq!(store.definition("greet", None).await.expect("ok").map(|d| d.version), Some(2));
    assert_eq!(store.definition("greet", Some(1)).await.expect("ok").map(|d| d.hash), Some(a.hash));
    assert_eq!(store.definitions().await.expect("ok").len(), 2);
}

#[tokio::test]
async fn work_a_retry_completed_is_not_done_again_on_resume() {
    let store = store().await;
    let charges = Arc::new(AtomicUsize::new(0));
    let notify_fails = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let engine = |charges: Arc<AtomicUsize>, fails: Arc<std::sync::atomic::AtomicBool>| {
        Engine::new()
            .store(store.clone())
            .tool("charge", move |a: X| {
                // The first charge fails; the map's retry charges again, and succeeds.
                let n = charges.fetch_add(1, Ordering::SeqCst);
                async move { if n == 0 { Err(ToolError::new("declined")) } else { Ok::<_, ToolError>(json!(a.x)) } }
            })
            .tool("notify", move |a: X| {
                let fail = fails.load(Ordering::SeqCst);
                async move { if fail { Err(ToolError::new("mail down")) } else { Ok::<_, ToolError>(json!(a.x)) } }
            })
    };
    let source = r#"tool charge(x: int) -> int
tool notify(x: int) -> int
flow f(xs: [int]) -> [int] {
  step each = map x in xs {
    step paid = charge(x: x)
    step told = notify(x: paid)
    return told
  }
    retry 1 backoff 1ms
  return each
}
"#;
    let first = engine(charges.clone(), notify_fails.clone());
    let program = first.compile(source).expect("compiles");
    let outcome = first.start(&program, RunOptions::new("f", json!({ "xs": [7] }))).expect("starts").wait().await;
    assert_eq!(outcome.status, RunStatus::Failed);
    assert_eq!(charges.load(Ordering::SeqCst), 2, "declined, then charged on the retry");

    notify_fails.store(false, Ordering::SeqCst);
    let outcome = first.resume(&outcome.run_id).await.expect("resumes").wait().await;
    assert_eq!(outcome.output, Some(json!([7])), "{:?}", outcome.error);
    assert_eq!(charges.load(Ordering::SeqCst), 2, "the charge the retry made is in the journal: not made again");
}

#[tokio::test(start_paused = true)]
async fn an_ask_inside_a_when_is_answered_by_its_step_name_and_type() {
    let store = store().await;
    let engine = Engine::new().store(store.clone());
    let source =
        "flow f(go: bool) -> int? {\n  step n = when go { ask -> int { prompt: \"How many?\" } }\n  return n\n}\n";
    let program = engine.compile(source).expect("compiles");
    let outcome = engine.start(&program, RunOptions::new("f", json!({ "go": true }))).expect("starts").wait().await;
    assert_eq!(outcome.status, RunStatus::Waiting);
    let id = outcome.run_id;
    let wrong = refused(engine.answer(&id, "n", json!(null)).await);
    assert!(wrong.contains("E0614") && wrong.contains("`int`"), "the ask's own type, not `int?`: {wrong}");
    assert_eq!(engine.answer(&id, "n", json!(3)).await.expect("answered"), "f/n/then");
    let outcome = engine.resume(&id).await.expect("resumes").wait().await;
    assert_eq!(outcome.output, Some(json!(3)));
}

#[tokio::test]
async fn an_answer_that_does_not_validate_is_not_cached() {
    use flow_vm::{ChatRequest, ChatResponse, ModelProvider, ProviderError, Usage};
    use futures::future::BoxFuture;
    /// Answers prose first, then the number.
    struct Flaky(AtomicUsize);
    impl ModelProvider for Flaky {
        fn chat<'a>(
            &'a self,
            _: &'a ChatRequest<'a>,
            _: flow_vm::models::DeltaSink<'a>,
        ) -> BoxFuture<'a, Result<ChatResponse, ProviderError>> {
            let n = self.0.fetch_add(1, Ordering::SeqCst);
            let text = if n == 0 { "no idea" } else { "{\"value\": 4}" };
            // `ChatResponse` is non-exhaustive: built by default, then filled in.
            #[allow(clippy::field_reassign_with_default)]
            Box::pin(async move {
                let mut response = ChatResponse::default();
                response.text = text.to_string();
                response.usage = Usage { input_tokens: 5, output_tokens: 5 };
                Ok(response)
            })
        }
    }
    let store = store().await;
    let engine = Engine::new().store(store.clone()).provider("m", Flaky(AtomicUsize::new(0)));
    let source = "model m = openai(\"x\") { cache: true, repair: 0 }\nflow f() -> int {\n  step n = llm m -> int { prompt: \"two and two\" }\n    retry 1 backoff 1ms on [schema]\n  return n\n}\n";
    let program = engine.compile(source).expect("compiles");
    let first = engine.start(&program, RunOptions::new("f", json!({}))).expect("starts").wait().await;
    assert_eq!(first.output, Some(json!(4)), "{:?}", first.error);
    // The prose was not kept, and neither was the retry's answer (a retry
    // neither reads nor writes the cache): the next run asks again.
    let second = engine.start(&program, RunOptions::new("f", json!({}))).expect("starts").wait().await;
    assert_eq!((second.output, second.totals.cache_hits), (Some(json!(4)), 0));
    let third = engine.start(&program, RunOptions::new("f", json!({}))).expect("starts").wait().await;
    assert_eq!((third.output, third.totals.cache_hits), (Some(json!(4)), 1), "the good first answer was kept");
}

#[tokio::test]
async fn two_resumes_of_one_run_cannot_both_run_it() {
    let store = store().await;
    let calls = Arc::new(AtomicUsize::new(0));
    let broken = engine(&store, &calls, 3);
    let program = broken.compile(PROGRAM).expect("compiles");
    let outcome = broken.start(&program, RunOptions::new("f", json!({ "xs": [3] }))).expect("starts").wait().await;
    let id = outcome.run_id;
    let fixed = engine(&store, &calls, -1);
    // Both found the run resumable; the first to record its takeover wins.
    let (program_a, options_a) = fixed.resume_options(&id, None).await.expect("resumable");
    let (program_b, options_b) = fixed.resume_options(&id, None).await.expect("resumable");
    let first = fixed.start_recorded(&program_a, options_a).await.expect("takes the run over");
    let second = refused(fixed.start_recorded(&program_b, options_b).await);
    assert!(second.contains("E0612") && second.contains("another process"), "{second}");
    assert_eq!(first.wait().await.status, RunStatus::Succeeded);
}

#[tokio::test]
async fn a_change_under_a_map_inside_a_when_is_caught_too() {
    let store = store().await;
    let calls = Arc::new(AtomicUsize::new(0));
    let broken = engine(&store, &calls, 3);
    let source = r#"tool inc(x: int) -> int
flow f(xs: [int], go: bool) -> int {
  step each = when go {
    map x in xs (concurrency: 1) {
      step y = inc(x: x)
      return y
    }
  }
  return sum(each ?? [])
}
"#;
    let program = broken.compile(source).expect("compiles");
    let outcome =
        broken.start(&program, RunOptions::new("f", json!({ "xs": [1, 3], "go": true }))).expect("starts").wait().await;
    assert_eq!(outcome.status, RunStatus::Failed);
    let retyped =
        source.replace("tool inc(x: int) -> int", "tool inc(x: int) -> string").replace("sum(each ?? [])", "0");
    let retyped = broken.compile(&retyped).expect("compiles");
    let refusal = refused(broken.resume_options(&outcome.run_id, Some(retyped)).await);
    assert!(refusal.contains("E0613") && refusal.contains("f/each/then/body/y"), "{refusal}");
}
