//! Every data-driven case as a test of its own, named by phase and file
//! (`check::E0203_unknown_field_typo`, `examples::triage`), so that one
//! mismatch never hides the rest and `cargo test --test cases -- check::E02`
//! runs a subset. Each phase is a folder of `.flow` inputs:
//!
//! - `parse/`, `check/`: bad programs; the rendered diagnostics are
//!   snapshotted and the file name starts with the code they must report;
//! - `ok/`: programs that check clean;
//! - `schema/`: the JSON Schema of every type and `llm` output (snapshots),
//!   each accepting the mock's sample;
//! - `run/`: `test` blocks that must pass (outcomes snapshotted);
//! - `format/`: unformatted programs (`.in`, so every `.flow` file stays
//!   formatted); `flowc fmt`'s output is snapshotted;
//! - `fmt::`: every other file above (parse errors aside) is formatted
//!   already, formats to itself, keeps its comments and syntax tree, and
//!   its horizontal whitespace shuffled formats back to it;
//! - `examples/`: check clean, the IR (snapshots, every expression typed),
//!   every flow run with mocks (event streams snapshotted, on the paused
//!   clock) and the test blocks.

use flow_tests::{cases, check_rendered, codes, examples, expected_code, file_name, read, stem};
use libtest_mimic::{Arguments, Failed, Trial};
use std::path::{Path, PathBuf};

mod format_cases;
mod phases;

type Case = fn(&Path) -> Result<(), String>;

fn main() {
    let args = Arguments::from_args();
    let mut trials = Vec::new();
    let formatted: Vec<PathBuf> =
        ["ok", "check", "schema", "run"].into_iter().flat_map(cases).chain(examples()).collect();
    let phases: [(&str, Vec<PathBuf>, Case); 8] = [
        ("parse", cases("parse"), parse_case),
        ("check", cases("check"), check_case),
        ("ok", cases("ok"), ok_case),
        ("schema", cases("schema"), phases::schema_case),
        ("run", cases("run"), phases::run_case),
        ("examples", examples(), phases::example_case),
        ("format", flow_tests::unformatted_cases("format"), format_cases::format_case),
        ("fmt", formatted, format_cases::formatted_case),
    ];
    for (phase, files, case) in phases {
        assert!(!files.is_empty(), "tests/{phase} holds cases");
        for path in files {
            trials.push(trial(phase, path, case));
        }
    }
    libtest_mimic::run(&args, trials).exit();
}

fn trial(phase: &str, path: PathBuf, case: Case) -> Trial {
    let name = match phase {
        // Names repeat across folders: the folder tells them apart.
        "fmt" => format!(
            "fmt::{}::{}",
            path.parent().and_then(|p| p.file_name()).and_then(|n| n.to_str()).unwrap_or(""),
            stem(&path)
        ),
        _ => format!("{phase}::{}", stem(&path)),
    };
    Trial::test(name, move || match std::panic::catch_unwind(|| case(&path)) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(message)) => Err(Failed::from(message)),
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "the case panicked".into());
            Err(Failed::from(message))
        }
    })
}

/// Snapshots `value` as `tests/snapshots/{name}.snap`.
pub(crate) fn snapshot(name: &str, value: &str) {
    let mut settings = insta::Settings::clone_current();
    settings.set_prepend_module_to_snapshot(false);
    settings.bind(|| insta::assert_snapshot!(name.to_string(), value));
}

fn parse_case(path: &Path) -> Result<(), String> {
    let source = read(path);
    let rendered = check_rendered(&file_name(path), &source);
    snapshot(&format!("parse__{}", stem(path)), &rendered);
    let found = codes(&source);
    if let Some(code) = expected_code(path)
        && !found.contains(&code)
    {
        return Err(format!("expected {code}, got {found:?}"));
    }
    let lower = rendered.to_lowercase();
    for internal in ["rule::", "expr", "ident", "soi", "eoi", "item_only"] {
        if lower.contains(&format!("`{internal}`")) || lower.contains(&format!(" {internal} ")) {
            return Err(format!("the message mentions grammar internals ({internal}):\n{rendered}"));
        }
    }
    Ok(())
}

fn check_case(path: &Path) -> Result<(), String> {
    let source = read(path);
    snapshot(&format!("check__{}", stem(path)), &check_rendered(&file_name(path), &source));
    let found = codes(&source);
    match expected_code(path) {
        Some(code) if !found.contains(&code) => Err(format!("expected {code}, got {found:?}")),
        None if found.is_empty() => Err("expected diagnostics, got none".into()),
        _ => Ok(()),
    }
}

fn ok_case(path: &Path) -> Result<(), String> {
    let source = read(path);
    let analysis = flow_compiler::check(&source);
    if !analysis.diagnostics.is_empty() {
        return Err(check_rendered(&file_name(path), &source));
    }
    phases::compile(path).map(|_| ())
}
