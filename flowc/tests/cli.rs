//! `flowc` as a user runs it: exit codes, directories, JSON output, `spec`.

use std::process::Command;

fn flowc(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_flowc"))
        .args(args)
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .output()
        .expect("flowc runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn examples_directory_is_clean() {
    let (code, _, stderr) = flowc(&["check", "examples"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("no problems"), "{stderr}");
}

#[test]
fn errors_exit_1_and_json_has_positions_and_fixes() {
    let (code, stdout, _) = flowc(&["check", "--format", "json", "tests/check/E0203_unknown_field_typo.flow"]);
    assert_eq!(code, 1);
    let json: serde_json::Value = serde_json::from_str(&stdout).expect("valid JSON");
    let d = &json["diagnostics"][0];
    assert_eq!(d["code"], "E0203");
    assert_eq!(d["severity"], "error");
    assert!(d["range"]["start"]["line"].as_u64().is_some_and(|l| l > 0));
    assert!(d["range"]["start"]["offset"].as_u64().is_some());
    assert!(d["help"].as_str().is_some_and(|h| h.contains("did you mean")));
    assert!(d["replacement"]["text"].as_str().is_some_and(|t| !t.is_empty()));
}

#[test]
fn warnings_pass_unless_denied() {
    let (code, _, _) = flowc(&["check", "tests/check/W0001_unused_expression_step.flow"]);
    assert_eq!(code, 0);
    let (code, _, _) = flowc(&["check", "--deny-warnings", "tests/check/W0001_unused_expression_step.flow"]);
    assert_eq!(code, 1);
}

#[test]
fn usage_and_io_problems_exit_2() {
    assert_eq!(flowc(&["check", "no/such/file.flow"]).0, 2);
    assert_eq!(flowc(&["check"]).0, 2);
    assert_eq!(flowc(&["frobnicate"]).0, 2);
}

#[test]
fn spec_prints_the_language_reference() {
    let (code, stdout, _) = flowc(&["spec"]);
    assert_eq!(code, 0);
    assert!(stdout.contains("llm") && stdout.contains("route"));
}
