//! `flowc run`: compile a file, start one flow on the engine, show progress
//! (or write events as JSON lines), print the output as JSON, and cancel
//! cleanly on Ctrl-C.

use crate::host::HostArgs;
use flow_vm::{Engine, RunError, RunOptions, RunStatus};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::{IsTerminal, Read, Write};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// What `flowc run` was asked to run.
pub struct RunArgs<'a> {
    /// A .flow file, or a stored definition `NAME[@VERSION]`.
    pub target: &'a str,
    pub flow: Option<String>,
    pub input: Option<String>,
    /// Keep waiting in this process for answers to `ask` steps.
    pub wait: bool,
    pub host: &'a HostArgs,
}

/// Exit codes: 0 the flow succeeded, 1 it failed or did not compile,
/// 2 usage or I/O problems, 3 it waits for answers (`flowc answer`),
/// 130 cancelled (Ctrl-C or `flowc cancel`), 143 interrupted (SIGTERM).
pub fn run(args: RunArgs<'_>) -> ExitCode {
    let input = match read_input(args.input.as_deref()) {
        Ok(v) => v,
        Err(message) => return usage(message),
    };
    let runtime = match runtime() {
        Ok(r) => r,
        Err(code) => return code,
    };
    let code = runtime.block_on(async move {
        let engine = match args.host.engine().await {
            Ok(engine) => engine,
            Err(e) => return store_failed(&e),
        };
        let (name, source, definition) = match load_target(&engine, args.target).await {
            Ok(found) => found,
            Err(code) => return code,
        };
        let Some(program) = compile(&name, &source) else { return ExitCode::from(1) };
        let flow = match choose_flow(&program, args.flow, definition.as_deref(), &name) {
            Ok(flow) => flow,
            Err(code) => return code,
        };
        let mut options = RunOptions::new(&flow, input);
        options.wait_for_answers = args.wait;
        if let Some(d) = args.host.timeout.0 {
            options = options.deadline(d);
        }
        if let Some(d) = &definition {
            options = options.definition(d);
        }
        watch(&engine, &program, options, args.host).await
    });
    leave(runtime, code)
}

/// `flowc resume RUN_ID [--file FILE]`: continues a stored run.
pub fn resume(id: &str, file: Option<&Path>, wait: bool, host: &HostArgs) -> ExitCode {
    if host.no_store {
        return usage("`flowc resume` needs the store; drop --no-store".into());
    }
    let program = match file {
        Some(file) => {
            let source = match std::fs::read_to_string(file) {
                Ok(s) => s,
                Err(e) => return usage(format!("cannot read {}: {e}", file.display())),
            };
            let Some(program) = compile(&file.display().to_string(), &source) else { return ExitCode::from(1) };
            Some(program)
        }
        None => None,
    };
    let runtime = match runtime() {
        Ok(r) => r,
        Err(code) => return code,
    };
    let code = runtime.block_on(async move {
        let engine = match host.engine().await {
            Ok(engine) => engine,
            Err(e) => return store_failed(&e),
        };
        let (program, mut options) = match engine.resume_options(id, program).await {
            Ok(found) => found,
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::from(1);
            }
        };
        options.wait_for_answers = wait;
        if let Some(d) = host.timeout.0 {
            options = options.deadline(d);
        }
        eprintln!("resuming run {id}");
        watch(&engine, &program, options, host).await
    });
    leave(runtime, code)
}

/// Ends the command once the run's outcome is known (and recorded): work a
/// stopped run left on tasks of their own (nested calls, aborted) is not
/// waited for, nor its memory freed piece by piece.
fn leave(runtime: tokio::runtime::Runtime, code: ExitCode) -> ExitCode {
    runtime.shutdown_background();
    code
}

fn runtime() -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| usage(format!("cannot start the runtime: {e}")))
}

pub fn store_failed(e: &flow_vm::StoreError) -> ExitCode {
    eprintln!("{e}");
    eprintln!("  = help: name another store with --db PATH (or FLOW_DB), or run without one: --no-store");
    ExitCode::from(1)
}

