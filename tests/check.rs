//! Every diagnostic code is produced by a case and documented. (The
//! per-file cases of `tests/check/` and `tests/ok/` are in `cases.rs`.)

use flow_tests::{cases, codes, read};

#[test]
fn every_code_is_covered_by_a_case() {
    let mut covered = std::collections::BTreeSet::new();
    for folder in ["check", "parse"] {
        for path in cases(folder) {
            covered.extend(codes(&read(&path)));
        }
    }
    // E06xx are reported before a run starts, not by the checker (tests/run.rs covers them);
    // E0900 is an internal compiler error: a program that produces it is a bug to fix.
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
