//! JSON Schemas from types, data-driven: for every `tests/schema/*.flow`,
//! the schema of each declared type (as `flowc schema` prints it) and the
//! output schema of each `llm` step (as sent to a provider), snapshotted.

use flow_compiler::ir::{Action, Block};
use flow_compiler::schema::{output_schema, type_schema};
use flow_compiler::types::Ty;
use flow_tests::{cases, file_name, read};
use std::fmt::Write;

fn pretty(v: &serde_json::Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

fn llm_steps(block: &Block, out: &mut String, types: &flow_compiler::types::TypeTable) {
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
            Action::Map(map) => llm_steps(&map.body, out, types),
            _ => {}
        }
    }
}

#[test]
fn schemas() {
    for path in cases("schema") {
        let (program, _) = flow_compiler::compile(&read(&path))
            .unwrap_or_else(|c| panic!("{} does not compile: {:?}", path.display(), c.diagnostics));
        let mut out = String::new();
        let mut names: Vec<&String> = program.types.bodies.keys().collect();
        names.sort();
        for name in names {
            let schema = type_schema(&Ty::Named(name.as_str().into()), &program.types);
            let _ = writeln!(out, "== type {name}\n{}\n", pretty(&schema));
        }
        for flow in &program.flows {
            llm_steps(&flow.body, &mut out, &program.types);
        }
        insta::assert_snapshot!(format!("schema_{}", file_name(&path).trim_end_matches(".flow")), out);
    }
}

/// Every schema is itself valid JSON Schema, and the sample answer the mock
/// provider gives validates against it.
#[test]
fn schemas_accept_their_samples() {
    for path in cases("schema") {
        let (program, _) = flow_compiler::compile(&read(&path)).expect("compiles");
        for name in program.types.bodies.keys() {
            let ty = Ty::Named(name.as_str().into());
            let schema = type_schema(&ty, &program.types);
            let validator =
                jsonschema::validator_for(&schema).unwrap_or_else(|e| panic!("the schema of {name} is not valid: {e}"));
            let sample = flow_vm::models::sample(&ty, &program.types, name);
            let errors: Vec<String> = validator.iter_errors(&sample).map(|e| e.to_string()).collect();
            assert!(errors.is_empty(), "{name}: sample {sample} rejected: {errors:?}");
        }
    }
}
