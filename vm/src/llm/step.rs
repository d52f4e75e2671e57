//! Runs one `llm` or `agent` step: builds the request, sends it within the
//! model's limits and timeout, reads the answer leniently, sends it back
//! with the validation errors while `repair` allows, and for agents runs
//! the tools the model asks for (`agent.rs`) until it gives its final
//! answer or runs out of turns. Every answered request completes at the
//! run's completion point (an `llm_call` event, tokens and cost).

use super::Route;
use super::agent::agent_tool;
use super::parse::{coerce, extract_json, unwrap, validate};
use super::prepared::{Prepared, prepare};
use crate::call_error::{ToolError, snippet};
use crate::dispatch::Dispatch;
use crate::events::{Event, StepError};
use crate::models::{ChatRequest, ChatResponse, Message, ModelRef, ToolCall};
use crate::state::{Completion, Place, RunCtx};
use crate::value::{Value, from_json_typed};
use flow_compiler::ir::{Backoff, Callee, ErrorKind, Model, Step};
use flow_compiler::types::Ty;
use serde_json::{Value as J, json};
use std::time::Duration;
use tokio::time::Instant;

/// A model step with its options evaluated.
pub(crate) struct Spec<'p> {
    pub model: usize,
    pub output: &'p Ty,
    /// The `prompt` of an `llm` step, the `goal` of an `agent` (`None`
    /// when the step gives only `messages`).
    pub prompt: Option<String>,
    pub system: Option<String>,
    /// The conversation before the prompt (`messages`).
    pub history: Vec<Message>,
    pub temperature: Option<f64>,
    pub max_tokens: Option<u64>,
    pub repair: Option<u64>,
    /// For agents: the tools and flows the model may call, and its turn limit.
    pub agent: Option<(&'p [Callee], Option<u64>)>,
    /// Which action of the program this is: what is prepared once is kept under it.
    pub key: usize,
}

/// Runs a model step to its typed answer.
pub(crate) async fn run(
    ctx: &RunCtx,
    calls: &dyn Dispatch,
    place: Place<'_>,
    spec: Spec<'_>,
) -> Result<Value, StepError> {
    let step = place.step;
    let program = &*ctx.program;
    let model = &program.models[spec.model];
    let fail = |kind, message: String| StepError::new(kind, step.id.as_str(), message);
    if let Some(answer) = scripted(ctx, step, model, spec.output) {
        return answer;
    }
    let Some(route) = ctx.routes.get(spec.model).and_then(Option::as_ref) else {
        return Err(fail(ErrorKind::Provider, format!("model `{}` has no provider in this run", model.name)));
    };
    let agent = spec.agent.map(|(callees, _)| (callees, route.settings.json_tools));
    let prepared = ctx
        .models
        .prepared(spec.key, || prepare(program, spec.output, agent))
        .map_err(|m| fail(ErrorKind::Schema, m))?;
    let call = StepCall { ctx, calls, place, spec: &spec, route, prepared: &prepared, model };
    call.converse().await
}

/// Scripted answers (test blocks, `Engine::mock`): by step name, then by model.
fn scripted(ctx: &RunCtx, step: &Step, model: &Model, output: &Ty) -> Option<Result<Value, StepError>> {
    let answer = ctx.scripted(&step.name, output).or_else(|| ctx.scripted(&model.name, output))?;
    Some(answer.map_err(|e| StepError::from_tool(step.id.as_str(), &format!("model `{}`", model.name), e)).and_then(
        |answer| {
            from_json_typed(&answer, output, &ctx.program.types).map_err(|m| {
                let message = format!("the mock for model `{}` does not fit `{output}`: {m}", model.name);
                StepError::new(ErrorKind::Schema, step.id.as_str(), message)
            })
        },
    ))
}

/// One model step in progress: what every turn of its conversation needs.
struct StepCall<'a> {
    ctx: &'a RunCtx,
    calls: &'a dyn Dispatch,
    place: Place<'a>,
    spec: &'a Spec<'a>,
    route: &'a Route,
    prepared: &'a Prepared,
    model: &'a Model,
}

