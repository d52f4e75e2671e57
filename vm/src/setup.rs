//! Checks made before a run starts, so that nothing runs when something
//! is missing: the flow exists (E0601), the input fits its parameters
//! (E0602), and every tool (E0603, E0604) and model (E0605, E0606) the flow
//! can reach is available. Also says who answers each model.

use crate::config::Config;
use crate::llm::Route;
use crate::run::RunError;
use crate::value::{Value, from_json_typed};
use flow_compiler::Code;
use flow_compiler::ir::{Action, Block, Callee, Header, Program, ToolImpl};
use std::collections::BTreeSet;

fn setup_error(code: Code, message: impl Into<String>, help: Option<String>) -> RunError {
    RunError::Setup { code, message: message.into(), help }
}

/// Every tool and model the flow can reach must be available; says who
/// answers each model the flow can reach.
pub(crate) fn check_reach(config: &Config, program: &Program, flow: usize) -> Result<Vec<Option<Route>>, RunError> {
    let reach = reachable(program, flow);
    if config.store.is_none()
        && let Some(step) = reach.asks.iter().find(|s| !config.scripts.contains_key(*s))
    {
        return Err(setup_error(
            Code::AskUnavailable,
            format!("step `{step}` asks a person, and runs are not kept anywhere to wait"),
            Some("run with a store (drop --no-store; `Engine::store`), or mock the answer (`mock STEP: value` in a test, `Engine::mock`)".into()),
        ));
    }
    for &t in &reach.tools {
        if config.tools_when_reached {
            break;
        }
        let tool = &program.tools[t];
        let scripted = config.scripts.contains_key(&tool.name) || config.tools.contains_key(&tool.name);
        match &tool.implementation {
            ToolImpl::Host if !scripted && !config.mock_tools => {
                return Err(setup_error(
                    Code::ToolUnavailable,
                    format!("tool `{}` has no implementation", tool.name),
                    Some(
                        "register it with `Engine::tool`, give it `= http ...` or `= command [...]` in the file, or run with mocked tools (`flowc run --mock`)"
                            .into(),
                    ),
                ));
            }
            ToolImpl::Command { argv, .. } if !scripted && !config.allow_commands => {
                return Err(setup_error(
                    Code::CommandsNotAllowed,
                    format!(
                        "tool `{}` runs a command ({}), and commands are not allowed",
                        tool.name,
                        argv.first().map_or("", |s| s.as_str())
                    ),
                    Some("allow them with `flowc run --allow-commands` or `Engine::allow_commands(true)`".into()),
                ));
            }
            ToolImpl::Http { url, .. } if !scripted && !config.http_tools => {
                return Err(setup_error(
                    Code::HttpNotAllowed,
                    format!("tool `{}` calls {url} over HTTP, and http tools are not allowed here", tool.name),
                    Some(format!(
                        "mock it (`mock {}: VALUE` in the test), or allow the network: `flowc test --allow-net`, `Engine::http_tools(true)`",
                        tool.name
                    )),
                ));
            }
            ToolImpl::Http { url, headers, .. } if !scripted => {
                check_url(config, &tool.name, url)?;
                check_secrets(config, &tool.name, url, headers)?;
            }
            _ => {}
        }
    }
    let mut routes: Vec<Option<Route>> = program.models.iter().map(|_| None).collect();
    for &m in &reach.models {
        let model = &program.models[m];
        match crate::llm::route(config, model) {
            Ok(route) => routes[m] = Some(route),
            // Every call is scripted: no provider is needed.
            Err(_) if config.scripts.contains_key(&model.name) => {}
            Err(e) => return Err(setup_error(e.code, e.message, Some(e.help))),
        }
    }
    Ok(routes)
}

/// The flow's input as arguments in parameter order, checked against
/// the parameter types.
pub(crate) fn arguments(program: &Program, flow: usize, input: &serde_json::Value) -> Result<Vec<Value>, RunError> {
    let f = &program.flows[flow];
    let empty = serde_json::Map::new();
    let fields = match input {
        serde_json::Value::Object(map) => map,
        serde_json::Value::Null => &empty,
        other => {
            return Err(setup_error(
                Code::BadInput,
                format!("the input must be a JSON object of the flow's parameters, not {other}"),
                Some(input_example(f)),
            ));
        }
    };
    for key in fields.keys() {
        if !f.params.iter().any(|p| p.name == *key) {
            let names: Vec<&str> = f.params.iter().map(|p| p.name.as_str()).collect();
            let help = flow_compiler::suggest::did_you_mean(key, names.iter().copied())
                .map_or_else(|| input_example(f), |best| format!("did you mean `{best}`?"));
            return Err(setup_error(Code::BadInput, format!("flow `{}` has no parameter `{key}`", f.name), Some(help)));
        }
    }
    let mut args = Vec::with_capacity(f.params.len());
    for p in &f.params {
        let json = fields.get(&p.name).unwrap_or(&serde_json::Value::Null);
        let value = from_json_typed(json, &p.ty, &program.types).map_err(|m| {
            let message = if fields.contains_key(&p.name) {
                format!("input `{}` does not fit its type: {}", p.name, m.to_string().replacen("the value", "it", 1))
            } else {
                format!("input `{}` is missing", p.name)
            };
            setup_error(Code::BadInput, message, Some(format!("`{}` is `{}`; {}", p.name, p.ty, input_example(f))))
        })?;
        args.push(value);
    }
    Ok(args)
}

