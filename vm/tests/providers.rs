//! The built-in providers over real HTTP, against local servers on
//! 127.0.0.1 that answer exactly as the real APIs do (bodies, SSE streams,
//! errors, 429 with Retry-After, tool-call turns). Each test asserts the
//! requests the engine sent as well as what the run made of the answers.

use flow_vm::{Engine, ErrorKind, Event, RunOutcome, RunStatus, ToolError};
use serde::Deserialize;
use serde_json::{Value as J, json};
use std::collections::VecDeque;
use std::sync::Mutex;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// Answers with each response in turn (the last one again when they run out).
struct Seq(Mutex<VecDeque<ResponseTemplate>>);

fn seq(responses: Vec<ResponseTemplate>) -> Seq {
    Seq(Mutex::new(responses.into()))
}

impl Respond for Seq {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let mut queue = self.0.lock().expect("lock");
        if queue.len() > 1 { queue.pop_front().expect("non-empty") } else { queue[0].clone() }
    }
}

use flow_vm::test_support::run;

async fn bodies(server: &MockServer) -> Vec<J> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .map(|r| serde_json::from_slice(&r.body).unwrap_or(J::Null))
        .collect()
}

/// The test servers are on 127.0.0.1 and their key is in TEST_KEY: the
/// host allows both (a program alone could not choose either).
fn engine() -> Engine {
    Engine::new().env("TEST_KEY", "sk-test-0123456789").allow_env("TEST_KEY").trust_base_url("http://127.0.0.1")
}

fn failure(outcome: &RunOutcome) -> (ErrorKind, String) {
    let e = outcome.error.as_ref().unwrap_or_else(|| panic!("expected a failure, got {:?}", outcome.output));
    (e.kind, e.message.clone())
}

// ------------------------------------------------------------------ OpenAI-compatible

fn openai_answer(content: &str, prompt_tokens: u64, completion_tokens: u64) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": "gpt-test",
        "choices": [{
            "index": 0,
            "message": { "role": "assistant", "content": content, "refusal": null },
            "logprobs": null,
            "finish_reason": "stop"
        }],
        "usage": { "prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens, "total_tokens": prompt_tokens + completion_tokens }
    }))
}

fn openai_source(base: &str, options: &str) -> String {
    format!(
        r#"
/// How urgent it is.
type Level = "low" | "high"
type Verdict {{
  /// One short sentence.
  reason: string
  level: Level
  score: int
}}
model m = openai("gpt-test") {{ base_url: "{base}/v1", api_key_env: "TEST_KEY", {options} }}
flow judge(text: string) -> Verdict {{
  step v = llm m -> Verdict {{
    system: "You judge tickets."
    prompt: "Judge: ${{text}}"
    temperature: 0.0, max_tokens: 100
  }}
  return v
}}
flow count(text: string) -> int {{
  step n = llm m -> int {{ prompt: "Count the words: ${{text}}" }}
  return n
}}
"#
    )
}

