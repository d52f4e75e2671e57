//! Model calls as the interpreter sees them: a chat request (messages, the
//! answer's JSON Schema, the tools an agent may call) handed to a
//! [`ModelProvider`], and the answer it gives back (text or tool calls, and
//! token usage).
//!
//! The built-in providers (OpenAI-compatible, Anthropic, Ollama) speak HTTP
//! and live in the crate's `llm` module; a host can register its own with
//! [`Engine::provider`](crate::Engine::provider). This module also has the
//! offline one, [`TypeMock`], which answers from the output type.
//!
//! Parsing the answer, repairing it, looping over tool calls, rate limits
//! and accounting are the engine's work, the same for every provider.

use crate::call_error::ToolError;
pub use flow_compiler::schema::OutputSchema;
use flow_compiler::schema::WRAP_FIELD;
use flow_compiler::types::{Ty, TypeTable};
use futures::future::BoxFuture;
use serde::Serialize;
use std::time::Duration;

/// One request to a model: the conversation so far and what the answer
/// must look like. Providers read it; only the engine builds one.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct ChatRequest<'a> {
    /// The id of the step making the call.
    pub step: &'a str,
    /// Which model, as the program declares it.
    pub model: ModelRef<'a>,
    /// Where the model is served and the key to use (resolved before the run).
    pub endpoint: &'a Endpoint,
    /// The system message, if the step gives one.
    pub system: Option<&'a str>,
    /// The conversation so far, oldest first.
    pub messages: &'a [Message],
    /// The JSON Schema the final answer must match.
    pub output: &'a OutputSchema,
    /// Tools the model may call (agent steps using native tool calling).
    pub tools: &'a [ToolSpec],
    /// The sampling temperature, if the step or model sets one.
    pub temperature: Option<f64>,
    /// The most tokens the answer may use, if the step or model sets it.
    pub max_tokens: Option<u64>,
    /// Stream the answer, reporting text as it arrives through the delta callback.
    pub stream: bool,
    /// How long a stream may go without sending anything before the call
    /// fails with `timeout`.
    pub idle_timeout: Duration,
    /// The most bytes the answer's body may have (the engine's
    /// [`Limits::max_answer_bytes`](crate::Limits::max_answer_bytes)):
    /// read as it arrives, and a `limit` error past it.
    pub max_answer_bytes: usize,
    /// The answer's Flow type, for [`TypeMock`] (not a provider's business).
    pub(crate) sample: Sample<'a>,
}

/// A model as a program declares it: `model NAME = PROVIDER("MODEL_ID")`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ModelRef<'a> {
    /// The name the program gives it.
    pub name: &'a str,
    /// `openai`, `anthropic`, `ollama` or `mock`.
    pub provider: &'a str,
    /// The provider's id of the model, e.g. `gpt-4o-mini`.
    pub model_id: &'a str,
}

/// What the type mock needs to sample an answer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sample<'a> {
    pub ty: &'a Ty,
    pub types: &'a TypeTable,
}

impl<'a> ChatRequest<'a> {
    /// The same request sent to another endpoint (for a provider that
    /// wraps another and reroutes it).
    pub fn with_endpoint(&self, endpoint: &'a Endpoint) -> ChatRequest<'a> {
        ChatRequest { endpoint, ..*self }
    }

    /// The length of the text sent (system prompt and messages), in bytes.
    pub fn text_len(&self) -> usize {
        let messages: usize = self
            .messages
            .iter()
            .map(|m| match m {
                Message::User { text } | Message::Assistant { text, .. } => text.len(),
                Message::Tool { content, .. } => content.len(),
            })
            .sum();
        self.system.map_or(0, str::len) + messages
    }
}

/// Where a model is served.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Endpoint {
    /// The server's address, e.g. `https://api.openai.com/v1`.
    pub base_url: String,
    /// The API key to send, if there is one.
    pub api_key: Option<String>,
}

/// A tool an agent may call, described to the model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolSpec {
    /// The tool's name, as the model calls it.
    pub name: String,
    /// The tool's doc comment (empty if it has none).
    pub description: String,
    /// An object schema of the tool's parameters.
    pub parameters: serde_json::Value,
}

/// One turn of a conversation.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "role", rename_all = "snake_case")]
pub enum Message {
    /// A message from the user: the prompt, or the engine asking for a fix.
    User {
        /// The message's text.
        text: String,
    },
    /// An earlier answer from the model.
    Assistant {
        /// What the model wrote.
        text: String,
        /// The tools it asked to run.
        tool_calls: Vec<ToolCall>,
    },
    /// The result of a tool call, sent back to the model.
    Tool {
        /// The id of the call this answers ([`ToolCall::id`]).
        call_id: String,
        /// The tool's name.
        name: String,
        /// The tool's result as JSON text, or what went wrong.
        content: String,
        /// Whether the call failed (`content` then says why).
        is_error: bool,
    },
}