/// The source to run: a file, or a stored definition `NAME[@VERSION]`
/// (with its `name@version` label).
pub(crate) async fn load_target(engine: &Engine, target: &str) -> Result<(String, String, Option<String>), ExitCode> {
    let path = Path::new(target);
    let looks_like_file = path.exists() || target.ends_with(".flow") || target.contains('/');
    if looks_like_file {
        return match std::fs::read_to_string(path) {
            Ok(source) => Ok((target.to_string(), source, None)),
            Err(e) => Err(usage(format!("cannot read {target}: {e}"))),
        };
    }
    let Some(store) = engine.store_ref() else {
        return Err(usage(format!(
            "cannot read {target}: no such file (stored flows need the store; drop --no-store)"
        )));
    };
    let (name, version) = match target.split_once('@') {
        Some((name, v)) => match v.parse::<u32>() {
            Ok(v) => (name, Some(v)),
            Err(_) => return Err(usage(format!("`{target}`: the version after @ must be a number"))),
        },
        None => (target, None),
    };
    match store.definition(name, version).await {
        Ok(Some(d)) => Ok((format!("{}@{}", d.name, d.version), d.source, Some(format!("{}@{}", d.name, d.version)))),
        Ok(None) => {
            let e = flow_vm::StoreError::new(
                flow_compiler::Code::UnknownDefinition,
                format!("`{target}` is neither a file nor a stored flow"),
            );
            eprintln!("{e}");
            eprintln!("  = help: `flowc flows` lists stored flows; `flowc deploy FILE` stores one");
            Err(ExitCode::from(1))
        }
        Err(e) => Err(store_failed(&e)),
    }
}

/// Compiles `source`, printing its diagnostics.
pub(crate) fn compile(name: &str, source: &str) -> Option<Arc<flow_vm::Program>> {
    match flow_compiler::compile(source) {
        Ok((program, checked)) => {
            eprint!("{}", flow_compiler::render::human(name, source, &checked.diagnostics, color()));
            Some(Arc::new(program))
        }
        Err(checked) => {
            eprint!("{}", flow_compiler::render::human(name, source, &checked.diagnostics, color()));
            None
        }
    }
}

/// The flow to run: `--flow`, the definition's name, or the only flow.
pub(crate) fn choose_flow(
    program: &flow_vm::Program,
    flow: Option<String>,
    definition: Option<&str>,
    name: &str,
) -> Result<String, ExitCode> {
    if let Some(f) = flow {
        return Ok(f);
    }
    if let Some(d) = definition.and_then(|d| d.split('@').next()).filter(|d| program.flow(d).is_some()) {
        return Ok(d.to_string());
    }
    match program.flows.as_slice() {
        [only] => Ok(only.name.clone()),
        flows => {
            let names: Vec<&str> = flows.iter().map(|f| f.name.as_str()).collect();
            Err(usage(format!(
                "{} declares {} flows; choose one with --flow ({})",
                name,
                flows.len(),
                names.join(", ")
            )))
        }
    }
}

/// Starts the run, shows it, handles Ctrl-C (cancel) and SIGTERM
/// (interrupt: resumable), and prints how it ended.
async fn watch(engine: &Engine, program: &Arc<flow_vm::Program>, options: RunOptions, host: &HostArgs) -> ExitCode {
    let jsonl = host.events.is_some();
    // JSON lines are written where the events are produced; the progress view samples a table.
    let lines = Arc::new(std::sync::Mutex::new(std::io::BufWriter::with_capacity(1 << 16, std::io::stdout())));
    let options = if jsonl {
        let out = lines.clone();
        options.observe(move |event| {
            let mut out = out.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let _ = serde_json::to_writer(&mut *out, event);
            let _ = out.write_all(b"\n");
        })
    } else {
        options.progress(true)
    };
    let run = match engine.start_recorded(program, options).await {
        Ok(run) => run,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(1);
        }
    };
    let id = run.id().to_string();
    if engine.store_ref().is_some() && !jsonl {
        eprintln!("run {id}");
    }
    signals(run.canceller());
    let outcome = if jsonl { write_jsonl(run, &lines).await } else { show_progress(run).await };
    let totals = &outcome.totals;
    if totals.cache_hits > 0 && !jsonl {
        let saved = totals.cache_saved_usd.map_or(String::new(), |c| format!(", ${c:.6}"));
        eprintln!(
            "cache: {} model calls answered from the store ({} tokens{saved} not spent)",
            totals.cache_hits, totals.cache_saved_tokens
        );
    }
    let stored = engine.store_ref().is_some();
    match outcome.status {
        RunStatus::Succeeded => {
            // The flow succeeded, and the store could not record it all: say so.
            if let Some(e) = &outcome.error {
                eprintln!("warning: {}", RunError::Failed(e.clone()));
            }
            if !jsonl {
                let output = outcome.output.unwrap_or_default();
                println!("{}", serde_json::to_string_pretty(&output).unwrap_or_default());
            }
            ExitCode::SUCCESS
        }
        RunStatus::Waiting => {
            eprintln!("run {id} is waiting for answers; give one with `flowc answer {id} STEP --value JSON`");
            eprintln!("(`flowc status {id}` shows what it asks), then `flowc resume {id}`");
            ExitCode::from(3)
        }
        status => {
            if let Some(e) = &outcome.error {
                eprintln!("{}", RunError::Failed(e.clone()));
            }
            if !outcome.cancelled_steps.is_empty() {
                eprintln!("cancelled: {}", few(&outcome.cancelled_steps));
            }
            let unrecorded = outcome.error.as_ref().is_some_and(|e| e.kind == flow_vm::ErrorKind::Store);
            if stored && status != RunStatus::Interrupted && !unrecorded {
                eprintln!("completed work is kept: fix the cause and `flowc resume {id}`");
            }
            ExitCode::from(match status {
                RunStatus::Cancelled => 130,
                RunStatus::Interrupted => 143,
                _ => 1,
            })
        }
    }
}

