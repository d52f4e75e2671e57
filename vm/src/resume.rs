//! Resuming a stored run: whether it may be resumed, with which program,
//! and — when the host resumes it with a changed program — whether every
//! step the run completed still exists with the same type, so that no
//! journaled value is read back as something it is not.

use crate::config::Config;
use crate::run::{CompileError, RunError, RunOptions};
use crate::store::{RunRecord, RunState, Store, StoreError};
use flow_compiler::Code;
use flow_compiler::ir::{Action, Block, Program};
use std::collections::HashMap;
use std::sync::Arc;

pub(crate) fn store_error(e: StoreError) -> RunError {
    RunError::Setup { code: e.code, message: e.message, help: None }
}

fn setup(code: Code, message: String, help: Option<String>) -> RunError {
    RunError::Setup { code, message, help }
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// The stored run `id`, or E0611.
pub(crate) async fn stored_run(store: &dyn Store, id: &str) -> Result<RunRecord, RunError> {
    store.run(id).await.map_err(store_error)?.ok_or_else(|| {
        setup(Code::UnknownRun, format!("there is no run `{id}` in the store"), Some("`flowc runs` lists them".into()))
    })
}

/// Compiles `source`, or gives the program the engine compiled from it before.
pub(crate) fn compile(config: &Config, source: &str) -> Result<Arc<Program>, CompileError> {
    if let Some(program) = config.programs.get(source) {
        return Ok(program);
    }
    match flow_compiler::compile(source) {
        Ok((program, _)) => {
            let program = Arc::new(program);
            config.programs.keep(&program);
            Ok(program)
        }
        Err(analysis) => Err(CompileError { source: source.to_string(), analysis }),
    }
}

/// The stored program of a run, compiled (or as the engine has it already).
pub(crate) async fn stored_program(
    config: &Config,
    store: &dyn Store,
    run: &RunRecord,
) -> Result<Arc<Program>, RunError> {
    let source =
        store.source(&run.program).await.map_err(store_error)?.ok_or_else(|| {
            StoreError::unavailable(format!("the program of run `{}` is missing from the store", run.id))
        });
    let source = source.map_err(store_error)?;
    compile(config, &source).map_err(|_| {
        setup(
            Code::ProgramChanged,
            format!("the stored program of run `{}` no longer compiles with this version of flowc", run.id),
            Some("resume with the program's file: `flowc resume ID --file FILE`".into()),
        )
    })
}

/// What to start to continue run `id`: its program (the stored one, or
/// `program` when it is compatible) and options (same flow, input and id).
pub(crate) async fn prepare(
    config: &Config,
    store: &dyn Store,
    id: &str,
    program: Option<Arc<Program>>,
) -> Result<(Arc<Program>, RunOptions), RunError> {
    let run = stored_run(store, id).await?;
    check_resumable(&run)?;
    options_for(config, store, run, program).await
}

/// [`prepare`] for a run claimed from a queue: its staleness was judged by
/// the claim (by the queue's lease, shorter than [`crate::STALE_AFTER_MS`]).
pub(crate) async fn prepare_claimed(
    config: &Config,
    store: &dyn Store,
    id: &str,
) -> Result<(Arc<Program>, RunOptions), RunError> {
    let run = stored_run(store, id).await?;
    if run.state == RunState::Succeeded {
        return Err(setup(Code::NotResumable, format!("run `{id}` already succeeded"), None));
    }
    options_for(config, store, run, None).await
}

async fn options_for(
    config: &Config,
    store: &dyn Store,
    run: RunRecord,
    program: Option<Arc<Program>>,
) -> Result<(Arc<Program>, RunOptions), RunError> {
    let id = run.id.as_str();
    let stored = stored_program(config, store, &run).await?;
    let program = match program {
        Some(new) if *new.source != *stored.source => {
            let steps = store.steps(id).await.map_err(store_error)?;
            check_compatible(&stored, &new, steps.iter().map(|s| s.node.as_str()))?;
            new
        }
        _ => stored,
    };
    let mut options = RunOptions::new(&run.flow, run.input.clone()).run_id(id);
    options.resume = true;
    options.expect = Some((run.state, run.heartbeat_ms));
    options.definition = run.definition.clone();
    Ok((program, options))
}

fn check_resumable(run: &RunRecord) -> Result<(), RunError> {
    let now = now_ms();
    if run.state == RunState::Succeeded {
        return Err(setup(
            Code::NotResumable,
            format!("run `{}` already succeeded; there is nothing to resume", run.id),
            Some(format!("`flowc status {}` shows its output", run.id)),
        ));
    }
    if run.state == RunState::Running && !run.stale(now) {
        return Err(setup(
            Code::NotResumable,
            format!(
                "run `{}` is running in another process (it beat {:.1}s ago)",
                run.id,
                (now - run.heartbeat_ms) as f64 / 1000.0
            ),
            Some("cancel it first (`flowc cancel ID`); a run whose process died is resumable at once on this host, after 30s without a beat from another".into()),
        ));
    }
    Ok(())
}

/// Every completed step (by node id) must exist in `new` with the type it
/// has in `old`: else E0613, naming the first that does not.
pub(crate) fn check_compatible<'a>(
    old: &Program,
    new: &Program,
    completed: impl Iterator<Item = &'a str>,
) -> Result<(), RunError> {
    let (old_types, new_types) = (step_types(old), step_types(new));
    for node in completed {
        let Some(before) = old_types.get(node) else { continue };
        match new_types.get(node) {
            Some(after) if after == before => {}
            Some(after) => {
                return Err(setup(
                    Code::ProgramChanged,
                    format!("step `{node}` completed as `{before}`, and the changed program makes it `{after}`"),
                    Some("resume with the run's own program (omit --file), or start a new run".into()),
                ));
            }
            None => {
                return Err(setup(
                    Code::ProgramChanged,
                    format!("step `{node}` completed in this run, and the changed program has no such step"),
                    Some("resume with the run's own program (omit --file), or start a new run".into()),
                ));
            }
        }
    }
    Ok(())
}

