//! The Anthropic provider: `POST {base_url}/v1/messages`. Structured output
//! goes through a tool: the answer's schema is the input schema of a
//! `respond` tool the model must call (an `llm` step forces it; an `agent`
//! may call its other tools first). Streams are SSE with typed events.

use super::http::{self, Lines, Sse};
use crate::call_error::ToolError;
use crate::models::{ChatRequest, ChatResponse, DeltaSink, Message, ModelProvider, ToolCall, Usage};
use flow_compiler::ir::ErrorKind;
use futures::future::BoxFuture;
use serde_json::{Value as J, json};

/// Where requests go unless the model's `base_url` or `ANTHROPIC_BASE_URL` says otherwise.
pub const DEFAULT_BASE_URL: &str = "https://api.anthropic.com";
/// The `anthropic-version` header sent with every request.
pub const API_VERSION: &str = "2023-06-01";
/// Anthropic requires `max_tokens`; this is sent when neither step nor model sets it.
pub const DEFAULT_MAX_TOKENS: u64 = 4096;

/// The Anthropic Messages API.
pub struct Anthropic {
    /// The HTTP client requests are sent with.
    pub http: reqwest::Client,
}

impl ModelProvider for Anthropic {
    fn chat<'a>(
        &'a self,
        request: &'a ChatRequest<'a>,
        on_delta: DeltaSink<'a>,
    ) -> BoxFuture<'a, Result<ChatResponse, ToolError>> {
        Box::pin(async move {
            let url = format!("{}/v1/messages", request.endpoint.base_url.trim_end_matches('/'));
            let answer_tool = answer_tool_name(request);
            let mut builder = self.http.post(&url).header("anthropic-version", API_VERSION).json(&body(request));
            if let Some(key) = &request.endpoint.api_key {
                builder = builder.header("x-api-key", key);
            }
            let response = http::send(builder, &url).await?;
            // A server that ignores `stream: true` and answers whole is read whole.
            if request.stream && http::is_stream(&response) {
                read_stream(
                    Sse::new(Lines::new(response, request.idle_timeout, request.max_answer_bytes, &url)),
                    on_delta,
                    &url,
                    &answer_tool,
                )
                .await
            } else {
                read_whole(&http::json_body(response, request.max_answer_bytes, &url).await?, &url, &answer_tool)
            }
        })
    }
}

/// The tool that carries the final answer: `respond`, unless an agent has a
/// tool of that name.
pub fn answer_tool_name(request: &ChatRequest<'_>) -> String {
    let mut name = "respond".to_string();
    while request.tools.iter().any(|t| t.name == name) {
        name.push('_');
    }
    name
}

/// The request body, in the shape the API documents.
pub fn body(request: &ChatRequest<'_>) -> J {
    let answer_tool = answer_tool_name(request);
    let mut messages: Vec<J> = Vec::new();
    for m in request.messages {
        let (role, block) = match m {
            Message::User { text } => ("user", vec![json!({ "type": "text", "text": text })]),
            Message::Assistant { text, tool_calls } => {
                let mut blocks = Vec::new();
                if !text.is_empty() {
                    blocks.push(json!({ "type": "text", "text": text }));
                }
                for c in tool_calls {
                    let input = if c.arguments.is_object() { c.arguments.clone() } else { json!({}) };
                    blocks.push(json!({ "type": "tool_use", "id": c.id, "name": c.name, "input": input }));
                }
                ("assistant", blocks)
            }
            Message::Tool { call_id, content, is_error, .. } => (
                "user",
                vec![
                    json!({ "type": "tool_result", "tool_use_id": call_id, "content": content, "is_error": is_error }),
                ],
            ),
        };
        // Consecutive turns of one role (tool results, a repair note after them) are one message.
        match messages.last_mut() {
            Some(last) if last["role"] == role => {
                if let Some(content) = last["content"].as_array_mut() {
                    content.extend(block);
                }
            }
            _ => messages.push(json!({ "role": role, "content": block })),
        }
    }
    let mut tools: Vec<J> = request
        .tools
        .iter()
        .map(|t| json!({ "name": t.name, "description": t.description, "input_schema": t.parameters }))
        .collect();
    tools.push(json!({
        "name": answer_tool,
        "description": "Give the final answer. Call this exactly once, when you have it.",
        "input_schema": request.output.schema,
    }));
    let tool_choice = if request.tools.is_empty() {
        json!({ "type": "tool", "name": answer_tool })
    } else {
        json!({ "type": "any" })
    };
    let mut body = json!({
        "model": request.model.model_id,
        "max_tokens": request.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS),
        "messages": messages,
        "tools": tools,
        "tool_choice": tool_choice,
    });
    if let Some(system) = request.system {
        body["system"] = json!(system);
    }
    if let Some(t) = request.temperature {
        // Anthropic's range is 0..1; Flow's is OpenAI's 0..2.
        body["temperature"] = json!(t.min(1.0));
    }
    if request.stream {
        body["stream"] = json!(true);
    }
    body
}

fn malformed(url: &str, what: &str, body: &J) -> ToolError {
    ToolError::with_kind(
        ErrorKind::Provider,
        format!("{url} answered without {what}: {}", crate::call_error::snippet(&body.to_string())),
    )
    .permanent()
}

