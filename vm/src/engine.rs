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
use crate::net::{Net, NetAccess, NetPolicy, NetRule};
use crate::run::{CompileError, Run, RunError, RunOptions};
use crate::setup::{arguments, check_reach, find_flow};
use crate::state::RunCtx;
use crate::stop::Stop;
use crate::store::{RunStart, Store};
use crate::tools::host_tool;
use flow_compiler::ir::Program;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::future::Future;
use std::sync::Arc;

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

    pub(crate) fn with(mut self, change: impl FnOnce(&mut Config)) -> Engine {
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

    /// Whether `= http` tools declared in the file may reach the network (on
    /// by default). Off, a flow that can reach one that is neither mocked
    /// nor registered with [`Engine::tool`] is error E0608 before anything
    /// runs. With [`Engine::builtin_providers`]`(false)` and commands left
    /// off, a program reaches only what the host registered.
    pub fn http_tools(self, on: bool) -> Engine {
        self.with(|c| c.http_tools = on)
    }

    /// Lets a model's `api_key_env` name the environment variable `name`.
    /// A program may otherwise name only the providers' own key variables
    /// (`OPENAI_API_KEY`, `ANTHROPIC_API_KEY`, `OLLAMA_API_KEY`) and those
    /// listed in `FLOW_ALLOWED_ENV` (comma-separated): a file never chooses
    /// which of the host's variables becomes a bearer token (E0609).
    pub fn allow_env(self, name: &str) -> Engine {
        self.with(|c| c.allowed_env.push(name.to_string()))
    }

    /// Lets a key go to base URLs starting with `prefix` when a file's model
    /// sets `base_url`. A key otherwise goes only to the provider's own
    /// service, to the base URL the host set (`OPENAI_BASE_URL`, ...,
    /// [`Engine::model_server`]) and to prefixes listed in
    /// `FLOW_TRUSTED_URLS` (comma-separated); elsewhere no key is sent, and
    /// a model that names `api_key_env` is error E0609.
    pub fn trust_base_url(self, prefix: &str) -> Engine {
        self.with(|c| c.trusted_urls.push(prefix.to_string()))
    }

    /// What a program's own requests (its `= http` tools, a `base_url` it
    /// chose) may reach beyond the destinations allowed with
    /// [`Engine::allow_net`]: public addresses by default, only the allowed
    /// ones, or anything ([`NetAccess`]). A refused destination is error
    /// E0616 before the run when the file names it, else a `limit` error
    /// of the request. Providers' own services and base URLs the host set
    /// or trusts are not under this policy.
    pub fn net_access(self, access: NetAccess) -> Engine {
        self.with(|c| {
            let allow = c.net.policy.allow.clone();
            c.net = Net::new(NetPolicy { access, allow });
        })
    }

    /// Lets a program's requests reach `rule` (a host, `*.domain`, an
    /// address or CIDR range, with an optional port), whatever the
    /// [`NetAccess`]: a loopback test server, a service on the private
    /// network.
    pub fn allow_net(self, rule: NetRule) -> Engine {
        self.with(|c| {
            let mut policy = NetPolicy::clone(&c.net.policy);
            policy.allow.push(rule);
            c.net = Net::new(policy);
        })
    }

    /// Grants the secret `name` with `value`, sent only to `hosts`: an http
    /// tool in the file may use it as a header (`headers: { Authorization:
    /// secret("NAME") }`) when its URL's host is one of them. The program
    /// never sees the value, requests carrying it do not follow redirects,
    /// and the value is replaced by `[secret NAME]` in the tool's answer and
    /// errors (so in events and logs). A tool using a secret not granted,
    /// or one granted for other hosts, is error E0617 before the run.
    pub fn secret(self, name: &str, value: &str, hosts: &[NetRule]) -> Engine {
        self.with(|c| {
            let secret = crate::net::Secret { value: value.to_string(), hosts: hosts.to_vec() };
            c.secrets.insert(name.to_string(), secret);
        })
    }

    /// Treats programs as the host's own (`flowc run --trusted`): their
    /// requests may go anywhere ([`NetAccess::Any`]), `api_key_env` may
    /// name any variable, and keys go to any `base_url` they set. For files
    /// you wrote; never for a program a model wrote.
    pub fn trust_program(self, on: bool) -> Engine {
        self.with(|c| {
            c.trusted_program = on;
            if on {
                let allow = c.net.policy.allow.clone();
                c.net = Net::new(NetPolicy { access: NetAccess::Any, allow });
            }
        })
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

    /// Keeps runs in `store` (see [`Store`]): every run is recorded with its
    /// program and input, journals what it completes, keeps its events, can
    /// be listed, cancelled from another process, and resumed with
    /// [`Engine::resume`]. Without a store, runs live and die with their
    /// process.
    pub fn store(self, store: Arc<dyn Store>) -> Engine {
        self.with(|c| c.store = Some(store))
    }

    /// Holds models' `concurrency` and `rpm`, and 429 pauses, together with
    /// the other processes that share `limits` (a deployment's workers on
    /// one Postgres store), not only within this engine.
    pub fn shared_limits(self, limits: Arc<dyn crate::SharedLimits>) -> Engine {
        self.with(|c| c.shared_limits = Some(limits))
    }

    /// The engine's store, if it has one.
    pub fn store_ref(&self) -> Option<&Arc<dyn Store>> {
        self.config.store.as_ref()
    }

    /// Answers identical model calls (same provider, model id, messages,
    /// schema and options) from the store's cache, for every model, as if
    /// each declared `cache: true`. Needs a store.
    pub fn cache_models(self, on: bool) -> Engine {
        self.with(|c| c.cache_models = on)
    }

    /// Evaluates pure expressions with `evaluator` instead of the tree
    /// walker (see [`ExprEval`]).
    pub fn evaluator(self, evaluator: impl ExprEval + 'static) -> Engine {
        self.with(|c| c.evaluator = Some(Arc::new(evaluator)))
    }

    /// Compiles hot pure expressions (int, float and bool arithmetic,
    /// comparisons and logic, in steps, conditions and lambda bodies) to
    /// native code once they have run 10,000 times (off by default: see
    /// BENCHMARKS.md; results and errors are the tree walker's either way;
    /// decision 0036).
    /// An [`evaluator`](Engine::evaluator) given by the host takes precedence.
    pub fn jit(self, on: bool) -> Engine {
        self.jit_after(if on { Some(crate::jit::THRESHOLD) } else { None })
    }

    /// The JIT, compiling an expression after `threshold` evaluations (`Some(0)`:
    /// at its first), or off (`None`). For tests and measurements.
    #[doc(hidden)]
    pub fn jit_after(self, threshold: Option<u32>) -> Engine {
        self.with(|c| c.jit = threshold.map(|t| Arc::new(crate::jit::Jit::new(t))))
    }

    /// The JIT's evaluator (for benches that time one expression); `None`
    /// when the JIT is off.
    #[doc(hidden)]
    pub fn jit_evaluator(&self) -> Option<Arc<dyn ExprEval>> {
        Some(self.config.jit.clone()? as Arc<dyn ExprEval>)
    }

    /// The JIT compiling on a thread of its own after `threshold` evaluations
    /// (for measurements against compiling inline).
    #[doc(hidden)]
    pub fn jit_in_background(self, threshold: u32) -> Engine {
        self.with(|c| c.jit = Some(Arc::new(crate::jit::Jit::in_background(threshold))))
    }

    /// How many expressions the JIT has compiled, over every program it saw
    /// (for tests and measurements).
    #[doc(hidden)]
    pub fn jit_compiled(&self) -> usize {
        self.config.jit.as_ref().map_or(0, |j| j.compiled())
    }

    /// The time the JIT spent compiling (for measurements).
    #[doc(hidden)]
    pub fn jit_compile_time(&self) -> std::time::Duration {
        self.config.jit.as_ref().map_or(std::time::Duration::ZERO, |j| j.compile_time())
    }

    /// How many events a run holds for a subscriber that is behind before
    /// the run waits for it (default 4096; see [`Run::events`]).
    pub fn event_capacity(self, events: usize) -> Engine {
        self.with(|c| c.event_capacity = events.clamp(1, EventSink::MAX_CAPACITY))
    }

    /// Compiles source text (say, a flow an LLM just wrote). Warnings do not
    /// stop it; errors come back as diagnostics.
    ///
    /// The same text compiled again gives the program already in memory
    /// while anyone holds it (so a resumed run of a program this engine
    /// compiled does not compile it again).
    pub fn compile(&self, source: &str) -> Result<Arc<Program>, CompileError> {
        crate::resume::compile(&self.config, source)
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
                format!("the run is waiting for answers to `ask` steps (run `{}`)", outcome.run_id),
            ))),
        }
    }

    /// Continues the stored run `id` (crashed, interrupted, cancelled,
    /// timed out, failed, or waiting for answers) with its stored program:
    /// completed steps and map items come from the journal, failed and
    /// in-flight ones run again. Needs a store ([`Engine::store`]).
    pub async fn resume(&self, id: &str) -> Result<Run, RunError> {
        let (program, options) = self.resume_options(id, None).await?;
        self.start_recorded(&program, options).await
    }

    /// What to [`start`](Engine::start) to continue the stored run `id`:
    /// its program and options (same flow, input and id; turn on events as
    /// needed). With `program`, the run continues with that program instead
    /// of its stored one, if every step the run completed exists in it with
    /// the same type (else E0613).
    pub async fn resume_options(
        &self,
        id: &str,
        program: Option<Arc<Program>>,
    ) -> Result<(Arc<Program>, RunOptions), RunError> {
        crate::resume::prepare(&self.config, self.require_store()?.as_ref(), id, program).await
    }

    /// Checks that `program` has flow `flow` and that `input` fits its
    /// parameters (E0601, E0602), as starting a run would, without running
    /// it: for a run queued now and started by another process.
    pub fn check_input(&self, program: &Program, flow: &str, input: &serde_json::Value) -> Result<(), RunError> {
        let index = crate::setup::find_flow(program, flow)?;
        crate::setup::arguments(program, index, input).map(|_| ())
    }

    /// As [`Engine::resume_options`] for a run this process has claimed
    /// from a queue (a worker): a run still marked running is taken over
    /// whatever its last heartbeat, since the claim already judged its
    /// owner gone. Starting it is still refused if the owner beat since the
    /// claim (the store compares state and heartbeat), so two processes
    /// never run it at once.
    pub async fn takeover_options(&self, id: &str) -> Result<(Arc<Program>, RunOptions), RunError> {
        crate::resume::prepare_claimed(&self.config, self.require_store()?.as_ref(), id).await
    }

    /// Asks the run `id` to cancel, wherever it runs: the process running it
    /// reads the request within a second (see [`Store::request_cancel`]).
    pub async fn cancel(&self, id: &str) -> Result<(), RunError> {
        crate::resume::cancel(self.require_store()?.as_ref(), id).await
    }

    /// Answers the `ask` step `step` (its name, or its key as `flowc
    /// status` shows it) of the waiting run `id` with `value`, checked
    /// against the step's type (E0614 when it does not fit, and the run
    /// keeps waiting). A run waiting in a process picks the answer up
    /// within a second; a suspended one continues on
    /// [`Engine::resume`]. Returns the ask's key.
    pub async fn answer(&self, id: &str, step: &str, value: serde_json::Value) -> Result<String, RunError> {
        crate::resume::answer(&self.config, self.require_store()?.as_ref(), id, step, &value).await
    }

    fn require_store(&self) -> Result<&Arc<dyn Store>, RunError> {
        self.config.store.as_ref().ok_or_else(|| RunError::Host("this needs a store: see `Engine::store`".into()))
    }

    /// Starts a run on the current tokio runtime after checking everything
    /// that can be checked before it runs. Subscribe to events and cancel it
    /// through the returned [`Run`].
    pub fn start(&self, program: &Arc<Program>, options: RunOptions) -> Result<Run, RunError> {
        let checked = self.check(program, &options)?;
        self.launch(program, options, checked, None)
    }

    /// Starts a run as [`Engine::start`] does, after recording it in the
    /// store: a store that cannot take the run (locked, corrupt, or a
    /// resume another process took over first) is a [`RunError`] (E0610,
    /// E0612) before anything runs, instead of a failed run. Without a
    /// store it is `start`.
    pub async fn start_recorded(&self, program: &Arc<Program>, options: RunOptions) -> Result<Run, RunError> {
        let Some(store) = &self.config.store else { return self.start(program, options) };
        // Checked before anything is recorded.
        let checked = self.check(program, &options)?;
        let mut options = options;
        let id = options.run_id.get_or_insert_with(new_run_id).clone();
        let journal = begin(store, program, &options, &id).await.map_err(crate::resume::store_error)?;
        self.launch(program, options, checked, Some(journal))
    }

    /// What can be checked before a run starts: the flow, its arguments, and
    /// who answers each model it can reach.
    fn check(&self, program: &Program, options: &RunOptions) -> Result<Checked, RunError> {
        let flow = find_flow(program, &options.flow)?;
        let args = arguments(program, flow, &options.input)?;
        let routes = check_reach(&self.config, program, flow)?;
        Ok(Checked { flow, args, routes })
    }

    /// Spawns a checked run; with a store and no `journal` yet, the run
    /// records itself first, on its own task.
    fn launch(
        &self,
        program: &Arc<Program>,
        options: RunOptions,
        checked: Checked,
        journal: Option<Arc<dyn crate::journal::Journal>>,
    ) -> Result<Run, RunError> {
        let Checked { flow, args, routes } = checked;
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| RunError::Host("`Engine::start` was called outside a tokio runtime".into()))?;
        let (sender, receiver) = match options.events {
            true => {
                let (sink, stream) = EventSink::new(self.config.event_capacity);
                (Some(sink), Some(stream))
            }
            false => (None, None),
        };
        let progress = options.progress.then(|| Arc::new(std::sync::Mutex::new(crate::progress::Progress::default())));
        let run_id = options.run_id.clone().unwrap_or_else(new_run_id);
        let deadline = match (options.deadline, self.config.limits.max_run_time) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let stop = Arc::new(Stop::with_deadline(deadline.and_then(|d| tokio::time::Instant::now().checked_add(d))));
        let (config, program, run_stop) = (self.config.clone(), program.clone(), stop.clone());
        let id = run_id.clone();
        let table = progress.clone();
        let task = async move {
            let journal = match (journal, &config.store) {
                (Some(journal), _) => Some(journal),
                (None, Some(store)) => match begin(store, &program, &options, &id).await {
                    Ok(journal) => Some(journal),
                    Err(e) => {
                        let error = StepError::new(flow_compiler::ir::ErrorKind::Store, &options.flow, e.to_string());
                        return crate::RunOutcome::failed(id, error);
                    }
                },
                (None, None) => None,
            };
            let mut ctx = RunCtx::new(program, config, sender, routes, &id, journal, run_stop);
            ctx.wait_for_answers = options.wait_for_answers;
            if let Some(table) = table {
                ctx.keep_progress(table);
            }
            if let Some(observer) = options.observer.clone() {
                ctx.observe(observer);
            }
            drive(Arc::new(ctx), flow, args, deadline).await
        };
        let handle = runtime.spawn(task);
        Ok(Run { run_id, events: receiver, progress, stop, handle })
    }
}

