//! Graph renderings of a program: Mermaid and DOT. (The IR, event and
//! test-block snapshots of every example and `tests/run/` case are in
//! `cases.rs`.)

use flow_tests::{examples, file_name, read};
use std::sync::Arc;

fn compile(path: &std::path::Path) -> Arc<flow_vm::Program> {
    match flow_compiler::compile(&read(path)) {
        Ok((program, _)) => Arc::new(program),
        Err(analysis) => panic!("{} does not compile: {:?}", path.display(), analysis.diagnostics),
    }
}

#[test]
fn graphs_of_triage() {
    let program = compile(&examples().into_iter().find(|p| file_name(p) == "triage.flow").expect("triage example"));
    insta::assert_snapshot!("mermaid_triage", flow_compiler::graph::mermaid(&program));
    insta::assert_snapshot!("dot_triage", flow_compiler::graph::dot(&program));
}
