//! The interpreter's semantics, on tokio's paused clock: retries (exact
//! delays), timeouts, deadlines, catch, cancellation, concurrency, map
//! limits and tolerance, limits, and checking what hosts hand back.

use flow_vm::{Engine, ErrorKind, Event, Limits, RunError, RunOptions, RunStatus, ToolError};
use serde::Deserialize;
use serde_json::{Value as J, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::time::Instant;

use flow_vm::test_support::{compile, run};

fn retry_delays(events: &[Event]) -> Vec<u64> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::StepRetrying { delay_ms, .. } => Some(*delay_ms),
            _ => None,
        })
        .collect()
}

#[derive(Deserialize)]
struct NoArgs {}

/// A host tool that fails `failures` times (with `kind`), then answers `{ ok: true }`.
fn flaky(failures: usize, kind: ErrorKind) -> (Engine, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let engine = Engine::new().tool("ping", move |_: NoArgs| {
        let n = counter.fetch_add(1, Ordering::SeqCst);
        async move {
            if n < failures {
                Err(ToolError::with_kind(kind, format!("failure {}", n + 1)))
            } else {
                Ok(json!({ "ok": true }))
            }
        }
    });
    (engine, calls)
}

const PING: &str = "tool ping() -> { ok: bool }\n";

#[tokio::test(start_paused = true)]
async fn retry_waits_exponential_delays_between_the_bounds() {
    let (engine, calls) = flaky(3, ErrorKind::Tool);
    let src = format!("{PING}flow f() -> bool {{\n  step p = ping() retry 3 backoff 100ms..250ms\n  return p.ok\n}}");
    let start = Instant::now();
    let (outcome, events) = run(&engine, &src, "f", json!({})).await;
    assert_eq!(outcome.output, Some(json!(true)));
    assert_eq!(retry_delays(&events), vec![100, 200, 250]);
    assert_eq!(calls.load(Ordering::SeqCst), 4);
    assert_eq!(start.elapsed(), Duration::from_millis(550));
    let attempts: Vec<u32> = events
        .iter()
        .filter_map(|e| match e {
            Event::StepRetrying { attempt, error, .. } => {
                assert_eq!(error.kind, ErrorKind::Tool);
                Some(*attempt)
            }
            _ => None,
        })
        .collect();
    assert_eq!(attempts, vec![2, 3, 4]);
}

#[tokio::test(start_paused = true)]
async fn retry_defaults_and_fixed_backoff() {
    let (engine, _) = flaky(2, ErrorKind::Tool);
    let src = format!("{PING}flow f() -> bool {{\n  step p = ping() retry 2\n  return p.ok\n}}");
    let (_, events) = run(&engine, &src, "f", json!({})).await;
    assert_eq!(retry_delays(&events), vec![1000, 2000], "default backoff is 1s..30s, doubling");

    let (engine, _) = flaky(2, ErrorKind::Tool);
    let src = format!("{PING}flow f() -> bool {{\n  step p = ping() retry 2 backoff 50ms\n  return p.ok\n}}");
    let (_, events) = run(&engine, &src, "f", json!({})).await;
    assert_eq!(retry_delays(&events), vec![50, 50]);
}

#[tokio::test(start_paused = true)]
async fn retry_gives_up_after_n_retries() {
    let (engine, calls) = flaky(100, ErrorKind::Tool);
    let src = format!("{PING}flow f() -> bool {{\n  step p = ping() retry 2 backoff 10ms\n  return p.ok\n}}");
    let (outcome, _) = run(&engine, &src, "f", json!({})).await;
    assert_eq!(outcome.status, RunStatus::Failed);
    assert_eq!(calls.load(Ordering::SeqCst), 3, "N retries is N + 1 attempts");
    let error = outcome.error.expect("an error");
    assert_eq!((error.kind, error.step.as_str()), (ErrorKind::Tool, "f/p"));
    assert!(error.message.contains("failure 3"), "{}", error.message);
}

