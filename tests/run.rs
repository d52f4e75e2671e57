//! Lowering and running, data-driven: the IR of every example (snapshots),
//! every example flow run end to end with mocked models and tools (event
//! streams snapshotted, on the paused clock so times are exact), and the
//! `test` blocks of the examples and of `tests/run/*.flow` (outcomes
//! snapshotted, and every test must pass).

use flow_tests::{cases, examples, file_name, read};
use flow_vm::{Engine, Event, RunOptions, RunStatus};
use std::fmt::Write;
use std::sync::Arc;

fn compile(path: &std::path::Path) -> Arc<flow_vm::Program> {
    match flow_compiler::compile(&read(path)) {
        Ok((program, _)) => Arc::new(program),
        Err(checked) => panic!("{} does not compile: {:?}", path.display(), checked.diagnostics),
    }
}

fn stem(path: &std::path::Path) -> String {
    file_name(path).trim_end_matches(".flow").to_string()
}

#[test]
fn ir_of_examples() {
    for path in examples() {
        let program = compile(&path);
        insta::assert_snapshot!(format!("ir_{}", stem(&path)), flow_compiler::graph::dump(&program));
    }
}

#[test]
fn graphs_of_triage() {
    let program = compile(&examples().into_iter().find(|p| file_name(p) == "triage.flow").expect("triage example"));
    insta::assert_snapshot!("mermaid_triage", flow_compiler::graph::mermaid(&program));
    insta::assert_snapshot!("dot_triage", flow_compiler::graph::dot(&program));
}

/// Each event as one JSON line.
fn jsonl(events: &[Event]) -> String {
    let mut out = String::new();
    for e in events {
        let _ = writeln!(out, "{}", serde_json::to_string(e).unwrap_or_default());
    }
    out
}

#[tokio::test(start_paused = true)]
async fn every_example_flow_runs_with_mocks() {
    let engine = Engine::new().mock_models(true).mock_tools(true);
    for path in examples() {
        let program = compile(&path);
        for flow in &program.flows {
            let input: serde_json::Map<String, serde_json::Value> = flow
                .params
                .iter()
                .map(|p| (p.name.clone(), flow_vm::models::sample(&p.ty, &program.types, &p.name)))
                .collect();
            let options = RunOptions::new(&flow.name, serde_json::Value::Object(input)).events(true);
            let (outcome, all) = engine.start(&program, options).expect("the run starts").wait_with_events().await;
            assert_eq!(outcome.status, RunStatus::Succeeded, "{} {}: {:?}", file_name(&path), flow.name, outcome.error);
            insta::assert_snapshot!(format!("events_{}_{}", stem(&path), flow.name), jsonl(&all));
        }
    }
}

#[tokio::test(start_paused = true)]
async fn test_blocks_pass() {
    let engine = Engine::new().mock_models(true);
    let corpus = cases("run");
    assert!(!corpus.is_empty(), "tests/run holds run cases");
    let files = corpus.iter().map(|p| (p.clone(), true)).chain(examples().into_iter().map(|p| (p, false)));
    for (path, snapshot) in files {
        let program = compile(&path);
        let mut summary = String::new();
        for report in engine.run_tests(&program).await {
            assert!(report.passed(), "{} test {}: {:?}", file_name(&path), report.name, report.failures);
            let output = report.outcome.output.map(|o| o.to_string()).unwrap_or_default();
            let t = report.outcome.totals;
            let _ = writeln!(
                summary,
                "{}: {:?} output={output} started={} finished={} failed={} skipped={} retries={}",
                report.name, report.outcome.status, t.started, t.finished, t.failed, t.skipped, t.retries
            );
        }
        if snapshot {
            insta::assert_snapshot!(format!("run_{}", stem(&path)), summary);
        }
    }
}
