//! The OpenAI-compatible provider: `POST {base_url}/chat/completions`, as
//! OpenAI, vLLM, llama.cpp's server, Ollama's `/v1` and OpenRouter serve it.
//! The answer's schema goes in `response_format: json_schema`, tools in
//! `tools`; streamed answers arrive as SSE `data:` chunks ending in `[DONE]`.

use super::http::{self, Lines, Sse};
use crate::call_error::ToolError;
use crate::models::{ChatRequest, ChatResponse, DeltaSink, Message, ModelProvider, ToolCall, Usage};
use flow_compiler::ir::ErrorKind;
use futures::future::BoxFuture;
use serde_json::{Value as J, json};

/// Where requests go unless the model's `base_url` or `OPENAI_BASE_URL` says otherwise.
pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";

/// An OpenAI-compatible chat completions API.
pub struct OpenAi {
    /// The HTTP client requests are sent with.
    pub http: reqwest::Client,
}

impl ModelProvider for OpenAi {
    fn chat<'a>(
        &'a self,
        request: &'a ChatRequest<'a>,
        on_delta: DeltaSink<'a>,
    ) -> BoxFuture<'a, Result<ChatResponse, ToolError>> {
        Box::pin(async move {
            let url = format!("{}/chat/completions", request.endpoint.base_url.trim_end_matches('/'));
            let mut builder = self.http.post(&url).json(&body(request));
            if let Some(key) = &request.endpoint.api_key {
                builder = builder.bearer_auth(key);
            }
            let response = http::send(builder, &url).await?;
            // A server that ignores `stream: true` and answers whole is read whole.
            if request.stream && http::is_stream(&response) {
                read_stream(
                    Sse::new(Lines::new(response, request.idle_timeout, request.max_answer_bytes, &url)),
                    on_delta,
                    &url,
                )
                .await
            } else {
                read_whole(&http::json_body(response, request.max_answer_bytes, &url).await?, &url)
            }
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
            Message::Assistant { text, tool_calls } if tool_calls.is_empty() => {
                json!({ "role": "assistant", "content": text })
            }
            Message::Assistant { text, tool_calls } => json!({
                "role": "assistant",
                "content": if text.is_empty() { J::Null } else { J::String(text.clone()) },
                "tool_calls": tool_calls.iter().map(|c| json!({
                    "id": c.id,
                    "type": "function",
                    "function": { "name": c.name, "arguments": arguments_text(&c.arguments) },
                })).collect::<Vec<_>>(),
            }),
            Message::Tool { call_id, content, .. } => {
                json!({ "role": "tool", "tool_call_id": call_id, "content": content })
            }
        });
    }
    let mut body = json!({
        "model": request.model.model_id,
        "messages": messages,
        "response_format": {
            "type": "json_schema",
            "json_schema": { "name": "answer", "schema": request.output.schema, "strict": request.output.strict },
        },
    });
    if let Some(t) = request.temperature {
        body["temperature"] = json!(t);
    }
    if let Some(n) = request.max_tokens {
        // OpenAI's own API renamed the field; compatible servers know the old name.
        let field =
            if request.endpoint.base_url.contains("api.openai.com") { "max_completion_tokens" } else { "max_tokens" };
        body[field] = json!(n);
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
    if request.stream {
        body["stream"] = json!(true);
        body["stream_options"] = json!({ "include_usage": true });
    }
    body
}

/// Tool-call arguments as the API carries them: a JSON text.
fn arguments_text(arguments: &J) -> String {
    match arguments {
        J::String(raw) => raw.clone(),
        other => other.to_string(),
    }
}

/// Arguments as the model wrote them: JSON if they parse, else the raw text
/// (the engine then tells the model they were not JSON).
fn parse_arguments(raw: &str) -> J {
    if raw.trim().is_empty() {
        return json!({});
    }
    serde_json::from_str(raw).unwrap_or_else(|_| J::String(raw.to_string()))
}

fn usage(v: &J) -> Usage {
    Usage {
        input_tokens: v.pointer("/usage/prompt_tokens").and_then(J::as_u64).unwrap_or(0),
        output_tokens: v.pointer("/usage/completion_tokens").and_then(J::as_u64).unwrap_or(0),
    }
}

