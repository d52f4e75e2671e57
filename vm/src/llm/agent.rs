//! An agent's tool calls: each call the model asks for is checked against
//! the tool's or flow's parameters, run through the scheduler's
//! [`Dispatch`], and completes at the run's completion point (an
//! `agent_tool` event). Problems the model can fix go back to it.

use super::prepared::flow_params;
use crate::call_error::snippet;
use crate::dispatch::Dispatch;
use crate::events::{Event, StepError};
use crate::models::ToolCall;
use crate::state::{Completion, Place, RunCtx};
use crate::value::{Value, from_json_typed};
use flow_compiler::ir::{Callee, ErrorKind};
use flow_compiler::types::Ty;
use serde_json::Value as J;

/// Runs one tool call an agent asked for. Problems the model can fix (an
/// unknown tool, arguments that do not fit, a tool that failed) go back to
/// it as an error result; only cancellation and engine limits end the step.
pub(crate) async fn agent_tool(
    ctx: &RunCtx,
    calls: &dyn Dispatch,
    place: Place<'_>,
    (turn, index): (u32, u32),
    callees: &[Callee],
    call: &ToolCall,
) -> Result<(String, bool), StepError> {
    let (step, item) = (place.step, place.item);
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
                        match calls.call_tool(*i, J::Object(json_args)).await {
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
                        ctx.check_depth(step, place.call.depth() + 1)?;
                        match calls.call_flow(*i, values, place.call.enter(&place, Some((turn, index)))).await {
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
    let event = || Event::AgentTool {
        step: step.id.to_string(),
        item: item.to_vec(),
        turn,
        call_id: call.id.clone(),
        tool: call.name.clone(),
        arguments: call.arguments.clone(),
        ok,
        output: output.clone(),
        at_ms: ctx.at_ms(),
    };
    ctx.complete(Completion::ToolCall { place, turn, index, output: &output, event: &event });
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