/// The type of every step and map body of a program, by node id: the
/// steps of map bodies wherever the map is (a step, a `when`, a route
/// branch, a catch), and of every flow a step may call.
fn step_types(program: &Program) -> HashMap<String, String> {
    fn in_action(action: &Action, list_ty: &str, out: &mut HashMap<String, String>) {
        match action {
            Action::Map(map) => {
                out.insert(map.id.to_string(), list_ty.to_string());
                in_block(&map.body, out);
            }
            Action::Loop(lp) => {
                out.insert(lp.id.to_string(), list_ty.to_string());
                in_block(&lp.body, out);
            }
            Action::When { action, .. } => in_action(action, list_ty, out),
            Action::Route(branches) => branches.iter().for_each(|b| in_action(&b.action, list_ty, out)),
            _ => {}
        }
    }
    fn in_block(block: &Block, out: &mut HashMap<String, String>) {
        for step in block.graph.node_weights() {
            let ty = step.ty.to_string();
            in_action(&step.action, &ty, out);
            step.catches.iter().for_each(|c| in_action(&c.action, &ty, out));
            out.insert(step.id.to_string(), ty);
        }
    }
    let mut out = HashMap::new();
    for flow in &program.flows {
        in_block(&flow.body, &mut out);
    }
    out
}

