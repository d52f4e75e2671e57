//! The embedding API: an [`Engine`] holds host tools, model providers,
//! mocks and limits; it compiles source text and starts runs, checking
//! before anything runs that the flow exists, the input fits, and every
//! tool and model the flow can reach is available.

use crate::call_error::ToolError;
use crate::config::{Config, Limits};
use crate::events::{EventSink, StepError};
use crate::exec::drive;
use crate::expr_eval::ExprEval;
use crate::journal::Journal;
use crate::models::ModelProvider;
use crate::run::{CompileError, Run, RunError, RunOptions};
use crate::setup::{arguments, check_reach, find_flow};
use crate::state::RunCtx;
use crate::tools::host_tool;
use flow_compiler::ir::Program;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::future::Future;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

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
    /// An engine with no host tools or providers, the built-in providers
    /// allowed, commands not allowed, and the default [`Limits`].
    pub fn new() -> Engine {
        Engine { config: Arc::new(Config::default()) }
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

    /// Bounds every run of this engine (see [`Limits`]).
    pub fn limits(self, limits: Limits) -> Engine {
        self.with(|c| c.limits = limits)
    }

    /// Seeds the random source for retry jitter, for reproducible runs.
    pub fn seed(self, seed: u64) -> Engine {
        self.with(|c| c.seed = Some(seed))
    }

    /// Records every completion of every run in `journal` (see [`Journal`]).
    pub fn journal(self, journal: impl Journal + 'static) -> Engine {
        self.with(|c| c.journal = Arc::new(journal))
    }

    /// Evaluates pure expressions with `evaluator` instead of the tree
    /// walker (see [`ExprEval`]).
    pub fn evaluator(self, evaluator: impl ExprEval + 'static) -> Engine {
        self.with(|c| c.evaluator = Some(Arc::new(evaluator)))
    }

    /// How many events a run holds for a subscriber that is behind before
    /// the run waits for it (default 4096; see [`Run::events`]).
    pub fn event_capacity(self, events: usize) -> Engine {
        self.with(|c| c.event_capacity = events.clamp(1, EventSink::MAX_CAPACITY))
    }

    /// Compiles source text (say, a flow an LLM just wrote). Warnings do not
    /// stop it; errors come back as diagnostics.
    pub fn compile(&self, source: &str) -> Result<Arc<Program>, CompileError> {
        match flow_compiler::compile(source) {
            Ok((program, _)) => Ok(Arc::new(program)),
            Err(analysis) => Err(CompileError { source: source.to_string(), analysis }),
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
        let args = arguments(program, flow, &options.input)?;
        let routes = check_reach(&self.config, program, flow)?;
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| RunError::Host("`Engine::start` was called outside a tokio runtime".into()))?;
        let (sender, receiver) = match options.events {
            true => {
                let (sink, stream) = EventSink::new(self.config.event_capacity);
                (Some(sink), Some(stream))
            }
            false => (None, None),
        };
        let ctx =
            Arc::new(RunCtx::new(program.clone(), self.config.clone(), sender, routes, options.run_id.as_deref()));
        let run_id = ctx.run_id.to_string();
        let cancel = CancellationToken::new();
        let deadline = match (options.deadline, self.config.limits.max_run_time) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let handle = runtime.spawn(drive(ctx, flow, args, cancel.clone(), deadline));
        Ok(Run { run_id, events: receiver, cancel, handle })
    }
}
