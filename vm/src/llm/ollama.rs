//! The Ollama provider, native API: `POST {base_url}/api/chat` with the
//! answer's schema in `format`. Streams are newline-delimited JSON objects,
//! the last with `"done": true` and the token counts.

use super::http::{self, Lines};
use crate::call_error::ToolError;
use crate::models::{ChatRequest, ChatResponse, DeltaSink, Message, ModelProvider, ToolCall, Usage};
use flow_compiler::ir::ErrorKind;
use futures::future::BoxFuture;
use serde_json::{Value as J, json};

/// Where requests go unless the model's `base_url` or `OLLAMA_HOST` says otherwise.
pub const DEFAULT_BASE_URL: &str = "http://127.0.0.1:11434";

/// Ollama's native chat API.
pub struct Ollama {
    /// The HTTP client requests are sent with.
    pub http: reqwest::Client,
}

impl ModelProvider for Ollama {
    fn chat<'a>(
        &'a self,
        request: &'a ChatRequest<'a>,
        on_delta: DeltaSink<'a>,
    ) -> BoxFuture<'a, Result<ChatResponse, ToolError>> {
        Box::pin(async move {
            let url = format!("{}/api/chat", request.endpoint.base_url.trim_end_matches('/'));
            let mut builder = self.http.post(&url).json(&body(request));
            if let Some(key) = &request.endpoint.api_key {
                builder = builder.bearer_auth(key);
            }
            let response = http::send(builder, &url).await?;
            if !request.stream {
                let whole = http::json_body(response, request.max_answer_bytes, &url).await?;
                return read_chunk(&whole, &url, &mut ChatResponse::default()).map(|(_, response)| response);
            }
            let mut lines = Lines::new(response, request.idle_timeout, request.max_answer_bytes, &url);
            let mut response = ChatResponse::default();
            while let Some(line) = lines.next().await? {
                if line.trim().is_empty() {
                    continue;
                }
                let before = response.text.len();
                let (done, next) = read_chunk(&http::chunk(&line, &url)?, &url, &mut response)?;
                response = next;
                if response.text.len() > before {
                    on_delta(&response.text[before..]);
                }
                if done {
                    return Ok(response);
                }
            }
            Err(ToolError::with_kind(ErrorKind::Provider, format!("the stream from {url} ended before the answer did")))
        })
    }
}

/// The request body, in the shape the API documents.
pub fn body(request: &ChatRequest<'_>) -> J {
    let mut messages = Vec::with_capacity(request.messages.len() + 1);
    if let Some(system) = request.system {
        messages.push(json!({ "role": "system", "content": system }));
    }
    for m in request.messages {
        messages.push(match m {
            Message::User { text } => json!({ "role": "user", "content": text }),
            Message::Assistant { text, tool_calls } => {
                let mut turn = json!({ "role": "assistant", "content": text });
                if !tool_calls.is_empty() {
                    turn["tool_calls"] = tool_calls
                        .iter()
                        .map(|c| json!({ "function": { "name": c.name, "arguments": c.arguments } }))
                        .collect();
                }
                turn
            }
            Message::Tool { name, content, .. } => json!({ "role": "tool", "tool_name": name, "content": content }),
        });
    }
    let mut options = serde_json::Map::new();
    if let Some(t) = request.temperature {
        options.insert("temperature".into(), json!(t));
    }
    if let Some(n) = request.max_tokens {
        options.insert("num_predict".into(), json!(n));
    }
    let mut body = json!({
        "model": request.model.model_id,
        "messages": messages,
        "format": request.output.schema,
        "stream": request.stream,
    });
    if !options.is_empty() {
        body["options"] = J::Object(options);
    }
    if !request.tools.is_empty() {
        body["tools"] = request
            .tools
            .iter()
            .map(|t| {
                json!({
                    "type": "function",
                    "function": { "name": t.name, "description": t.description, "parameters": t.parameters },
                })
            })
            .collect();
    }
    body
}

/// Folds one answer object (the whole answer, or one streamed chunk) into
/// `so_far`; says whether it was the last.
fn read_chunk(v: &J, url: &str, so_far: &mut ChatResponse) -> Result<(bool, ChatResponse), ToolError> {
    if let Some(error) = v.get("error").and_then(J::as_str) {
        return Err(ToolError::with_kind(ErrorKind::Provider, format!("{url} answered with an error: {error}")));
    }
    let mut response = std::mem::take(so_far);
    let message = v.get("message").ok_or_else(|| {
        ToolError::with_kind(
            ErrorKind::Provider,
            format!("{url} answered without `message`: {}", crate::call_error::snippet(&v.to_string())),
        )
        .permanent()
    })?;
    response.text.push_str(message.get("content").and_then(J::as_str).unwrap_or_default());
    for c in message.get("tool_calls").and_then(J::as_array).into_iter().flatten() {
        let n = response.tool_calls.len();
        response.tool_calls.push(ToolCall {
            id: c.get("id").and_then(J::as_str).map_or_else(|| format!("call_{n}"), str::to_string),
            name: c.pointer("/function/name").and_then(J::as_str).unwrap_or_default().to_string(),
            arguments: c.pointer("/function/arguments").cloned().unwrap_or_else(|| json!({})),
        });
    }
    let done = v.get("done").and_then(J::as_bool).unwrap_or(false);
    if done {
        response.usage = Usage {
            input_tokens: v.get("prompt_eval_count").and_then(J::as_u64).unwrap_or(0),
            output_tokens: v.get("eval_count").and_then(J::as_u64).unwrap_or(0),
        };
        response.finish_reason = v.get("done_reason").and_then(J::as_str).map(str::to_string);
    }
    Ok((done, response))
}