/// Answers the `ask` of run `id` named `step` (its key, or the step's name
/// with `[i]` inside maps), after checking `value` against the step's type.
/// Returns the ask's key.
pub(crate) async fn answer(
    config: &Config,
    store: &dyn Store,
    id: &str,
    step: &str,
    value: &serde_json::Value,
) -> Result<String, RunError> {
    let run = stored_run(store, id).await?;
    let asks = store.waiting(id).await.map_err(store_error)?;
    let suffix = format!("/{step}");
    // The key, its tail (`approval`, `approval[2]`), or the step's name in
    // its node id (an ask inside a `when` is at `flow/step/then`).
    let named = |a: &&crate::store::Waiting| {
        a.key == step || a.key.ends_with(&suffix) || a.node.split('/').any(|part| part == step)
    };
    // Open asks first: the same step name can wait in two calls of one flow.
    // An ask whose deadline passed is closed: its step timed out (a retry asks anew).
    let now = now_ms();
    let open: Vec<&crate::store::Waiting> =
        asks.iter().filter(named).filter(|a| a.answer.is_none() && a.deadline_ms.is_none_or(|d| d > now)).collect();
    let ask = match open.as_slice() {
        [one] => *one,
        [] => match asks.iter().find(named) {
            Some(answered) => {
                let message = format!("`{}` of run `{id}` was answered already", answered.key);
                return Err(setup(Code::BadAnswer, message, None));
            }
            None => {
                let waiting: Vec<&str> = asks.iter().filter(|a| a.answer.is_none()).map(|a| a.key.as_str()).collect();
                let help = match waiting.as_slice() {
                    [] => "it waits for nothing".to_string(),
                    keys => format!("it waits at {}", keys.join(", ")),
                };
                let message = format!("run `{id}` has no step `{step}` waiting for an answer");
                return Err(setup(Code::BadAnswer, message, Some(help)));
            }
        },
        several => {
            let keys: Vec<&str> = several.iter().map(|a| a.key.as_str()).collect();
            let message = format!("`{step}` names {} waiting steps of run `{id}`", keys.len());
            return Err(setup(Code::BadAnswer, message, Some(format!("name one by its key: {}", keys.join(", ")))));
        }
    };
    let program = stored_program(config, store, &run).await?;
    let node = ask.node.as_str();
    let output = find_ask(&program, node)
        .map(|a| a.output.clone())
        .ok_or_else(|| setup(Code::BadAnswer, format!("the program of run `{id}` has no `ask` at `{node}`"), None))?;
    if let Err(m) = crate::value::from_json_typed(value, &output, &program.types) {
        return Err(setup(
            Code::BadAnswer,
            format!("the answer does not fit `{output}`, the type `{}` asks for: {m}", ask.key),
            Some(format!("the answer's JSON Schema is {}", ask.schema)),
        ));
    }
    store.answer(id, &ask.key, value).await.map_err(store_error)?;
    Ok(ask.key.clone())
}

/// The `ask` at node `node` (a step, or the `when`, route branch or catch
/// it is in), wherever it is in the program.
fn find_ask<'p>(program: &'p Program, node: &str) -> Option<&'p flow_compiler::ir::AskAction> {
    fn in_action<'p>(action: &'p Action, id: &str, node: &str) -> Option<&'p flow_compiler::ir::AskAction> {
        match action {
            Action::Ask(ask) if id == node => Some(ask),
            Action::When { id, action, .. } => in_action(action, id.as_str(), node),
            Action::Route(branches) => branches.iter().find_map(|b| in_action(&b.action, b.id.as_str(), node)),
            Action::Map(map) => in_block(&map.body, node),
            Action::Loop(lp) => in_block(&lp.body, node),
            _ => None,
        }
    }
    fn in_block<'p>(block: &'p Block, node: &str) -> Option<&'p flow_compiler::ir::AskAction> {
        block.graph.node_weights().find_map(|step| {
            in_action(&step.action, step.id.as_str(), node)
                .or_else(|| step.catches.iter().find_map(|c| in_action(&c.action, c.id.as_str(), node)))
        })
    }
    program.flows.iter().find_map(|f| in_block(&f.body, node))
}

/// Cancels run `id`: a run running in a live process is asked to stop (it
/// reads the request within a second); a waiting or interrupted one, which
/// no process runs, is marked cancelled now. A finished run stays as it is.
pub(crate) async fn cancel(store: &dyn Store, id: &str) -> Result<(), RunError> {
    let run = stored_run(store, id).await?;
    let now = now_ms();
    let orphaned = run.stale(now) || matches!(run.state, RunState::Waiting | RunState::Interrupted);
    if run.state == RunState::Running && !orphaned {
        store.request_cancel(id).await.map_err(store_error)?;
    } else if orphaned {
        let error = serde_json::json!({ "kind": "cancelled", "message": "the run was cancelled", "step": run.flow });
        let end = crate::store::RunEnd {
            id,
            state: RunState::Cancelled,
            output: None,
            error: Some(&error),
            totals: &run.totals,
            owner: None,
        };
        store.finish(end).await.map_err(store_error)?;
    }
    Ok(())
}
