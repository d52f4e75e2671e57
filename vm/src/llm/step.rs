//! Runs one `llm` or `agent` step: builds the request, sends it within the
//! model's limits and timeout, reads the answer leniently, sends it back
//! with the validation errors while `repair` allows, and for agents runs
//! the tools the model asks for until it gives its final answer or runs out
//! of turns. Every request is an `llm_call` event with tokens and cost.

use super::Route;
use super::parse::{coerce, extract_json, unwrap, validate};
use crate::events::{Event, StepError};
use crate::exec::{RunCtx, call_tool, run_flow, scripted};
use crate::models::{ChatRequest, ChatResponse, Message, ToolCall, ToolSpec};
use crate::tools::{ToolError, snippet};
use crate::value::{Value, from_json_typed};
use flow_compiler::ir::{Callee, ErrorKind, Step};
use flow_compiler::schema::{OutputSchema, decision_schema, output_schema, parameters_schema};
use flow_compiler::types::Ty;
use serde_json::{Value as J, json};
use std::sync::Arc;
use tokio::time::Instant;

/// A model step with its options evaluated.
pub(crate) struct Spec<'p> {
    pub model: usize,
    pub output: &'p Ty,
    /// The `prompt` of an `llm` step, the `goal` of an `agent`.
    pub prompt: String,
    pub system: Option<String>,
    pub temperature: Option<f64>,
    pub max_tokens: Option<u64>,
    pub repair: Option<u64>,
    /// For agents: the tools and flows the model may call, and its turn limit.
    pub agent: Option<(&'p [Callee], Option<u64>)>,
}

/// What a step sends every time, built once per run and step.
pub(crate) struct Prepared {
    schema: OutputSchema,
    validator: jsonschema::Validator,
    /// Tools described for native tool calling (empty in JSON mode).
    tools: Vec<ToolSpec>,
    /// Agent in JSON mode: the model picks tools by answering with JSON.
    json_tools: bool,
    /// In JSON mode, the tool catalog appended to the goal.
    catalog: String,
}

/// A tool as an agent sees it: name, parameters, doc comment.
type Described<'p> = (&'p str, Vec<(String, Ty)>, Option<&'p String>);

fn prepare(ctx: &RunCtx, route: &Route, spec: &Spec<'_>) -> Result<Prepared, String> {
    let program = &*ctx.program;
    let types = &program.types;
    let callees = spec.agent.map_or(&[][..], |(c, _)| c);
    let described: Vec<Described> = callees
        .iter()
        .map(|c| match c {
            Callee::Tool(i) => {
                let t = &program.tools[*i];
                (t.name.as_str(), t.params.clone(), t.doc.as_ref())
            }
            Callee::Flow(i) => {
                let f = &program.flows[*i];
                (f.name.as_str(), flow_params(f), f.doc.as_ref())
            }
        })
        .collect();
    let json_tools = spec.agent.is_some() && route.settings.json_tools;
    let (schema, tools, catalog) = if json_tools {
        let signatures: Vec<(&str, &[(String, Ty)])> = described.iter().map(|(n, p, _)| (*n, p.as_slice())).collect();
        let mut catalog = String::from("\n\nYou can use these tools:\n");
        for (name, params, doc) in &described {
            let params: Vec<String> = params.iter().map(|(n, ty)| format!("{n}: {ty}")).collect();
            catalog.push_str(&format!(
                "- {name}({}){}\n",
                params.join(", "),
                doc.map_or(String::new(), |d| format!(": {d}"))
            ));
        }
        catalog.push_str(
            "\nAnswer every turn with one JSON object: {\"tool\": NAME, \"arguments\": {...}} to call a tool \
             (its result comes back to you), or {\"final\": ANSWER} when you have the answer.",
        );
        (decision_schema(&signatures, spec.output, types), Vec::new(), catalog)
    } else {
        let tools = described
            .iter()
            .map(|(name, params, doc)| ToolSpec {
                name: name.to_string(),
                description: doc.cloned().unwrap_or_default(),
                parameters: parameters_schema(params, types),
            })
            .collect();
        (output_schema(spec.output, types), tools, String::new())
    };
    let validator =
        jsonschema::validator_for(&schema.schema).map_err(|e| format!("the output schema is invalid: {e}"))?;
    Ok(Prepared { schema, validator, tools, json_tools, catalog })
}