impl StepCall<'_> {
    fn fail(&self, kind: ErrorKind, message: String) -> StepError {
        StepError::new(kind, self.place.step.id.as_str(), message)
    }

    /// Sends turns until the model gives an answer that fits, runs out of
    /// repairs, or (agents) out of turns.
    async fn converse(&self) -> Result<Value, StepError> {
        let spec = self.spec;
        let types = &self.ctx.program.types;
        let max_turns = spec.agent.map(|(_, n)| n.unwrap_or(super::DEFAULT_MAX_TURNS));
        let mut messages = self.opening()?;
        let mut repairs = 0u64;
        let mut turn = 0u32;
        loop {
            turn += 1;
            if let Some(max) = max_turns.filter(|&m| u64::from(turn) > m) {
                let message =
                    format!("the agent made {max} model calls without giving its final answer (max_turns: {max})");
                return Err(self.fail(ErrorKind::MaxTurns, message));
            }
            let (response, fresh) = self.send_turn(&messages, turn).await?;
            // What a turn may be kept as in the cache once it proves usable.
            let keep = |response: &ChatResponse| {
                let (ctx, fresh) = (self.ctx, fresh.clone());
                let response = response.clone();
                async move {
                    if let Some(key) = fresh {
                        super::cache::put(ctx, &key, &response).await;
                    }
                }
            };
            if let Some((callees, _)) = spec.agent.filter(|_| !response.tool_calls.is_empty()) {
                keep(&response).await;
                messages
                    .push(Message::Assistant { text: response.text.clone(), tool_calls: response.tool_calls.clone() });
                for (index, call) in response.tool_calls.iter().enumerate() {
                    let (content, is_error) = self.tool(callees, call, turn, index as u32).await?;
                    messages.push(Message::Tool {
                        call_id: call.id.clone(),
                        name: call.name.clone(),
                        content,
                        is_error,
                    });
                }
                continue;
            }
            let cut_off = matches!(response.finish_reason.as_deref(), Some("length" | "max_tokens"));
            let problems = match interpret(&response.text, self.prepared, spec.output, types) {
                Ok(Answer::Final(value)) => {
                    keep(&response).await;
                    return Ok(value);
                }
                Ok(Answer::Tool(call)) => {
                    keep(&response).await;
                    let callees = spec.agent.map_or(&[][..], |(c, _)| c);
                    messages.push(Message::Assistant { text: response.text.clone(), tool_calls: Vec::new() });
                    let (content, is_error) = self.tool(callees, &call, turn, 0).await?;
                    let verdict = if is_error { "failed" } else { "returned" };
                    messages.push(Message::User { text: format!("Tool `{}` {verdict}: {content}", call.name) });
                    continue;
                }
                Err(mut problems) => {
                    if cut_off {
                        problems.insert(0, "the answer was cut off at the token limit (`max_tokens`)".to_string());
                    }
                    problems
                }
            };
            self.repair(&mut messages, response, problems, cut_off, &mut repairs)?;
        }
    }

    /// The first request's messages: the history, then the prompt, with
    /// the tool catalog (json tool calling) after the last user text.
    fn opening(&self) -> Result<Vec<Message>, StepError> {
        let (spec, catalog) = (self.spec, &self.prepared.catalog);
        let mut messages = spec.history.clone();
        match (&spec.prompt, messages.last_mut()) {
            (Some(prompt), _) => messages.push(Message::User { text: format!("{prompt}{catalog}") }),
            (None, Some(Message::User { text })) => text.push_str(catalog),
            (None, Some(_)) if !catalog.is_empty() => messages.push(Message::User { text: catalog.trim().to_string() }),
            (None, Some(_)) => {}
            (None, None) => {
                let message = "the step has no prompt and its `messages` are empty: the model has nothing to answer";
                return Err(self.fail(ErrorKind::Value, message.to_string()));
            }
        }
        Ok(messages)
    }

    async fn tool(
        &self,
        callees: &[Callee],
        call: &ToolCall,
        turn: u32,
        index: u32,
    ) -> Result<(String, bool), StepError> {
        agent_tool(self.ctx, self.calls, self.place, (turn, index), callees, call).await
    }

    /// Sends an answer that does not fit back with its problems, or fails
    /// the step when `repair` allows no more.
    fn repair(
        &self,
        messages: &mut Vec<Message>,
        response: ChatResponse,
        problems: Vec<String>,
        cut_off: bool,
        repairs: &mut u64,
    ) -> Result<(), StepError> {
        let limit = self.spec.repair.unwrap_or(self.route.settings.repair);
        if *repairs >= limit {
            let tries = if *repairs == 0 { String::new() } else { format!(" (after {repairs} repair attempts)") };
            let message = format!(
                "model `{}` answered with something that does not fit `{}`{tries}: {}; the answer was {}",
                self.model.name,
                self.spec.output,
                problems.join("; "),
                snippet(&response.text)
            );
            return Err(StepError { raw: Some(response.text), ..self.fail(ErrorKind::Schema, message) });
        }
        *repairs += 1;
        let ctx = self.ctx;
        ctx.emit(|| Event::LlmRepair {
            step: self.place.step.id.to_string(),
            item: self.place.item.to_vec(),
            repair: *repairs as u32,
            problems: problems.clone(),
            at_ms: ctx.at_ms(),
        });
        if cut_off {
            // Sending a cut-off answer back would only fill the context: ask afresh.
            messages.push(Message::User { text: CUT_OFF_PROMPT.to_string() });
        } else {
            messages.push(Message::Assistant { text: response.text, tool_calls: Vec::new() });
            messages.push(Message::User { text: repair_prompt(&problems) });
        }
        Ok(())
    }

    /// Builds and sends one turn's request (or answers it from the cache).
    /// With the answer, the cache key under which to keep it if it proves
    /// usable: an answer that does not validate is never cached, and a
    /// retried step (attempt 2 on) neither reads nor writes the cache.
    async fn send_turn(&self, messages: &[Message], turn: u32) -> Result<(ChatResponse, Option<String>), StepError> {
        let (spec, settings, model) = (self.spec, &self.route.settings, self.model);
        let request = ChatRequest {
            step: self.place.step.id.as_str(),
            model: ModelRef { name: &model.name, provider: model.provider.as_str(), model_id: &model.model_id },
            endpoint: &self.route.endpoint,
            system: spec.system.as_deref(),
            messages,
            output: &self.prepared.schema,
            tools: &self.prepared.tools,
            temperature: spec.temperature.or(settings.temperature),
            max_tokens: spec.max_tokens.or(settings.max_tokens),
            stream: settings.stream,
            idle_timeout: settings.idle_timeout,
            max_answer_bytes: self.ctx.config.limits.max_answer_bytes,
            sample: crate::models::Sample { ty: spec.output, types: &self.ctx.program.types },
        };
        let prompt = (turn == 1).then(|| spec.prompt.as_deref().unwrap_or_else(|| last_user_text(messages)));
        let key = if self.place.attempt == 1 { super::cache::key(self.ctx, self.route, &request) } else { None };
        if let Some(key) = &key
            && let Some(response) = super::cache::get(self.ctx, key).await
        {
            let cost = self.route.settings.cost(response.usage);
            self.ctx.accounting.cache_hit(response.usage, cost);
            let name = model.name.as_str();
            self.ctx.emit(|| call_event(self.ctx, self.place, name, turn, prompt, &response, cost, 0.0, true));
            return Ok((response, None));
        }
        let response = send_retrying(self.ctx, self.place, self.route, &request, turn, prompt).await?;
        Ok((response, key))
    }
}

