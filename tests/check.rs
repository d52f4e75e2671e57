//! The checker's data-driven tests: every file in `tests/check/` is a bad
//! program whose rendered diagnostics are snapshotted, and whose name starts
//! with the code it must report; every file in `tests/ok/` checks clean.

use flow_tests::{cases, check_rendered, codes, expected_code, file_name, read};

#[test]
fn bad_programs_report_their_code() {
    let mut failures = Vec::new();
    for path in cases("check") {
        let source = read(&path);
        let name = file_name(&path);
        let rendered = check_rendered(&name, &source);
        insta::assert_snapshot!(name.trim_end_matches(".flow").to_string(), rendered);
        let found = codes(&source);
        if let Some(code) = expected_code(&path) {
            if !found.contains(&code) {
                failures.push(format!("{name}: expected {code}, got {found:?}"));
            }
        } else if found.is_empty() {
            failures.push(format!("{name}: expected diagnostics, got none"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn good_programs_check_clean() {
    let mut failures = Vec::new();
    for path in cases("ok") {
        let source = read(&path);
        let name = file_name(&path);
        let checked = flow_compiler::check(&source);
        if !checked.diagnostics.is_empty() {
            failures.push(check_rendered(&name, &source));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_code_is_covered_by_a_case() {
    let mut covered = std::collections::BTreeSet::new();
    for folder in ["check", "parse"] {
        for path in cases(folder) {
            covered.extend(codes(&read(&path)));
        }
    }
    // E06xx are reported before a run starts, not by the checker (tests/run.rs covers them);
    // E0900 is an internal error no program should produce.
    let missing: Vec<&str> = flow_grammar::Code::ALL
        .iter()
        .map(|c| c.as_str())
        .filter(|c| !c.starts_with("E06") && !c.starts_with("E09") && !covered.contains(*c))
        .collect();
    assert!(missing.is_empty(), "no test case reports {missing:?}");
}

#[test]
fn every_code_is_documented() {
    let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/errors.md")).unwrap_or_default();
    let missing: Vec<&str> =
        flow_grammar::Code::ALL.iter().map(|c| c.as_str()).filter(|c| !docs.contains(&format!("## {c}"))).collect();
    assert!(missing.is_empty(), "docs/errors.md has no section for {missing:?}");
}
