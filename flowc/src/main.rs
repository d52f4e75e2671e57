//! `flowc`: the Flow command-line tool. A thin shell over the compiler's
//! `check` and `compile` and the interpreter's `Engine`: it reads files,
//! prints diagnostics, graphs and outputs, and sets the exit code (0 clean,
//! 1 errors, 2 usage or I/O problems).

mod files;
mod fmt;
mod host;
mod run;
mod runs;
mod server;
mod spec;
mod worker;

use clap::{Parser, Subcommand, ValueEnum};
use flow_compiler::render;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "flowc", version, about = "The Flow workflow language: check, graph and run .flow programs")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check .flow files (or every .flow file in a directory) for errors.
    Check {
        /// Files or directories to check.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// How to print diagnostics.
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
        /// Fail (exit 1) on warnings too.
        #[arg(long)]
        deny_warnings: bool,
        /// Colour for human output.
        #[arg(long, value_enum, default_value_t = Color::Auto)]
        color: Color,
    },
    /// Format .flow files in place (directories: every .flow file in them); no file or `-`: stdin to stdout.
    Fmt {
        /// Files or directories to format.
        paths: Vec<PathBuf>,
        /// Change nothing: list the files that are not formatted and exit 1 if there are any.
        #[arg(long)]
        check: bool,
    },
    /// Run the language server over stdin and stdout (for editors; see docs/editors.md).
    Lsp,
    /// Run one flow and print its output as JSON. The run is kept in the store (resumable) unless --no-store.
    Run {
        /// The .flow file, or a stored flow NAME[@VERSION] (see `flowc deploy`).
        #[arg(value_name = "FILE|NAME")]
        target: String,
        /// The flow to run (needed when the file has more than one).
        #[arg(long)]
        flow: Option<String>,
        /// The input: JSON text, @file.json, or - for stdin.
        #[arg(long)]
        input: Option<String>,
        /// When only `ask` steps are left, keep waiting for their answers here instead of exiting (exit code 3).
        #[arg(long)]
        wait: bool,
        #[command(flatten)]
        host: host::HostArgs,
    },
    /// Queue a run for `flowc worker`s (a Postgres store): prints its id.
    Submit {
        /// The .flow file, or a stored flow NAME[@VERSION].
        #[arg(value_name = "FILE|NAME")]
        target: String,
        /// The flow to run (needed when the file has more than one).
        #[arg(long)]
        flow: Option<String>,
        /// The input: JSON text, @file.json, or - for stdin.
        #[arg(long)]
        input: Option<String>,
        /// critical, high, normal, low or background; workers take higher first, oldest first within a level.
        #[arg(long, default_value = "normal", value_parser = flow_store::priority)]
        priority: u8,
        #[command(flatten)]
        store: host::StoreArgs,
    },
    /// Serve the run store over HTTP (JSON; OpenAPI at /openapi.json; see docs/deploy.md).
    Server {
        /// The address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: std::net::SocketAddr,
        /// Bearer tokens that may call the API (comma-separated).
        #[arg(long = "api-keys", env = "FLOW_API_KEYS", value_delimiter = ',', hide_env_values = true)]
        keys: Vec<String>,
        /// No API keys: allowed only when listening on a loopback address.
        #[arg(long)]
        no_auth: bool,
        /// Accept whole programs in POST /v1/runs (else only deployed flows run).
        #[arg(long)]
        allow_source: bool,
        /// Also run queued runs in this process, this many at once (0: leave them to workers).
        #[arg(long, default_value_t = 0)]
        execute: usize,
        #[command(flatten)]
        host: host::HostArgs,
    },
    /// Take queued runs from a Postgres store and run them, until SIGTERM (see docs/deploy.md).
    Worker {
        /// Runs this worker runs at once.
        #[arg(long, default_value_t = 4)]
        concurrency: usize,
        /// How long a running run may go without a heartbeat before another worker takes it over.
        #[arg(long, value_parser = parse_positive_duration, default_value = "5s")]
        lease: std::time::Duration,
        /// On SIGTERM, how long runs in flight may take to finish before they are interrupted and handed back.
        #[arg(long, value_parser = parse_positive_duration, default_value = "10s")]
        grace: std::time::Duration,
        #[command(flatten)]
        host: host::HostArgs,
    },
    /// Continue a run that crashed, was stopped, failed or waits: completed work comes from the journal.
    Resume {
        /// The run's id (`flowc runs` lists them).
        run_id: String,
        /// Continue with this (changed) program instead of the stored one; refused if a completed step changed.
        #[arg(long)]
        file: Option<PathBuf>,
        /// When only `ask` steps are left, keep waiting for their answers here.
        #[arg(long)]
        wait: bool,
        #[command(flatten)]
        host: host::HostArgs,
    },
    /// List the store's runs, newest first.
    Runs {
        /// Only runs with this status (running, waiting, succeeded, failed, cancelled, timed_out, interrupted).
        #[arg(long)]
        status: Option<String>,
        /// Only runs of this flow.
        #[arg(long)]
        flow: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        store: host::StoreArgs,
    },
    /// Show one run: status, input, output or error, completed steps, what it waits for.
    Status {
        run_id: String,
        /// As JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        store: host::StoreArgs,
    },
    /// Print a run's stored event history.
    Logs {
        run_id: String,
        /// As JSON lines (the `--events jsonl` format).
        #[arg(long)]
        jsonl: bool,
        #[command(flatten)]
        store: host::StoreArgs,
    },
    /// Cancel a run, wherever it runs (it stops within a second).
    Cancel {
        run_id: String,
        #[command(flatten)]
        store: host::StoreArgs,
    },
    /// Answer a run's waiting `ask` step; the value is checked against the step's type.
    Answer {
        run_id: String,
        /// The ask step's name (with [i] inside a map), or its key from `flowc status`.
        step: String,
        /// The answer, as JSON.
        #[arg(long)]
        value: String,
        #[command(flatten)]
        store: host::StoreArgs,
    },
    /// Store a program under its flows' names, as a new version (run it with `flowc run NAME[@VERSION]`).
    Deploy {
        file: PathBuf,
        #[command(flatten)]
        store: host::StoreArgs,
    },
    /// The run store itself: `flowc db migrate` applies its schema migrations.
    Db {
        #[command(subcommand)]
        action: DbAction,
    },
    /// List stored flows and their versions.
    Flows {
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        store: host::StoreArgs,
    },
    /// Run the `test` blocks of .flow files (models answer from their type unless a test mocks them).
    Test {
        /// Files or directories.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Let `= command [...]` tools run programs.
        #[arg(long)]
        allow_commands: bool,
        /// Let `= http` tools the tests do not mock reach the network (off: such a test fails with E0608).
        #[arg(long)]
        allow_net: bool,
        #[command(flatten)]
        net: host::NetArgs,
    },
    /// Print a program's graph IR as Mermaid, DOT, or the IR text dump.
    Graph {
        /// The .flow file.
        file: PathBuf,
        #[arg(long, value_enum, default_value_t = GraphFormat::Mermaid)]
        format: GraphFormat,
    },
    /// Print the JSON Schema of a declared type: what a model answering with it is asked to match.
    Schema {
        /// The .flow file.
        file: PathBuf,
        /// A type declared in the file, e.g. `Ticket`.
        #[arg(value_name = "TYPE")]
        type_name: String,
    },
    /// Print the language reference (docs/language.md), e.g. for an LLM prompt.
    Spec {
        /// A cheat sheet of the syntax and the builtin tables instead (about 5 KB), for small context windows.
        #[arg(long)]
        short: bool,
    },
}