#[tokio::test(start_paused = true)]
async fn retry_only_on_the_named_kinds() {
    let (engine, calls) = flaky(1, ErrorKind::Tool);
    let src = format!("{PING}flow f() -> bool {{\n  step p = ping() retry 3 on [timeout]\n  return p.ok\n}}");
    let (outcome, _) = run(&engine, &src, "f", json!({})).await;
    assert_eq!(outcome.status, RunStatus::Failed);
    assert_eq!(calls.load(Ordering::SeqCst), 1);

    // Without `on`, only transient kinds: `rate_limited` is retried.
    let (engine, calls) = flaky(1, ErrorKind::RateLimited);
    let src = format!("{PING}flow f() -> bool {{\n  step p = ping() retry 3 backoff 1ms\n  return p.ok\n}}");
    let (outcome, _) = run(&engine, &src, "f", json!({})).await;
    assert_eq!(outcome.status, RunStatus::Succeeded);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn jitter_stays_within_the_wait_and_is_reproducible_with_a_seed() {
    let src = format!("{PING}flow f() -> bool {{\n  step p = ping() retry 5 backoff 1s..4s jitter\n  return p.ok\n}}");
    let mut runs = Vec::new();
    for _ in 0..2 {
        let (engine, _) = flaky(5, ErrorKind::Tool);
        let (_, events) = run(&engine.seed(7), &src, "f", json!({})).await;
        runs.push(retry_delays(&events));
    }
    assert_eq!(runs[0], runs[1]);
    for (delay, cap) in runs[0].iter().zip([1000, 2000, 4000, 4000, 4000]) {
        assert!(*delay <= cap, "{delay} > {cap}");
    }
    assert_ne!(runs[0], vec![1000, 2000, 4000, 4000, 4000], "jitter changes the waits");
}

#[derive(Deserialize)]
struct Wait {
    ms: u64,
}

fn sleeper() -> Engine {
    Engine::new().tool("wait", |a: Wait| async move {
        tokio::time::sleep(Duration::from_millis(a.ms)).await;
        Ok::<_, ToolError>(json!({ "slept": a.ms }))
    })
}

const WAIT: &str = "tool wait(ms: int) -> { slept: int }\n";

#[tokio::test(start_paused = true)]
async fn timeout_applies_to_each_attempt() {
    let src = format!(
        "{WAIT}flow f() -> int {{\n  step w = wait(ms: 10000) timeout 1s retry 1 backoff 100ms\n  return w.slept\n}}"
    );
    let start = Instant::now();
    let (outcome, events) = run(&sleeper(), &src, "f", json!({})).await;
    assert_eq!(outcome.status, RunStatus::Failed);
    assert_eq!(outcome.error.as_ref().map(|e| e.kind), Some(ErrorKind::Timeout));
    assert_eq!(start.elapsed(), Duration::from_millis(2100));
    assert_eq!(retry_delays(&events), vec![100]);
}

#[tokio::test(start_paused = true)]
async fn a_run_deadline_cancels_what_is_in_flight() {
    let engine = sleeper();
    let program =
        compile(&engine, &format!("{WAIT}flow f() -> int {{\n  step w = wait(ms: 3600000)\n  return w.slept\n}}"));
    let start = Instant::now();
    let run = engine.start(&program, RunOptions::new("f", json!({})).deadline(Duration::from_secs(5))).expect("starts");
    let outcome = run.wait().await;
    assert_eq!(outcome.status, RunStatus::TimedOut);
    assert_eq!(start.elapsed(), Duration::from_secs(5));
    assert_eq!(outcome.cancelled_steps, vec!["f/w".to_string()]);
    assert_eq!(outcome.error.map(|e| e.kind), Some(ErrorKind::Timeout));
}

#[tokio::test(start_paused = true)]
async fn cancelling_stops_in_flight_steps_and_names_them() {
    let engine = sleeper();
    let src = format!(
        "{WAIT}flow f() -> int {{\n  step a = wait(ms: 60000)\n  step b = wait(ms: 60000)\n  step quick = wait(ms: 10)\n  return a.slept + b.slept + quick.slept\n}}"
    );
    let program = compile(&engine, &src);
    let mut run = engine.start(&program, RunOptions::new("f", json!({})).events(true)).expect("starts");
    let mut events = run.events().expect("events");
    let canceller = run.canceller();
    let start = Instant::now();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(1)).await;
        canceller.cancel();
    });
    let outcome = run.wait().await;
    assert_eq!(outcome.status, RunStatus::Cancelled);
    assert_eq!(start.elapsed(), Duration::from_secs(1), "cancellation is prompt");
    let mut cancelled = outcome.cancelled_steps.clone();
    cancelled.sort();
    assert_eq!(cancelled, vec!["f/a".to_string(), "f/b".to_string()]);
    let mut seen = Vec::new();
    while let Some(e) = events.try_recv() {
        if let Event::StepCancelled { step, .. } = e {
            seen.push(step);
        }
    }
    seen.sort();
    assert_eq!(seen, cancelled);
}

