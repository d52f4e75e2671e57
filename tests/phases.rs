//! The cases that compile and run: schemas, `test` blocks, examples.

use crate::snapshot;
use flow_compiler::ir::{Action, Block, Expr, ExprKind, Program};
use flow_compiler::schema::{output_schema, type_schema};
use flow_compiler::types::{Ty, TypeTable};
use flow_tests::{read, stem};
use flow_vm::test_support::{jsonl, run_program};
use flow_vm::{Engine, RunStatus};
use std::fmt::Write;
use std::path::Path;
use std::sync::Arc;

pub(crate) fn compile(path: &Path) -> Result<Arc<Program>, String> {
    match flow_compiler::compile(&read(path)) {
        Ok((program, _)) => Ok(Arc::new(program)),
        Err(analysis) => Err(format!("does not compile: {:?}", analysis.diagnostics)),
    }
}

/// A runtime on tokio's paused clock, so times in events are exact.
fn paused<T>(f: impl std::future::Future<Output = T>) -> T {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build();
    match runtime {
        Ok(runtime) => runtime.block_on(f),
        Err(e) => panic!("no runtime: {e}"),
    }
}

fn pretty(v: &serde_json::Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

fn llm_steps(block: &Block, out: &mut String, types: &TypeTable) {
    for step in block.graph.node_weights() {
        match &step.action {
            Action::Llm(call) => {
                let s = output_schema(&call.output, types);
                let _ = writeln!(
                    out,
                    "== step {} -> {} (wrapped: {}, strict: {})\n{}\n",
                    step.id,
                    call.output,
                    s.wrapped,
                    s.strict,
                    pretty(&s.schema)
                );
            }
            other => {
                if let Some(body) = other.body() {
                    llm_steps(body, out, types)
                }
            }
        }
    }
}

/// The schema of every declared type and `llm` output, snapshotted; every
/// schema is valid and accepts the mock's sample of its type.
pub(crate) fn schema_case(path: &Path) -> Result<(), String> {
    let program = compile(path)?;
    let mut out = String::new();
    // The predeclared types (`Message`) are the same in every program: once, in `shapes`.
    let builtin = |n: &str| flow_compiler::types::builtin_types().iter().any(|(b, ..)| *b == n);
    let mut names: Vec<&String> =
        program.types.bodies.keys().filter(|n| !builtin(n) || path.ends_with("shapes.flow")).collect();
    names.sort();
    for name in names {
        let ty = Ty::Named(name.as_str().into());
        let schema = type_schema(&ty, &program.types);
        let _ = writeln!(out, "== type {name}\n{}\n", pretty(&schema));
        jsonschema::validator_for(&schema).map_err(|e| format!("the schema of {name} is not valid: {e}"))?;
        // A value the program holds has its fields under their own names (the model sees aliases).
        let held = flow_compiler::schema::value_schema(&ty, &program.types);
        let validator =
            jsonschema::validator_for(&held).map_err(|e| format!("the schema of {name} is not valid: {e}"))?;
        let sample = flow_vm::models::sample(&ty, &program.types, name);
        let errors: Vec<String> = validator.iter_errors(&sample).map(|e| e.to_string()).collect();
        if !errors.is_empty() {
            return Err(format!("{name}: sample {sample} rejected: {errors:?}"));
        }
    }
    for flow in &program.flows {
        llm_steps(&flow.body, &mut out, &program.types);
    }
    snapshot(&format!("schema__schema_{}", stem(path)), &out);
    Ok(())
}

/// Runs every `test` block of a program; each must pass. Returns a line
/// per test: status, output and counts.
fn test_blocks(program: &Arc<Program>) -> Result<String, String> {
    let summary = test_blocks_with(program, Engine::new().mock_models(true))?;
    // The same with every expression that can be compiled compiled at once.
    let compiled = test_blocks_with(program, Engine::new().mock_models(true).jit_after(Some(0)))?;
    if compiled != summary {
        return Err(format!("compiled expressions changed the tests' outcomes:\n{summary}\n---\n{compiled}"));
    }
    Ok(summary)
}

fn test_blocks_with(program: &Arc<Program>, engine: Engine) -> Result<String, String> {
    let mut summary = String::new();
    for report in paused(engine.run_tests(program)) {
        if !report.passed() {
            return Err(format!("test {}: {:?}", report.name, report.failures));
        }
        let output = report.outcome.output.map(|o| o.to_string()).unwrap_or_default();
        let t = report.outcome.totals;
        let _ = writeln!(
            summary,
            "{}: {:?} output={output} started={} finished={} failed={} skipped={} retries={}",
            report.name, report.outcome.status, t.started, t.finished, t.failed, t.skipped, t.retries
        );
    }
    Ok(summary)
}

pub(crate) fn run_case(path: &Path) -> Result<(), String> {
    let summary = test_blocks(&compile(path)?)?;
    snapshot(&format!("run__run_{}", stem(path)), &summary);
    Ok(())
}

/// An example checks clean, lowers with a type on every expression, runs
/// every flow with mocks, and passes its test blocks.
pub(crate) fn example_case(path: &Path) -> Result<(), String> {
    let source = read(path);
    let analysis = flow_compiler::check(&source);
    if !analysis.diagnostics.is_empty() {
        return Err(flow_tests::check_rendered(&flow_tests::file_name(path), &source));
    }
    let program = compile(path)?;
    snapshot(&format!("run__ir_{}", stem(path)), &flow_compiler::graph::dump(&program));
    for flow in &program.flows {
        untyped(&flow.body).map_err(|e| format!("flow {}: an expression has no type: {e}", flow.name))?;
    }
    let mut engine = Engine::new().mock_models(true).mock_tools(true);
    // A person's answers, too, are made from their types.
    for flow in &program.flows {
        for (step, ask) in asks(&flow.body) {
            engine = engine.mock(&step, flow_vm::models::sample(&ask.output, &program.types, &step));
        }
    }
    for flow in &program.flows {
        let input: serde_json::Map<String, serde_json::Value> = flow
            .params
            .iter()
            .map(|p| (p.name.clone(), flow_vm::models::sample(&p.ty, &program.types, &p.name)))
            .collect();
        let (outcome, events) = paused(run_program(&engine, &program, &flow.name, input.clone().into()));
        if outcome.status != RunStatus::Succeeded {
            return Err(format!("flow {}: {:?}", flow.name, outcome.error));
        }
        snapshot(&format!("run__events_{}_{}", stem(path), flow.name), &jsonl(&events));
        let jit = engine.clone().jit_after(Some(0));
        let (_, compiled) = paused(run_program(&jit, &program, &flow.name, input.clone().into()));
        if jsonl(&compiled) != jsonl(&events) {
            return Err(format!("flow {}: compiled expressions changed the events", flow.name));
        }
    }
    test_blocks(&program).map(|_| ())
}

/// The `ask` steps of a block and its map bodies, by step name.
fn asks(block: &Block) -> Vec<(String, &flow_compiler::ir::AskAction)> {
    let mut found = Vec::new();
    for step in block.graph.node_weights() {
        match &step.action {
            Action::Ask(ask) => found.push((step.name.clone(), &**ask)),
            other => found.extend(other.body().map(asks).unwrap_or_default()),
        }
    }
    found
}

/// The first expression of a block whose type is unknown, if any.
fn untyped(block: &Block) -> Result<(), String> {
    let mut exprs: Vec<&Expr> = vec![&block.ret];
    for step in block.graph.node_weights() {
        action_exprs(&step.action, &mut exprs);
        for c in &step.catches {
            exprs.extend(&c.guard);
            action_exprs(&c.action, &mut exprs);
        }
        if let Some(body) = step.action.body() {
            untyped(body)?;
        }
    }
    while let Some(e) = exprs.pop() {
        if e.ty.is_unknown() {
            return Err(format!("{e:?}"));
        }
        match &e.kind {
            ExprKind::Concat(items) | ExprKind::List(items) => exprs.extend(items),
            ExprKind::Record(fields) => exprs.extend(fields.iter().map(|(_, v)| v)),
            ExprKind::Field { target, .. } => exprs.push(target),
            ExprKind::Index { target, index } => exprs.extend([&**target, &**index]),
            ExprKind::Call { args, .. } => exprs.extend(args),
            ExprKind::Method { target, args, .. } => {
                exprs.push(target);
                exprs.extend(args);
            }
            ExprKind::Lambda { body, .. } => exprs.push(body),
            ExprKind::Unary { operand, .. } => exprs.push(operand),
            ExprKind::Binary { lhs, rhs, .. } => exprs.extend([&**lhs, &**rhs]),
            _ => {}
        }
    }
    Ok(())
}

fn action_exprs<'a>(action: &'a Action, out: &mut Vec<&'a Expr>) {
    match action {
        Action::Expr(e) => out.push(e),
        Action::Call { args, .. } => out.extend(args.iter().map(|(_, e)| e)),
        Action::Llm(call) => {
            out.push(&call.prompt);
            out.extend([&call.system, &call.temperature, &call.max_tokens, &call.repair].into_iter().flatten());
        }
        Action::Agent(call) => {
            out.push(&call.goal);
            out.extend([&call.system, &call.temperature, &call.max_tokens, &call.max_turns].into_iter().flatten());
        }
        Action::Route(branches) => {
            for b in branches {
                out.extend(&b.condition);
                action_exprs(&b.action, out);
            }
        }
        Action::When { condition, action, .. } => {
            out.push(condition);
            action_exprs(action, out);
        }
        Action::Map(map) => {
            out.push(&map.list);
            out.extend(&map.concurrency);
        }
        Action::Loop(lp) => {
            out.push(&lp.max);
            out.extend(&lp.until);
        }
        Action::Ask(ask) => out.push(&ask.prompt),
    }
}
