//! End to end against a real model: starts the small local model of
//! `scripts/local-llm/` (installing it on first use) on 127.0.0.1 and runs
//! flows with `llm` steps through the OpenAI-compatible provider. A model
//! this small gets facts wrong, so the tests assert shape, types, the
//! schema sent, token counts, streaming and repair, never content.
//!
//! Set `FLOW_SKIP_LOCAL_LLM=1` to skip (CI does not).

use flow_vm::providers::{OpenAi, openai};
use flow_vm::{ChatRequest, ChatResponse, Endpoint, Engine, ErrorKind, Event, ModelProvider, RunStatus, ToolError};
use futures::future::BoxFuture;
use serde_json::{Value as J, json};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

/// The server process; killed when the test ends, however it ends.
struct Server {
    child: Child,
    base_url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server() -> Server {
    let port =
        std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/local-llm/start.sh");
    let mut child = Command::new(&script)
        .args(["--port", &port.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    let stdout = child.stdout.take().expect("stdout");
    let mut server = Server { child, base_url: String::new() };
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(url) = line.strip_prefix("ready ") {
                let _ = tx.send(url.to_string());
            }
        }
    });
    // The first run installs the model (a few seconds with a warm pip cache).
    let url = rx.recv_timeout(Duration::from_secs(600)).expect("the local model server did not become ready");
    server.base_url = format!("{url}/v1");
    server
}

/// The OpenAI-compatible provider, pointed at the local server, keeping
/// the body of every request it sends.
struct Recording {
    inner: OpenAi,
    endpoint: Endpoint,
    sent: Arc<Mutex<Vec<J>>>,
}

impl ModelProvider for Recording {
    fn chat<'a>(
        &'a self,
        request: &'a ChatRequest<'a>,
        on_delta: flow_vm::models::DeltaSink<'a>,
    ) -> BoxFuture<'a, Result<ChatResponse, ToolError>> {
        Box::pin(async move {
            let request = request.with_endpoint(&self.endpoint);
            if let Ok(mut sent) = self.sent.lock() {
                sent.push(openai::body(&request));
            }
            self.inner.chat(&request, on_delta).await
        })
    }
}

fn engine(server: &Server) -> (Engine, Arc<Mutex<Vec<J>>>) {
    let sent = Arc::new(Mutex::new(Vec::new()));
    let provider = Recording {
        inner: OpenAi { http: flow_vm::providers::HttpClient::new() },
        endpoint: Endpoint { base_url: server.base_url.clone(), api_key: None },
        sent: sent.clone(),
    };
    (Engine::new().provider("openai", provider), sent)
}

use flow_vm::test_support::run;

fn calls(events: &[Event]) -> Vec<(u64, u64, String)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::LlmCall { input_tokens, output_tokens, text, .. } => {
                Some((*input_tokens, *output_tokens, text.clone()))
            }
            _ => None,
        })
        .collect()
}

fn assert_review(v: &J) {
    assert!(["positive", "negative", "mixed"].contains(&v["sentiment"].as_str().unwrap_or("")), "{v}");
    assert!(v["stars"].is_i64(), "{v}");
    assert!(v["summary"].is_string(), "{v}");
    assert!(v["mentions_price"].is_boolean(), "{v}");
}

fn example(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// One server for all cases: it answers one request at a time, and
/// starting it is the slow part.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flows_run_against_a_real_local_model() {
    if std::env::var_os("FLOW_SKIP_LOCAL_LLM").is_some() {
        eprintln!("FLOW_SKIP_LOCAL_LLM is set: skipping the local model tests");
        return;
    }
    let server = tokio::task::spawn_blocking(start_server).await.expect("start");
    an_example_runs_unchanged_with_typed_answers_and_tokens(&server).await;
    a_batch_fans_out_under_the_models_limits(&server).await;
    a_cut_off_answer_is_repaired_then_fails_with_the_raw_text(&server).await;
    a_json_mode_agent_takes_turns(&server).await;
}

