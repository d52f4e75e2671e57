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

#[test]
fn run_prints_the_output_as_json() {
    let input = r#"{"feedback": "The app crashes on start"}"#;
    let (code, stdout, stderr) = flowc(&["run", "examples/triage.flow", "--mock", "--input", input]);
    assert_eq!(code, 0, "{stderr}");
    let output: serde_json::Value = serde_json::from_str(&stdout).expect("stdout is JSON");
    assert!(output.get("sentiment").is_some(), "{output}");
}

#[test]
fn run_writes_events_as_json_lines() {
    let input = r#"{"feedback": "ok"}"#;
    let (code, stdout, stderr) =
        flowc(&["run", "examples/triage.flow", "--mock", "--input", input, "--events", "jsonl"]);
    assert_eq!(code, 0, "{stderr}");
    let events: Vec<serde_json::Value> =
        stdout.lines().map(|l| serde_json::from_str(l).expect("each line is JSON")).collect();
    assert_eq!(events.first().and_then(|e| e["event"].as_str()), Some("run_started"));
    let last = events.last().expect("events");
    assert_eq!((last["event"].as_str(), last["status"].as_str()), (Some("run_finished"), Some("succeeded")));
    assert!(last["output"].is_object());
}

#[test]
fn run_setup_errors_are_coded_and_exit_1() {
    let (code, _, stderr) = flowc(&["run", "examples/triage.flow", "--input", r#"{"feedback": "x"}"#]);
    assert_eq!(code, 1);
    assert!(stderr.contains("error[E0603]") || stderr.contains("error[E0605]"), "{stderr}");
    let (code, _, stderr) = flowc(&["run", "examples/triage.flow", "--mock", "--input", r#"{"feedbak": "x"}"#]);
    assert_eq!(code, 1);
    assert!(stderr.contains("error[E0602]") && stderr.contains("did you mean `feedback`?"), "{stderr}");
    let (code, _, stderr) = flowc(&["run", "examples/triage.flow", "--mock", "--input", "{not json"]);
    assert_eq!(code, 2, "{stderr}");
}

#[test]
fn graph_and_test_commands() {
    let (code, stdout, _) = flowc(&["graph", "examples/triage.flow"]);
    assert_eq!(code, 0);
    assert!(stdout.starts_with("flowchart TD"));
    let (code, stdout, _) = flowc(&["graph", "examples/triage.flow", "--format", "dot"]);
    assert_eq!(code, 0);
    assert!(stdout.starts_with("digraph"));
    let (code, stdout, stderr) = flowc(&["test", "examples/"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("... ok") && stdout.contains("0 failed"), "{stdout}");
}