#[tokio::test(start_paused = true)]
async fn independent_steps_run_concurrently_without_a_barrier() {
    let src = format!(
        "{WAIT}flow f() -> int {{
  step slow = wait(ms: 1000)
  step a = wait(ms: 100)
  step b = wait(ms: a.slept)
  return slow.slept + b.slept
}}"
    );
    let start = Instant::now();
    let (outcome, events) = run(&sleeper(), &src, "f", json!({})).await;
    assert_eq!(outcome.output, Some(json!(1100)));
    assert_eq!(start.elapsed(), Duration::from_millis(1000), "the chain a -> b overlaps the slow step");
    let b_done = events.iter().find_map(|e| match e {
        Event::StepFinished { step, at_ms, .. } if step == "f/b" => Some(*at_ms),
        _ => None,
    });
    assert_eq!(b_done, Some(200.0), "b does not wait for the unrelated slow step");
}

#[tokio::test(start_paused = true)]
async fn catch_binds_the_error_and_guards_choose() {
    let (engine, _) = flaky(100, ErrorKind::Tool);
    let src = format!(
        "{PING}flow f() -> {{ ok: bool }} {{
  step p = ping()
    catch e when e.kind == \"timeout\" => {{ ok: false }}
    catch e => {{ ok: e.kind == \"tool\" && e.step == \"f/p\" && e.message.contains(\"failure 1\") }}
  return p
}}"
    );
    let (outcome, events) = run(&engine, &src, "f", json!({})).await;
    assert_eq!(outcome.output, Some(json!({ "ok": true })));
    assert!(events.iter().any(|e| matches!(e, Event::StepFailed { caught: true, .. })));
    assert!(events.iter().any(|e| matches!(e, Event::StepFinished { step, .. } if step == "f/p")));
}

#[tokio::test(start_paused = true)]
async fn catch_handles_value_errors_of_pure_steps() {
    let src = "flow f(n: int) -> float {\n  step r = 10 / n catch => -1.0\n  return r\n}";
    let (outcome, _) = run(&Engine::new(), src, "f", json!({ "n": 0 })).await;
    assert_eq!(outcome.output, Some(json!(-1.0)));
    let src = "flow f(n: int) -> float {\n  step r = 10 / n\n  return r\n}";
    let (outcome, _) = run(&Engine::new(), src, "f", json!({ "n": 0 })).await;
    let error = outcome.error.expect("fails");
    assert_eq!((error.kind, error.message.as_str()), (ErrorKind::Value, "division by zero"));
}

#[derive(Deserialize)]
struct Item {
    n: i64,
}

#[tokio::test(start_paused = true)]
async fn map_respects_concurrency_and_keeps_order() {
    let live = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let (l, p) = (live.clone(), peak.clone());
    let engine = Engine::new().tool("work", move |a: Item| {
        let (l, p) = (l.clone(), p.clone());
        async move {
            let now = l.fetch_add(1, Ordering::SeqCst) + 1;
            p.fetch_max(now, Ordering::SeqCst);
            // Later items finish sooner, so completion order differs from item order.
            tokio::time::sleep(Duration::from_millis(100 - a.n as u64)).await;
            l.fetch_sub(1, Ordering::SeqCst);
            Ok::<_, ToolError>(json!({ "n": a.n * 10 }))
        }
    });
    let src = "tool work(n: int) -> { n: int }
flow f(xs: [int]) -> [int] {
  step out = map x in xs (concurrency: 3) {
    step w = work(n: x)
    return w.n
  }
  return out
}";
    let xs: Vec<i64> = (0..20).collect();
    let (outcome, _) = run(&engine, src, "f", json!({ "xs": xs })).await;
    let expected: Vec<i64> = xs.iter().map(|x| x * 10).collect();
    assert_eq!(outcome.output, Some(json!(expected)));
    assert_eq!(peak.load(Ordering::SeqCst), 3);
}

#[tokio::test(start_paused = true)]
async fn map_fails_only_beyond_tolerate() {
    let engine = Engine::new().tool("check", |a: Item| async move {
        if a.n % 5 == 0 { Err(ToolError::new(format!("bad {}", a.n))) } else { Ok(json!({ "n": a.n })) }
    });
    let src = |tolerate: &str| {
        format!(
            "tool check(n: int) -> {{ n: int }}
flow f(xs: [int]) -> [int] {{
  step out = map x in xs (tolerate: {tolerate}) {{
    step c = check(n: x)
    return c.n
  }}
  return out
}}"
        )
    };
    let xs: Vec<i64> = (1..=10).collect(); // 5 and 10 fail
    let (outcome, _) = run(&engine, &src("2"), "f", json!({ "xs": xs })).await;
    assert_eq!(outcome.output, Some(json!([1, 2, 3, 4, 6, 7, 8, 9])));
    let (outcome, _) = run(&engine, &src("20%"), "f", json!({ "xs": xs })).await;
    assert_eq!(outcome.status, RunStatus::Succeeded);
    let (outcome, _) = run(&engine, &src("1"), "f", json!({ "xs": xs })).await;
    let error = outcome.error.expect("fails");
    assert_eq!(error.kind, ErrorKind::Tool);
    assert!(error.message.contains("at most 1 may fail"), "{}", error.message);
}

