//! The embedding API: an [`Engine`] holds host tools, model providers,
//! mocks and limits; it compiles source text and starts runs, checking
//! before anything runs that the flow exists, the input fits, and every
//! tool and model the flow can reach is available.

use crate::events::{Event, RunStatus, StepError, Totals};
use crate::exec::{RunCtx, drive};
use crate::models::ModelProvider;
use crate::tools::{HostTool, ToolError, host_tool};
use crate::value::{Value, from_json_typed};
use flow_compiler::ir::{Action, Block, Callee, Program, ToolImpl};
use flow_compiler::{Checked, Code, Diagnostic};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How many items of a `map` run at once when it gives no `concurrency`.
pub const MAP_CONCURRENCY: usize = 32;

/// Bounds on what one run may do: for programs you did not write (say, a
/// flow an LLM just generated). A run that goes over fails with a `limit`
/// error (or `timeout` for the run time).
#[derive(Clone, Debug, PartialEq)]
pub struct Limits {
    /// Step executions per run, counting each map item's steps.
    pub max_steps: u64,
    /// Items in one `map`.
    pub max_fanout: usize,
    /// Wall-clock time for the whole run.
    pub max_run_time: Option<Duration>,
    /// How deep flows may call flows.
    pub max_depth: u32,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits { max_steps: 10_000_000, max_fanout: 1_000_000, max_run_time: None, max_depth: 64 }
    }
}

#[derive(Clone)]
pub(crate) struct Config {
    pub tools: HashMap<String, HostTool>,
    pub providers: HashMap<String, Arc<dyn ModelProvider>>,
    pub scripts: HashMap<String, serde_json::Value>,
    pub mock_models: bool,
    pub mock_tools: bool,
    pub allow_commands: bool,
    pub limits: Limits,
    pub seed: Option<u64>,
    pub http: reqwest::Client,
    /// Whether models may use the built-in HTTP providers (else only the
    /// host's own providers and mocks).
    pub builtin_providers: bool,
    /// Environment variables set by the host, read before the process's own.
    pub env: HashMap<String, String>,
    pub llm: Arc<crate::llm::Shared>,
    /// Send every model's calls to this OpenAI-compatible server instead.
    pub model_server: Option<String>,
}

impl Config {
    /// An environment variable: the host's setting, else the process's.
    pub fn env(&self, name: &str) -> Option<String> {
        self.env.get(name).cloned().or_else(|| std::env::var(name).ok())
    }
}

