//! The answer-reading corpus: `tests/answers/*.txt`, each a set of raw
//! model answers with the type the step declares and the value a careful
//! reader gets — or `fail`, for answers that do not fit and must not be
//! accepted. Each case runs through the engine (`llm` step, `repair: 0`,
//! a provider that answers with the raw text), so what is tested is the
//! real path: reading, the schema check, the Flow type check.
//!
//! A file starts with Flow declarations (types) used by its cases; each
//! case is `=== name`, `type: T`, `expect: JSON` (or `expect: fail`),
//! `---`, then the answer up to the next `===`.

use flow_vm::test_support::Says;
use flow_vm::{Engine, ErrorKind};
use libtest_mimic::{Arguments, Failed, Trial};
use std::path::Path;

struct Case {
    name: String,
    ty: String,
    expect: Option<serde_json::Value>,
    answer: String,
}

fn parse_file(text: &str) -> (String, Vec<Case>) {
    let mut parts = text.split("\n=== ");
    let prelude = parts.next().unwrap_or_default().to_string();
    let cases = parts
        .map(|part| {
            let (head, answer) = part.split_once("\n---\n").unwrap_or((part, ""));
            let mut lines = head.lines();
            let name = lines.next().unwrap_or_default().trim().to_string();
            let (mut ty, mut expect) = (String::new(), None);
            for line in lines {
                if let Some(t) = line.strip_prefix("type:") {
                    ty = t.trim().to_string();
                } else if let Some(e) = line.strip_prefix("expect:") {
                    let e = e.trim();
                    expect = (e != "fail").then(|| {
                        serde_json::from_str(e).unwrap_or_else(|err| panic!("case {name}: expect is not JSON ({err})"))
                    });
                }
            }
            // The answer keeps its own lines; the one newline before the next case is not part of it.
            let answer = answer.strip_suffix('\n').unwrap_or(answer).to_string();
            Case { name, ty, expect, answer }
        })
        .collect();
    (prelude, cases)
}

fn run_case(prelude: &str, case: &Case) -> Result<(), String> {
    let source = format!(
        "{prelude}\nmodel m = openai(\"raw\")\nflow f() -> {ty} {{\n  step a = llm m -> {ty} {{ prompt: \"answer\", repair: 0 }}\n  return a\n}}\n",
        ty = case.ty
    );
    let engine = Engine::new().provider("m", Says(case.answer.clone()));
    let program = engine.compile(&source).map_err(|e| format!("the case does not compile:\n{e}\n{source}"))?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    let outcome = runtime.block_on(async {
        let run =
            engine.start(&program, flow_vm::RunOptions::new("f", serde_json::json!({}))).map_err(|e| e.to_string())?;
        Ok::<_, String>(run.wait().await)
    })?;
    match (&case.expect, outcome.output, outcome.error) {
        (Some(expected), Some(got), _) if *expected == got => Ok(()),
        (Some(expected), got, error) => {
            Err(format!("expected {expected}, got {got:?} ({:?})\nanswer:\n{}", error.map(|e| e.message), case.answer))
        }
        (None, None, Some(e)) if e.kind == ErrorKind::Schema => Ok(()),
        (None, got, error) => {
            Err(format!("must fail with a schema error, got {got:?} / {error:?}\nanswer:\n{}", case.answer))
        }
    }
}

fn main() {
    let args = Arguments::from_args();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("answers");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    files.sort();
    let mut trials = Vec::new();
    let mut total = 0;
    for path in files {
        let stem = flow_tests::stem(&path).trim_end_matches(".txt").to_string();
        let (prelude, cases) = parse_file(&flow_tests::read(&path));
        total += cases.len();
        for case in cases {
            let prelude = prelude.clone();
            let name = format!("{stem}::{}", case.name);
            trials.push(Trial::test(name, move || run_case(&prelude, &case).map_err(Failed::from)));
        }
    }
    assert!(total >= 300, "the corpus holds {total} cases; the issue asks for at least 300");
    libtest_mimic::run(&args, trials).exit();
}
