//! The operator's commands over the run store: `runs`, `status`, `logs`,
//! `cancel`, `answer`, `deploy` and `flows`. Each opens the store, asks it
//! (or the engine, for what needs the compiler), and prints a table or JSON.

use crate::host::StoreArgs;
use crate::run::{color, store_failed, usage};
use flow_vm::{Engine, RunFilter, RunRecord, RunState, Store};
use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

/// Opens the store and runs `f` on a small runtime.
fn with_store<F, Fut>(args: &StoreArgs, f: F) -> ExitCode
where
    F: FnOnce(Arc<dyn Store>) -> Fut,
    Fut: Future<Output = ExitCode>,
{
    match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime.block_on(async {
            match args.open().await {
                Ok(store) => f(store).await,
                Err(e) => store_failed(&e),
            }
        }),
        Err(e) => usage(format!("cannot start the runtime: {e}")),
    }
}

/// Prints a line on stdout; a closed pipe (`| head`) is not an error.
macro_rules! line {
    ($($arg:tt)*) => {{
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

fn failed(e: impl std::fmt::Display) -> ExitCode {
    eprintln!("{e}");
    ExitCode::from(1)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// `2026-12-04 03:58:27` (UTC) from milliseconds since the epoch.
fn timestamp(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}", rest / 3600, rest % 3600 / 60, rest % 60)
}

fn duration(run: &RunRecord, now: i64) -> String {
    let end = run.ended_ms.unwrap_or(now);
    flow_vm::fmt_duration(std::time::Duration::from_millis((end - run.started_ms).max(0) as u64))
}

fn total(run: &RunRecord, name: &str) -> u64 {
    run.totals.get(name).and_then(serde_json::Value::as_u64).unwrap_or(0)
}

fn cost(run: &RunRecord) -> String {
    run.totals.get("cost_usd").and_then(serde_json::Value::as_f64).map_or("-".into(), |c| format!("${c:.4}"))
}

/// `flowc runs`: the store's runs, newest first.
pub fn runs(args: &StoreArgs, state: Option<&str>, flow: Option<String>, limit: usize, json: bool) -> ExitCode {
    let state = match state.map(|s| RunState::parse(s).ok_or(s)).transpose() {
        Ok(state) => state,
        Err(s) => {
            let names: Vec<&str> = RunState::ALL.iter().map(|s| s.as_str()).collect();
            return usage(format!("`{s}` is not a run status; use one of {}", names.join(", ")));
        }
    };
    with_store(args, |store| async move {
        let mut filter = RunFilter::default();
        filter.flow = flow;
        // A run whose process died is stored as running: those two states are
        // told apart here, after reading, and the limit applies after that.
        let by_liveness = matches!(state, Some(RunState::Interrupted | RunState::Running));
        filter.limit = (!by_liveness).then_some(limit);
        filter.state = state.filter(|_| !by_liveness);
        let now = now_ms();
        let runs = match store.runs(&filter).await {
            Ok(runs) => runs,
            Err(e) => return failed(e),
        };
        let runs: Vec<RunRecord> =
            runs.into_iter().filter(|r| state.is_none_or(|s| r.shown_state(now) == s)).take(limit).collect();
        if json {
            for run in &runs {
                let mut value = serde_json::to_value(run).unwrap_or_default();
                value["state"] = serde_json::json!(run.shown_state(now).as_str());
                line!("{value}");
            }
            return ExitCode::SUCCESS;
        }
        let mut out = std::io::stdout().lock();
        let _ = writeln!(
            out,
            "{:<36}  {:<16}  {:<11}  {:<19}  {:>8}  {:>6}  {:>6}  {:>8}  {:>9}",
            "id", "flow", "status", "started", "duration", "steps", "calls", "tokens", "cost"
        );
        for run in &runs {
            let _ = writeln!(
                out,
                "{:<36}  {:<16}  {:<11}  {:<19}  {:>8}  {:>6}  {:>6}  {:>8}  {:>9}",
                run.id,
                run.definition.as_deref().unwrap_or(&run.flow),
                run.shown_state(now).as_str(),
                timestamp(run.started_ms),
                duration(run, now),
                run.steps_done.max(total(run, "finished")),
                total(run, "model_calls"),
                total(run, "input_tokens") + total(run, "output_tokens"),
                cost(run)
            );
        }
        ExitCode::SUCCESS
    })
}

/// `flowc status RUN_ID`: the run, its completed steps, what it waits for.
pub fn status(args: &StoreArgs, id: &str, json: bool) -> ExitCode {
    with_store(args, |store| async move {
        let run = match store.run(id).await {
            Ok(Some(run)) => run,
            Ok(None) => return failed(format!("error[E0611]: there is no run `{id}` in the store")),
            Err(e) => return failed(e),
        };
        let (steps, waiting, events) = match (store.steps(id).await, store.waiting(id).await, store.events(id).await) {
            (Ok(s), Ok(w), Ok(e)) => (s, w, e),
            (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => return failed(e),
        };
        let now = now_ms();
        let live = run.shown_state(now) == RunState::Running;
        let in_flight = if live { in_flight(&events) } else { Vec::new() };
        if json {
            let mut value = serde_json::to_value(&run).unwrap_or_default();
            value["state"] = serde_json::json!(run.shown_state(now).as_str());
            value["in_flight"] = serde_json::json!(in_flight);
            value["steps"] = serde_json::to_value(&steps).unwrap_or_default();
            value["asks"] = serde_json::to_value(&waiting).unwrap_or_default();
            line!("{}", serde_json::to_string_pretty(&value).unwrap_or_default());
            return ExitCode::SUCCESS;
        }
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "run       {}", run.id);
        let _ = writeln!(out, "flow      {}", run.definition.as_deref().unwrap_or(&run.flow));
        let _ = writeln!(out, "status    {}", run.shown_state(now));
        let _ = writeln!(out, "started   {} (UTC), {}", timestamp(run.started_ms), duration(&run, now));
        let _ = writeln!(out, "input     {}", run.input);
        if let Some(output) = &run.output {
            let _ = writeln!(out, "output    {output}");
        }
        if let Some(error) = &run.error {
            let message = error.get("message").and_then(|m| m.as_str()).unwrap_or_default();
            let kind = error.get("kind").and_then(|m| m.as_str()).unwrap_or_default();
            let _ = writeln!(out, "error     [{kind}] {message}");
        }
        let _ = writeln!(out, "\n{:<48}  {:<9}  {:>7}", "step", "outcome", "attempt");
        for step in &steps {
            let _ = writeln!(out, "{:<48}  {:<9}  {:>7}", step.key, step.outcome, step.attempt);
        }
        for step in &in_flight {
            let _ = writeln!(out, "{step:<48}  {:<9}", "running");
        }
        for ask in &waiting {
            let state = if ask.answer.is_some() { "answered" } else { "waiting" };
            let _ = writeln!(out, "{:<48}  {:<9}  asks: {}", ask.key, state, ask.prompt);
        }
        ExitCode::SUCCESS
    })
}

/// The steps a running run has started and not ended, by its stored events
/// (`id[item]`), as of the last group the store committed.
fn in_flight(events: &[serde_json::Value]) -> Vec<String> {
    let mut open: Vec<String> = Vec::new();
    for event in events {
        let kind = event.get("event").and_then(|v| v.as_str()).unwrap_or("");
        let step = event.get("step").and_then(|v| v.as_str()).unwrap_or("");
        let item: String = match event.get("item").and_then(|v| v.as_array()) {
            Some(items) => items.iter().map(|i| format!("[{i}]")).collect(),
            None => String::new(),
        };
        let key = format!("{step}{item}");
        match kind {
            "step_started" => open.push(key),
            "step_finished" | "step_skipped" | "step_cancelled" => open.retain(|k| *k != key),
            "step_failed" if event.get("caught").and_then(|c| c.as_bool()) != Some(true) => open.retain(|k| *k != key),
            _ => {}
        }
    }
    open
}

/// `flowc logs RUN_ID`: the stored event history, as text or JSON lines.
pub fn logs(args: &StoreArgs, id: &str, jsonl: bool) -> ExitCode {
    with_store(args, |store| async move {
        match store.run(id).await {
            Ok(Some(_)) => {}
            Ok(None) => return failed(format!("error[E0611]: there is no run `{id}` in the store")),
            Err(e) => return failed(e),
        }
        let events = match store.events(id).await {
            Ok(events) => events,
            Err(e) => return failed(e),
        };
        let mut out = std::io::stdout().lock();
        for event in &events {
            let _ = if jsonl { writeln!(out, "{event}") } else { writeln!(out, "{}", log_line(event)) };
        }
        ExitCode::SUCCESS
    })
}

/// One event as a log line: time, what happened, the step, the rest.
fn log_line(event: &serde_json::Value) -> String {
    let at = event.get("at_ms").and_then(serde_json::Value::as_f64).unwrap_or(0.0);
    let kind = event.get("event").and_then(|v| v.as_str()).unwrap_or("?");
    let step = event.get("step").and_then(|v| v.as_str()).unwrap_or("");
    let item = match event.get("item").and_then(|v| v.as_array()) {
        Some(items) if !items.is_empty() => items.iter().map(|i| format!("[{i}]")).collect::<String>(),
        _ => String::new(),
    };
    let detail = match kind {
        "step_failed" | "step_retrying" => {
            event.pointer("/error/message").and_then(|v| v.as_str()).unwrap_or("").to_string()
        }
        "run_finished" => event.get("status").and_then(|v| v.as_str()).unwrap_or("").to_string(),
        "waiting" => event.get("prompt").and_then(|v| v.as_str()).unwrap_or("").to_string(),
        _ => String::new(),
    };
    format!("{at:>10.1}ms  {kind:<14} {step}{item}  {detail}").trim_end().to_string()
}

/// `flowc cancel RUN_ID`: asks the run to stop, wherever it runs.
pub fn cancel(args: &StoreArgs, id: &str) -> ExitCode {
    with_store(args, |store| async move {
        let ended = match store.run(id).await {
            Ok(Some(run))
                if run.ended_ms.is_some() && !matches!(run.state, RunState::Waiting | RunState::Interrupted) =>
            {
                Some(run.state)
            }
            Ok(_) => None,
            Err(e) => return failed(e),
        };
        if let Some(state) = ended {
            return failed(format!("run {id} has already ended ({state}): there is nothing to cancel"));
        }
        match Engine::new().store(store.clone()).cancel(id).await {
            Ok(()) => {
                let shown = match store.run(id).await {
                    Ok(Some(run)) if run.state == RunState::Running => "asked to cancel; it stops within a second",
                    _ => "cancelled",
                };
                eprintln!("run {id}: {shown}");
                ExitCode::SUCCESS
            }
            Err(e) => failed(e),
        }
    })
}

/// `flowc answer RUN_ID STEP --value JSON`: answers a waiting `ask`.
pub fn answer(args: &StoreArgs, id: &str, step: &str, value: &str) -> ExitCode {
    let value: serde_json::Value = match serde_json::from_str(value) {
        Ok(v) => v,
        Err(e) => return usage(format!("--value is not valid JSON: {e}")),
    };
    with_store(args, |store| async move {
        let engine = Engine::new().store(store.clone());
        match engine.answer(id, step, value).await {
            Ok(key) => {
                let running = matches!(store.run(id).await, Ok(Some(run)) if run.state == RunState::Running && !run.stale(now_ms()));
                if running {
                    eprintln!("answered `{key}`; the run goes on in its process");
                } else {
                    eprintln!("answered `{key}`; continue the run with `flowc resume {id}`");
                }
                ExitCode::SUCCESS
            }
            Err(e) => failed(e),
        }
    })
}

/// `flowc deploy FILE`: stores the program under each of its flows' names.
pub fn deploy(args: &StoreArgs, file: &std::path::Path) -> ExitCode {
    let name = file.display().to_string();
    let source = match std::fs::read_to_string(file) {
        Ok(s) => s,
        Err(e) => return usage(format!("cannot read {name}: {e}")),
    };
    let program = match flow_compiler::compile(&source) {
        Ok((program, _)) => program,
        Err(checked) => {
            eprint!("{}", flow_compiler::render::human(&name, &source, &checked.diagnostics, color()));
            return ExitCode::from(1);
        }
    };
    with_store(args, |store| async move {
        for flow in &program.flows {
            match store.deploy(&flow.name, &source).await {
                Ok(d) => line!("{}@{}  {}", d.name, d.version, d.hash.get(..12).unwrap_or(&d.hash)),
                Err(e) => return failed(e),
            }
        }
        ExitCode::SUCCESS
    })
}

/// `flowc db migrate`: brings the store's schema to this flowc's version
/// (a SQLite file is migrated by opening it).
pub fn migrate(args: &StoreArgs) -> ExitCode {
    let Some(url) = args.db.as_deref().filter(|db| flow_store::is_postgres_url(db)) else {
        return with_store(args, |_| async {
            line!("the store is at schema version {}", flow_store::SCHEMA_VERSION);
            ExitCode::SUCCESS
        });
    };
    match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => match runtime.block_on(flow_store::PgStore::migrate(url)) {
            Ok((before, after)) if before == after => {
                line!("the store is at schema version {after}");
                ExitCode::SUCCESS
            }
            Ok((before, after)) => {
                line!("migrated the store from schema version {before} to {after}");
                ExitCode::SUCCESS
            }
            Err(e) => store_failed(&e),
        },
        Err(e) => usage(format!("cannot start the runtime: {e}")),
    }
}

/// `flowc flows`: stored definitions, every version.
pub fn flows(args: &StoreArgs, json: bool) -> ExitCode {
    with_store(args, |store| async move {
        let definitions = match store.definitions().await {
            Ok(d) => d,
            Err(e) => return failed(e),
        };
        let mut out = std::io::stdout().lock();
        if !json {
            let _ = writeln!(out, "{:<24}  {:>7}  {:<12}  {:<19}", "flow", "version", "hash", "deployed");
        }
        for d in &definitions {
            let _ = if json {
                let mut value = serde_json::to_value(d).unwrap_or_default();
                if let Some(map) = value.as_object_mut() {
                    map.remove("source");
                }
                writeln!(out, "{value}")
            } else {
                writeln!(
                    out,
                    "{:<24}  {:>7}  {:<12}  {:<19}",
                    d.name,
                    d.version,
                    d.hash.get(..12).unwrap_or(&d.hash),
                    timestamp(d.created_ms)
                )
            };
        }
        ExitCode::SUCCESS
    })
}
