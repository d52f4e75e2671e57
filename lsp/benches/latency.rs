//! Per-keystroke latency of `flowc lsp`, driven through the protocol: the
//! real server over in-memory pipes, a minimal JSON-RPC client framing its
//! messages. On a generated 2,000-line program:
//!
//! - `diagnostics after a change`: an incremental one-character edit sent as
//!   `didChange`, until the `publishDiagnostics` for its version arrives;
//! - `completion after a dot`: a `completion` request, until its answer.
//!
//! `cargo bench -p flow-lsp --bench latency`; figures in BENCHMARKS.md.

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, DuplexStream};

/// A program of at least `lines` lines: types, tools, flows with llm, map
/// and route steps. Returns it with the line and column of a `.` to complete
/// after and of a string to edit, both in the middle.
fn program(lines: usize) -> (String, (u32, u32), (u32, u32)) {
    let mut text = String::from("model m = mock(\"m\")\n\n");
    let mut i = 0;
    while text.lines().count() < lines {
        text.push_str(&format!(
            "/// Record {i}.\ntype T{i} {{\n  name: string\n  score: int\n  tags: [string]\n}}\n\n\
             tool fetch{i}(id: string) -> T{i}\n\n\
             flow f{i}(id: string, limit: int) -> {{ total: int, label: string }} {{\n\
             \x20 step record = fetch{i}(id: id)\n\
             \x20 step summary = llm m -> {{ label: string, score: int }} {{\n\
             \x20   prompt: \"Summarise ${{record.name}} with tags ${{record.tags}}\"\n\
             \x20 }}\n\
             \x20 step lengths = map tag in record.tags (concurrency: 4) {{\n\
             \x20   step n = len(tag) + record.score\n\
             \x20   return n * 2\n\
             \x20 }}\n\
             \x20 step best = route {{\n\
             \x20   when summary.score > limit => summary.label.upper()\n\
             \x20   else => record.name\n\
             \x20 }}\n\
             \x20 step total = lengths.reduce(0, (a, n) => a + n) + summary.score\n\
             \x20 return {{ total: total, label: best }}\n\
             }}\n\n"
        ));
        i += 1;
    }
    let lines: Vec<&str> = text.lines().collect();
    let middle = lines.len() / 2;
    let find = |needle: &str| {
        let line = (middle..lines.len()).find(|&l| lines[l].contains(needle)).expect("found");
        (line as u32, (lines[line].find(needle).expect("found") + needle.len()) as u32)
    };
    // Right after the dot of `summary.score`, and inside the prompt's text.
    let after = find("summary.score > limit");
    let dot = (after.0, after.1 - "score > limit".len() as u32);
    let edit = find("prompt: \"Summarise");
    (text, dot, edit)
}

struct Client {
    to_server: DuplexStream,
    from_server: BufReader<DuplexStream>,
    next_id: i64,
}

impl Client {
    async fn send(&mut self, message: Value) {
        let body = message.to_string();
        let framed = format!("Content-Length: {}\r\n\r\n{body}", body.len());
        self.to_server.write_all(framed.as_bytes()).await.expect("written");
    }

    async fn receive(&mut self) -> Value {
        let mut length = 0usize;
        loop {
            let mut line = String::new();
            self.from_server.read_line(&mut line).await.expect("header");
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some(n) = line.strip_prefix("Content-Length: ") {
                length = n.parse().expect("length");
            }
        }
        let mut body = vec![0; length];
        self.from_server.read_exact(&mut body).await.expect("body");
        serde_json::from_slice(&body).expect("JSON")
    }

    async fn request(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        self.send(json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params })).await;
        loop {
            let message = self.receive().await;
            if message["id"] == id {
                return message;
            }
        }
    }

    async fn diagnostics_for(&mut self, version: i64) -> Value {
        loop {
            let message = self.receive().await;
            if message["method"] == "textDocument/publishDiagnostics" && message["params"]["version"] == version {
                return message;
            }
        }
    }
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let (text, dot, edit) = program(2_000);
    let uri = "file:///bench.flow";
    let mut client = runtime.block_on(async {
        let (to_server, server_in) = tokio::io::duplex(1 << 22);
        let (server_out, from_server) = tokio::io::duplex(1 << 22);
        tokio::spawn(flow_lsp::serve(server_in, server_out));
        let mut client = Client { to_server, from_server: BufReader::new(from_server), next_id: 0 };
        client.request("initialize", json!({ "capabilities": {} })).await;
        client.send(json!({ "jsonrpc": "2.0", "method": "initialized", "params": {} })).await;
        client
            .send(json!({ "jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {
                "textDocument": { "uri": uri, "languageId": "flow", "version": 1, "text": text } } }))
            .await;
        let first = client.diagnostics_for(1).await;
        assert_eq!(first["params"]["diagnostics"], json!([]), "the generated program checks clean");
        client
    });
    let lines = text.lines().count();
    let mut group = c.benchmark_group(format!("lsp on {lines} lines"));
    let mut version = 1i64;
    group.bench_function("diagnostics after a change", |b| {
        b.iter(|| {
            version += 1;
            // Type one letter into a prompt (alternately a and b, so the text keeps its length).
            let letter = if version % 2 == 0 { "a" } else { "b" };
            runtime.block_on(async {
                client
                    .send(json!({ "jsonrpc": "2.0", "method": "textDocument/didChange", "params": {
                        "textDocument": { "uri": uri, "version": version },
                        "contentChanges": [{ "range": {
                            "start": { "line": edit.0, "character": edit.1 },
                            "end": { "line": edit.0, "character": edit.1 + 1 } }, "text": letter }] } }))
                    .await;
                client.diagnostics_for(version).await
            })
        })
    });
    group.bench_function("completion after a dot", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let answer = client
                    .request(
                        "textDocument/completion",
                        json!({
                        "textDocument": { "uri": uri }, "position": { "line": dot.0, "character": dot.1 } }),
                    )
                    .await;
                assert!(answer["result"].as_array().is_some_and(|items| !items.is_empty()), "{answer}");
                answer
            })
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