/// Ctrl-C cancels the run; SIGTERM (what `docker stop` and Kubernetes
/// send) interrupts it. Either way steps in flight stop, command tools'
/// processes are killed, and the run stays resumable.
fn signals(canceller: flow_vm::Canceller) {
    let on_int = canceller.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            on_int.cancel();
        }
    });
    #[cfg(unix)]
    tokio::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate())
            && term.recv().await.is_some()
        {
            canceller.interrupt();
        }
    });
}

/// `flowc test`: runs every test block, one line per test, then a count.
pub fn test(
    files: &[std::path::PathBuf],
    allow_commands: bool,
    allow_net: bool,
    net: &crate::host::NetArgs,
) -> ExitCode {
    let runtime = match runtime() {
        Ok(r) => r,
        Err(code) => return code,
    };
    // Tests never reach the network unless asked: an unmocked http tool fails its test (E0608).
    let engine = net.apply(Engine::new().mock_models(true).allow_commands(allow_commands).http_tools(allow_net));
    let (mut passed, mut failed, mut broken) = (0, 0, 0);
    for path in files {
        let name = path.display().to_string();
        let source = match std::fs::read_to_string(path) {
            Ok(s) => s,
            Err(e) => return usage(format!("cannot read {name}: {e}")),
        };
        let program = match flow_compiler::compile(&source) {
            Ok((program, _)) => Arc::new(program),
            Err(checked) => {
                eprint!("{}", flow_compiler::render::human(&name, &source, &checked.diagnostics, color()));
                broken += 1;
                continue;
            }
        };
        for report in runtime.block_on(engine.run_tests(&program)) {
            if report.passed() {
                passed += 1;
                println!("test {name}::{} ... ok", report.name);
            } else {
                failed += 1;
                println!("test {name}::{} ... FAILED", report.name);
                for failure in &report.failures {
                    println!("    {failure}");
                }
            }
        }
    }
    let files_note = if broken > 0 { format!(", {broken} files did not compile") } else { String::new() };
    println!("\n{passed} passed, {failed} failed{files_note}");
    if failed + broken > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS }
}

/// The model columns of a summary row: calls, tokens, cost.
fn model_columns(calls: u64, tokens_in: u64, tokens_out: u64, cost: Option<f64>) -> String {
    if calls == 0 {
        return String::new();
    }
    let cost = cost.map_or("-".to_string(), |c| format!("${c:.6}"));
    format!("  {calls:>5}  {tokens_in:>9}  {tokens_out:>10}  {cost:>9}")
}

pub fn usage(message: String) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(2)
}

pub fn color() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

/// `--input '{"a": 1}'`, `--input @file.json`, or `--input -` (stdin).
pub(crate) fn read_input(arg: Option<&str>) -> Result<serde_json::Value, String> {
    let text = match arg {
        None => return Ok(serde_json::json!({})),
        Some("-") => {
            let mut s = String::new();
            std::io::stdin().read_to_string(&mut s).map_err(|e| format!("cannot read the input from stdin: {e}"))?;
            s
        }
        Some(path) if path.starts_with('@') => {
            std::fs::read_to_string(&path[1..]).map_err(|e| format!("cannot read {}: {e}", &path[1..]))?
        }
        Some(json) => json.to_string(),
    };
    serde_json::from_str(&text).map_err(|e| format!("--input is not valid JSON: {e}"))
}

/// `--events jsonl`: the observer writes each event as a JSON line into a
/// buffer as it is produced; this flushes it ten times a second (so nothing
/// is held back while the run waits) and at the end.
async fn write_jsonl(
    run: flow_vm::Run,
    lines: &std::sync::Mutex<std::io::BufWriter<std::io::Stdout>>,
) -> flow_vm::RunOutcome {
    // A closed pipe is not an error.
    let flush = || {
        let _ = lines.lock().unwrap_or_else(std::sync::PoisonError::into_inner).flush();
    };
    let wait = run.wait();
    tokio::pin!(wait);
    let outcome = loop {
        tokio::select! {
            outcome = &mut wait => break outcome,
            _ = tokio::time::sleep(TICK) => flush(),
        }
    };
    flush();
    outcome
}