const CUT_OFF_PROMPT: &str =
    "Your previous answer was cut off at the token limit before the JSON was complete. Answer again with shorter JSON.";

/// The text of the last user message (what an event shows as the prompt
/// of a step that gives only `messages`).
fn last_user_text(messages: &[Message]) -> &str {
    messages
        .iter()
        .rev()
        .find_map(|m| match m {
            Message::User { text } => Some(text.as_str()),
            _ => None,
        })
        .unwrap_or("")
}

fn repair_prompt(problems: &[String]) -> String {
    let mut text = String::from("Your answer does not match the required JSON Schema:\n");
    for p in problems {
        text.push_str("- ");
        text.push_str(p);
        text.push('\n');
    }
    text.push_str("Answer again with only the corrected JSON.");
    text
}

enum Answer {
    Final(Value),
    /// JSON-mode agents: the model asked for a tool.
    Tool(ToolCall),
}

/// Reads an answer: the JSON in it, coerced where safe, validated; the
/// problems otherwise, in words the model can act on.
fn interpret(
    text: &str,
    prepared: &Prepared,
    output: &Ty,
    types: &flow_compiler::types::TypeTable,
) -> Result<Answer, Vec<String>> {
    let mut value = if prepared.json_tools {
        // An agent's turn: a tool call or `{"final": ...}`.
        let mut value = unwrap(extract_json(text).map_err(|e| vec![e])?, &prepared.schema);
        if let Some(answer) = value.get_mut("final") {
            coerce(answer, output, types);
        }
        value
    } else {
        super::read::read(text, output, types, prepared.schema.wrapped).map_err(|e| vec![e])?
    };
    let problems = validate(&prepared.validator, &value, &prepared.schema);
    if !problems.is_empty() {
        return Err(problems);
    }
    if prepared.json_tools {
        if let Some(name) = value.get("tool").and_then(J::as_str) {
            let arguments = value.get("arguments").cloned().unwrap_or_else(|| json!({}));
            return Ok(Answer::Tool(ToolCall { id: String::new(), name: name.to_string(), arguments }));
        }
        value = value.get("final").cloned().unwrap_or(J::Null);
    }
    from_json_typed(&value, output, types).map(Answer::Final).map_err(|m| vec![m.to_string()])
}

