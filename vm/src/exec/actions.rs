//! What an action calls outside the scheduler: tools (a scripted mock, the
//! host's function, HTTP, a command, or a value made from the type) and
//! the evaluated options of model steps.

use crate::call_error::ToolError;
use crate::eval::Frame;
use crate::events::StepError;
use crate::llm::step::Spec;
use crate::models::Message;
use crate::state::RunCtx;
use crate::tools::{self, DEFAULT_TOOL_TIMEOUT};
use crate::value::Value;
use flow_compiler::ir::{AgentCall, ErrorKind, Expr, LlmCall, Step, Tool, ToolImpl};
use futures::future::BoxFuture;
use std::time::Duration;

/// A tool call started: answered already, or a future to wait on (the
/// host's own, or a boxed HTTP or command call), so that a pending tool
/// step holds one pointer rather than this function's whole state.
pub(crate) enum ToolCall<'a> {
    Answered(Result<serde_json::Value, ToolError>),
    Pending(BoxFuture<'a, Result<serde_json::Value, ToolError>>),
}

impl<'a> ToolCall<'a> {
    /// The call as one future (for an agent's tool calls).
    pub fn boxed(self) -> BoxFuture<'a, Result<serde_json::Value, ToolError>> {
        match self {
            ToolCall::Answered(answer) => Box::pin(std::future::ready(answer)),
            ToolCall::Pending(answer) => answer,
        }
    }
}

/// Calls a tool by what implements it: a scripted mock, the host, HTTP, a
/// command, or (with mocked tools) a value generated from its type.
pub(crate) fn call_tool<'a>(ctx: &'a RunCtx, tool: &'a Tool, args: serde_json::Value) -> ToolCall<'a> {
    let config = &ctx.config;
    if let Some(answer) = ctx.scripted(&tool.name, &tool.output) {
        return ToolCall::Answered(answer);
    }
    if let Some(host) = config.tools.get(&tool.name) {
        return ToolCall::Pending(host(args));
    }
    let answer = match &tool.implementation {
        ToolImpl::Http { url, .. } if !config.http_tools => Err(ToolError::with_kind(
            ErrorKind::Limit,
            format!("calls {url} over HTTP, and http tools are not allowed here (mock it in the test, or --allow-net)"),
        )),
        ToolImpl::Http { method, url, timeout_ms, headers } => {
            let timeout = timeout_ms.map_or(DEFAULT_TOOL_TIMEOUT, Duration::from_millis);
            let mut args = args;
            let filled = tools::fill_url(url, &mut args)
                .and_then(|url| tools::fill_headers(headers, &config.secrets, &url).map(|h| (url, h)));
            let (url, (headers, secrets)) = match filled {
                Ok(filled) => filled,
                Err(e) => return ToolCall::Answered(Err(e)),
            };
            return ToolCall::Pending(Box::pin(async move {
                let max_bytes = config.limits.max_answer_bytes;
                let call = tools::HttpCall { method, url: &url, headers, secrets, timeout, max_bytes };
                tools::call_http(&config.net, call, args).await
            }));
        }
        ToolImpl::Command { argv, timeout_ms } if config.allow_commands => {
            let timeout = timeout_ms.map_or(DEFAULT_TOOL_TIMEOUT, Duration::from_millis);
            let max_bytes = config.limits.max_answer_bytes;
            return ToolCall::Pending(Box::pin(tools::call_command(argv, timeout, max_bytes, args)));
        }
        ToolImpl::Command { .. } => Err(ToolError::with_kind(
            ErrorKind::Limit,
            "runs a command, and commands are not allowed (--allow-commands, or mock it in the test)",
        )),
        ToolImpl::Host if config.mock_tools => Ok(crate::models::sample(&tool.output, &ctx.program.types, "")),
        ToolImpl::Host => Err(ToolError::with_kind(
            ErrorKind::Limit,
            "has no implementation: the host did not register it (in a test, mock it: `mock NAME: value`)",
        )),
    };
    ToolCall::Answered(answer)
}