/// Compiles and runs Flow programs.
///
/// ```
/// use flow_vm::{Engine, ToolError};
/// use serde::Deserialize;
///
/// #[derive(Deserialize)]
/// struct Lookup { id: String }
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let engine = Engine::new().tool("lookup", |args: Lookup| async move {
///     Ok::<_, ToolError>(serde_json::json!({ "name": format!("user {}", args.id) }))
/// });
/// let program = engine
///     .compile(r#"
///         tool lookup(id: string) -> { name: string }
///         flow greet(id: string) -> string {
///           step user = lookup(id: id)
///           return "Hello, ${user.name}!"
///         }
///     "#)
///     .expect("the program compiles");
/// let output = engine.run(&program, "greet", serde_json::json!({ "id": "7" })).await.expect("the run succeeds");
/// assert_eq!(output, serde_json::json!("Hello, user 7!"));
/// # });
/// ```
#[derive(Clone)]
pub struct Engine {
    config: Arc<Config>,
}

impl Default for Engine {
    fn default() -> Engine {
        Engine::new()
    }
}

impl Engine {
    pub fn new() -> Engine {
        Engine {
            config: Arc::new(Config {
                tools: HashMap::new(),
                providers: HashMap::new(),
                scripts: HashMap::new(),
                mock_models: false,
                mock_tools: false,
                allow_commands: false,
                limits: Limits::default(),
                seed: None,
                http: reqwest::Client::new(),
                builtin_providers: true,
                env: HashMap::new(),
                llm: Arc::default(),
                model_server: None,
            }),
        }
    }

    fn with(mut self, change: impl FnOnce(&mut Config)) -> Engine {
        change(Arc::make_mut(&mut self.config));
        self
    }

    /// Registers an async Rust function as the tool `name`. Its argument is
    /// deserialized from the call's named arguments (a struct with one field
    /// per parameter), and its result is checked against the tool's declared
    /// type; a mismatch fails the step with a `tool` error.
    pub fn tool<A, R, F, Fut>(self, name: &str, f: F) -> Engine
    where
        A: DeserializeOwned + Send + 'static,
        R: Serialize + Send + 'static,
        F: Fn(A) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R, ToolError>> + Send + 'static,
    {
        let tool = host_tool(f);
        self.with(|c| {
            c.tools.insert(name.to_string(), tool);
        })
    }

    /// Answers calls to models named `name` (a model's name in the program,
    /// or a provider such as `openai` for all of its models), instead of the
    /// built-in provider.
    pub fn provider(self, name: &str, provider: impl ModelProvider + 'static) -> Engine {
        self.with(|c| {
            c.providers.insert(name.to_string(), Arc::new(provider));
        })
    }

    /// Whether models may reach the built-in HTTP providers (on by
    /// default). Off, a program can only use the models the host
    /// registered with [`Engine::provider`] (or mocks): a sandbox for flows
    /// you did not write. A model it cannot use is error E0605 before the run.
    pub fn builtin_providers(self, on: bool) -> Engine {
        self.with(|c| c.builtin_providers = on)
    }

    /// Sends every model call (whatever the model's provider) to one
    /// OpenAI-compatible server, e.g. `http://127.0.0.1:8089/v1` for a local
    /// llama.cpp: the same flows, unchanged, against a local model. The
    /// model ids are passed through; `OPENAI_API_KEY` is sent if set.
    pub fn model_server(self, base_url: &str) -> Engine {
        self.with(|c| c.model_server = Some(base_url.to_string()))
    }

    /// Sets an environment variable for this engine only (API keys, base
    /// URLs such as `OPENAI_BASE_URL`), read before the process's own.
    pub fn env(self, name: &str, value: &str) -> Engine {
        self.with(|c| {
            c.env.insert(name.to_string(), value.to_string());
        })
    }

    /// Scripts the answers of a model or tool, as a `mock` entry in a
    /// `test` block does: a value that fits the call's type answers every
    /// call; a list that does not fit answers the calls in order.
    pub fn mock(self, name: &str, answer: serde_json::Value) -> Engine {
        self.with(|c| {
            c.scripts.insert(name.to_string(), answer);
        })
    }

    /// Answers every model call without a provider with a value generated
    /// from its output type.
    pub fn mock_models(self, on: bool) -> Engine {
        self.with(|c| c.mock_models = on)
    }

    /// Answers every host tool the host did not register with a value
    /// generated from its output type.
    pub fn mock_tools(self, on: bool) -> Engine {
        self.with(|c| c.mock_tools = on)
    }

    /// Lets `= command [...]` tools run programs (off by default).
    pub fn allow_commands(self, on: bool) -> Engine {
        self.with(|c| c.allow_commands = on)
    }

    pub fn limits(self, limits: Limits) -> Engine {
        self.with(|c| c.limits = limits)
    }

    /// Seeds the random source for retry jitter, for reproducible runs.
    pub fn seed(self, seed: u64) -> Engine {
        self.with(|c| c.seed = Some(seed))
    }

    /// Compiles source text (say, a flow an LLM just wrote). Warnings do not
    /// stop it; errors come back as diagnostics.
    pub fn compile(&self, source: &str) -> Result<Arc<Program>, CompileError> {
        match flow_compiler::compile(source) {
            Ok((program, _)) => Ok(Arc::new(program)),
            Err(checked) => Err(CompileError { source: source.to_string(), checked }),
        }
    }

    /// Runs `flow` to the end and returns its output as JSON.
    pub async fn run(
        &self,
        program: &Arc<Program>,
        flow: &str,
        input: serde_json::Value,
    ) -> Result<serde_json::Value, RunError> {
        let outcome = self.start(program, RunOptions::new(flow, input))?.wait().await;
        match (outcome.output, outcome.error) {
            (Some(output), _) => Ok(output),
            (None, Some(error)) => Err(RunError::Failed(error)),
            (None, None) => Err(RunError::Failed(StepError::new(
                flow_compiler::ir::ErrorKind::Cancelled,
                flow,
                "the run ended without output",
            ))),
        }
    }

    /// Starts a run on the current tokio runtime after checking everything
    /// that can be checked before it runs. Subscribe to events and cancel it
    /// through the returned [`Run`].
    pub fn start(&self, program: &Arc<Program>, options: RunOptions) -> Result<Run, RunError> {
        let flow = find_flow(program, &options.flow)?;
        let args = self.arguments(program, flow, &options.input)?;
        let routes = self.check_reach(program, flow)?;
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| RunError::Host("`Engine::start` was called outside a tokio runtime".into()))?;
        let (sender, receiver) = if options.events {
            let (s, r) = tokio::sync::mpsc::unbounded_channel();
            (Some(s), Some(r))
        } else {
            (None, None)
        };
        let ctx = Arc::new(RunCtx::new(program.clone(), self.config.clone(), sender, routes));
        let cancel = CancellationToken::new();
        let deadline = match (options.deadline, self.config.limits.max_run_time) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let handle = runtime.spawn(drive(ctx, flow, args, cancel.clone(), deadline));
        Ok(Run { events: receiver, cancel, handle })
    }

    /// Every tool and model the flow can reach must be available; says who
    /// answers each model the flow can reach.
    fn check_reach(&self, program: &Program, flow: usize) -> Result<Vec<Option<crate::llm::Route>>, RunError> {
        let reach = reachable(program, flow);
        for &t in &reach.tools {
            let tool = &program.tools[t];
            let scripted = self.config.scripts.contains_key(&tool.name) || self.config.tools.contains_key(&tool.name);
            match &tool.implementation {
                ToolImpl::Host if !scripted && !self.config.mock_tools => {
                    return Err(RunError::setup(
                        Code::ToolUnavailable,
                        format!("tool `{}` has no implementation", tool.name),
                        Some(
                            "register it with `Engine::tool`, give it `= http ...` or `= command [...]` in the file, or run with mocked tools (`flowc run --mock`)"
                                .into(),
                        ),
                    ));
                }
                ToolImpl::Command { argv, .. } if !scripted && !self.config.allow_commands => {
                    return Err(RunError::setup(
                        Code::CommandsNotAllowed,
                        format!(
                            "tool `{}` runs a command ({}), and commands are not allowed",
                            tool.name,
                            argv.first().map_or("", |s| s.as_str())
                        ),
                        Some("allow them with `flowc run --allow-commands` or `Engine::allow_commands(true)`".into()),
                    ));
                }
                _ => {}
            }
        }
        let mut routes: Vec<Option<crate::llm::Route>> = program.models.iter().map(|_| None).collect();
        for &m in &reach.models {
            let model = &program.models[m];
            match crate::llm::route(&self.config, model) {
                Ok(route) => routes[m] = Some(route),
                // Every call is scripted: no provider is needed.
                Err(_) if self.config.scripts.contains_key(&model.name) => {}
                Err(e) => return Err(RunError::setup(e.code, e.message, Some(e.help))),
            }
        }
        Ok(routes)
    }

    /// The flow's input as arguments in parameter order, checked against
    /// the parameter types.
    fn arguments(&self, program: &Program, flow: usize, input: &serde_json::Value) -> Result<Vec<Value>, RunError> {
        let f = &program.flows[flow];
        let empty = serde_json::Map::new();
        let fields = match input {
            serde_json::Value::Object(map) => map,
            serde_json::Value::Null => &empty,
            other => {
                return Err(RunError::setup(
                    Code::BadInput,
                    format!("the input must be a JSON object of the flow's parameters, not {other}"),
                    Some(input_example(f)),
                ));
            }
        };
        for key in fields.keys() {
            if !f.params.iter().any(|p| p.name == *key) {
                let names: Vec<&str> = f.params.iter().map(|p| p.name.as_str()).collect();
                let help = flow_compiler::suggest::did_you_mean(key, names.iter().copied())
                    .map_or_else(|| input_example(f), |best| format!("did you mean `{best}`?"));
                return Err(RunError::setup(
                    Code::BadInput,
                    format!("flow `{}` has no parameter `{key}`", f.name),
                    Some(help),
                ));
            }
        }
        let mut args = Vec::with_capacity(f.params.len());
        for p in &f.params {
            let json = fields.get(&p.name).unwrap_or(&serde_json::Value::Null);
            let value = from_json_typed(json, &p.ty, &program.types).map_err(|m| {
                let message = if fields.contains_key(&p.name) {
                    format!(
                        "input `{}` does not fit its type: {}",
                        p.name,
                        m.to_string().replacen("the value", "it", 1)
                    )
                } else {
                    format!("input `{}` is missing", p.name)
                };
                RunError::setup(
                    Code::BadInput,
                    message,
                    Some(format!("`{}` is `{}`; {}", p.name, p.ty, input_example(f))),
                )
            })?;
            args.push(value);
        }
        Ok(args)
    }
}

fn find_flow(program: &Program, name: &str) -> Result<usize, RunError> {
    program.flow(name).ok_or_else(|| {
        let names: Vec<&str> = program.flows.iter().map(|f| f.name.as_str()).collect();
        let help = match flow_compiler::suggest::did_you_mean(name, names.iter().copied()) {
            Some(best) => format!("did you mean `{best}`?"),
            None if names.is_empty() => "this program declares no flows".to_string(),
            None => format!("the flows are: {}", names.join(", ")),
        };
        RunError::setup(Code::UnknownFlow, format!("there is no flow `{name}`"), Some(help))
    })
}

fn input_example(f: &flow_compiler::ir::Flow) -> String {
    let fields: Vec<String> = f.params.iter().map(|p| format!("\"{}\": <{}>", p.name, p.ty)).collect();
    format!("write e.g. {{{}}}", fields.join(", "))
}

/// The tools and models a flow can reach, through the flows it calls.
#[derive(Default)]
struct Reach {
    tools: BTreeSet<usize>,
    models: BTreeSet<usize>,
    flows: BTreeSet<usize>,
}

fn reachable(program: &Program, flow: usize) -> Reach {
    let mut reach = Reach::default();
    let mut todo = vec![flow];
    while let Some(f) = todo.pop() {
        if reach.flows.insert(f) {
            visit_block(&program.flows[f].body, &mut reach, &mut todo);
        }
    }
    reach
}

fn visit_block(block: &Block, reach: &mut Reach, todo: &mut Vec<usize>) {
    for step in block.graph.node_weights() {
        visit_action(&step.action, reach, todo);
        for c in &step.catches {
            visit_action(&c.action, reach, todo);
        }
    }
}

fn visit_action(action: &Action, reach: &mut Reach, todo: &mut Vec<usize>) {
    let mut callee = |c: &Callee, reach: &mut Reach| match c {
        Callee::Tool(t) => {
            reach.tools.insert(*t);
        }
        Callee::Flow(f) => todo.push(*f),
    };
    match action {
        Action::Expr(_) => {}
        Action::Call { callee: c, .. } => callee(c, reach),
        Action::Llm(call) => {
            reach.models.insert(call.model);
        }
        Action::Agent(call) => {
            reach.models.insert(call.model);
            for c in &call.tools {
                callee(c, reach);
            }
        }
        Action::Route(branches) => {
            for b in branches {
                visit_action(&b.action, reach, todo);
            }
        }
        Action::When { action, .. } => visit_action(action, reach, todo),
        Action::Map(map) => visit_block(&map.body, reach, todo),
    }
}

/// What to run, with what, and how.
#[derive(Clone, Debug)]
pub struct RunOptions {
    pub flow: String,
    pub input: serde_json::Value,
    /// Collect events (see [`Run::events`]).
    pub events: bool,
    /// Fail the run with `timeout` when it takes longer than this.
    pub deadline: Option<Duration>,
}

impl RunOptions {
    pub fn new(flow: &str, input: serde_json::Value) -> RunOptions {
        RunOptions { flow: flow.to_string(), input, events: false, deadline: None }
    }

    pub fn events(mut self, on: bool) -> RunOptions {
        self.events = on;
        self
    }

    pub fn deadline(mut self, deadline: Duration) -> RunOptions {
        self.deadline = Some(deadline);
        self
    }
}

/// A run in progress.
pub struct Run {
    events: Option<tokio::sync::mpsc::UnboundedReceiver<Event>>,
    cancel: CancellationToken,
    handle: tokio::task::JoinHandle<RunOutcome>,
}

impl Run {
    /// The run's events, in order, ending with `run_finished` (once; `None`
    /// when the run was started without `RunOptions::events`).
    pub fn events(&mut self) -> Option<tokio::sync::mpsc::UnboundedReceiver<Event>> {
        self.events.take()
    }

    /// A handle that cancels the run from anywhere (another task, a signal
    /// handler). Steps in flight stop at once and are reported cancelled.
    pub fn canceller(&self) -> Canceller {
        Canceller(self.cancel.clone())
    }

    pub fn cancel(&self) {
        self.cancel.cancel();
    }

    /// Waits for the run to end and returns its outcome with every event it
    /// emitted (none unless it was started with `RunOptions::events`): a
    /// whole transcript, for tests and audit logs.
    pub async fn wait_with_events(mut self) -> (RunOutcome, Vec<Event>) {
        let receiver = self.events();
        let outcome = self.wait().await;
        let mut events = Vec::new();
        if let Some(mut receiver) = receiver {
            // The run has ended, so every event it sent is already queued.
            while let Ok(e) = receiver.try_recv() {
                events.push(e);
            }
        }
        (outcome, events)
    }

    /// Waits for the run to end.
    pub async fn wait(self) -> RunOutcome {
        match self.handle.await {
            Ok(outcome) => outcome,
            Err(e) => RunOutcome {
                status: RunStatus::Failed,
                output: None,
                error: Some(StepError::new(
                    flow_compiler::ir::ErrorKind::Cancelled,
                    "",
                    format!("the run's task ended: {e}"),
                )),
                cancelled_steps: Vec::new(),
                totals: Totals::default(),
                duration: Duration::ZERO,
            },
        }
    }
}

#[derive(Clone, Debug)]
pub struct Canceller(CancellationToken);

impl Canceller {
    pub fn cancel(&self) {
        self.0.cancel();
    }
}

/// How a run ended.
#[derive(Clone, Debug, PartialEq)]
pub struct RunOutcome {
    pub status: RunStatus,
    /// The flow's result, when it succeeded.
    pub output: Option<serde_json::Value>,
    /// Why it did not.
    pub error: Option<StepError>,
    /// Steps that were in flight when the run stopped (`id[item]` inside maps).
    pub cancelled_steps: Vec<String>,
    pub totals: Totals,
    pub duration: Duration,
}

/// Why a run could not start, or how it failed.
#[derive(Debug, Clone, PartialEq)]
pub enum RunError {
    /// Found before anything ran.
    Setup { code: Code, message: String, help: Option<String> },
    /// A step failed and nothing caught it.
    Failed(StepError),
    /// The host used the API wrongly (e.g. started a run outside a tokio runtime).
    Host(String),
}

impl RunError {
    fn setup(code: Code, message: impl Into<String>, help: Option<String>) -> RunError {
        RunError::Setup { code, message: message.into(), help }
    }
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::Setup { code, message, help } => {
                write!(f, "error[{}]: {message}", code.as_str())?;
                if let Some(help) = help {
                    write!(f, "\n  = help: {help}")?;
                }
                Ok(())
            }
            RunError::Failed(e) => write!(f, "error[{}]: {e}", e.kind),
            RunError::Host(message) => write!(f, "error: {message}"),
        }
    }
}

