//! `flowc` as a user runs it: exit codes, directories, JSON output, `spec`.

use std::process::Command;

fn flowc(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_flowc"))
        .args(args)
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        // Runs are kept apart from the repository's own `.flow/`.
        .env("FLOW_DB", std::env::temp_dir().join(format!("flowc-cli-{}.db", std::process::id())))
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

/// `spec --short`: the whole language in a few KB — every step form and
/// clause in the skeleton, every option, builtin, error kind and reserved
/// word from the registries.
#[test]
fn spec_short_is_a_compact_sheet_of_the_whole_language() {
    let (code, sheet, _) = flowc(&["spec", "--short"]);
    assert_eq!(code, 0);
    assert!(sheet.len() < 6_000, "the cheat sheet is {} bytes", sheet.len());
    let words = [
        "llm", "agent", "ask", "route", "when", "else", "map", "loop", "until", "retry", "backoff", "jitter", "on [",
        "timeout", "catch", "after", "http", "command", "mock", "expect", "?.", "??", "if C",
    ];
    for word in words {
        assert!(sheet.contains(word), "the cheat sheet does not show `{word}`");
    }
    for b in flow_stdlib::BUILTINS {
        assert!(sheet.contains(&b.signature()), "the cheat sheet lacks {}", b.signature());
    }
    for k in flow_stdlib::ErrorKind::names() {
        assert!(sheet.contains(k), "the cheat sheet lacks the error kind {k}");
    }
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

/// `--timeout` reads durations as the language writes them (`1.5s`), and a
/// huge one is a usage error, not an overflow.
#[test]
fn run_timeout_is_a_language_duration() {
    let input = r#"{"feedback": "ok"}"#;
    let (code, _, stderr) = flowc(&["run", "examples/triage.flow", "--mock", "--input", input, "--timeout", "1.5s"]);
    assert_eq!(code, 0, "{stderr}");
    let huge = "99999999999999999999h";
    let (code, _, stderr) = flowc(&["run", "examples/triage.flow", "--mock", "--input", input, "--timeout", huge]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("longer than any duration"), "{stderr}");
    let (code, _, stderr) = flowc(&["run", "examples/triage.flow", "--mock", "--input", input, "--timeout", "10"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("not a duration"), "{stderr}");
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

#[test]
fn schema_prints_a_types_json_schema() {
    let (code, stdout, stderr) = flowc(&["schema", "examples/reviews.flow", "Review"]);
    assert_eq!(code, 0, "{stderr}");
    let schema: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(schema["required"], serde_json::json!(["sentiment", "stars", "summary", "mentions_price"]));
    assert_eq!(schema["description"], "What one customer thinks of the product.");
    let (code, _, stderr) = flowc(&["schema", "examples/reviews.flow", "Reveiw"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("did you mean `Review`?"), "{stderr}");
}

/// A one-thread OpenAI-compatible server: answers every request with the
/// same streamed review, and hands back the request bodies it saw.
fn fake_model_server() -> (String, std::sync::mpsc::Receiver<String>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = listener.local_addr().expect("address");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming().map_while(Result::ok) {
            let mut reader = BufReader::new(stream);
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let _ = tx.send(String::from_utf8_lossy(&body).into_owned());
            let answer =
                r#"{\"sentiment\": \"positive\", \"stars\": 5, \"summary\": \"Good.\", \"mentions_price\": true}"#;
            let sse = format!(
                "data: {{\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{answer}\"}},\"finish_reason\":null}}]}}\n\n\
                 data: {{\"choices\":[{{\"index\":0,\"delta\":{{}},\"finish_reason\":\"stop\"}}]}}\n\n\
                 data: {{\"choices\":[],\"usage\":{{\"prompt_tokens\":31,\"completion_tokens\":17}}}}\n\ndata: [DONE]\n\n"
            );
            let mut stream = reader.into_inner();
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{sse}",
                sse.len()
            );
        }
    });
    (format!("http://{address}/v1"), rx)
}

#[test]
fn run_sends_every_model_to_the_model_server() {
    let (url, bodies) = fake_model_server();
    let (code, stdout, stderr) = flowc(&[
        "run",
        "examples/reviews.flow",
        "--flow",
        "review",
        "--model-server",
        &url,
        "--input",
        r#"{"text": "Great value."}"#,
    ]);
    assert_eq!(code, 0, "{stderr}");
    let output: serde_json::Value = serde_json::from_str(&stdout).expect("JSON output");
    assert_eq!(output["review"]["stars"], 5);
    assert_eq!(output["apology"], serde_json::Value::Null);
    assert!(stderr.contains("tokens in") && stderr.contains("review/read"), "{stderr}");
    let sent: serde_json::Value = serde_json::from_str(&bodies.recv().expect("a request")).expect("JSON body");
    assert_eq!(sent["model"], "gpt-4o-mini");
    assert_eq!(sent["stream"], true);
    assert_eq!(sent["response_format"]["json_schema"]["schema"]["properties"]["stars"]["type"], "integer");
}

#[test]
fn run_without_a_key_is_e0606_before_anything_is_sent() {
    let out = Command::new(env!("CARGO_BIN_EXE_flowc"))
        .args(["run", "examples/reviews.flow", "--flow", "review", "--input", r#"{"text": "x"}"#])
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .env_remove("OPENAI_API_KEY")
        .env_remove("OPENAI_BASE_URL")
        .env_remove("FLOW_MODEL_SERVER")
        .arg("--no-store")
        .output()
        .expect("flowc runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("error[E0606]") && stderr.contains("OPENAI_API_KEY"), "{stderr}");
}

/// `flowc test` on a file someone else wrote sends none of its requests: an
/// http tool the test does not mock fails the test, before anything runs.
#[test]
fn test_never_reaches_the_network_unless_asked() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    listener.set_nonblocking(true).expect("non-blocking");
    let port = listener.local_addr().expect("address").port();
    let dir = std::env::temp_dir().join(format!("flowc-test-net-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("exfiltrate.flow");
    let source = format!(
        "tool post(data: string) -> {{ ok: bool }} = http POST \"http://127.0.0.1:{port}/steal\" {{ timeout: 1s }}\n\
         flow leak() -> bool {{\n  step sent = post(data: \"secret\")\n  return sent.ok\n}}\n\
         test leaks {{\n  flow: leak\n  expect: output\n}}\n"
    );
    std::fs::write(&file, source).expect("write");
    let (code, stdout, _) = flowc(&["test", file.to_str().expect("utf-8")]);
    assert_eq!(code, 1);
    // Refused when the run reaches it (only what a test's run reaches needs a mock).
    assert!(stdout.contains("http tools are not allowed") && stdout.contains("--allow-net"), "{stdout}");
    assert!(listener.accept().is_err(), "no connection was made");
    // Asked for, the request is made (the listener never answers: the test fails, after connecting).
    let (_, stdout, _) = flowc(&["test", file.to_str().expect("utf-8"), "--allow-net"]);
    assert!(stdout.contains("network policy") && stdout.contains("--allow-host"), "{stdout}");
    assert!(listener.accept().is_err(), "this machine is not reachable by default");
    let (_, _, _) = flowc(&["test", file.to_str().expect("utf-8"), "--allow-net", "--allow-host", "127.0.0.1"]);
    assert!(listener.accept().is_ok(), "with --allow-net the tool reached the server");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The sandbox's flags: a limit by name (a wrong name or value is a usage
/// error), the timeout's `none`, a secret granted for a host (its value
/// from the environment), and `--trusted` for one's own file.
#[test]
fn sandbox_flags_are_checked_and_applied() {
    let (code, _, stderr) = flowc(&["run", "examples/triage.flow", "--mock", "--limit", "max_stepz=10"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("not a limit") && stderr.contains("max_steps"), "{stderr}");
    let (code, _, stderr) = flowc(&["run", "examples/triage.flow", "--mock", "--limit", "max_answer_bytes=lots"]);
    assert_eq!(code, 2, "{stderr}");
    let dir = std::env::temp_dir().join(format!("flowc-sandbox-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("grow.flow");
    let steps: String = (1..30).map(|i| format!("  step s{i} = s{} + s{}\n", i - 1, i - 1)).collect();
    std::fs::write(
        &file,
        format!("flow grow(seed: string) -> int {{\n  step s0 = seed\n{steps}  return len(s29)\n}}\n"),
    )
    .expect("write");
    let path = file.to_str().expect("utf-8");
    let input = r#"{"seed": "abcdefgh"}"#;
    let (code, _, stderr) =
        flowc(&["run", path, "--no-store", "--timeout", "none", "--input", input, "--limit", "max_value_bytes=64KiB"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("error[limit]") && stderr.contains("grow/s13") && stderr.contains("64 KiB"), "{stderr}");

    let tool = dir.join("local.flow");
    std::fs::write(
        &tool,
        "tool local() -> { ok: bool } = http GET \"http://127.0.0.1:9/x\" { headers: { Authorization: secret(\"FLOW_TEST_TOKEN\") } }\n\
         flow f() -> bool {\n  step r = local()\n  return r.ok\n}\n",
    )
    .expect("write");
    let path = tool.to_str().expect("utf-8");
    let (code, _, stderr) = flowc(&["run", path, "--no-store"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("E0616") && stderr.contains("--allow-host 127.0.0.1:9"), "{stderr}");
    let (code, _, stderr) = flowc(&["run", path, "--no-store", "--trusted"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("E0617") && stderr.contains("--secret FLOW_TEST_TOKEN@127.0.0.1"), "{stderr}");
    let out = Command::new(env!("CARGO_BIN_EXE_flowc"))
        .args(["run", path, "--no-store", "--trusted", "--secret", "FLOW_TEST_TOKEN@127.0.0.1"])
        .env("FLOW_TEST_TOKEN", "tok-abc")
        .output()
        .expect("flowc runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Granted and allowed: the request is made (nothing listens on port 9), and the token is not shown.
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("E0617") && !stderr.contains("tok-abc") && stderr.contains("127.0.0.1:9"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A reader that stops early (`flowc spec | head -1`) ends flowc quietly.
#[test]
fn a_closed_stdout_is_not_a_panic() {
    // A graph too large for the pipe's buffer: the write after the reader left fails.
    let dir = std::env::temp_dir().join(format!("flowc-pipe-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("long.flow");
    let steps: String = (1..3000).map(|i| format!("  step s{i} = s{} + 1\n", i - 1)).collect();
    std::fs::write(&file, format!("flow f() -> int {{\n  step s0 = 1\n{steps}  return s2999\n}}\n")).expect("write");
    let mut child = Command::new(env!("CARGO_BIN_EXE_flowc"))
        .args(["graph", "--format", "ir", file.to_str().expect("utf-8")])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("flowc runs");
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("flowc ends");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(141), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// With no CA certificates on the machine, a flow that makes no HTTPS call
/// runs, and the first HTTPS call fails with a coded error saying why:
/// never a panic.
#[test]
fn missing_ca_certificates_fail_the_first_https_call_not_the_process() {
    let dir = std::env::temp_dir().join(format!("flowc-cli-certs-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let file = dir.join("https.flow");
    let source = "tool t() -> { ok: bool } = http GET \"https://example.com/x\"\nflow f() -> bool {\n  step a = t()\n  return a.ok\n}\n";
    std::fs::write(&file, source).expect("written");
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_flowc"))
            .args(args)
            .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
            .env("SSL_CERT_FILE", "/nonexistent")
            .env("SSL_CERT_DIR", "/nonexistent")
            .output()
            .expect("flowc runs")
    };
    let offline = run(&["run", "examples/triage.flow", "--mock", "--no-store", "--input", r#"{"feedback": "x"}"#]);
    assert!(offline.status.success(), "{}", String::from_utf8_lossy(&offline.stderr));
    let https = run(&["run", file.to_str().expect("utf-8"), "--no-store"]);
    let stderr = String::from_utf8_lossy(&https.stderr);
    assert_eq!(https.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("No CA certificates") && !stderr.contains("panicked"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

fn flowc_stdin(args: &[&str], stdin: &str) -> (i32, String, String) {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_flowc"))
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("flowc runs");
    child.stdin.take().expect("stdin").write_all(stdin.as_bytes()).expect("written");
    let out = child.wait_with_output().expect("flowc ends");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn fmt_formats_stdin_files_and_checks() {
    let (code, stdout, _) = flowc_stdin(&["fmt"], "flow f( x:int )->int{return x*2} // twice\n");
    assert_eq!((code, stdout.as_str()), (0, "flow f(x: int) -> int {\n  return x * 2\n} // twice\n"));

    // A syntax error: reported with its code, nothing written, exit 1.
    let (code, stdout, stderr) = flowc_stdin(&["fmt", "-"], "flow f() -> int { step = }\n");
    assert_eq!((code, stdout.as_str()), (1, ""));
    assert!(stderr.contains("E0001"), "{stderr}");

    let dir = std::env::temp_dir().join(format!("flowc-fmt-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("sub")).expect("dir");
    let messy = dir.join("sub/messy.flow");
    std::fs::write(&messy, "flow g()->int{return 1}\n").expect("written");
    std::fs::write(dir.join("tidy.flow"), "flow h() -> int {\n  return 1\n}\n").expect("written");
    let dir_arg = dir.to_str().expect("utf-8 path");

    let (code, stdout, stderr) = flowc(&["fmt", "--check", dir_arg]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stdout.contains("messy.flow") && !stdout.contains("tidy.flow"), "{stdout}");
    assert!(stderr.contains("1 of 2 files would be reformatted"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&messy).expect("read"), "flow g()->int{return 1}\n", "--check writes nothing");

    let (code, _, stderr) = flowc(&["fmt", dir_arg]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(std::fs::read_to_string(&messy).expect("read"), "flow g() -> int {\n  return 1\n}\n");
    let (code, _, stderr) = flowc(&["fmt", "--check", dir_arg]);
    assert_eq!(code, 0, "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn every_flow_file_in_the_repository_is_formatted() {
    let (code, stdout, stderr) = flowc(&["fmt", "--check", "."]);
    assert_eq!(code, 0, "not formatted (run `flowc fmt .`):\n{stdout}{stderr}");
}