#[derive(Subcommand)]
enum DbAction {
    /// Apply the store's schema migrations (also applied whenever a command opens the store).
    Migrate {
        #[command(flatten)]
        store: host::StoreArgs,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum GraphFormat {
    Mermaid,
    Dot,
    Ir,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Human,
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
enum Color {
    Auto,
    Always,
    Never,
}

fn main() -> ExitCode {
    quiet_on_closed_pipe();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { ExitCode::from(2) } else { ExitCode::SUCCESS };
        }
    };
    match cli.command {
        Command::Spec { short } => {
            if short {
                print!("{}", spec::short());
            } else {
                print!("{}", spec::REFERENCE);
            }
            ExitCode::SUCCESS
        }
        Command::Check { paths, format, deny_warnings, color } => check(&paths, format, deny_warnings, color),
        Command::Fmt { paths, check } => fmt::fmt(&paths, check),
        Command::Lsp => match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(runtime) => {
                runtime.block_on(flow_lsp::stdio());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: cannot start the language server: {e}");
                ExitCode::from(2)
            }
        },
        Command::Run { target, flow, input, wait, host } => {
            run::run(run::RunArgs { target: &target, flow, input, wait, host: &host })
        }
        Command::Submit { target, flow, input, priority, store } => match run::read_input(input.as_deref()) {
            Ok(input) => worker::submit(&target, flow, input, priority, &store),
            Err(message) => run::usage(message),
        },
        Command::Server { listen, keys, no_auth, allow_source, execute, host } => {
            server::serve(server::ServerArgs { listen, keys, no_auth, allow_source, execute, host: &host })
        }
        Command::Worker { concurrency, lease, grace, host } => {
            worker::worker(worker::WorkerArgs { concurrency: concurrency.max(1), lease, grace, host: &host })
        }
        Command::Resume { run_id, file, wait, host } => run::resume(&run_id, file.as_deref(), wait, &host),
        Command::Runs { status, flow, limit, json, store } => runs::runs(&store, status.as_deref(), flow, limit, json),
        Command::Status { run_id, json, store } => runs::status(&store, &run_id, json),
        Command::Logs { run_id, jsonl, store } => runs::logs(&store, &run_id, jsonl),
        Command::Cancel { run_id, store } => runs::cancel(&store, &run_id),
        Command::Answer { run_id, step, value, store } => runs::answer(&store, &run_id, &step, &value),
        Command::Deploy { file, store } => runs::deploy(&store, &file),
        Command::Flows { json, store } => runs::flows(&store, json),
        Command::Db { action: DbAction::Migrate { store } } => runs::migrate(&store),
        Command::Graph { file, format } => graph(&file, format),
        Command::Schema { file, type_name } => schema(&file, &type_name),
        Command::Test { paths, allow_commands, allow_net, net } => match files::flow_files(&paths, None) {
            Ok(files) => run::test(&files, allow_commands, allow_net, &net),
            Err(message) => {
                eprintln!("error: {message}");
                ExitCode::from(2)
            }
        },
    }
}