fn malformed(url: &str, what: &str, body: &J) -> ToolError {
    ToolError::with_kind(
        ErrorKind::Provider,
        format!("{url} answered without {what}: {}", crate::call_error::snippet(&body.to_string())),
    )
    .permanent()
}

/// Reads a whole (not streamed) answer: the first choice's text and tool calls, and the usage.
pub fn read_whole(v: &J, url: &str) -> Result<ChatResponse, ToolError> {
    let choice = v.pointer("/choices/0").ok_or_else(|| malformed(url, "`choices`", v))?;
    let message = choice.get("message").ok_or_else(|| malformed(url, "`choices[0].message`", v))?;
    let text = message
        .get("content")
        .and_then(J::as_str)
        .or_else(|| message.get("refusal").and_then(J::as_str))
        .unwrap_or_default()
        .to_string();
    let tool_calls = message
        .get("tool_calls")
        .and_then(J::as_array)
        .map(|calls| {
            calls
                .iter()
                .enumerate()
                .map(|(i, c)| ToolCall {
                    id: c.get("id").and_then(J::as_str).map_or_else(|| format!("call_{i}"), str::to_string),
                    name: c.pointer("/function/name").and_then(J::as_str).unwrap_or_default().to_string(),
                    arguments: parse_arguments(c.pointer("/function/arguments").and_then(J::as_str).unwrap_or("")),
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(ChatResponse {
        text,
        tool_calls,
        usage: usage(v),
        finish_reason: choice.get("finish_reason").and_then(J::as_str).map(str::to_string),
    })
}

/// A tool call being streamed in pieces, keyed by its `index`.
#[derive(Default)]
struct PartialCall {
    id: String,
    name: String,
    arguments: String,
}

async fn read_stream(mut sse: Sse, on_delta: DeltaSink<'_>, url: &str) -> Result<ChatResponse, ToolError> {
    let mut response = ChatResponse::default();
    let mut calls: Vec<PartialCall> = Vec::new();
    let mut finished = false;
    while let Some(event) = sse.next().await? {
        if event.data.trim() == "[DONE]" {
            finished = true;
            break;
        }
        let chunk = http::chunk(&event.data, url)?;
        if let Some(message) = chunk.pointer("/error/message").and_then(J::as_str) {
            return Err(ToolError::with_kind(ErrorKind::Provider, format!("{url} streamed an error: {message}")));
        }
        if chunk.get("usage").is_some_and(|u| !u.is_null()) {
            response.usage = usage(&chunk);
        }
        let Some(choice) = chunk.pointer("/choices/0") else { continue };
        if let Some(reason) = choice.get("finish_reason").and_then(J::as_str) {
            response.finish_reason = Some(reason.to_string());
        }
        let Some(delta) = choice.get("delta") else { continue };
        if let Some(text) = delta.get("content").and_then(J::as_str).filter(|t| !t.is_empty()) {
            on_delta(text);
            response.text.push_str(text);
        }
        for c in delta.get("tool_calls").and_then(J::as_array).into_iter().flatten() {
            let index = c.get("index").and_then(J::as_u64).unwrap_or(0) as usize;
            if index >= calls.len() {
                calls.resize_with(index + 1, PartialCall::default);
            }
            let call = &mut calls[index];
            if let Some(id) = c.get("id").and_then(J::as_str) {
                call.id = id.to_string();
            }
            if let Some(name) = c.pointer("/function/name").and_then(J::as_str) {
                call.name.push_str(name);
            }
            if let Some(args) = c.pointer("/function/arguments").and_then(J::as_str) {
                call.arguments.push_str(args);
            }
        }
    }
    if !finished && response.finish_reason.is_none() {
        return Err(ToolError::with_kind(
            ErrorKind::Provider,
            format!("the stream from {url} ended before the answer did"),
        ));
    }
    response.tool_calls = calls
        .into_iter()
        .enumerate()
        .map(|(i, c)| ToolCall {
            id: if c.id.is_empty() { format!("call_{i}") } else { c.id },
            name: c.name,
            arguments: parse_arguments(&c.arguments),
        })
        .collect();
    Ok(response)
}
