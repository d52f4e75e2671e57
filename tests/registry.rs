//! The language's tables are each defined once (`flow-stdlib`, the grammar's
//! keywords) and everything else reads them. These tests walk every table:
//! each builtin's example type-checks, runs and gives its documented result
//! (so it has a type rule and an implementation), and every builtin, error
//! kind, provider, option and keyword has its line in `docs/language.md`.

use flow_stdlib::options::{
    AGENT_OPTIONS, ASK_OPTIONS, COMMAND_TOOL_OPTIONS, HTTP_TOOL_OPTIONS, LLM_OPTIONS, LOOP_OPTIONS, MAP_OPTIONS,
    MODEL_OPTIONS, OptionSpec,
};
use flow_stdlib::{BUILTINS, ErrorKind, Provider, Receiver};
use flow_vm::Engine;
use serde_json::json;

fn reference() -> String {
    flow_tests::read(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/language.md"))
}

#[tokio::test]
async fn every_builtin_types_runs_and_gives_its_example_result() {
    let engine = Engine::new();
    let mut failures = Vec::new();
    for b in BUILTINS {
        let source =
            format!("flow f(m: map<string, int>) -> string {{\n  step v = {}\n  return json(v)\n}}\n", b.example);
        let program = match engine.compile(&source) {
            Ok(p) => p,
            Err(e) => {
                failures.push(format!("{}: `{}` does not check: {e}", b.name, b.example));
                continue;
            }
        };
        let output = engine.run(&program, "f", json!({ "m": { "a": 1, "b": 2 } })).await;
        match output {
            Ok(serde_json::Value::String(got)) if got == b.result => {}
            other => failures.push(format!("{}: `{}` gave {other:?}, not {}", b.name, b.example, b.result)),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_builtin_is_in_the_reference() {
    let docs = reference();
    let missing: Vec<String> = BUILTINS
        .iter()
        .map(|b| match b.receiver {
            Receiver::None => format!("`{}(", b.name),
            _ => format!("`.{}(", b.name),
        })
        .filter(|written| !docs.contains(written.as_str()))
        .collect();
    assert!(missing.is_empty(), "docs/language.md does not show {missing:?}");
}

#[test]
fn every_error_kind_and_provider_is_in_the_reference() {
    let docs = reference();
    let names = ErrorKind::names().chain(Provider::names());
    let missing: Vec<&str> = names.filter(|n| !docs.contains(&format!("`{n}`"))).collect();
    assert!(missing.is_empty(), "docs/language.md does not name {missing:?}");
}

/// Each construct's options are named in the part of the reference that
/// describes the construct.
#[test]
fn every_option_is_in_the_reference() {
    let docs = reference();
    let section = |start: &str| -> String {
        let from = docs.find(start).unwrap_or_else(|| panic!("docs/language.md has no `{start}`"));
        docs[from..].chars().take(4000).collect()
    };
    let tables: [(&str, &[OptionSpec]); 8] = [
        ("**`model`**", MODEL_OPTIONS),
        ("**`llm`**", LLM_OPTIONS),
        ("**`agent`**", AGENT_OPTIONS),
        ("**`ask`**", ASK_OPTIONS),
        ("**`map`**", MAP_OPTIONS),
        ("**`loop`**", LOOP_OPTIONS),
        ("**`tool`**", HTTP_TOOL_OPTIONS),
        ("**`tool`**", COMMAND_TOOL_OPTIONS),
    ];
    let mut missing = Vec::new();
    for (start, table) in tables {
        let text = section(start);
        for option in table {
            if !text.contains(&format!("`{}`", option.name)) && !text.contains(&format!("{}:", option.name)) {
                missing.push(format!("{start} {}", option.name));
            }
        }
    }
    assert!(missing.is_empty(), "docs/language.md does not describe {missing:?}");
}

#[test]
fn every_keyword_is_in_the_reference() {
    let docs = reference();
    let missing: Vec<&str> = flow_grammar::keywords::KEYWORDS
        .iter()
        .map(|k| k.word)
        .filter(|w| !docs.contains(&format!("`{w}")) && !docs.contains(&format!("{w} ")))
        .collect();
    assert!(missing.is_empty(), "docs/language.md never shows {missing:?}");
}

/// `docs/security.md` lists every limit with its default and its sandbox
/// value, as the `Limits` registry has them.
#[test]
fn every_limit_is_in_the_security_page() {
    let page = flow_tests::read(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/security.md"));
    let (default, sandbox) = (flow_vm::Limits::default(), flow_vm::Limits::sandbox());
    let mut wrong = Vec::new();
    for spec in flow_vm::LIMITS {
        let row = page.lines().find(|l| l.starts_with(&format!("| `{}` |", spec.name)));
        let cells: Vec<String> =
            row.map(|r| r.split('|').map(|c| c.replace([',', ' '], "")).collect()).unwrap_or_default();
        let shows = |i: usize, value: String| cells.get(i).is_some_and(|c| c.starts_with(&value));
        if !shows(2, spec.value(&default)) || !shows(3, spec.value(&sandbox)) {
            wrong.push(spec.name);
        }
    }
    assert!(wrong.is_empty(), "docs/security.md does not show these limits' values: {wrong:?}");
}

#[test]
fn every_predeclared_type_is_in_the_reference() {
    let docs = reference();
    for (name, ..) in flow_compiler::types::builtin_types() {
        assert!(docs.contains(&format!("`{name}` is predeclared")), "docs/language.md does not describe `{name}`");
    }
}

/// The reference is also an LLM's prompt: it stays under 24 KiB (cut
/// elsewhere when adding; details belong in docs/running.md).
#[test]
fn the_reference_stays_short() {
    let size = reference().len();
    assert!(size <= 24 * 1024, "docs/language.md is {size} bytes, more than 24 KiB");
}