/// Reads and compiles one file, reporting why not (and the exit code) if it cannot.
fn compile_file(file: &Path) -> Result<flow_compiler::ir::Program, ExitCode> {
    let source = std::fs::read_to_string(file).map_err(|e| {
        eprintln!("error: cannot read {}: {e}", file.display());
        ExitCode::from(2)
    })?;
    flow_compiler::compile(&source).map(|(program, _)| program).map_err(|checked| {
        let name = file.display().to_string();
        eprint!("{}", render::human(&name, &source, &checked.diagnostics, false));
        ExitCode::from(1)
    })
}

fn graph(file: &Path, format: GraphFormat) -> ExitCode {
    let program = match compile_file(file) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let text = match format {
        GraphFormat::Mermaid => flow_compiler::graph::mermaid(&program),
        GraphFormat::Dot => flow_compiler::graph::dot(&program),
        GraphFormat::Ir => flow_compiler::graph::dump(&program),
    };
    print!("{text}");
    ExitCode::SUCCESS
}

fn schema(file: &Path, type_name: &str) -> ExitCode {
    let program = match compile_file(file) {
        Ok(p) => p,
        Err(code) => return code,
    };
    if !program.types.bodies.contains_key(type_name) {
        let mut names: Vec<&str> = program.types.bodies.keys().map(String::as_str).collect();
        names.sort_unstable();
        let hint = match flow_compiler::suggest::did_you_mean(type_name, names.iter().copied()) {
            Some(best) => format!("did you mean `{best}`?"),
            None if names.is_empty() => "the file declares no types".to_string(),
            None => format!("the file declares: {}", names.join(", ")),
        };
        eprintln!("error: {} declares no type `{type_name}`\nhelp: {hint}", file.display());
        return ExitCode::from(2);
    }
    let ty = flow_compiler::types::Ty::Named(type_name.into());
    let schema = flow_compiler::schema::type_schema(&ty, &program.types);
    match serde_json::to_string_pretty(&schema) {
        Ok(text) => {
            println!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn check(paths: &[PathBuf], format: Format, deny_warnings: bool, color: Color) -> ExitCode {
    let files = match files::flow_files(paths, None) {
        Ok(files) => files,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
    let color = match color {
        Color::Always => true,
        Color::Never => false,
        Color::Auto => std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
    };
    let (mut errors, mut warnings) = (0, 0);
    let mut json = Vec::new();
    for path in &files {
        let source = match files::read(path) {
            Ok(s) => s,
            Err(code) => return code,
        };
        let name = path.display().to_string();
        let checked = flow_compiler::check(&source);
        errors += checked.error_count();
        warnings += checked.warning_count();
        match format {
            Format::Human => eprint!("{}", render::human(&name, &source, &checked.diagnostics, color)),
            Format::Json => json.extend(render::json(&name, &source, &checked.diagnostics)),
        }
    }
    match format {
        Format::Json => {
            let out = serde_json::json!({
                "files": files.len(),
                "errors": errors,
                "warnings": warnings,
                "diagnostics": json,
            });
            let mut stdout = std::io::stdout().lock();
            let _ = writeln!(stdout, "{}", serde_json::to_string_pretty(&out).unwrap_or_default());
        }
        Format::Human => {
            let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
            if errors + warnings > 0 {
                eprintln!(
                    "{}, {} in {}",
                    plural(errors, "error"),
                    plural(warnings, "warning"),
                    plural(files.len(), "file")
                );
            } else {
                eprintln!("{} checked, no problems", plural(files.len(), "file"));
            }
        }
    }
    if errors > 0 || (deny_warnings && warnings > 0) { ExitCode::from(1) } else { ExitCode::SUCCESS }
}

/// `flowc check big.flow | head`: when the reader of stdout goes away, end
/// quietly with 141 (as a process killed by SIGPIPE) instead of a panic.
fn quiet_on_closed_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.contains("Broken pipe") {
            std::process::exit(141);
        }
        default(info);
    }));
}

/// A duration such as `5s` or `500ms`, longer than zero.
fn parse_positive_duration(text: &str) -> Result<std::time::Duration, String> {
    match flow_vm::parse_duration(text)? {
        d if d.is_zero() => Err(format!("`{text}` must be longer than zero")),
        d => Ok(d),
    }
}