/// Sends a call, and again after a transient failure (`rate_limited`,
/// `provider`, `timeout`) up to the model's `retry` times, waiting an
/// exponential, jittered backoff (0.5 s, 1 s, 2 s ... at most 8 s) or the
/// provider's `Retry-After` if longer — unless the step has a `retry`
/// clause, which then rules alone.
async fn send_retrying(
    ctx: &RunCtx,
    place: Place<'_>,
    route: &Route,
    request: &ChatRequest<'_>,
    turn: u32,
    prompt: Option<&str>,
) -> Result<ChatResponse, StepError> {
    let retries = if place.step.retry.is_some() { 0 } else { route.settings.retry };
    let mut sent = 0;
    loop {
        let (error, permanent) = match send(ctx, place, route, request, turn, prompt).await {
            Ok(response) => return Ok(response),
            Err(failed) => failed,
        };
        let transient = matches!(error.kind, ErrorKind::RateLimited | ErrorKind::Provider | ErrorKind::Timeout);
        if !transient || permanent || sent >= retries || ctx.stop.is_stopped() {
            return Err(error);
        }
        sent += 1;
        let backoff = Backoff::Exponential { low_ms: 500, high_ms: 8_000 };
        let retry = flow_compiler::ir::Retry { retries, backoff, jitter: true, on: Vec::new() };
        let delay = ctx.delay(&retry, sent).max(Duration::from_millis(error.retry_after_ms.unwrap_or(0)));
        crate::state::Counters::add(&ctx.counters.retries);
        ctx.emit(|| Event::StepRetrying {
            step: place.step.id.to_string(),
            item: place.item.to_vec(),
            attempt: place.attempt,
            delay_ms: delay.as_millis() as u64,
            error: error.clone(),
            at_ms: ctx.at_ms(),
        });
        let _busy = ctx.counters.busy();
        tokio::time::sleep(delay).await;
    }
}