/// A run that passed the checks made before it starts.
struct Checked {
    flow: usize,
    args: Vec<crate::value::Value>,
    routes: Vec<Option<crate::llm::Route>>,
}

/// Records the run in the store before it starts, returning the journal it
/// writes through.
async fn begin(
    store: &Arc<dyn Store>,
    program: &Program,
    options: &RunOptions,
    id: &str,
) -> Result<Arc<dyn crate::journal::Journal>, crate::store::StoreError> {
    let start = RunStart {
        id,
        flow: &options.flow,
        input: &options.input,
        source: &program.source,
        definition: options.definition.as_deref(),
        resume: options.resume,
        expect: options.expect,
    };
    store.begin(start).await
}

/// A run id: a UUIDv7 (time-ordered: ids sort by start time, and never
/// collide in practice). Within one process, ids made in the same
/// millisecond count up in the 12 bits after the time (RFC 9562's
/// "fixed-length dedicated counter"), so they sort in the order made.
pub fn new_run_id() -> String {
    static LAST: std::sync::Mutex<(u128, u128)> = std::sync::Mutex::new((0, 0));
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
    let (millis, counter) = match LAST.lock() {
        Ok(mut last) => {
            *last = match *last {
                // The same (or an earlier: the clock stepped back) millisecond: count up.
                (ms, n) if now <= ms && n < 0xfff => (ms, n + 1),
                (ms, _) if now <= ms => (ms + 1, 0),
                _ => (now, 0),
            };
            *last
        }
        Err(_) => (now, fastrand::u128(..0x1000)),
    };
    let random = fastrand::u128(..);
    // 48 bits of milliseconds, version 7, a 12-bit counter, variant 10, 62 random bits.
    let bits =
        ((millis & 0xffff_ffff_ffff) << 80) | (0x7 << 76) | ((counter & 0xfff) << 64) | (0b10 << 62) | (random >> 66);
    let hex = format!("{bits:032x}");
    format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32])
}
