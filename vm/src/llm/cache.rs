//! The model-call cache: an identical request (same provider, model id,
//! server, system message, messages, answer schema, tools, temperature and
//! token limit) is answered from the run store instead of the provider,
//! across runs. On when the model says `cache: true`; with
//! `Engine::cache_models` (`flowc run --cache`), for calls at temperature 0
//! of models that do not say `cache: false` — a sampled answer is cached
//! only when asked for, since asking again would give another.

use super::Route;
use crate::models::{ChatRequest, ChatResponse, ToolCall, Usage};
use crate::state::RunCtx;
use serde_json::json;

/// The cache key of a request, when the call may be cached.
pub(crate) fn key(ctx: &RunCtx, route: &Route, request: &ChatRequest<'_>) -> Option<String> {
    ctx.store()?;
    let on = match route.settings.cache {
        Some(on) => on,
        None => ctx.config.cache_models && request.temperature == Some(0.0),
    };
    if !on {
        return None;
    }
    let key = json!({
        "v": 1,
        "provider": request.model.provider,
        "model": request.model.model_id,
        "server": route.endpoint.base_url,
        "system": request.system,
        "messages": request.messages,
        "schema": request.output.schema,
        "tools": request.tools,
        "temperature": request.temperature,
        "max_tokens": request.max_tokens,
    });
    Some(key.to_string())
}

/// The cached answer to `key`, if there is one that reads back whole (a
/// store that fails to answer is a miss: the call is made).
pub(crate) async fn get(ctx: &RunCtx, key: &str) -> Option<ChatResponse> {
    let value = ctx.store()?.cache_get(key).await.ok()??;
    let usage = Usage {
        input_tokens: value.pointer("/usage/input_tokens")?.as_u64()?,
        output_tokens: value.pointer("/usage/output_tokens")?.as_u64()?,
    };
    let tool_calls = value.get("tool_calls")?.as_array()?.iter().map(tool_call).collect::<Option<Vec<_>>>()?;
    Some(ChatResponse {
        text: value.get("text")?.as_str()?.to_string(),
        tool_calls,
        usage,
        finish_reason: value.get("finish_reason").and_then(|f| f.as_str()).map(str::to_string),
    })
}

fn tool_call(value: &serde_json::Value) -> Option<ToolCall> {
    Some(ToolCall {
        id: value.get("id")?.as_str()?.to_string(),
        name: value.get("name")?.as_str()?.to_string(),
        arguments: value.get("arguments")?.clone(),
    })
}

/// Keeps an answer for the next identical request (a store that fails to
/// keep it only costs a later call).
pub(crate) async fn put(ctx: &RunCtx, key: &str, response: &ChatResponse) {
    let Some(store) = ctx.store() else { return };
    let value = json!({
        "text": response.text,
        "tool_calls": response.tool_calls,
        "usage": response.usage,
        "finish_reason": response.finish_reason,
    });
    let _ = store.cache_put(key, &value).await;
}