#[tokio::test]
async fn openai_request_has_the_documented_shape_and_usage_is_counted() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .and(header("authorization", "Bearer sk-test-0123456789"))
        .respond_with(openai_answer(r#"{"reason": "It crashes.", "level": "high", "score": 3}"#, 120, 30))
        .mount(&server)
        .await;
    let src = openai_source(&server.uri(), "stream: false, input_price: 1.0, output_price: 10.0");
    let (outcome, events) = run(&engine(), &src, "judge", json!({ "text": "app crashes" })).await;
    assert_eq!(outcome.output, Some(json!({ "reason": "It crashes.", "level": "high", "score": 3 })));
    let sent = bodies(&server).await;
    assert_eq!(sent.len(), 1);
    let body = &sent[0];
    assert_eq!(body["model"], "gpt-test");
    assert_eq!(
        body["messages"],
        json!([
            { "role": "system", "content": "You judge tickets." },
            { "role": "user", "content": "Judge: app crashes" }
        ])
    );
    assert_eq!(body["temperature"], json!(0.0));
    assert_eq!(body["max_tokens"], json!(100));
    assert!(body.get("stream").is_none());
    let format = &body["response_format"];
    assert_eq!(format["type"], "json_schema");
    assert_eq!(format["json_schema"]["strict"], json!(true));
    let schema = &format["json_schema"]["schema"];
    assert_eq!(schema["required"], json!(["reason", "level", "score"]));
    assert_eq!(schema["properties"]["reason"]["description"], "One short sentence.");
    assert_eq!(
        schema["$defs"]["Level"],
        json!({ "type": "string", "enum": ["low", "high"], "description": "How urgent it is." })
    );
    // Tokens and cost, per call and per run.
    let call = events.iter().find_map(|e| match e {
        Event::LlmCall { input_tokens, output_tokens, cost_usd, .. } => {
            Some((*input_tokens, *output_tokens, *cost_usd))
        }
        _ => None,
    });
    assert_eq!(call, Some((120, 30, Some(0.00042))));
    assert_eq!((outcome.totals.model_calls, outcome.totals.input_tokens, outcome.totals.output_tokens), (1, 120, 30));
    assert_eq!(outcome.totals.cost_usd, Some(0.00042));
}

#[tokio::test]
async fn a_non_record_answer_is_wrapped_and_unwrapped() {
    let server = MockServer::start().await;
    Mock::given(path("/v1/chat/completions"))
        .respond_with(openai_answer(r#"{"value": 4}"#, 10, 3))
        .mount(&server)
        .await;
    let src = openai_source(&server.uri(), "stream: false");
    let (outcome, _) = run(&engine(), &src, "count", json!({ "text": "a b c d" })).await;
    assert_eq!(outcome.output, Some(json!(4)));
    let schema = &bodies(&server).await[0]["response_format"]["json_schema"]["schema"];
    assert_eq!(schema["properties"]["value"], json!({ "type": "integer" }));
}

/// An SSE body as OpenAI streams it: content in pieces, then a usage chunk, then `[DONE]`.
fn openai_stream(pieces: &[&str], prompt_tokens: u64, completion_tokens: u64) -> ResponseTemplate {
    let mut body = String::new();
    let chunk = |delta: J, finish: J| {
        json!({
            "id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1_700_000_000, "model": "gpt-test",
            "choices": [{ "index": 0, "delta": delta, "logprobs": null, "finish_reason": finish }]
        })
    };
    body.push_str(&format!("data: {}\n\n", chunk(json!({ "role": "assistant", "content": "" }), J::Null)));
    for p in pieces {
        body.push_str(&format!("data: {}\n\n", chunk(json!({ "content": p }), J::Null)));
    }
    body.push_str(&format!("data: {}\n\n", chunk(json!({}), json!("stop"))));
    let usage = json!({
        "id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1_700_000_000, "model": "gpt-test", "choices": [],
        "usage": { "prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens, "total_tokens": prompt_tokens + completion_tokens }
    });
    body.push_str(&format!("data: {usage}\n\ndata: [DONE]\n\n"));
    ResponseTemplate::new(200).insert_header("content-type", "text/event-stream").set_body_string(body)
}

#[tokio::test]
async fn openai_streams_deltas_into_the_event_stream() {
    let server = MockServer::start().await;
    let pieces = ["{\"reason\": \"It", " crashes.\", \"level\"", ": \"low\", \"score\": 1}"];
    Mock::given(path("/v1/chat/completions")).respond_with(openai_stream(&pieces, 50, 12)).mount(&server).await;
    let src = openai_source(&server.uri(), "stream: true");
    let (outcome, events) = run(&engine(), &src, "judge", json!({ "text": "x" })).await;
    assert_eq!(outcome.output, Some(json!({ "reason": "It crashes.", "level": "low", "score": 1 })));
    let deltas: Vec<&str> = events
        .iter()
        .filter_map(|e| match e {
            Event::LlmDelta { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(deltas, pieces);
    let body = &bodies(&server).await[0];
    assert_eq!(body["stream"], json!(true));
    assert_eq!(body["stream_options"], json!({ "include_usage": true }));
    assert_eq!((outcome.totals.input_tokens, outcome.totals.output_tokens), (50, 12));
}

#[tokio::test]
async fn a_stalled_stream_fails_as_timeout() {
    // A server that sends the headers and one chunk, then nothing, forever.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buffer = vec![0u8; 65536];
                let _ = socket.read(&mut buffer).await;
                let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n";
                let data = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"{\\\"reason\"}}]}\n\n";
                let _ = socket.write_all(format!("{head}{:x}\r\n{data}\r\n", data.len()).as_bytes()).await;
                let _ = socket.flush().await;
                std::future::pending::<()>().await;
            });
        }
    });
    let src = openai_source(&format!("http://{address}"), "stream: true, idle_timeout: 300ms");
    let (outcome, events) = run(&engine(), &src, "judge", json!({ "text": "x" })).await;
    let (kind, message) = failure(&outcome);
    assert_eq!(kind, ErrorKind::Timeout);
    assert!(message.contains("sent nothing for 300ms"), "{message}");
    assert!(events.iter().any(|e| matches!(e, Event::LlmDelta { .. })), "the first piece arrived");
}

#[tokio::test]
async fn rate_limits_are_retried_after_the_wait_the_provider_asks_for() {
    let server = MockServer::start().await;
    let limited = ResponseTemplate::new(429)
        .insert_header("retry-after-ms", "300")
        .set_body_json(json!({ "error": { "message": "Rate limit reached for gpt-test", "type": "requests", "code": "rate_limit_exceeded" } }));
    Mock::given(path("/v1/chat/completions"))
        .respond_with(seq(vec![limited, openai_answer(r#"{"value": 2}"#, 5, 2)]))
        .mount(&server)
        .await;
    let src = format!(
        "model m = openai(\"gpt-test\") {{ base_url: \"{}/v1\", api_key_env: \"TEST_KEY\", stream: false }}
flow count(text: string) -> int {{
  step n = llm m -> int {{ prompt: text }} retry 2 backoff 10ms on [rate_limited]
  return n
}}",
        server.uri()
    );
    let (outcome, events) = run(&engine(), &src, "count", json!({ "text": "a b" })).await;
    assert_eq!(outcome.output, Some(json!(2)));
    let retry = events.iter().find_map(|e| match e {
        Event::StepRetrying { delay_ms, error, .. } => Some((*delay_ms, error.kind, error.message.clone())),
        _ => None,
    });
    let (delay, kind, message) = retry.expect("one retry");
    assert_eq!((delay, kind), (300, ErrorKind::RateLimited));
    assert!(message.contains("429") && message.contains("Rate limit reached"), "{message}");
}

#[tokio::test]
async fn server_errors_and_garbage_are_provider_errors() {
    let server = MockServer::start().await;
    Mock::given(path("/a/v1/chat/completions"))
        .respond_with(
            ResponseTemplate::new(500).set_body_json(json!({ "error": { "message": "The server had an error" } })),
        )
        .mount(&server)
        .await;
    Mock::given(path("/b/v1/chat/completions"))
        .respond_with(ResponseTemplate::new(200).set_body_string("<html>Bad gateway</html>"))
        .mount(&server)
        .await;
    Mock::given(path("/c/v1/chat/completions"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "object": "chat.completion" })))
        .mount(&server)
        .await;
    Mock::given(path("/d/v1/chat/completions"))
        .respond_with(
            ResponseTemplate::new(401)
                .set_body_json(json!({ "error": { "message": "Incorrect API key provided: sk-test-0123456789" } })),
        )
        .mount(&server)
        .await;
    let cases = [
        ("a", "500 Internal Server Error"),
        ("b", "not JSON"),
        ("c", "without `choices`"),
        // The key the provider echoes is not repeated in the error (nor in events and logs).
        ("d", "check the API key: Incorrect API key provided: [api key]"),
    ];
    for (prefix, expected) in cases {
        let src = openai_source(&format!("{}/{prefix}", server.uri()), "stream: false");
        let (outcome, _) = run(&engine(), &src, "count", json!({ "text": "x" })).await;
        let (kind, message) = failure(&outcome);
        assert_eq!(kind, ErrorKind::Provider, "{prefix}: {message}");
        assert!(message.contains(expected), "{prefix}: {message}");
    }
    // Nobody listening at all.
    let src = openai_source("http://127.0.0.1:9", "stream: false");
    let (outcome, _) = run(&engine(), &src, "count", json!({ "text": "x" })).await;
    let (kind, message) = failure(&outcome);
    assert_eq!(kind, ErrorKind::Provider);
    assert!(message.contains("cannot connect"), "{message}");
}

#[tokio::test]
async fn an_answer_that_does_not_fit_is_sent_back_with_the_problems() {
    let server = MockServer::start().await;
    Mock::given(path("/v1/chat/completions"))
        .respond_with(seq(vec![
            openai_answer("Sure! ```json\n{'reason': 'Crash', 'level': 'urgent', 'score': 2.0,}\n```", 40, 20),
            openai_answer(r#"{"reason": "Crash", "level": "High", "score": 2.0}"#, 90, 20),
        ]))
        .mount(&server)
        .await;
    let src = openai_source(&server.uri(), "stream: false");
    let (outcome, events) = run(&engine(), &src, "judge", json!({ "text": "x" })).await;
    // The second answer fits after the documented coercions (case of an enum member, 2.0 as an int).
    assert_eq!(outcome.output, Some(json!({ "reason": "Crash", "level": "high", "score": 2 })));
    let sent = bodies(&server).await;
    assert_eq!(sent.len(), 2);
    let messages = sent[1]["messages"].as_array().expect("messages");
    assert_eq!(messages.len(), 4, "system, prompt, the first answer, the repair request");
    assert_eq!(messages[2]["role"], "assistant");
    assert!(messages[2]["content"].as_str().unwrap_or_default().contains("'urgent'"));
    let repair = messages[3]["content"].as_str().unwrap_or_default();
    assert!(repair.starts_with("Your answer does not match the required JSON Schema"), "{repair}");
    // The repair names the span it read and where in it the problem is.
    assert!(repair.contains("the JSON at characters 14–67, at .level") && repair.contains("\"urgent\""), "{repair}");
    let repairs: Vec<u32> = events
        .iter()
        .filter_map(|e| match e {
            Event::LlmRepair { repair, .. } => Some(*repair),
            _ => None,
        })
        .collect();
    assert_eq!(repairs, [1]);
    assert_eq!(outcome.totals.input_tokens, 130);
}

#[tokio::test]
async fn when_repairs_run_out_the_step_fails_with_the_raw_answer() {
    let server = MockServer::start().await;
    Mock::given(path("/v1/chat/completions"))
        .respond_with(openai_answer("I think it is urgent.", 10, 5))
        .mount(&server)
        .await;
    let src = openai_source(&server.uri(), "stream: false, repair: 2");
    let (outcome, _) = run(&engine(), &src, "judge", json!({ "text": "x" })).await;
    let error = outcome.error.expect("fails");
    assert_eq!(error.kind, ErrorKind::Schema);
    assert_eq!(error.raw.as_deref(), Some("I think it is urgent."));
    assert!(
        error.message.contains("after 2 repair attempts") && error.message.contains("no JSON"),
        "{}",
        error.message
    );
    assert_eq!(bodies(&server).await.len(), 3);
}

fn openai_tool_call(calls: &[(&str, &str, &str)]) -> ResponseTemplate {
    let calls: Vec<J> = calls
        .iter()
        .map(
            |(id, name, args)| json!({ "id": id, "type": "function", "function": { "name": name, "arguments": args } }),
        )
        .collect();
    ResponseTemplate::new(200).set_body_json(json!({
        "id": "chatcmpl-2", "object": "chat.completion", "created": 1_700_000_000, "model": "gpt-test",
        "choices": [{ "index": 0, "message": { "role": "assistant", "content": null, "tool_calls": calls }, "finish_reason": "tool_calls" }],
        "usage": { "prompt_tokens": 30, "completion_tokens": 10, "total_tokens": 40 }
    }))
}

#[derive(Deserialize)]
struct Lookup {
    id: String,
}

fn agent_source(base: &str, provider: &str, path: &str, max_turns: u32) -> String {
    format!(
        r#"
/// Looks a customer up by id.
tool lookup(id: string) -> {{ name: string, plan: string }}
model m = {provider}("test-model") {{ base_url: "{base}{path}", api_key_env: "TEST_KEY", stream: false }}
flow ask(question: string) -> {{ answer: string }} {{
  step a = agent m -> {{ answer: string }} {{
    goal: question
    tools: [lookup]
    max_turns: {max_turns}
  }}
  return a
}}
"#
    )
}

fn lookup_engine() -> Engine {
    engine().tool("lookup", |args: Lookup| async move {
        if args.id == "7" {
            Ok(json!({ "name": "Ada", "plan": "pro" }))
        } else {
            Err(ToolError::new(format!("no customer {}", args.id)))
        }
    })
}

#[tokio::test]
async fn an_openai_agent_runs_the_tools_the_model_calls() {
    let server = MockServer::start().await;
    Mock::given(path("/v1/chat/completions"))
        .respond_with(seq(vec![
            openai_tool_call(&[("call_1", "lookup", r#"{"id": "7"}"#), ("call_2", "lookup", r#"{"id": 7}"#)]),
            openai_answer(r#"{"answer": "Ada is on pro."}"#, 80, 9),
        ]))
        .mount(&server)
        .await;
    let src = agent_source(&server.uri(), "openai", "/v1", 4);
    let (outcome, events) = run(&lookup_engine(), &src, "ask", json!({ "question": "Which plan is 7 on?" })).await;
    assert_eq!(outcome.output, Some(json!({ "answer": "Ada is on pro." })));
    let sent = bodies(&server).await;
    assert_eq!(sent.len(), 2);
    let tools = &sent[0]["tools"];
    assert_eq!(tools[0]["type"], "function");
    assert_eq!(tools[0]["function"]["name"], "lookup");
    assert_eq!(tools[0]["function"]["description"], "Looks a customer up by id.");
    assert_eq!(tools[0]["function"]["parameters"]["required"], json!(["id"]));
    let turn = sent[1]["messages"].as_array().expect("messages");
    assert_eq!(turn[1]["role"], "assistant");
    assert_eq!(turn[1]["tool_calls"][0]["function"]["arguments"], r#"{"id":"7"}"#);
    assert_eq!(
        turn[2],
        json!({ "role": "tool", "tool_call_id": "call_1", "content": r#"{"name":"Ada","plan":"pro"}"# })
    );
    // The second call's argument had the wrong type: the model is told, the step goes on.
    assert_eq!(turn[3]["tool_call_id"], "call_2");
    let told = turn[3]["content"].as_str().unwrap_or_default();
    assert!(told.contains("argument `id` does not fit `string`"), "{told}");
    let transcript: Vec<(String, bool)> = events
        .iter()
        .filter_map(|e| match e {
            Event::AgentTool { tool, ok, .. } => Some((tool.clone(), *ok)),
            _ => None,
        })
        .collect();
    assert_eq!(transcript, [("lookup".to_string(), true), ("lookup".to_string(), false)]);
}

#[tokio::test]
async fn an_agent_that_never_answers_fails_with_max_turns() {
    let server = MockServer::start().await;
    Mock::given(path("/v1/chat/completions"))
        .respond_with(openai_tool_call(&[("call_1", "lookup", r#"{"id": "7"}"#)]))
        .mount(&server)
        .await;
    let src = agent_source(&server.uri(), "openai", "/v1", 3);
    let (outcome, _) = run(&lookup_engine(), &src, "ask", json!({ "question": "?" })).await;
    let (kind, message) = failure(&outcome);
    assert_eq!(kind, ErrorKind::MaxTurns);
    assert!(message.contains("max_turns: 3"), "{message}");
    assert_eq!(bodies(&server).await.len(), 3);
}

#[tokio::test]
async fn a_json_mode_agent_chooses_tools_through_its_answers() {
    let server = MockServer::start().await;
    Mock::given(path("/v1/chat/completions"))
        .respond_with(seq(vec![
            openai_answer(r#"{"tool": "lookup", "arguments": {"id": "8"}}"#, 10, 5),
            openai_answer(r#"{"final": {"answer": "No such customer."}}"#, 10, 5),
        ]))
        .mount(&server)
        .await;
    let src = agent_source(&server.uri(), "openai", "/v1", 4)
        .replace("stream: false", "stream: false, tool_calling: \"json\"");
    let (outcome, _) = run(&lookup_engine(), &src, "ask", json!({ "question": "Who is 8?" })).await;
    assert_eq!(outcome.output, Some(json!({ "answer": "No such customer." })));
    let sent = bodies(&server).await;
    assert!(sent[0].get("tools").is_none(), "no native tools in JSON mode");
    let schema = &sent[0]["response_format"]["json_schema"]["schema"];
    assert_eq!(schema["anyOf"][0]["properties"]["tool"]["enum"], json!(["lookup"]));
    let prompt = sent[0]["messages"][0]["content"].as_str().unwrap_or_default();
    assert!(prompt.contains("- lookup(id: string): Looks a customer up by id."), "{prompt}");
    let result = sent[1]["messages"][2]["content"].as_str().unwrap_or_default();
    assert!(result.starts_with("Tool `lookup` failed: no customer 8"), "{result}");
}

// ------------------------------------------------------------------ Anthropic

fn anthropic_answer(content: J, stop: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "id": "msg_01", "type": "message", "role": "assistant", "model": "test-model",
        "content": content, "stop_reason": stop, "stop_sequence": null,
        "usage": { "input_tokens": 200, "output_tokens": 40 }
    }))
}

#[tokio::test]
async fn anthropic_structured_output_goes_through_a_forced_tool() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/messages"))
        .and(header("x-api-key", "sk-test-0123456789"))
        .and(header("anthropic-version", "2023-06-01"))
        .respond_with(anthropic_answer(
            json!([{ "type": "tool_use", "id": "toolu_1", "name": "respond", "input": { "value": 3 } }]),
            "tool_use",
        ))
        .mount(&server)
        .await;
    let src = format!(
        "model m = anthropic(\"test-model\") {{ base_url: \"{}\", api_key_env: \"TEST_KEY\", stream: false }}
flow count(text: string) -> int {{
  step n = llm m -> int {{ system: \"Count.\", prompt: text, temperature: 1.5 }}
  return n
}}",
        server.uri()
    );
    let (outcome, _) = run(&engine(), &src, "count", json!({ "text": "a b c" })).await;
    assert_eq!(outcome.output, Some(json!(3)));
    assert_eq!((outcome.totals.input_tokens, outcome.totals.output_tokens), (200, 40));
    let body = &bodies(&server).await[0];
    assert_eq!(body["system"], "Count.");
    assert_eq!(body["max_tokens"], json!(4096));
    assert_eq!(body["temperature"], json!(1.0), "clamped to Anthropic's range");
    assert_eq!(body["messages"], json!([{ "role": "user", "content": [{ "type": "text", "text": "a b c" }] }]));
    assert_eq!(body["tool_choice"], json!({ "type": "tool", "name": "respond" }));
    assert_eq!(body["tools"][0]["name"], "respond");
    assert_eq!(body["tools"][0]["input_schema"]["properties"]["value"], json!({ "type": "integer" }));
}

#[tokio::test]
async fn anthropic_agent_turns_and_streaming() {
    let server = MockServer::start().await;
    let stream = [
        (
            "message_start",
            json!({ "type": "message_start", "message": { "id": "msg_2", "type": "message", "role": "assistant", "content": [], "model": "test-model", "stop_reason": null, "usage": { "input_tokens": 300, "output_tokens": 1 } } }),
        ),
        (
            "content_block_start",
            json!({ "type": "content_block_start", "index": 0, "content_block": { "type": "tool_use", "id": "toolu_9", "name": "respond", "input": {} } }),
        ),
        ("ping", json!({ "type": "ping" })),
        (
            "content_block_delta",
            json!({ "type": "content_block_delta", "index": 0, "delta": { "type": "input_json_delta", "partial_json": "{\"answer\": \"Ada" } }),
        ),
        (
            "content_block_delta",
            json!({ "type": "content_block_delta", "index": 0, "delta": { "type": "input_json_delta", "partial_json": " is on pro.\"}" } }),
        ),
        ("content_block_stop", json!({ "type": "content_block_stop", "index": 0 })),
        (
            "message_delta",
            json!({ "type": "message_delta", "delta": { "stop_reason": "tool_use", "stop_sequence": null }, "usage": { "output_tokens": 25 } }),
        ),
        ("message_stop", json!({ "type": "message_stop" })),
    ];
    let first = [
        (
            "message_start",
            json!({ "type": "message_start", "message": { "id": "msg_1", "type": "message", "role": "assistant", "content": [], "model": "test-model", "stop_reason": null, "usage": { "input_tokens": 200, "output_tokens": 1 } } }),
        ),
        (
            "content_block_start",
            json!({ "type": "content_block_start", "index": 0, "content_block": { "type": "text", "text": "" } }),
        ),
        (
            "content_block_delta",
            json!({ "type": "content_block_delta", "index": 0, "delta": { "type": "text_delta", "text": "Let me look that up." } }),
        ),
        ("content_block_stop", json!({ "type": "content_block_stop", "index": 0 })),
        (
            "content_block_start",
            json!({ "type": "content_block_start", "index": 1, "content_block": { "type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {} } }),
        ),
        (
            "content_block_delta",
            json!({ "type": "content_block_delta", "index": 1, "delta": { "type": "input_json_delta", "partial_json": "{\"id\": \"7\"}" } }),
        ),
        ("content_block_stop", json!({ "type": "content_block_stop", "index": 1 })),
        (
            "message_delta",
            json!({ "type": "message_delta", "delta": { "stop_reason": "tool_use", "stop_sequence": null }, "usage": { "output_tokens": 40 } }),
        ),
        ("message_stop", json!({ "type": "message_stop" })),
    ];
    let sse = |events: &[(&str, J)]| {
        let body: String = events.iter().map(|(event, data)| format!("event: {event}\ndata: {data}\n\n")).collect();
        ResponseTemplate::new(200).insert_header("content-type", "text/event-stream").set_body_string(body)
    };
    Mock::given(path("/v1/messages")).respond_with(seq(vec![sse(&first), sse(&stream)])).mount(&server).await;
    let src = agent_source(&server.uri(), "anthropic", "", 4).replace("stream: false", "stream: true");
    let (outcome, events) = run(&lookup_engine(), &src, "ask", json!({ "question": "Which plan is 7 on?" })).await;
    assert_eq!(outcome.error, None);
    assert_eq!(outcome.output, Some(json!({ "answer": "Ada is on pro." })));
    let sent = bodies(&server).await;
    assert_eq!(sent[0]["tool_choice"], json!({ "type": "any" }));
    assert_eq!(sent[0]["stream"], json!(true));
    let names: Vec<&str> =
        sent[0]["tools"].as_array().expect("tools").iter().filter_map(|t| t["name"].as_str()).collect();
    assert_eq!(names, ["lookup", "respond"]);
    let turn = sent[1]["messages"].as_array().expect("messages");
    assert_eq!(
        turn[1],
        json!({ "role": "assistant", "content": [
            { "type": "text", "text": "Let me look that up." },
            { "type": "tool_use", "id": "toolu_1", "name": "lookup", "input": { "id": "7" } }
        ] })
    );
    assert_eq!(
        turn[2],
        json!({ "role": "user", "content": [
            { "type": "tool_result", "tool_use_id": "toolu_1", "content": r#"{"name":"Ada","plan":"pro"}"#, "is_error": false }
        ] })
    );
    let deltas: String = events
        .iter()
        .filter_map(|e| match e {
            Event::LlmDelta { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(deltas, "Let me look that up.{\"answer\": \"Ada is on pro.\"}");
    assert_eq!((outcome.totals.input_tokens, outcome.totals.output_tokens), (500, 65));
}

#[tokio::test]
async fn anthropic_overloaded_is_a_provider_error() {
    let server = MockServer::start().await;
    Mock::given(path("/v1/messages"))
        .respond_with(ResponseTemplate::new(529).set_body_json(
            json!({ "type": "error", "error": { "type": "overloaded_error", "message": "Overloaded" } }),
        ))
        .mount(&server)
        .await;
    let src = agent_source(&server.uri(), "anthropic", "", 4);
    let (outcome, _) = run(&lookup_engine(), &src, "ask", json!({ "question": "?" })).await;
    let (kind, message) = failure(&outcome);
    assert_eq!(kind, ErrorKind::Provider);
    assert!(message.contains("529") && message.contains("Overloaded"), "{message}");
}

// ------------------------------------------------------------------ Ollama

#[tokio::test]
async fn ollama_native_chat_sends_the_schema_as_format_and_streams_ndjson() {
    let server = MockServer::start().await;
    let lines = [
        json!({ "model": "llama3.1", "created_at": "2026-01-01T00:00:00Z", "message": { "role": "assistant", "content": "{\"value\":" }, "done": false }),
        json!({ "model": "llama3.1", "created_at": "2026-01-01T00:00:00Z", "message": { "role": "assistant", "content": " 5}" }, "done": false }),
        json!({ "model": "llama3.1", "created_at": "2026-01-01T00:00:00Z", "message": { "role": "assistant", "content": "" }, "done": true, "done_reason": "stop", "total_duration": 1, "prompt_eval_count": 26, "eval_count": 7 }),
    ];
    let ndjson: String = lines.iter().map(|l| format!("{l}\n")).collect();
    Mock::given(method("POST"))
        .and(path("/api/chat"))
        .respond_with(
            ResponseTemplate::new(200).insert_header("content-type", "application/x-ndjson").set_body_string(ndjson),
        )
        .mount(&server)
        .await;
    Mock::given(path("/missing/api/chat"))
        .respond_with(
            ResponseTemplate::new(404)
                .set_body_json(json!({ "error": "model \"nope\" not found, try pulling it first" })),
        )
        .mount(&server)
        .await;
    let src = format!(
        "model m = ollama(\"llama3.1\") {{ base_url: \"{}\", temperature: 0.0, max_tokens: 50 }}
model missing = ollama(\"nope\") {{ base_url: \"{}/missing\" }}
flow count(text: string) -> int {{
  step n = llm m -> int {{ prompt: text }}
  return n
}}
flow broken(text: string) -> int {{
  step n = llm missing -> int {{ prompt: text }}
  return n
}}",
        server.uri(),
        server.uri()
    );
    let (outcome, events) = run(&local(), &src, "count", json!({ "text": "a" })).await;
    assert_eq!(outcome.output, Some(json!(5)));
    assert_eq!((outcome.totals.input_tokens, outcome.totals.output_tokens), (26, 7));
    assert_eq!(events.iter().filter(|e| matches!(e, Event::LlmDelta { .. })).count(), 2);
    let body = &bodies(&server).await[0];
    assert_eq!(body["format"]["properties"]["value"], json!({ "type": "integer" }));
    assert_eq!(body["options"], json!({ "temperature": 0.0, "num_predict": 50 }));
    assert_eq!(body["stream"], json!(true));
    let (outcome, _) = run(&local(), &src, "broken", json!({ "text": "a" })).await;
    assert_eq!(outcome.status, RunStatus::Failed);
    let (kind, message) = failure(&outcome);
    assert_eq!(kind, ErrorKind::Provider);
    assert!(message.contains("not found, try pulling it first") && message.contains("check the base URL"), "{message}");
}

#[tokio::test]
async fn a_slow_answer_fails_with_the_models_timeout() {
    let server = MockServer::start().await;
    Mock::given(path("/v1/chat/completions"))
        .respond_with(openai_answer(r#"{"value": 1}"#, 1, 1).set_delay(std::time::Duration::from_secs(5)))
        .mount(&server)
        .await;
    let src = openai_source(&server.uri(), "stream: false, timeout: 200ms");
    let (outcome, _) = run(&engine(), &src, "count", json!({ "text": "x" })).await;
    let (kind, message) = failure(&outcome);
    assert_eq!(kind, ErrorKind::Timeout);
    assert!(message.contains("no answer within 200ms"), "{message}");
}

#[tokio::test]
async fn openai_tool_calls_arrive_in_streamed_pieces() {
    let server = MockServer::start().await;
    let chunk = |delta: J, finish: J| {
        format!("data: {}\n\n", json!({ "choices": [{ "index": 0, "delta": delta, "finish_reason": finish }] }))
    };
    let mut first = chunk(
        json!({ "role": "assistant", "tool_calls": [{ "index": 0, "id": "call_a", "type": "function", "function": { "name": "lookup", "arguments": "" } }] }),
        J::Null,
    );
    first.push_str(&chunk(json!({ "tool_calls": [{ "index": 0, "function": { "arguments": "{\"id\"" } }] }), J::Null));
    first.push_str(&chunk(json!({ "tool_calls": [{ "index": 0, "function": { "arguments": ": \"7\"}" } }] }), J::Null));
    first.push_str(&chunk(json!({}), json!("tool_calls")));
    first.push_str("data: [DONE]\n\n");
    let stream = |body: String| {
        ResponseTemplate::new(200).insert_header("content-type", "text/event-stream").set_body_string(body)
    };
    Mock::given(path("/v1/chat/completions"))
        .respond_with(seq(vec![stream(first), openai_stream(&["{\"answer\": \"pro\"}"], 5, 5)]))
        .mount(&server)
        .await;
    let src = agent_source(&server.uri(), "openai", "/v1", 4).replace("stream: false", "stream: true");
    let (outcome, events) = run(&lookup_engine(), &src, "ask", json!({ "question": "?" })).await;
    assert_eq!(outcome.output, Some(json!({ "answer": "pro" })));
    let ran: Vec<(String, J)> = events
        .iter()
        .filter_map(|e| match e {
            Event::AgentTool { tool, arguments, .. } => Some((tool.clone(), arguments.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(ran, [("lookup".to_string(), json!({ "id": "7" }))]);
}

#[tokio::test]
async fn ollama_answers_whole_when_not_streaming() {
    let server = MockServer::start().await;
    Mock::given(path("/api/chat"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "model": "llama3.1", "created_at": "2026-01-01T00:00:00Z",
            "message": { "role": "assistant", "content": "{\"value\": 9}" },
            "done": true, "done_reason": "stop", "prompt_eval_count": 12, "eval_count": 4
        })))
        .mount(&server)
        .await;
    let src = format!(
        "model m = ollama(\"llama3.1\") {{ base_url: \"{}\", stream: false }}
flow count(text: string) -> int {{
  step n = llm m -> int {{ prompt: text }}
  return n
}}",
        server.uri()
    );
    let (outcome, events) = run(&local(), &src, "count", json!({ "text": "a" })).await;
    assert_eq!(outcome.output, Some(json!(9)));
    assert_eq!((outcome.totals.input_tokens, outcome.totals.output_tokens), (12, 4));
    assert!(!events.iter().any(|e| matches!(e, Event::LlmDelta { .. })));
    assert_eq!(bodies(&server).await[0]["stream"], json!(false));
}

// ------------------------------------------------------------------ keys go only where the host lets them

/// An engine whose programs may reach this machine (where the test servers listen).
fn local() -> Engine {
    Engine::new().allow_net("127.0.0.1".parse().expect("a rule"))
}

/// A program that points a model at an address of its choosing gets no key
/// sent there, and cannot name an arbitrary environment variable as a key.
#[tokio::test]
async fn a_file_never_chooses_where_a_key_goes() {
    let server = MockServer::start().await;
    Mock::given(method("POST")).respond_with(openai_answer(r#"{"value": "ok"}"#, 1, 1)).mount(&server).await;
    let host = local().env("OPENAI_API_KEY", "sk-host").env("SECRET_DB_PASSWORD", "hunter2");
    let base = server.uri();
    let steal = format!(
        "model m = openai(\"x\") {{ base_url: \"{base}/v1\", stream: false }}\nflow f() -> string {{\n  step a = llm m -> string {{ prompt: \"hi\" }}\n  return a\n}}\n"
    );
    // Under the default network policy the file cannot even reach this machine.
    let program = Engine::new().compile(&steal).expect("compiles");
    let refused = Engine::new().start(&program, flow_vm::RunOptions::new("f", json!({}))).err().map(|e| e.to_string());
    assert!(refused.as_deref().is_some_and(|e| e.contains("E0616") && e.contains("loopback")), "{refused:?}");
    let (outcome, _) = run(&host, &steal, "f", json!({})).await;
    assert_eq!(outcome.output, Some(json!("ok")), "{:?}", outcome.error);
    let requests = server.received_requests().await.unwrap_or_default();
    assert!(
        requests[0].headers.get("authorization").is_none(),
        "the host's OPENAI_API_KEY was not sent to the file's server"
    );

    let named = steal.replace("stream: false", "stream: false, api_key_env: \"SECRET_DB_PASSWORD\"");
    let program = host.compile(&named).expect("compiles");
    let refused = host.start(&program, flow_vm::RunOptions::new("f", json!({}))).err().map(|e| e.to_string());
    assert!(refused.as_deref().is_some_and(|e| e.contains("E0609") && e.contains("SECRET_DB_PASSWORD")), "{refused:?}");

    let standard = steal.replace("stream: false", "stream: false, api_key_env: \"OPENAI_API_KEY\"");
    let program = host.compile(&standard).expect("compiles");
    let refused = host.start(&program, flow_vm::RunOptions::new("f", json!({}))).err().map(|e| e.to_string());
    assert!(refused.as_deref().is_some_and(|e| e.contains("E0609") && e.contains("does not trust")), "{refused:?}");

    // The host trusts the address: the key goes there.
    let trusting = host.clone().trust_base_url(&base);
    let (outcome, _) = run(&trusting, &standard, "f", json!({})).await;
    assert_eq!(outcome.output, Some(json!("ok")), "{:?}", outcome.error);
    let requests = server.received_requests().await.unwrap_or_default();
    let sent =
        requests.last().and_then(|r| r.headers.get("authorization")).map(|v| v.to_str().unwrap_or("").to_string());
    assert_eq!(sent.as_deref(), Some("Bearer sk-host"));
}

/// A server that ignores `stream: true` and answers one JSON body (as some
/// OpenAI-compatible servers and proxies do) is read whole, for OpenAI and
/// Anthropic alike.
#[tokio::test]
async fn an_answer_sent_whole_when_a_stream_was_asked_for_is_read_whole() {
    let server = MockServer::start().await;
    Mock::given(path("/v1/chat/completions")).respond_with(openai_answer(r#"{"value": 7}"#, 5, 2)).mount(&server).await;
    Mock::given(path("/v1/messages"))
        .respond_with(anthropic_answer(json!([{ "type": "text", "text": "{\"value\": 8}" }]), "end_turn"))
        .mount(&server)
        .await;
    let src = openai_source(&server.uri(), "stream: true");
    let (outcome, _) = run(&engine(), &src, "count", json!({ "text": "a" })).await;
    assert_eq!(outcome.output, Some(json!(7)), "{:?}", outcome.error);
    assert_eq!(bodies(&server).await[0]["stream"], json!(true), "a stream was asked for");
    let anthropic = format!(
        "model m = anthropic(\"test-model\") {{ base_url: \"{}\", api_key_env: \"TEST_KEY\", stream: true }}
flow count() -> int {{\n  step n = llm m -> int {{ prompt: \"count\" }}\n  return n\n}}",
        server.uri()
    );
    let (outcome, _) = run(&engine(), &anthropic, "count", json!({})).await;
    assert_eq!(outcome.output, Some(json!(8)), "{:?}", outcome.error);
}

// ------------------------------------------------------------------ conversations

const CHAT: &str = r#"
flow chat(history: [Message], question: string) -> { reply: string, history: [Message] } {
  step reply = llm m -> string { system: "Be brief.", messages: history, prompt: question }
  return {
    reply: reply
    history: history + [{ role: "user", content: question }, { role: "assistant", content: reply }]
  }
}
"#;

fn chat_input() -> J {
    json!({
        "history": [
            { "role": "system", "content": "Answer in French." },
            { "role": "user", "content": "Hi" },
            { "role": "assistant", "content": "Bonjour" }
        ],
        "question": "How are you?"
    })
}

/// Each message's role and text, whatever shape the provider gives it.
fn turns(messages: &J) -> Vec<(String, String)> {
    let text = |m: &J| match &m["content"] {
        J::String(s) => s.clone(),
        J::Array(parts) => parts.iter().filter_map(|p| p["text"].as_str()).collect(),
        _ => String::new(),
    };
    messages
        .as_array()
        .map_or(Vec::new(), |ms| ms.iter().map(|m| (m["role"].as_str().unwrap_or("").to_string(), text(m))).collect())
}

#[tokio::test]
async fn a_conversation_reaches_each_provider_in_its_own_shape() {
    let server = MockServer::start().await;
    Mock::given(path("/v1/chat/completions")).respond_with(openai_answer("Ça va bien.", 3, 3)).mount(&server).await;
    Mock::given(path("/v1/messages"))
        .respond_with(anthropic_answer(
            json!([{ "type": "tool_use", "id": "t", "name": "respond", "input": { "value": "Ça va bien." } }]),
            "tool_use",
        ))
        .mount(&server)
        .await;
    Mock::given(path("/api/chat"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "model": "m", "created_at": "2026-01-01T00:00:00Z",
            "message": { "role": "assistant", "content": "Ça va bien." },
            "done": true, "done_reason": "stop", "prompt_eval_count": 3, "eval_count": 3
        })))
        .mount(&server)
        .await;
    let base = server.uri();
    let models = [
        format!("model m = openai(\"x\") {{ base_url: \"{base}/v1\", api_key_env: \"TEST_KEY\", stream: false }}"),
        format!("model m = anthropic(\"x\") {{ base_url: \"{base}\", api_key_env: \"TEST_KEY\", stream: false }}"),
        format!("model m = ollama(\"x\") {{ base_url: \"{base}\", stream: false }}"),
    ];
    for model in &models {
        let (outcome, _) = run(
            &engine().allow_net("127.0.0.1".parse().expect("a rule")),
            &format!("{model}\n{CHAT}"),
            "chat",
            chat_input(),
        )
        .await;
        let output = outcome.output.unwrap_or_else(|| panic!("{model}: {:?}", outcome.error));
        assert_eq!(output["reply"], "Ça va bien.");
        assert_eq!(output["history"].as_array().map(Vec::len), Some(5), "the new history: {output}");
        assert_eq!(output["history"][4], json!({ "role": "assistant", "content": "Ça va bien." }));
    }
    let sent = bodies(&server).await;
    let pair = |r: &str, t: &str| (r.to_string(), t.to_string());
    let conversation = [pair("user", "Hi"), pair("assistant", "Bonjour"), pair("user", "How are you?")];
    // OpenAI-compatible and Ollama: the system text as the first message.
    for body in [&sent[0], &sent[2]] {
        let got = turns(&body["messages"]);
        assert_eq!(got[0], pair("system", "Be brief.\n\nAnswer in French."), "{body}");
        assert_eq!(got[1..], conversation, "{body}");
    }
    // Anthropic: the system text apart, user and assistant turns in the messages.
    assert_eq!(sent[1]["system"], "Be brief.\n\nAnswer in French.");
    assert_eq!(turns(&sent[1]["messages"]), conversation);
}

#[tokio::test]
async fn a_step_with_only_messages_asks_the_last_one() {
    let server = MockServer::start().await;
    Mock::given(path("/v1/chat/completions")).respond_with(openai_answer("4", 3, 1)).mount(&server).await;
    let src = format!(
        "model m = openai(\"x\") {{ base_url: \"{}/v1\", api_key_env: \"TEST_KEY\", stream: false }}
flow ask(history: [Message]) -> int {{
  step n = llm m -> int {{ messages: history }}
  return n
}}",
        server.uri()
    );
    let history = json!({ "history": [{ "role": "user", "content": "2 + 2?" }] });
    let (outcome, _) = run(&engine(), &src, "ask", history).await;
    assert_eq!(outcome.output, Some(json!(4)));
    assert_eq!(turns(&bodies(&server).await[0]["messages"]), [("user".to_string(), "2 + 2?".to_string())]);
    let (outcome, _) = run(&engine(), &src, "ask", json!({ "history": [] })).await;
    let (kind, message) = failure(&outcome);
    assert_eq!(kind, ErrorKind::Value);
    assert!(message.contains("no prompt and its `messages` are empty"), "{message}");
}