pub(crate) fn find_flow(program: &Program, name: &str) -> Result<usize, RunError> {
    program.flow(name).ok_or_else(|| {
        let names: Vec<&str> = program.flows.iter().map(|f| f.name.as_str()).collect();
        let help = match flow_compiler::suggest::did_you_mean(name, names.iter().copied()) {
            Some(best) => format!("did you mean `{best}`?"),
            None if names.is_empty() => "this program declares no flows".to_string(),
            None => format!("the flows are: {}", names.join(", ")),
        };
        setup_error(Code::UnknownFlow, format!("there is no flow `{name}`"), Some(help))
    })
}

fn input_example(f: &flow_compiler::ir::Flow) -> String {
    let fields: Vec<String> = f.params.iter().map(|p| format!("\"{}\": <{}>", p.name, p.ty)).collect();
    format!("write e.g. {{{}}}", fields.join(", "))
}

/// The tools and models a flow can reach, through the flows it calls.
#[derive(Default)]
struct Reach {
    tools: BTreeSet<usize>,
    models: BTreeSet<usize>,
    flows: BTreeSet<usize>,
    /// The names of the `ask` steps.
    asks: BTreeSet<String>,
}

fn reachable(program: &Program, flow: usize) -> Reach {
    let mut reach = Reach::default();
    let mut todo = vec![flow];
    while let Some(f) = todo.pop() {
        if reach.flows.insert(f) {
            visit_block(&program.flows[f].body, &mut reach, &mut todo);
        }
    }
    reach
}

fn visit_block(block: &Block, reach: &mut Reach, todo: &mut Vec<usize>) {
    for step in block.graph.node_weights() {
        // Most steps are pure expressions or calls, which never ask: skip the walk.
        let may_ask = !step.catches.is_empty() || !matches!(step.action, Action::Expr(_) | Action::Call { .. });
        if may_ask && (step.action.asks() || step.catches.iter().any(|c| c.action.asks())) {
            reach.asks.insert(step.name.clone());
        }
        visit_action(&step.action, reach, todo);
        for c in &step.catches {
            visit_action(&c.action, reach, todo);
        }
    }
}

fn visit_action(action: &Action, reach: &mut Reach, todo: &mut Vec<usize>) {
    let mut callee = |c: &Callee, reach: &mut Reach| match c {
        Callee::Tool(t) => {
            reach.tools.insert(*t);
        }
        Callee::Flow(f) => todo.push(*f),
    };
    match action {
        Action::Expr(_) | Action::Ask(_) => {}
        Action::Call { callee: c, .. } => callee(c, reach),
        Action::Llm(call) => {
            reach.models.insert(call.model);
        }
        Action::Agent(call) => {
            reach.models.insert(call.model);
            for c in &call.tools {
                callee(c, reach);
            }
        }
        Action::Route(branches) => {
            for b in branches {
                visit_action(&b.action, reach, todo);
            }
        }
        Action::When { action, .. } => visit_action(action, reach, todo),
        Action::Map(map) => visit_block(&map.body, reach, todo),
        Action::Loop(lp) => visit_block(&lp.body, reach, todo),
    }
}

/// Refuses an http tool whose headers name a secret the host does not
/// grant, or grants for other hosts than the tool's.
fn check_secrets(config: &Config, tool: &str, template: &str, headers: &[(String, Header)]) -> Result<(), RunError> {
    let url = without_placeholders(template);
    let parsed = reqwest::Url::parse(&url).ok();
    for (header, value) in headers {
        let Header::Secret(name) = value else { continue };
        let problem = match (config.secrets.get(name), &parsed) {
            (None, _) => {
                format!("tool `{tool}` sends the secret {name} (header {header}), which the host does not grant")
            }
            (Some(secret), Some(url)) if secret.goes_to(url) => continue,
            (Some(_), Some(url)) if url.scheme() != "https" && !crate::net::is_loopback(url) => {
                format!(
                    "tool `{tool}` would send the secret {name} over plain http ({template}); secrets go only over https"
                )
            }
            (Some(secret), _) if secret.value.is_empty() => {
                format!("tool `{tool}` sends the secret {name}, which the host grants with an empty value")
            }
            (Some(secret), _) => {
                let hosts: Vec<String> = secret.hosts.iter().map(|h| h.to_string()).collect();
                format!(
                    "tool `{tool}` would send the secret {name} to {template}; the host grants it only for {}",
                    if hosts.is_empty() { "no host".into() } else { hosts.join(", ") }
                )
            }
        };
        let host = parsed.as_ref().and_then(|u| u.host_str()).unwrap_or("HOST");
        return Err(setup_error(
            Code::SecretNotGranted,
            problem,
            Some(format!(
                "a host grants it with `--secret {name}@{host}` (the value from the environment variable {name}) or `Engine::secret`"
            )),
        ));
    }
    Ok(())
}

/// A URL template with its placeholders (in the path or query) filled with `x`.
fn without_placeholders(template: &str) -> String {
    let mut url = template.to_string();
    for (range, _) in flow_compiler::literal::url_placeholders(template).into_iter().rev() {
        url.replace_range(range, "x");
    }
    url
}

/// Refuses an http tool whose URL, as written, the network policy denies
/// (a scheme, an address or a host allowed by no rule); a name is checked
/// again, by its addresses, when the call is made.
fn check_url(config: &Config, tool: &str, template: &str) -> Result<(), RunError> {
    // Placeholders stand in the path or query only (the checker saw to it).
    let url = without_placeholders(template);
    let Ok(parsed) = reqwest::Url::parse(&url) else {
        return Err(setup_error(
            Code::NetNotAllowed,
            format!("tool `{tool}` calls {template}, which is not a URL"),
            Some("write it as http://host/path or https://host/path".into()),
        ));
    };
    config.net.policy.check_url(&parsed).map_err(|crate::net::Denied(why)| {
        setup_error(
            Code::NetNotAllowed,
            format!("tool `{tool}` calls {template}: {why}"),
            Some(crate::llm::net_help(&parsed)),
        )
    })
}
