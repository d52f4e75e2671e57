//! The progress table a run keeps where its events are produced says the
//! same as the events: per step, how many ran, failed, were skipped or
//! retried, and the model calls' tokens; sampled while the run goes on.

use flow_vm::test_support::compile;
use flow_vm::{Engine, RunOptions, ToolError};
use serde_json::json;

const SOURCE: &str = r#"
model m = mock("m")
tool flaky(x: int) -> int
flow f(xs: [int]) -> { n: int, note: string? } {
  step doubled = map x in xs {
    step y = flaky(x: x) retry 1 backoff 1ms
    return y * 2
  }
  step note = when len(doubled) > 10 { "many" }
  step summary = llm m -> string { prompt: "Summarise ${doubled}" }
  return { n: len(doubled) + len(summary), note: note }
}
"#;

#[tokio::test(start_paused = true)]
async fn the_table_counts_what_each_step_did() {
    let calls = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let seen = calls.clone();
    #[derive(serde::Deserialize)]
    struct X {
        x: i64,
    }
    let engine = Engine::new().mock_models(true).tool("flaky", move |a: X| {
        let n = seen.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        async move { if n == 0 { Err(ToolError::new("flaky")) } else { Ok::<_, ToolError>(a.x) } }
    });
    let program = compile(&engine, SOURCE);
    let mut run =
        engine.start(&program, RunOptions::new("f", json!({ "xs": [1, 2, 3] })).progress(true)).expect("starts");
    let table = run.progress().expect("a table was asked for");
    assert!(run.events().is_none(), "no event stream: the table is fed where events are made");
    let outcome = run.wait().await;
    assert!(outcome.output.is_some(), "{:?}", outcome.error);
    let p = table.get();
    let y = &p.steps["f/doubled/body/y"];
    assert_eq!((y.runs, y.retries, y.failed), (3, 1, 0), "{p:?}");
    assert_eq!(p.steps["f/note"].skipped, 1);
    let summary = &p.steps["f/summary"];
    assert_eq!(summary.model_calls, 1);
    assert!(summary.input_tokens > 0 && summary.output_tokens > 0);
    assert!(p.running.is_empty(), "nothing runs after the end: {:?}", p.running);
    assert_eq!(p.finished(), outcome.totals.finished);
}

#[tokio::test(start_paused = true)]
async fn an_observer_hears_every_event_where_it_is_made_ending_with_run_finished() {
    let engine = Engine::new().mock_models(true).mock_tools(true);
    let program = compile(&engine, SOURCE);
    let heard = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let into = heard.clone();
    let options = RunOptions::new("f", json!({ "xs": [1, 2] }))
        .observe(move |e| into.lock().expect("lock").push(serde_json::to_value(e).expect("JSON")["event"].clone()));
    let (outcome, events) = engine.start(&program, options.events(true)).expect("starts").wait_with_events().await;
    assert!(outcome.output.is_some(), "{:?}", outcome.error);
    let heard = heard.lock().expect("lock").clone();
    let streamed: Vec<serde_json::Value> =
        events.iter().map(|e| serde_json::to_value(e).expect("JSON")["event"].clone()).collect();
    assert_eq!(heard, streamed, "the observer hears what a subscriber hears, in order");
    assert_eq!(heard.last(), Some(&json!("run_finished")));
}