/// Sends one request within the model's limits and timeout; an answer
/// completes at the run's completion point. A failure says whether it is
/// permanent (not worth sending again).
async fn send(
    ctx: &RunCtx,
    place: Place<'_>,
    route: &Route,
    request: &ChatRequest<'_>,
    turn: u32,
    prompt: Option<&str>,
) -> Result<ChatResponse, (StepError, bool)> {
    let (step, item) = (place.step, place.item);
    let model = request.model;
    let permit = match &route.limiter {
        Some(limiter) => Some(limiter.acquire(estimate_tokens(request)).await),
        None => None,
    };
    let started = Instant::now();
    let on_delta = |text: &str| {
        ctx.emit(|| Event::LlmDelta {
            step: step.id.to_string(),
            item: item.to_vec(),
            text: text.to_string(),
            at_ms: ctx.at_ms(),
        })
    };
    let timeout = route.settings.timeout;
    let result = match tokio::time::timeout(timeout, route.provider.chat(request, &on_delta)).await {
        Ok(result) => result,
        Err(_) => Err(ToolError::with_kind(
            ErrorKind::Timeout,
            format!("no answer within {} (the model's `timeout`)", crate::fmt_duration(timeout)),
        )),
    };
    let used = result.as_ref().map_or(0, |r| r.usage.input_tokens.saturating_add(r.usage.output_tokens));
    if let (Some(limiter), Some(permit)) = (&route.limiter, &permit) {
        limiter.settle(permit, used);
        if let Err(ToolError { kind: ErrorKind::RateLimited, retry_after: Some(wait), .. }) = &result {
            limiter.pause(*wait);
        }
    }
    if let Some(permit) = permit {
        permit.release().await;
    }
    let mut response = result.map_err(|mut e| {
        // A provider that echoes the key (or part of it) in an error does not put it in events and logs.
        if let Some(key) = route.endpoint.api_key.as_deref().filter(|k| k.len() >= 8) {
            e.message = e.message.replace(key, "[api key]");
        }
        let permanent = e.permanent;
        (StepError::from_tool(step.id.as_str(), &format!("model `{}`", model.name), e), permanent)
    })?;
    if let Some(message) = clamp_usage(&mut response.usage) {
        ctx.emit(|| Event::Warning {
            step: step.id.to_string(),
            item: item.to_vec(),
            message: format!("model `{}`: {message}", model.name),
            at_ms: ctx.at_ms(),
        });
    }
    let cost = route.settings.cost(response.usage);
    let duration_ms = started.elapsed().as_secs_f64() * 1000.0;
    let answer = J::String(response.text.clone());
    let event = || call_event(ctx, place, model.name, turn, prompt, &response, cost, duration_ms, false);
    ctx.complete(Completion::ModelCall { place, turn, usage: response.usage, cost, answer: &answer, event: &event });
    if let Some(behind) = ctx.catch_up() {
        behind.await;
    }
    Ok(response)
}

/// The `llm_call` event of an answer (sent, or from the cache).
#[allow(clippy::too_many_arguments)]
fn call_event(
    ctx: &RunCtx,
    place: Place<'_>,
    model: &str,
    turn: u32,
    prompt: Option<&str>,
    response: &ChatResponse,
    cost: Option<f64>,
    duration_ms: f64,
    cached: bool,
) -> Event {
    Event::LlmCall {
        step: place.step.id.to_string(),
        item: place.item.to_vec(),
        model: model.to_string(),
        turn,
        prompt: prompt.map(str::to_string),
        text: response.text.clone(),
        tool_calls: response.tool_calls.clone(),
        input_tokens: response.usage.input_tokens,
        output_tokens: response.usage.output_tokens,
        cost_usd: cost,
        finish_reason: response.finish_reason.clone(),
        cached,
        duration_ms,
        at_ms: ctx.at_ms(),
    }
}

/// Clamps token counts no request can have used (a provider's bug or a
/// hostile server), saying what was reported.
fn clamp_usage(usage: &mut crate::models::Usage) -> Option<String> {
    let max = super::limits::MAX_TOKENS_PER_CALL;
    if usage.input_tokens <= max && usage.output_tokens <= max {
        return None;
    }
    let message = format!(
        "the provider reported {} input and {} output tokens for one request; counted as at most {max} each",
        usage.input_tokens, usage.output_tokens
    );
    usage.input_tokens = usage.input_tokens.min(max);
    usage.output_tokens = usage.output_tokens.min(max);
    Some(message)
}

/// A rough count for `tpm` before the call (about four characters a token,
/// plus the most the answer may use); settled with the real count after.
fn estimate_tokens(request: &ChatRequest<'_>) -> u64 {
    (request.text_len() / 4) as u64 + request.max_tokens.unwrap_or(0)
}
