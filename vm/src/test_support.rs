//! Helpers for tests and benches of this workspace (feature
//! `test-support`): compile or panic with the rendered diagnostics, run a
//! flow and collect its events, print events as JSON lines. They panic on
//! misuse, as a test should; nothing else in the engine uses them.

use crate::{Engine, Event, Program, RunOptions, RunOutcome};
use std::fmt::Write;
use std::sync::Arc;

/// Compiles `source`, or panics with its rendered diagnostics.
pub fn compile(engine: &Engine, source: &str) -> Arc<Program> {
    match engine.compile(source) {
        Ok(program) => program,
        Err(e) => panic!("the program does not compile:\n{e}\n{source}"),
    }
}

/// Compiles `source` and runs `flow` with `input` to the end, with events.
pub async fn run(engine: &Engine, source: &str, flow: &str, input: serde_json::Value) -> (RunOutcome, Vec<Event>) {
    run_program(engine, &compile(engine, source), flow, input).await
}

/// Runs `flow` of a compiled program to the end, with events.
pub async fn run_program(
    engine: &Engine,
    program: &Arc<Program>,
    flow: &str,
    input: serde_json::Value,
) -> (RunOutcome, Vec<Event>) {
    match engine.start(program, RunOptions::new(flow, input).events(true)) {
        Ok(run) => run.wait_with_events().await,
        Err(e) => panic!("the run does not start: {e}"),
    }
}

/// Each event as one JSON line, as `flowc run --events jsonl` prints them.
pub fn jsonl(events: &[Event]) -> String {
    let mut out = String::new();
    for e in events {
        let _ = writeln!(out, "{}", serde_json::to_string(e).unwrap_or_default());
    }
    out
}

/// The source of a flow `chain(start: int)` of `n` steps, each waiting for
/// the one before: `first` is the first step's form, `next(prev)` every
/// later one's (for benches).
pub fn chain_source(n: usize, declarations: &str, first: &str, next: impl Fn(&str) -> String) -> String {
    let mut src = format!("{declarations}flow chain(start: int) -> int {{\n  step s0 = {first}\n");
    for i in 1..n {
        let _ = writeln!(src, "  step s{i} = {}", next(&format!("s{}", i - 1)));
    }
    let _ = writeln!(src, "  return s{}\n}}", n - 1);
    src
}

/// Reads a model's answer `text` as the program's type `type_name`, as an
/// `llm` step does (for the reader's bench).
pub fn read_answer(program: &Program, type_name: &str, text: &str) -> Result<serde_json::Value, String> {
    use flow_compiler::types::Ty;
    let ty = Ty::Named(Arc::from(type_name));
    let wrapped = !matches!(program.types.resolve(&ty), Ty::Record(_) | Ty::Map(_));
    crate::llm::read::read(text, &ty, &program.types, wrapped)
}

/// A model provider that answers every call with the same text (a raw
/// answer to read, an error-free stand-in for a model).
pub struct Says(pub String);

impl crate::ModelProvider for Says {
    fn chat<'a>(
        &'a self,
        _request: &'a crate::ChatRequest<'a>,
        _on_delta: crate::models::DeltaSink<'a>,
    ) -> futures::future::BoxFuture<'a, Result<crate::ChatResponse, crate::ToolError>> {
        Box::pin(async move { Ok(crate::ChatResponse { text: self.0.clone(), ..Default::default() }) })
    }
}