async fn an_example_runs_unchanged_with_typed_answers_and_tokens(server: &Server) {
    let (engine, sent) = engine(server);
    let text = "It broke after two days and it cost a fortune. Terrible.";
    let (outcome, events) = run(&engine, &example("reviews.flow"), "review", json!({ "text": text })).await;
    assert_eq!(outcome.status, RunStatus::Succeeded, "{:?}", outcome.error);
    let output = outcome.output.expect("output");
    assert_review(&output["review"]);
    assert!(output["apology"].is_string() || output["apology"].is_null(), "{output}");
    // The schema sent is the one derived from `Review`, field docs included.
    let sent = sent.lock().expect("lock").clone();
    let format = &sent[0]["response_format"]["json_schema"];
    assert_eq!(format["strict"], json!(true));
    assert_eq!(format["schema"]["required"], json!(["sentiment", "stars", "summary", "mentions_price"]));
    assert_eq!(format["schema"]["properties"]["stars"]["description"], "From 1 (worst) to 5 (best).");
    assert_eq!(sent[0]["max_tokens"], json!(150));
    assert_eq!(sent[0]["stream"], json!(true));
    // Tokens as the server counted them, per call and per run; streamed text adds up to the answer.
    let calls = calls(&events);
    assert!(!calls.is_empty());
    for (input, output, _) in &calls {
        assert!(*input > 0 && *output > 0, "tokens {input}/{output}");
    }
    let streamed: String = events
        .iter()
        .filter_map(|e| match e {
            Event::LlmDelta { step, text, .. } if step == "review/read" => Some(text.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(streamed, calls[0].2);
    assert_eq!(outcome.totals.input_tokens, calls.iter().map(|c| c.0).sum::<u64>());
    assert_eq!(outcome.totals.output_tokens, calls.iter().map(|c| c.1).sum::<u64>());
    assert!(outcome.totals.cost_usd.is_some_and(|c| c > 0.0));
}

async fn a_batch_fans_out_under_the_models_limits(server: &Server) {
    let (engine, _) = engine(server);
    let texts = ["Great value.", "Stopped working.", "Fine but pricey.", "Love it!"];
    let (outcome, events) = run(&engine, &example("reviews.flow"), "batch", json!({ "texts": texts })).await;
    assert_eq!(outcome.status, RunStatus::Succeeded, "{:?}", outcome.error);
    let output = outcome.output.expect("output");
    let reviews = output["reviews"].as_array().expect("a list");
    assert_eq!(reviews.len(), texts.len());
    reviews.iter().for_each(assert_review);
    assert!(output["average_stars"].is_f64());
    assert!(calls(&events).len() >= texts.len());
}

async fn a_cut_off_answer_is_repaired_then_fails_with_the_raw_text(server: &Server) {
    let (engine, sent) = engine(server);
    let src = r#"
type Story { title: string, paragraphs: [string] }
model tiny = openai("gpt-4o-mini") { temperature: 0.0, max_tokens: 6, repair: 1, stream: false }
flow write(topic: string) -> Story {
  step s = llm tiny -> Story { prompt: "Write a long story about ${topic}." }
  return s
}
"#;
    let (outcome, events) = run(&engine, src, "write", json!({ "topic": "a lighthouse" })).await;
    let error = outcome.error.expect("a six-token story cannot be whole JSON");
    assert_eq!(error.kind, ErrorKind::Schema);
    assert!(error.message.contains("cut off at the token limit"), "{}", error.message);
    assert!(error.raw.as_deref().is_some_and(|r| !r.is_empty()));
    let repairs = events.iter().filter(|e| matches!(e, Event::LlmRepair { .. })).count();
    assert_eq!(repairs, 1);
    let sent = sent.lock().expect("lock").clone();
    assert_eq!(sent.len(), 2, "the first answer and one repair");
    let last = sent[1]["messages"].as_array().and_then(|m| m.last()).cloned().unwrap_or_default();
    assert!(last["content"].as_str().unwrap_or("").contains("cut off"), "{last}");
    assert!(calls(&events).iter().all(|(_, output, _)| *output == 6));
}

async fn a_json_mode_agent_takes_turns(server: &Server) {
    #[derive(serde::Deserialize)]
    struct Lookup {
        #[allow(dead_code)]
        id: String,
    }
    let (engine, sent) = engine(server);
    let engine = engine.tool("lookup", |_: Lookup| async move { Ok::<_, ToolError>(json!({ "plan": "pro" })) });
    let src = r#"
/// Finds the plan a customer is on.
tool lookup(id: string) -> { plan: string }
model local = openai("gpt-4o-mini") { temperature: 0.0, max_tokens: 80, tool_calling: "json", stream: false }
flow ask(id: string) -> { plan: string } {
  step a = agent local -> { plan: string } {
    goal: "Which plan is customer ${id} on? Use the lookup tool, then give the final answer."
    tools: [lookup]
    max_turns: 3
  }
  return a
}
"#;
    let (outcome, events) = run(&engine, src, "ask", json!({ "id": "7" })).await;
    // A small model may or may not finish in three turns; either way the loop is bounded and typed.
    match outcome.status {
        RunStatus::Succeeded => assert!(outcome.output.as_ref().is_some_and(|o| o["plan"].is_string())),
        _ => {
            let kind = outcome.error.as_ref().map(|e| e.kind);
            assert!(matches!(kind, Some(ErrorKind::MaxTurns | ErrorKind::Schema)), "{:?}", outcome.error);
        }
    }
    let sent = sent.lock().expect("lock").clone();
    assert!(sent[0].get("tools").is_none());
    assert!(sent[0]["response_format"]["json_schema"]["schema"]["anyOf"].is_array());
    for e in &events {
        if let Event::AgentTool { tool, .. } = e {
            assert_eq!(tool, "lookup");
        }
    }
    assert!(calls(&events).len() <= 3 + 1, "at most max_turns calls, plus one repair");
}