/// The model asking to run a tool.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolCall {
    /// The provider's id for the call, quoted back with the result.
    pub id: String,
    /// The name of the tool to run.
    pub name: String,
    /// The arguments as the model wrote them; a string when they were not JSON.
    pub arguments: serde_json::Value,
}

/// Tokens one call used, as the provider reported them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Usage {
    /// Tokens in the request (system prompt and conversation).
    pub input_tokens: u64,
    /// Tokens in the answer.
    pub output_tokens: u64,
}

impl std::ops::AddAssign for Usage {
    fn add_assign(&mut self, other: Usage) {
        self.input_tokens = self.input_tokens.saturating_add(other.input_tokens);
        self.output_tokens = self.output_tokens.saturating_add(other.output_tokens);
    }
}

/// What a model answered.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChatResponse {
    /// The answer's text (for a final answer, the JSON the engine parses).
    pub text: String,
    /// The tools the model asked to run (agent steps).
    pub tool_calls: Vec<ToolCall>,
    /// Tokens the call used.
    pub usage: Usage,
    /// Why the model stopped (`stop`, `length`, `tool_calls`, ...), if it said.
    pub finish_reason: Option<String>,
}

/// Called with each piece of text as a streamed answer arrives.
pub type DeltaSink<'a> = &'a (dyn Fn(&str) + Send + Sync);

/// Answers chat requests. Errors carry their kind (`rate_limited`,
/// `provider`, `timeout`, ...) so `retry` can tell them apart.
pub trait ModelProvider: Send + Sync {
    /// Sends one request and returns the answer, passing streamed text to `on_delta` as it arrives.
    fn chat<'a>(
        &'a self,
        request: &'a ChatRequest<'a>,
        on_delta: DeltaSink<'a>,
    ) -> BoxFuture<'a, Result<ChatResponse, ToolError>>;
}

/// Answers every call with a value generated from the output type: the same
/// request always gets the same answer, and it always fits.
#[derive(Debug, Default, Clone, Copy)]
pub struct TypeMock;

impl ModelProvider for TypeMock {
    fn chat<'a>(
        &'a self,
        request: &'a ChatRequest<'a>,
        _on_delta: DeltaSink<'a>,
    ) -> BoxFuture<'a, Result<ChatResponse, ToolError>> {
        Box::pin(async move {
            let value = sample(request.sample.ty, request.sample.types, "");
            let value = if request.output.wrapped { serde_json::json!({ WRAP_FIELD: value }) } else { value };
            let text = value.to_string();
            // Tokens as a rough count (four characters each), so accounting shows up offline too.
            let usage = Usage {
                input_tokens: request.text_len().div_ceil(4) as u64,
                output_tokens: text.len().div_ceil(4) as u64,
            };
            Ok(ChatResponse { text, usage, finish_reason: Some("stop".into()), ..Default::default() })
        })
    }
}

/// A deterministic value of type `ty`: enums take their first member,
/// optionals their inner type, lists one item, strings a short placeholder.
pub fn sample(ty: &Ty, types: &TypeTable, name: &str) -> serde_json::Value {
    sample_at(ty, types, name, 0)
}

fn sample_at(ty: &Ty, types: &TypeTable, name: &str, depth: u32) -> serde_json::Value {
    use serde_json::{Value as J, json};
    if depth > 8 {
        return J::Null;
    }
    match types.resolve(ty) {
        Ty::Unknown | Ty::Never | Ty::Null => J::Null,
        Ty::Bool => J::Bool(true),
        Ty::Int => json!(1),
        Ty::Float => json!(0.5),
        Ty::Duration => json!(1000),
        Ty::Percent => json!(50.0),
        Ty::String => J::String(if name.is_empty() { "mock text".into() } else { format!("mock {name}") }),
        Ty::Lit(s) => J::String(s.to_string()),
        Ty::Union(members) => members.first().map_or(J::Null, |m| sample_at(m, types, name, depth + 1)),
        Ty::Const(c) => c.json(),
        Ty::Enum(members) => J::String(members.first().cloned().unwrap_or_default()),
        Ty::Optional(_) if depth > 4 => J::Null,
        Ty::Optional(inner) => sample_at(inner, types, name, depth + 1),
        Ty::List(_) if depth > 4 => J::Array(Vec::new()),
        Ty::List(elem) => J::Array(vec![sample_at(elem, types, name, depth + 1)]),
        Ty::Map(elem) => json!({ "key": sample_at(elem, types, name, depth + 1) }),
        Ty::Record(r) => {
            J::Object(r.fields.iter().map(|f| (f.name.clone(), sample_at(&f.ty, types, &f.name, depth + 1))).collect())
        }
        Ty::Named(_) => J::Null,
    }
}
