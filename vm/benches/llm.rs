//! Model calls: the engine's own overhead per `llm` call (an in-process
//! provider that answers at once, so all that is measured is request
//! building, limits, lenient parsing, schema validation and accounting),
//! the same over real HTTP to a local server that answers at once, and a
//! map of 1,000 calls against a local server with 50 ms latency and
//! `concurrency: 100` (ideal: 10 waves of 50 ms = 0.5 s). Figures go to
//! BENCHMARKS.md.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use flow_vm::{ChatRequest, ChatResponse, Engine, ModelProvider, ToolError, Usage};
use futures::future::BoxFuture;
use serde_json::json;
use std::time::Duration;
use wiremock::matchers::path;
use wiremock::{Mock, MockServer, ResponseTemplate};

/// Answers every call at once with a fitting review.
struct Instant;

const ANSWER: &str =
    r#"{"sentiment": "positive", "stars": 4, "summary": "Works well for the price.", "mentions_price": true}"#;

impl ModelProvider for Instant {
    fn chat<'a>(
        &'a self,
        _request: &'a ChatRequest<'a>,
        _on_delta: flow_vm::models::DeltaSink<'a>,
    ) -> BoxFuture<'a, Result<ChatResponse, ToolError>> {
        Box::pin(async move {
            Ok(ChatResponse {
                text: ANSWER.to_string(),
                usage: Usage { input_tokens: 40, output_tokens: 25 },
                finish_reason: Some("stop".into()),
                ..Default::default()
            })
        })
    }
}

fn source(model_options: &str, concurrency: usize) -> String {
    format!(
        r#"type Review {{
  sentiment: "positive" | "negative" | "mixed"
  /// From 1 to 5.
  stars: int
  summary: string
  mentions_price: bool
}}
model m = openai("gpt-4o-mini") {{ {model_options} }}
flow batch(texts: [string]) -> int {{
  step reviews = map text in texts (concurrency: {concurrency}) {{
    step r = llm m -> Review {{ prompt: "Review: ${{text}}" }}
    return r
  }}
  return len(reviews)
}}"#
    )
}

fn openai_body() -> serde_json::Value {
    json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1_700_000_000, "model": "gpt-4o-mini",
        "choices": [{ "index": 0, "message": { "role": "assistant", "content": ANSWER }, "finish_reason": "stop" }],
        "usage": { "prompt_tokens": 40, "completion_tokens": 25, "total_tokens": 65 }
    })
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let calls = 1_000;
    let texts: Vec<String> = (0..calls).map(|i| format!("review number {i}")).collect();
    let input = json!({ "texts": texts });

    let mut group = c.benchmark_group("llm");
    group.sample_size(20);
    group.throughput(Throughput::Elements(calls as u64));

    let engine = Engine::new().provider("m", Instant);
    let program = engine.compile(&source("", 100)).expect("compiles");
    group.bench_function("1000 llm calls, in-process provider", |b| {
        b.iter(|| runtime.block_on(engine.run(&program, "batch", input.clone())).expect("runs"))
    });

    let server = runtime.block_on(MockServer::start());
    runtime.block_on(
        Mock::given(path("/v1/chat/completions"))
            .respond_with(ResponseTemplate::new(200).set_body_json(openai_body()))
            .mount(&server),
    );
    let engine = Engine::new();
    let options = format!("base_url: \"{}/v1\", stream: false", server.uri());
    let program = engine.compile(&source(&options, 100)).expect("compiles");
    group.bench_function("1000 llm calls over HTTP, no latency", |b| {
        b.iter(|| runtime.block_on(engine.run(&program, "batch", input.clone())).expect("runs"))
    });
    group.finish();

    let slow = runtime.block_on(MockServer::start());
    runtime.block_on(
        Mock::given(path("/v1/chat/completions"))
            .respond_with(ResponseTemplate::new(200).set_body_json(openai_body()).set_delay(Duration::from_millis(50)))
            .mount(&slow),
    );
    let options = format!("base_url: \"{}/v1\", stream: false, concurrency: 100", slow.uri());
    // The map allows 1,000 at once; the model's own limit holds it to 100.
    let program = engine.compile(&source(&options, 1_000)).expect("compiles");
    let mut group = c.benchmark_group("llm latency");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    group.bench_function("1000 calls at 50 ms, model concurrency 100 (ideal 0.5 s)", |b| {
        b.iter(|| runtime.block_on(engine.run(&program, "batch", input.clone())).expect("runs"))
    });
    group.finish();
}

/// An answer of about 10 KB: reasoning in prose with braces and code in it,
/// then the JSON, then more prose.
fn long_answer() -> String {
    let mut text = String::from("<thinking>\nThe template is {sentiment, stars}. Let me think.\n</thinking>\n");
    for i in 0..75 {
        text.push_str(&format!(
            "Point {i}: the reviewer mentions the price ({{price}}) and compares it with [other brands], \
             writing `let x = {{ a: {i} }};` as an aside. "
        ));
    }
    text.push_str("\n\nSo the result is:\n```json\n");
    text.push_str(ANSWER);
    text.push_str("\n```\nI hope this helps; note that {braces} in the review were ignored.\n");
    text
}

fn reading(c: &mut Criterion) {
    let engine = Engine::new();
    let program = engine.compile(&source("", 1)).expect("compiles");
    let text = long_answer();
    assert!(text.len() > 9_000, "about 10 KB: {}", text.len());
    assert_eq!(flow_vm::test_support::read_answer(&program, "Review", &text).expect("reads")["stars"], json!(4));
    let mut group = c.benchmark_group("reader");
    group.throughput(Throughput::Bytes(text.len() as u64));
    group.bench_function("a 10 KB answer with prose, braces and code around the JSON", |b| {
        b.iter(|| flow_vm::test_support::read_answer(&program, "Review", &text))
    });
    group.bench_function("a bare JSON answer", |b| {
        b.iter(|| flow_vm::test_support::read_answer(&program, "Review", ANSWER))
    });
    group.finish();
}

criterion_group!(benches, bench, reading);
criterion_main!(benches);