#[tokio::test(start_paused = true)]
async fn route_runs_one_branch_and_when_skips_to_null() {
    let (engine, calls) = flaky(0, ErrorKind::Tool);
    let src = format!(
        "{PING}flow f(n: int) -> {{ size: string, pinged: bool? }} {{
  step size = route {{
    when n > 100 => \"big\"
    when n > 10 => \"medium\"
    else => \"small\"
  }}
  step p = when n > 1000 {{ ping() }}
  return {{ size: size, pinged: p?.ok }}
}}"
    );
    let (outcome, events) = run(&engine, &src, "f", json!({ "n": 50 })).await;
    assert_eq!(outcome.output, Some(json!({ "size": "medium", "pinged": null })));
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    assert!(events.iter().any(|e| matches!(e, Event::StepSkipped { step, .. } if step == "f/p")));
    let branch = events.iter().find_map(|e| match e {
        Event::StepFinished { step, branch, .. } if step == "f/size" => branch.clone(),
        _ => None,
    });
    assert_eq!(branch.as_deref(), Some("f/size/when1"));
}

#[tokio::test(start_paused = true)]
async fn sub_flows_run_with_their_arguments() {
    let src = "flow double(x: int) -> int {\n  return x * 2\n}
flow f(n: int) -> int {\n  step d = double(x: n)\n  step e = double(x: d)\n  return e\n}";
    let (outcome, _) = run(&Engine::new(), src, "f", json!({ "n": 5 })).await;
    assert_eq!(outcome.output, Some(json!(20)));
}

#[tokio::test(start_paused = true)]
async fn a_tool_returning_the_wrong_shape_is_a_tool_error_naming_the_field() {
    let engine = Engine::new()
        .tool("get_user", |_: NoArgs| async move { Ok::<_, ToolError>(json!({ "name": "Ana", "tags": ["a", 7] })) });
    let src = "tool get_user() -> { name: string, tags: [string] }
flow f() -> string {\n  step u = get_user()\n  return u.name\n}";
    let (outcome, _) = run(&engine, src, "f", json!({})).await;
    let error = outcome.error.expect("fails");
    assert_eq!((error.kind, error.step.as_str()), (ErrorKind::Tool, "f/u"));
    assert_eq!(
        error.message,
        "tool `get_user` returned a value that does not fit `{ name: string, tags: [string] }`: `.tags[1]` should be a string, but is the number 7"
    );
}

#[tokio::test(start_paused = true)]
async fn limits_stop_runaway_programs() {
    let chain = "flow f(xs: [int]) -> [int] {\n  step out = map x in xs {\n    step y = x + 1\n    return y\n  }\n  return out\n}";
    let engine = Engine::new().limits(Limits::default().max_steps(50));
    let xs: Vec<i64> = (0..100).collect();
    let (outcome, _) = run(&engine, chain, "f", json!({ "xs": xs })).await;
    assert_eq!(outcome.error.map(|e| e.kind), Some(ErrorKind::Limit));

    let engine = Engine::new().limits(Limits::default().max_fanout(10));
    let (outcome, _) = run(&engine, chain, "f", json!({ "xs": xs })).await;
    let error = outcome.error.expect("fails");
    assert_eq!(error.kind, ErrorKind::Limit);
    assert!(error.message.contains("100 items"), "{}", error.message);

    let recursive = "flow f(n: int) -> int {\n  step next = f(n: n + 1)\n  return next\n}";
    let (outcome, _) = run(&Engine::new(), recursive, "f", json!({ "n": 0 })).await;
    assert_eq!(outcome.error.map(|e| e.kind), Some(ErrorKind::Limit));
}

