//! `test` blocks: each runs its flow with its input and mocks on top of
//! the engine, and checks its expectations against the output.

use crate::engine::Engine;
use crate::eval::Frame;
use crate::events::StepError;
use crate::run::{RunError, RunOptions, RunOutcome};
use crate::value::{Value, from_json_typed};
use flow_compiler::ir::{ErrorKind, Program, Test};
use std::sync::Arc;

/// The result of one `test` block.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct TestReport {
    /// The test's name.
    pub name: String,
    /// Expectations that did not hold (their source text), or why the run failed.
    pub failures: Vec<String>,
    /// How the test's run ended.
    pub outcome: RunOutcome,
}

impl TestReport {
    /// Whether every expectation held.
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

impl Engine {
    /// Runs every `test` block of a program: each runs its flow with its
    /// input, its mocks scripted on top of this engine, and checks each
    /// `expect` against the output. Models and tools a test does not mock
    /// are answered by this engine (mocked by type if it mocks them).
    pub async fn run_tests(&self, program: &Arc<Program>) -> Vec<TestReport> {
        let mut reports = Vec::new();
        for test in &program.tests {
            // Only the tools a test's run reaches need mocks: one on a branch it never takes does not.
            let mut engine = self.clone().with(|c| c.tools_when_reached = true);
            for (name, answer) in &test.mocks {
                engine = engine.mock(name, answer.clone());
            }
            let flow = &program.flows[test.flow];
            let started = engine.start(program, RunOptions::new(&flow.name, test.input.clone()));
            let report = match started {
                Err(e) => TestReport {
                    name: test.name.clone(),
                    failures: vec![e.to_string()],
                    outcome: RunOutcome::failed(
                        String::new(),
                        StepError::new(ErrorKind::Cancelled, &flow.name, "the run did not start"),
                    ),
                },
                Ok(run) => {
                    let outcome = run.wait().await;
                    let failures = check_expectations(program, test, &outcome);
                    TestReport { name: test.name.clone(), failures, outcome }
                }
            };
            reports.push(report);
        }
        reports
    }
}

/// The expectations of `test` that do not hold for `outcome`, or why the
/// run gave no output to check.
fn check_expectations(program: &Program, test: &Test, outcome: &RunOutcome) -> Vec<String> {
    let flow = &program.flows[test.flow];
    let output = match (&outcome.output, &outcome.error) {
        (Some(output), _) => output,
        (None, Some(e)) => return vec![RunError::Failed(e.clone()).to_string()],
        (None, None) => return vec!["the run ended without output".into()],
    };
    let output = from_json_typed(output, &flow.output, &program.types).unwrap_or_default();
    let frame = Frame::new(1, None);
    frame.set(0, output);
    let mut failures = Vec::new();
    for (text, expect) in &test.expects {
        match crate::eval::eval(expect, &frame, &mut Vec::new()) {
            Ok(Value::Bool(true)) => {}
            Ok(_) => failures.push(format!("expected {text}")),
            Err(e) => failures.push(format!("expected {text}, but it failed: {e}")),
        }
    }
    failures
}