/// A flow's parameters as (name, type) pairs, the shape tools have.
fn flow_params(flow: &flow_compiler::ir::Flow) -> Vec<(String, Ty)> {
    flow.params.iter().map(|p| (p.name.clone(), p.ty.clone())).collect()
}

pub(crate) async fn run(
    ctx: &Arc<RunCtx>,
    step: &Step,
    item: &[u32],
    depth: u32,
    spec: Spec<'_>,
) -> Result<Value, StepError> {
    let program = &*ctx.program;
    let model = &program.models[spec.model];
    let fail = |kind, message: String| StepError::new(kind, step.id.as_str(), message);
    // Scripted answers (test blocks, `Engine::mock`): by step name, then by model.
    let script = scripted(ctx, &step.name, spec.output).or_else(|| scripted(ctx, &model.name, spec.output));
    if let Some(answer) = script {
        let answer =
            answer.map_err(|e| StepError::from_tool(step.id.as_str(), &format!("model `{}`", model.name), e))?;
        return from_json_typed(&answer, spec.output, &program.types).map_err(|m| {
            fail(ErrorKind::Schema, format!("the mock for model `{}` does not fit `{}`: {m}", model.name, spec.output))
        });
    }
    let Some(route) = ctx.routes.get(spec.model).and_then(Option::as_ref) else {
        return Err(fail(ErrorKind::Provider, format!("model `{}` has no provider in this run", model.name)));
    };
    let prepared = ctx.prepared(step, || prepare(ctx, route, &spec)).map_err(|m| fail(ErrorKind::Schema, m))?;
    let settings = &route.settings;
    let repair_limit = spec.repair.unwrap_or(settings.repair);
    let max_turns = spec.agent.map(|(_, n)| n.unwrap_or(super::DEFAULT_MAX_TURNS));
    let mut messages = vec![Message::User { text: format!("{}{}", spec.prompt, prepared.catalog) }];
    let mut repairs = 0u64;
    let mut turn = 0u32;
    loop {
        turn += 1;
        if let Some(max) = max_turns.filter(|&m| u64::from(turn) > m) {
            return Err(fail(
                ErrorKind::MaxTurns,
                format!("the agent made {max} model calls without giving its final answer (max_turns: {max})"),
            ));
        }
        let request = ChatRequest {
            step: step.id.as_str(),
            model,
            endpoint: &route.endpoint,
            system: spec.system.as_deref(),
            messages: &messages,
            output: &prepared.schema,
            output_type: spec.output,
            types: &program.types,
            tools: &prepared.tools,
            temperature: spec.temperature.or(settings.temperature),
            max_tokens: spec.max_tokens.or(settings.max_tokens),
            stream: settings.stream,
            idle_timeout: settings.idle_timeout,
        };
        let prompt = (turn == 1).then_some(spec.prompt.as_str());
        let response = send(ctx, step, item, route, &request, turn, prompt).await?;
        if let Some((callees, _)) = spec.agent.filter(|_| !response.tool_calls.is_empty()) {
            messages.push(Message::Assistant { text: response.text.clone(), tool_calls: response.tool_calls.clone() });
            for call in &response.tool_calls {
                let (content, is_error) = agent_tool(ctx, step, item, turn, callees, call, depth).await?;
                messages.push(Message::Tool { call_id: call.id.clone(), name: call.name.clone(), content, is_error });
            }
            continue;
        }
        let cut_off = matches!(response.finish_reason.as_deref(), Some("length" | "max_tokens"));
        let problems = match interpret(&response.text, &prepared, spec.output, &program.types) {
            Ok(Answer::Final(value)) => return Ok(value),
            Ok(Answer::Tool(call)) => {
                let callees = spec.agent.map_or(&[][..], |(c, _)| c);
                messages.push(Message::Assistant { text: response.text.clone(), tool_calls: Vec::new() });
                let (content, is_error) = agent_tool(ctx, step, item, turn, callees, &call, depth).await?;
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
        if repairs >= repair_limit {
            let tries = if repairs == 0 { String::new() } else { format!(" (after {repairs} repair attempts)") };
            let message = format!(
                "model `{}` answered with something that does not fit `{}`{tries}: {}; the answer was {}",
                model.name,
                spec.output,
                problems.join("; "),
                snippet(&response.text)
            );
            return Err(StepError { raw: Some(response.text), ..fail(ErrorKind::Schema, message) });
        }
        repairs += 1;
        ctx.emit(|| Event::LlmRepair {
            step: step.id.to_string(),
            item: item.to_vec(),
            repair: repairs as u32,
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
    }
}

const CUT_OFF_PROMPT: &str =
    "Your previous answer was cut off at the token limit before the JSON was complete. Answer again with shorter JSON.";

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
    let value = extract_json(text).map_err(|e| vec![e])?;
    let mut value = unwrap(value, &prepared.schema);
    if prepared.json_tools {
        if let Some(answer) = value.get_mut("final") {
            coerce(answer, output, types);
        }
    } else {
        coerce(&mut value, output, types);
    }
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

/// Sends one request within the model's limits and timeout, and accounts for it.
async fn send(
    ctx: &RunCtx,
    step: &Step,
    item: &[u32],
    route: &Route,
    request: &ChatRequest<'_>,
    turn: u32,
    prompt: Option<&str>,
) -> Result<ChatResponse, StepError> {
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
    let used = result.as_ref().map_or(0, |r| r.usage.input_tokens + r.usage.output_tokens);
    if let (Some(limiter), Some(permit)) = (&route.limiter, &permit) {
        limiter.settle(permit, used);
        if let Err(ToolError { kind: ErrorKind::RateLimited, retry_after: Some(wait), .. }) = &result {
            limiter.pause(*wait);
        }
    }
    drop(permit);
    let response = result.map_err(|e| StepError::from_tool(step.id.as_str(), &format!("model `{}`", model.name), e))?;
    let cost = route.settings.cost(response.usage);
    ctx.count_model_call(response.usage, cost);
    ctx.emit(|| Event::LlmCall {
        step: step.id.to_string(),
        item: item.to_vec(),
        model: model.name.clone(),
        turn,
        prompt: prompt.map(str::to_string),
        text: response.text.clone(),
        tool_calls: response.tool_calls.clone(),
        input_tokens: response.usage.input_tokens,
        output_tokens: response.usage.output_tokens,
        cost_usd: cost,
        finish_reason: response.finish_reason.clone(),
        duration_ms: started.elapsed().as_secs_f64() * 1000.0,
        at_ms: ctx.at_ms(),
    });
    Ok(response)
}

/// A rough count for `tpm` before the call (about four characters a token,
/// plus the most the answer may use); settled with the real count after.
fn estimate_tokens(request: &ChatRequest<'_>) -> u64 {
    (request.text_len() / 4) as u64 + request.max_tokens.unwrap_or(0)
}

/// Runs one tool call an agent asked for. Problems the model can fix (an
/// unknown tool, arguments that do not fit, a tool that failed) go back to
/// it as an error result; only cancellation and engine limits end the step.
async fn agent_tool(
    ctx: &Arc<RunCtx>,
    step: &Step,
    item: &[u32],
    turn: u32,
    callees: &[Callee],
    call: &ToolCall,
    depth: u32,
) -> Result<(String, bool), StepError> {
    let program = &*ctx.program;
    let name_of = |c: &Callee| match c {
        Callee::Tool(i) => program.tools[*i].name.as_str(),
        Callee::Flow(i) => program.flows[*i].name.as_str(),
    };
    let outcome: Result<J, String> = match callees.iter().find(|c| name_of(c) == call.name) {
        None => {
            let names: Vec<&str> = callees.iter().map(name_of).collect();
            Err(format!("there is no tool `{}`; the tools are: {}", call.name, names.join(", ")))
        }
        Some(callee) => {
            let params = match callee {
                Callee::Tool(i) => program.tools[*i].params.clone(),
                Callee::Flow(i) => flow_params(&program.flows[*i]),
            };
            match arguments(&call.arguments, &params, &program.types) {
                Err(problem) => Err(problem),
                Ok((json_args, values)) => match callee {
                    Callee::Tool(i) => {
                        let tool = &program.tools[*i];
                        match call_tool(ctx, tool, J::Object(json_args)).await {
                            Ok(result) => match from_json_typed(&result, &tool.output, &program.types) {
                                Ok(v) => Ok(v.to_json()),
                                Err(m) => {
                                    Err(format!("the tool returned a value that does not fit `{}`: {m}", tool.output))
                                }
                            },
                            Err(e) if matches!(e.kind, ErrorKind::Cancelled | ErrorKind::Limit) => {
                                return Err(StepError::from_tool(
                                    step.id.as_str(),
                                    &format!("tool `{}`", tool.name),
                                    e,
                                ));
                            }
                            Err(e) => Err(format!("{} ({})", e.message, e.kind)),
                        }
                    }
                    Callee::Flow(i) => {
                        ctx.check_depth(step, depth + 1)?;
                        match run_flow(ctx, *i, values, depth + 1).await {
                            Ok(v) => Ok(v.to_json()),
                            Err(e) if matches!(e.kind, ErrorKind::Cancelled | ErrorKind::Limit) => return Err(e),
                            Err(e) => Err(format!("{} ({})", e.message, e.kind)),
                        }
                    }
                },
            }
        }
    };
    let (ok, output) = match &outcome {
        Ok(v) => (true, v.clone()),
        Err(m) => (false, J::String(m.clone())),
    };
    ctx.emit(|| Event::AgentTool {
        step: step.id.to_string(),
        item: item.to_vec(),
        turn,
        call_id: call.id.clone(),
        tool: call.name.clone(),
        arguments: call.arguments.clone(),
        ok,
        output,
        at_ms: ctx.at_ms(),
    });
    Ok(match outcome {
        Ok(v) => (v.to_string(), false),
        Err(m) => (m, true),
    })
}

/// Checks a tool call's arguments against the parameters: each must fit its
/// type (a missing one counts as `null`, so only optional ones may be left
/// out), and no others may be given.
fn arguments(
    given: &J,
    params: &[(String, Ty)],
    types: &flow_compiler::types::TypeTable,
) -> Result<(serde_json::Map<String, J>, Vec<Value>), String> {
    let J::Object(given) = given else {
        return Err(format!(
            "the arguments must be a JSON object of the parameters, not {}",
            snippet(&given.to_string())
        ));
    };
    if let Some(extra) = given.keys().find(|k| !params.iter().any(|(p, _)| p == *k)) {
        let names: Vec<&str> = params.iter().map(|(p, _)| p.as_str()).collect();
        return Err(format!("there is no parameter `{extra}`; the parameters are: {}", names.join(", ")));
    }
    let mut json_args = serde_json::Map::new();
    let mut values = Vec::with_capacity(params.len());
    for (name, ty) in params {
        let arg = given.get(name).cloned().unwrap_or(J::Null);
        let value = from_json_typed(&arg, ty, types).map_err(|m| {
            if given.contains_key(name) {
                format!("argument `{name}` does not fit `{ty}`: {m}")
            } else {
                format!("argument `{name}` ({ty}) is missing")
            }
        })?;
        json_args.insert(name.clone(), arg);
        values.push(value);
    }
    Ok((json_args, values))
}