#[tokio::test(start_paused = true)]
async fn setup_errors_are_coded_and_nothing_runs() {
    let src = "model fast = openai(\"gpt-4o-mini\")
tool lookup(id: string) -> { name: string }
tool wc(text: string) -> { words: int } = command [\"wc\"]
flow uses_tool(id: string) -> string {\n  step u = lookup(id: id)\n  return u.name\n}
flow uses_model(text: string) -> string {\n  step s = llm fast -> string { prompt: text }\n  return s\n}
flow uses_command(text: string) -> int {\n  step n = wc(text: text)\n  return n.words\n}";
    // An empty key counts as none, whatever the machine's environment has.
    let engine = Engine::new().env("OPENAI_API_KEY", "").env("OPENAI_BASE_URL", "https://api.openai.com/v1");
    let program = compile(&engine, src);
    let code = |flow: &str, input: J| match engine.start(&program, RunOptions::new(flow, input)) {
        Err(RunError::Setup { code, .. }) => code.as_str(),
        Err(e) => panic!("failed instead: {e}"),
        Ok(_) => "started",
    };
    assert_eq!(code("uses_tol", json!({})), "E0601");
    assert_eq!(code("uses_tool", json!({ "id": 7 })), "E0602");
    assert_eq!(code("uses_tool", json!({ "idd": "7" })), "E0602");
    assert_eq!(code("uses_tool", json!("7")), "E0602");
    assert_eq!(code("uses_tool", json!({ "id": "7" })), "E0603");
    assert_eq!(code("uses_command", json!({ "text": "a" })), "E0604");
    assert_eq!(code("uses_model", json!({ "text": "a" })), "E0606");
    // A sandboxed host grants no built-in provider.
    let sandboxed = engine.clone().builtin_providers(false);
    match sandboxed.start(&program, RunOptions::new("uses_model", json!({ "text": "a" }))) {
        Err(RunError::Setup { code, .. }) => assert_eq!(code.as_str(), "E0605"),
        Err(e) => panic!("failed instead: {e}"),
        Ok(_) => panic!("started"),
    }
    // A key set for the engine is enough.
    let keyed = engine.clone().env("OPENAI_API_KEY", "sk-test");
    assert!(keyed.start(&program, RunOptions::new("uses_model", json!({ "text": "a" }))).is_ok());
}

#[tokio::test(start_paused = true)]
async fn mocks_answer_in_order_and_generated_values_fit() {
    let src = "type Label = \"spam\" | \"ham\"
model m = openai(\"x\")
flow f(a: string, b: string) -> [Label] {
  step first = llm m -> Label { prompt: a }
  step second = llm m -> Label { prompt: b } after first
  return [first, second]
}";
    let engine = Engine::new().mock("m", json!(["ham", "spam"]));
    let (outcome, _) = run(&engine, src, "f", json!({ "a": "x", "b": "y" })).await;
    assert_eq!(outcome.output, Some(json!(["ham", "spam"])));

    let (outcome, _) = run(&Engine::new().mock_models(true), src, "f", json!({ "a": "x", "b": "y" })).await;
    assert_eq!(outcome.output, Some(json!(["spam", "spam"])));

    let engine = Engine::new().mock("m", json!({ "label": "spam" }));
    let (outcome, _) = run(&engine, src, "f", json!({ "a": "x", "b": "y" })).await;
    let error = outcome.error.expect("a schema error");
    assert_eq!(error.kind, ErrorKind::Schema);
    assert!(error.message.contains("should be one of \"spam\", \"ham\""), "{}", error.message);
}

#[tokio::test]
async fn command_tools_speak_json_over_stdin_and_stdout() {
    let src = "tool count(text: string) -> { words: int } = command [\"sh\", \"-c\", \"read line; echo '{\\\"words\\\": 2}'\"]
tool broken() -> { words: int } = command [\"sh\", \"-c\", \"echo not json\"]
flow f(text: string) -> int {\n  step n = count(text: text)\n  return n.words\n}
flow g() -> int {\n  step n = broken()\n  return n.words\n}";
    let engine = Engine::new().allow_commands(true);
    let program = compile(&engine, src);
    let out = engine.run(&program, "f", json!({ "text": "a b" })).await.expect("runs");
    assert_eq!(out, json!(2));
    match engine.run(&program, "g", json!({})).await {
        Err(RunError::Failed(e)) => {
            assert_eq!(e.kind, ErrorKind::Tool);
            assert!(e.message.contains("not JSON"), "{}", e.message);
        }
        other => panic!("expected a tool error, got {other:?}"),
    }
}

/// A URL placeholder takes its parameter's value, percent-encoded, and the
/// value is not sent again in the query: what used to be dropped silently.
#[tokio::test]
async fn http_tool_url_placeholders_are_filled_and_encoded() {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/users/a%20b%2Fc/orders"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "count": 3 })))
        .mount(&server)
        .await;
    let base = server.uri();
    let src = format!(
        "tool orders(user: string, status: string) -> {{ count: int }} = http GET \"{base}/users/${{user}}/orders\"
flow f() -> int {{\n  step o = orders(user: \"a b/c\", status: \"open\")\n  return o.count\n}}"
    );
    let engine = Engine::new().allow_net("127.0.0.1".parse().expect("a rule"));
    let program = compile(&engine, &src);
    assert_eq!(engine.run(&program, "f", json!({})).await.expect("runs"), json!(3));
    let requests = server.received_requests().await.unwrap_or_default();
    assert_eq!(requests[0].url.query(), Some("status=open"), "only the parameters not in the path are sent");
}

#[tokio::test]
async fn http_tools_post_json_and_map_failures_to_kinds() {
    use wiremock::matchers::{body_json, header, method, path, query_param};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/search"))
        .and(header("x-client", "flow"))
        .and(body_json(json!({ "query": "rust", "limit": 2 })))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!([{ "title": "Rust", "url": "https://r", "extra": 1 }])),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/status"))
        .and(query_param("region", "eu"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "up": true })))
        .mount(&server)
        .await;
    Mock::given(path("/busy"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "3").set_body_string("slow down"))
        .mount(&server)
        .await;
    Mock::given(path("/garbage"))
        .respond_with(ResponseTemplate::new(200).set_body_string("<html>"))
        .mount(&server)
        .await;
    let base = server.uri();
    let src = format!(
        "tool search(query: string, limit: int) -> [{{ title: string, url: string }}] = http POST \"{base}/search\" {{ headers: {{ \"X-Client\": \"flow\" }} }}
tool status(region: string) -> {{ up: bool }} = http GET \"{base}/status\"
tool busy() -> {{ up: bool }} = http GET \"{base}/busy\"
tool garbage() -> {{ up: bool }} = http GET \"{base}/garbage\"
flow s() -> string {{\n  step r = search(query: \"rust\", limit: 2)\n  return r[0].title\n}}
flow st() -> bool {{\n  step r = status(region: \"eu\")\n  return r.up\n}}
flow b() -> bool {{\n  step r = busy()\n  return r.up\n}}
flow g() -> bool {{\n  step r = garbage()\n  return r.up\n}}"
    );
    let engine = Engine::new().allow_net("127.0.0.1".parse().expect("a rule"));
    let program = compile(&engine, &src);
    assert_eq!(engine.run(&program, "s", json!({})).await.expect("search"), json!("Rust"));
    assert_eq!(engine.run(&program, "st", json!({})).await.expect("status"), json!(true));
    let kind_and_message = |r: Result<J, RunError>| match r {
        Err(RunError::Failed(e)) => (e.kind, e.message),
        other => panic!("expected a failure, got {other:?}"),
    };
    let (kind, message) = kind_and_message(engine.run(&program, "b", json!({})).await);
    assert_eq!(kind, ErrorKind::RateLimited);
    assert!(message.contains("429") && message.contains("Retry-After: 3"), "{message}");
    let (kind, message) = kind_and_message(engine.run(&program, "g", json!({})).await);
    assert_eq!(kind, ErrorKind::Tool);
    assert!(message.contains("not JSON"), "{message}");
}

#[tokio::test]
async fn a_map_over_100_000_items_completes() {
    let items: Vec<i64> = (0..100_000).collect();
    let src = "flow f(xs: [int]) -> int {
  step many = map i in xs (concurrency: 64) {
    step y = i * 2
    return y
  }
  return len(many)
}";
    let engine = Engine::new();
    let program = compile(&engine, src);
    let out = engine.run(&program, "f", json!({ "xs": items })).await.expect("runs");
    assert_eq!(out, json!(100_000));
}

/// A host provider that answers `{"value": 1}` after `latency`, counting
/// how many calls are in flight at once.
struct Counting {
    latency: Duration,
    inflight: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
}

impl flow_vm::ModelProvider for Counting {
    fn chat<'a>(
        &'a self,
        _request: &'a flow_vm::ChatRequest<'a>,
        _on_delta: flow_vm::models::DeltaSink<'a>,
    ) -> futures::future::BoxFuture<'a, Result<flow_vm::ChatResponse, ToolError>> {
        Box::pin(async move {
            let now = self.inflight.fetch_add(1, Ordering::SeqCst) + 1;
            self.peak.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(self.latency).await;
            self.inflight.fetch_sub(1, Ordering::SeqCst);
            Ok(flow_vm::ChatResponse {
                text: "{\"value\": 1}".into(),
                usage: flow_vm::Usage { input_tokens: 10, output_tokens: 2 },
                ..Default::default()
            })
        })
    }
}

fn counting(latency: Duration) -> (Counting, Arc<AtomicUsize>) {
    let peak = Arc::new(AtomicUsize::new(0));
    (Counting { latency, inflight: Arc::new(AtomicUsize::new(0)), peak: peak.clone() }, peak)
}

fn fan_out(options: &str) -> String {
    format!(
        "model m = openai(\"x\") {{ {options} }}
flow f(xs: [int]) -> [int] {{
  step all = map x in xs (concurrency: 100) {{
    step n = llm m -> int {{ prompt: \"${{x}}\" }}
    return n
  }}
  return all
}}"
    )
}

#[tokio::test(start_paused = true)]
async fn a_models_concurrency_holds_across_a_whole_map() {
    let (provider, peak) = counting(Duration::from_secs(1));
    let engine = Engine::new().provider("m", provider);
    let started = Instant::now();
    let xs: Vec<i64> = (0..30).collect();
    let (outcome, _) = run(&engine, &fan_out("concurrency: 3"), "f", json!({ "xs": xs })).await;
    assert_eq!(outcome.status, RunStatus::Succeeded);
    assert_eq!(peak.load(Ordering::SeqCst), 3, "the map allows 100, the model 3");
    assert_eq!(started.elapsed(), Duration::from_secs(10));
    assert_eq!((outcome.totals.model_calls, outcome.totals.input_tokens), (30, 300));
}

#[tokio::test(start_paused = true)]
async fn requests_and_tokens_per_minute_spread_calls_out() {
    let (provider, _) = counting(Duration::ZERO);
    let engine = Engine::new().provider("m", provider);
    let xs: Vec<i64> = (0..12).collect();
    // 6 requests at once, then one every 10 s.
    let started = Instant::now();
    let (outcome, _) = run(&engine, &fan_out("rpm: 6"), "f", json!({ "xs": xs })).await;
    assert_eq!(outcome.status, RunStatus::Succeeded);
    assert_eq!(started.elapsed(), Duration::from_secs(60));
    // Each call is estimated at its max_tokens (12) and uses exactly that:
    // 120 a minute lets 10 through at once, then one every 6 s.
    let (provider, _) = counting(Duration::ZERO);
    let engine = Engine::new().provider("m", provider);
    let started = Instant::now();
    let xs: Vec<i64> = (0..30).collect();
    let (outcome, _) = run(&engine, &fan_out("tpm: 120, max_tokens: 12"), "f", json!({ "xs": xs })).await;
    assert_eq!(outcome.status, RunStatus::Succeeded);
    assert_eq!(started.elapsed(), Duration::from_secs(120));
}

/// Records how many tools each request offered, and reports a fixed usage.
struct Recording {
    tools: Arc<std::sync::Mutex<Vec<usize>>>,
    usage: flow_vm::Usage,
}

impl flow_vm::ModelProvider for Recording {
    fn chat<'a>(
        &'a self,
        request: &'a flow_vm::ChatRequest<'a>,
        _on_delta: flow_vm::models::DeltaSink<'a>,
    ) -> futures::future::BoxFuture<'a, Result<flow_vm::ChatResponse, ToolError>> {
        Box::pin(async move {
            self.tools.lock().expect("not poisoned").push(request.tools.len());
            Ok(flow_vm::ChatResponse { text: "{\"value\": \"ok\"}".into(), usage: self.usage, ..Default::default() })
        })
    }
}

/// An `llm` branch and an `agent` branch of one step each send their own
/// schema and tools (the per-run cache was once keyed by the step).
#[tokio::test(start_paused = true)]
async fn an_llm_and_an_agent_in_one_step_send_their_own_tools() {
    let source = "model m = openai(\"x\")
tool lookup(q: string) -> string
flow f(xs: [int]) -> [string] {
  step all = map x in xs (concurrency: 1) {
    step r = route {
      when x > 0 => agent m -> string { goal: \"g\", tools: [lookup] }
      else => llm m -> string { prompt: \"p\" }
    }
    return r
  }
  return all
}";
    for (xs, expected) in [(json!([1, -1]), vec![1, 0]), (json!([-1, 1]), vec![0, 1])] {
        let tools = Arc::new(std::sync::Mutex::new(Vec::new()));
        let provider = Recording { tools: tools.clone(), usage: flow_vm::Usage::default() };
        let engine = Engine::new().provider("m", provider).mock_tools(true);
        let (outcome, _) = run(&engine, source, "f", json!({ "xs": xs })).await;
        assert_eq!(outcome.status, RunStatus::Succeeded, "{:?}", outcome.error);
        assert_eq!(*tools.lock().expect("not poisoned"), expected, "tools offered per request for {xs}");
    }
}

/// A provider that reports 2^62 tokens under `tpm: 60` neither stalls the
/// model's later calls nor overflows the totals: the figure is clamped and
/// reported as a warning.
#[tokio::test(start_paused = true)]
async fn absurd_token_counts_are_clamped_and_reported() {
    let usage = flow_vm::Usage { input_tokens: 1 << 62, output_tokens: u64::MAX };
    let provider = Recording { tools: Arc::default(), usage };
    let engine = Engine::new().provider("m", provider);
    let source = "model m = openai(\"x\") { tpm: 60 }
flow f(xs: [int]) -> [string] {
  step all = map x in xs (concurrency: 1) {
    step n = llm m -> string { prompt: \"${x}\" }
    return n
  }
  return all
}";
    let started = Instant::now();
    let (outcome, events) = run(&engine, source, "f", json!({ "xs": [1, 2, 3, 4] })).await;
    assert_eq!(outcome.status, RunStatus::Succeeded, "{:?}", outcome.error);
    // Each call may owe at most one minute of the bucket.
    assert!(started.elapsed() <= Duration::from_secs(4 * 61), "waited {:?}", started.elapsed());
    let warnings = events.iter().filter(|e| matches!(e, Event::Warning { .. })).count();
    assert_eq!(warnings, 4);
    assert_eq!(outcome.totals.input_tokens, 4 * 10_000_000);
    assert_eq!(outcome.totals.output_tokens, 4 * 10_000_000);
}

/// A `catch` sees the model's answer that did not fit (`e.raw`), and
/// `null` for errors that have none.
#[tokio::test(start_paused = true)]
async fn a_catch_reads_the_raw_answer_of_a_schema_error() {
    let source = "model m = openai(\"x\")
tool fails() -> string
flow f() -> { answer: string, tool: string } {
  step a = llm m -> { n: int } { prompt: \"count\", repair: 0 } catch e => { n: len(e.raw ?? \"\") }
  step b = fails() catch e => e.raw ?? \"no raw\"
  step c = llm m -> string { prompt: \"again\", repair: 0 } catch e => \"unused\"
  return { answer: \"${a.n}\", tool: \"${b}\" }
}
";
    let engine = Engine::new()
        .provider("m", flow_vm::test_support::Says("I could not count them.".into()))
        .tool("fails", |_: J| async move { Err::<String, _>(ToolError::new("down")) });
    let (outcome, _) = run(&engine, source, "f", json!({})).await;
    assert_eq!(outcome.output, Some(json!({ "answer": "23", "tool": "no raw" })), "{:?}", outcome.error);
}

/// Answers `429` to the first call of each prompt, then the prompt's length.
struct BusyOnce {
    seen: std::sync::Mutex<std::collections::HashSet<String>>,
}

impl flow_vm::ModelProvider for BusyOnce {
    fn chat<'a>(
        &'a self,
        request: &'a flow_vm::ChatRequest<'a>,
        _on_delta: flow_vm::models::DeltaSink<'a>,
    ) -> futures::future::BoxFuture<'a, Result<flow_vm::ChatResponse, ToolError>> {
        Box::pin(async move {
            let prompt = match request.messages.last() {
                Some(flow_vm::Message::User { text }) => text.clone(),
                _ => String::new(),
            };
            if self.seen.lock().expect("not poisoned").insert(prompt.clone()) {
                let busy = ToolError::with_kind(ErrorKind::RateLimited, "429 Too Many Requests");
                return Err(busy.retry_after(Some(Duration::from_secs(2))));
            }
            Ok(flow_vm::ChatResponse { text: format!("{{\"value\": {}}}", prompt.len()), ..Default::default() })
        })
    }
}

/// Model calls are sent again after a transient failure by default, as the
/// providers' SDKs do: a map of ten calls that each meet one 429 succeeds,
/// each waiting the `Retry-After`; `retry: 0` on the model turns it off.
#[tokio::test(start_paused = true)]
async fn model_calls_retry_transient_failures_by_default() {
    let source = "model m = openai(\"x\")
flow f(xs: [string]) -> [int] {
  step all = map x in xs {
    step n = llm m -> int { prompt: x }
    return n
  }
  return all
}
";
    let xs: Vec<String> = (0..10).map(|i| "x".repeat(i + 1)).collect();
    let engine = Engine::new().provider("m", BusyOnce { seen: Default::default() });
    let started = Instant::now();
    let (outcome, events) = run(&engine, source, "f", json!({ "xs": xs })).await;
    assert_eq!(outcome.output, Some(json!([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])), "{:?}", outcome.error);
    let waits: Vec<u64> = events
        .iter()
        .filter_map(|e| match e {
            Event::StepRetrying { delay_ms, .. } => Some(*delay_ms),
            _ => None,
        })
        .collect();
    assert_eq!(waits.len(), 10);
    assert!(waits.iter().all(|&ms| ms >= 2_000), "the Retry-After is a floor: {waits:?}");
    assert!(started.elapsed() >= Duration::from_secs(2));
    let off = source.replace("openai(\"x\")", "openai(\"x\") { retry: 0 }");
    let engine = Engine::new().provider("m", BusyOnce { seen: Default::default() });
    let (outcome, _) = run(&engine, &off, "f", json!({ "xs": xs })).await;
    assert_eq!(outcome.error.map(|e| e.kind), Some(ErrorKind::RateLimited));
}