/// Evaluates model-step options: `None` when not given.
struct Options<'a> {
    ctx: &'a RunCtx,
    frame: &'a Frame,
    step: &'a Step,
}

impl Options<'_> {
    fn value(&self, e: &Expr) -> Result<Value, StepError> {
        self.ctx.eval(e, self.frame).map_err(|e| e.at(self.step.id.as_str()))
    }

    fn text(&self, e: Option<&Expr>) -> Result<Option<String>, StepError> {
        e.map(|e| self.value(e).map(|v| v.to_string())).transpose()
    }

    fn number(&self, e: Option<&Expr>) -> Result<Option<f64>, StepError> {
        Ok(e.map(|e| self.value(e)).transpose()?.and_then(|v| match v {
            Value::Int(i) => Some(i as f64),
            Value::Float(f) => Some(f),
            _ => None,
        }))
    }

    /// The question: `None` when the step gives only `messages`.
    fn prompt(&self, e: &Expr) -> Result<Option<String>, StepError> {
        Ok(match self.value(e)? {
            Value::Null => None,
            v => Some(v.to_string()),
        })
    }

    /// The `messages` a step gives (checked as `[Message]`), and the
    /// system text: the step's `system`, then any `system` messages.
    fn conversation(
        &self,
        messages: Option<&Expr>,
        system: Option<&Expr>,
    ) -> Result<(Vec<Message>, Option<String>), StepError> {
        let mut system = self.text(system)?;
        let mut history = Vec::new();
        let Some(e) = messages else { return Ok((history, system)) };
        let Value::List(items) = self.value(e)? else { return Ok((history, system)) };
        for item in items.iter() {
            let Value::Object(fields) = item else { continue };
            let field = |name: &str| match fields.get(name) {
                Some(Value::Str(s)) => s.to_string(),
                _ => String::new(),
            };
            let text = field("content");
            match field("role").as_str() {
                "assistant" => history.push(Message::Assistant { text, tool_calls: Vec::new() }),
                "system" => {
                    system = Some(match system {
                        Some(s) => format!("{s}\n\n{text}"),
                        None => text,
                    })
                }
                _ => history.push(Message::User { text }),
            }
        }
        Ok((history, system))
    }

    fn count(&self, e: Option<&Expr>) -> Result<Option<u64>, StepError> {
        Ok(e.map(|e| self.value(e)).transpose()?.and_then(|v| match v {
            Value::Int(i) => u64::try_from(i).ok(),
            _ => None,
        }))
    }
}

/// An `llm` step's options, evaluated.
pub(crate) fn llm_spec<'p>(ctx: &RunCtx, frame: &Frame, step: &Step, call: &'p LlmCall) -> Result<Spec<'p>, StepError> {
    let o = Options { ctx, frame, step };
    let (history, system) = o.conversation(call.messages.as_ref(), call.system.as_ref())?;
    Ok(Spec {
        model: call.model,
        output: &call.output,
        prompt: o.prompt(&call.prompt)?,
        system,
        history,
        temperature: o.number(call.temperature.as_ref())?,
        max_tokens: o.count(call.max_tokens.as_ref())?,
        repair: o.count(call.repair.as_ref())?,
        agent: None,
        key: call as *const LlmCall as usize,
    })
}

/// An `agent` step's options, evaluated.
pub(crate) fn agent_spec<'p>(
    ctx: &RunCtx,
    frame: &Frame,
    step: &Step,
    call: &'p AgentCall,
) -> Result<Spec<'p>, StepError> {
    let o = Options { ctx, frame, step };
    let (history, system) = o.conversation(call.messages.as_ref(), call.system.as_ref())?;
    Ok(Spec {
        model: call.model,
        output: &call.output,
        prompt: o.prompt(&call.goal)?,
        system,
        history,
        temperature: o.number(call.temperature.as_ref())?,
        max_tokens: o.count(call.max_tokens.as_ref())?,
        repair: None,
        agent: Some((&call.tools, o.count(call.max_turns.as_ref())?)),
        key: call as *const AgentCall as usize,
    })
}