impl std::error::Error for RunError {}

/// A program that did not compile: its diagnostics, with the source to
/// render them against.
#[derive(Debug)]
pub struct CompileError {
    pub source: String,
    pub checked: Checked,
}

impl CompileError {
    pub fn diagnostics(&self) -> &[Diagnostic] {
        &self.checked.diagnostics
    }
}

impl fmt::Display for CompileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = flow_compiler::render::human("<source>", &self.source, &self.checked.diagnostics, false);
        f.write_str(text.trim_end())
    }
}

impl std::error::Error for CompileError {}

/// The result of one `test` block.
#[derive(Clone, Debug, PartialEq)]
pub struct TestReport {
    pub name: String,
    /// Expectations that did not hold (their source text), or why the run failed.
    pub failures: Vec<String>,
    pub outcome: RunOutcome,
}

impl TestReport {
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

impl Engine {
    /// Runs every `test` block of a program: each runs its flow with its
    /// input, its mocks scripted on top of this engine, and checks each
    /// `expect` against the output. Models and tools a test does not mock
    /// are answered by this engine (mocked by type if it mocks them).
    pub async fn run_tests(&self, program: &Arc<Program>) -> Vec<TestReport> {
        let mut reports = Vec::new();
        for test in &program.tests {
            let mut engine = self.clone();
            for (name, answer) in &test.mocks {
                engine = engine.mock(name, answer.clone());
            }
            let flow = &program.flows[test.flow];
            let mut report = TestReport {
                name: test.name.clone(),
                failures: Vec::new(),
                outcome: RunOutcome {
                    status: RunStatus::Failed,
                    output: None,
                    error: None,
                    cancelled_steps: Vec::new(),
                    totals: Totals::default(),
                    duration: Duration::ZERO,
                },
            };
            match engine.start(program, RunOptions::new(&flow.name, test.input.clone())) {
                Err(e) => report.failures.push(e.to_string()),
                Ok(run) => {
                    report.outcome = run.wait().await;
                    match (&report.outcome.output, &report.outcome.error) {
                        (Some(output), _) => {
                            let output = from_json_typed(output, &flow.output, &program.types).unwrap_or_default();
                            let frame = crate::eval::Frame::new(1, None);
                            frame.set(0, output);
                            for (text, expect) in &test.expects {
                                match crate::eval::eval(expect, &frame, &mut Vec::new()) {
                                    Ok(Value::Bool(true)) => {}
                                    Ok(_) => report.failures.push(format!("expected {text}")),
                                    Err(e) => report.failures.push(format!("expected {text}, but it failed: {e}")),
                                }
                            }
                        }
                        (None, Some(e)) => report.failures.push(RunError::Failed(e.clone()).to_string()),
                        (None, None) => report.failures.push("the run ended without output".into()),
                    }
                }
            }
            reports.push(report);
        }
        reports
    }
}