/// How often the progress line is drawn again.
const TICK: Duration = Duration::from_millis(100);

/// The default view: a spinner drawn ten times a second from the engine's
/// progress table (never woken per event), warnings as they appear, and the
/// summary table at the end.
async fn show_progress(run: flow_vm::Run) -> flow_vm::RunOutcome {
    let Some(table) = run.progress() else { return run.wait().await };
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} {elapsed} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(TICK);
        bar
    });
    let mut warned = 0;
    let wait = run.wait();
    tokio::pin!(wait);
    let outcome = loop {
        tokio::select! {
            outcome = &mut wait => break outcome,
            _ = tokio::time::sleep(TICK) => warned = draw(bar.as_ref(), &table.get(), warned),
        }
    };
    let last = table.get();
    draw(bar.as_ref(), &last, warned);
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    summary(&last);
    outcome
}

/// Prints the warnings not printed yet and sets the spinner's line; returns
/// how many warnings are printed.
fn draw(bar: Option<&ProgressBar>, progress: &flow_vm::Progress, warned: usize) -> usize {
    for warning in progress.warnings.iter().skip(warned) {
        match bar {
            Some(bar) => bar.println(format!("warning: {warning}")),
            None => eprintln!("warning: {warning}"),
        }
    }
    if let Some(bar) = bar {
        let names: Vec<&str> = progress.running.keys().map(String::as_str).take(4).collect();
        let more = progress.running.len().saturating_sub(names.len());
        let more = if more > 0 { format!(" +{more}") } else { String::new() };
        let tokens = progress.tokens();
        let tokens = if tokens > 0 { format!(" · {tokens} tokens") } else { String::new() };
        let activity = match &progress.generating {
            Some((s, tail)) => format!("generating {s}: {tail}"),
            None => format!("running {}{more}", names.join(", ")),
        };
        bar.set_message(format!("{} steps done{tokens} · {activity}", progress.finished()));
    }
    progress.warnings.len()
}

/// The summary table: a line per step, with model columns when models were called.
fn summary(progress: &flow_vm::Progress) {
    let rows = &progress.steps;
    if rows.is_empty() {
        return;
    }
    let width = rows.keys().map(|k| k.len()).max().unwrap_or(4).max(5);
    let with_models = rows.values().any(|r| r.model_calls > 0);
    let mut err = std::io::stderr().lock();
    let mut header = format!(
        "{:<width$}  {:>6}  {:>6}  {:>7}  {:>7}  {:>10}  {:>10}",
        "step", "ran", "failed", "skipped", "retries", "total", "slowest"
    );
    if with_models {
        header.push_str(&format!("  {:>5}  {:>9}  {:>10}  {:>9}", "calls", "tokens in", "tokens out", "cost"));
    }
    let _ = writeln!(err, "{header}");
    let (mut calls, mut tokens_in, mut tokens_out, mut cost) = (0, 0, 0, None::<f64>);
    for (step, r) in rows {
        let mut line = format!(
            "{step:<width$}  {:>6}  {:>6}  {:>7}  {:>7}  {:>10}  {:>10}",
            r.runs,
            r.failed,
            r.skipped,
            r.retries,
            format!("{:.1}ms", r.total_ms),
            format!("{:.1}ms", r.max_ms)
        );
        if with_models {
            line.push_str(&model_columns(r.model_calls, r.input_tokens, r.output_tokens, r.cost_usd));
            calls += r.model_calls;
            tokens_in += r.input_tokens;
            tokens_out += r.output_tokens;
            if let Some(c) = r.cost_usd {
                cost = Some(cost.unwrap_or(0.0) + c);
            }
        }
        let _ = writeln!(err, "{line}");
    }
    if with_models {
        let blank = "";
        let _ = writeln!(err, "{:<width$}{blank:>58}{}", "total", model_columns(calls, tokens_in, tokens_out, cost));
    }
    let replayed: u64 = rows.values().map(|r| r.replayed).sum();
    if replayed > 0 {
        let _ = writeln!(err, "{replayed} steps finished before and were taken from the journal, not run again");
    }
}

/// The first few of a long list of names, and how many more there are.
fn few(names: &[String]) -> String {
    const SHOWN: usize = 10;
    match names.len() {
        n if n <= SHOWN => names.join(", "),
        n => format!("{} and {} more", names[..SHOWN].join(", "), n - SHOWN),
    }
}