/// Reads a whole (not streamed) answer; the input of an `answer_tool` call becomes its text.
pub fn read_whole(v: &J, url: &str, answer_tool: &str) -> Result<ChatResponse, ToolError> {
    let content = v.get("content").and_then(J::as_array).ok_or_else(|| malformed(url, "`content`", v))?;
    let mut response = ChatResponse {
        usage: Usage {
            input_tokens: v.pointer("/usage/input_tokens").and_then(J::as_u64).unwrap_or(0),
            output_tokens: v.pointer("/usage/output_tokens").and_then(J::as_u64).unwrap_or(0),
        },
        finish_reason: v.get("stop_reason").and_then(J::as_str).map(str::to_string),
        ..Default::default()
    };
    let mut prose = String::new();
    let mut answered = false;
    for block in content {
        match block.get("type").and_then(J::as_str) {
            Some("text") => prose.push_str(block.get("text").and_then(J::as_str).unwrap_or_default()),
            Some("tool_use") => {
                let name = block.get("name").and_then(J::as_str).unwrap_or_default();
                let input = block.get("input").cloned().unwrap_or(J::Null);
                if name == answer_tool {
                    response.text = input.to_string();
                    answered = true;
                } else {
                    response.tool_calls.push(ToolCall {
                        id: block.get("id").and_then(J::as_str).unwrap_or_default().to_string(),
                        name: name.to_string(),
                        arguments: input,
                    });
                }
            }
            _ => {}
        }
    }
    if !answered {
        // Prose beside tool calls, or an answer in prose (the parser may still find JSON in it).
        response.text = prose;
    }
    Ok(response)
}

/// A content block being streamed.
enum Block {
    Text,
    Tool { id: String, name: String, json: String },
}

async fn read_stream(
    mut sse: Sse,
    on_delta: DeltaSink<'_>,
    url: &str,
    answer_tool: &str,
) -> Result<ChatResponse, ToolError> {
    let mut response = ChatResponse::default();
    let mut blocks: Vec<Block> = Vec::new();
    let mut prose = String::new();
    let mut answered = false;
    let mut stopped = false;
    while let Some(event) = sse.next().await? {
        let data = http::chunk(&event.data, url)?;
        match data.get("type").and_then(J::as_str).or(event.event.as_deref()) {
            Some("message_start") => {
                response.usage.input_tokens =
                    data.pointer("/message/usage/input_tokens").and_then(J::as_u64).unwrap_or(0);
            }
            Some("content_block_start") => {
                let block = data.get("content_block").cloned().unwrap_or(J::Null);
                blocks.push(match block.get("type").and_then(J::as_str) {
                    Some("tool_use") => Block::Tool {
                        id: block.get("id").and_then(J::as_str).unwrap_or_default().to_string(),
                        name: block.get("name").and_then(J::as_str).unwrap_or_default().to_string(),
                        json: String::new(),
                    },
                    _ => Block::Text,
                });
            }
            Some("content_block_delta") => {
                let delta = data.get("delta").cloned().unwrap_or(J::Null);
                match (blocks.last_mut(), delta.get("type").and_then(J::as_str)) {
                    (Some(Block::Text), Some("text_delta")) => {
                        let text = delta.get("text").and_then(J::as_str).unwrap_or_default();
                        on_delta(text);
                        prose.push_str(text);
                    }
                    (Some(Block::Tool { name, json, .. }), Some("input_json_delta")) => {
                        let part = delta.get("partial_json").and_then(J::as_str).unwrap_or_default();
                        if name == answer_tool {
                            on_delta(part);
                        }
                        json.push_str(part);
                    }
                    _ => {}
                }
            }
            Some("message_delta") => {
                if let Some(reason) = data.pointer("/delta/stop_reason").and_then(J::as_str) {
                    response.finish_reason = Some(reason.to_string());
                }
                if let Some(n) = data.pointer("/usage/output_tokens").and_then(J::as_u64) {
                    response.usage.output_tokens = n;
                }
            }
            Some("message_stop") => {
                stopped = true;
                break;
            }
            Some("error") => {
                let message = data.pointer("/error/message").and_then(J::as_str).unwrap_or("unknown error");
                let kind = match data.pointer("/error/type").and_then(J::as_str) {
                    Some("rate_limit_error") => ErrorKind::RateLimited,
                    _ => ErrorKind::Provider,
                };
                return Err(ToolError::with_kind(kind, format!("{url} streamed an error: {message}")));
            }
            _ => {}
        }
    }
    if !stopped {
        return Err(ToolError::with_kind(
            ErrorKind::Provider,
            format!("the stream from {url} ended before the answer did"),
        ));
    }
    for block in blocks {
        if let Block::Tool { id, name, json } = block {
            let input =
                if json.trim().is_empty() { json!({}) } else { serde_json::from_str(&json).unwrap_or(J::String(json)) };
            if name == answer_tool {
                response.text = match input {
                    J::String(raw) => raw,
                    other => other.to_string(),
                };
                answered = true;
            } else {
                response.tool_calls.push(ToolCall { id, name, arguments: input });
            }
        }
    }
    if !answered {
        response.text = prose;
    }
    Ok(response)
}
