//! An engine's configuration, shared by all of its runs: host tools and
//! providers, mocks, allowances, limits, the journal and the expression
//! evaluator. The [`Engine`](crate::Engine) builder writes it; runs read it.

use crate::expr_eval::ExprEval;
use crate::journal::{Journal, NoJournal};
use crate::llm::limits::Limiters;
use crate::models::ModelProvider;
use crate::store::Store;
use crate::tools::HostTool;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// How many items of a `map` run at once when it gives no `concurrency`.
pub const MAP_CONCURRENCY: usize = 32;

/// Bounds on what one run may do: for programs you did not write (say, a
/// flow an LLM just generated). A run that goes over fails with a `limit`
/// error (or `timeout` for the run time).
///
/// ```
/// let limits = flow_vm::Limits::default().max_steps(10_000).max_run_time(std::time::Duration::from_secs(60));
/// assert_eq!(limits.max_steps, 10_000);
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
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

impl Limits {
    /// Sets [`Limits::max_steps`].
    pub fn max_steps(mut self, n: u64) -> Limits {
        self.max_steps = n;
        self
    }

    /// Sets [`Limits::max_fanout`].
    pub fn max_fanout(mut self, n: usize) -> Limits {
        self.max_fanout = n;
        self
    }

    /// Sets [`Limits::max_run_time`].
    pub fn max_run_time(mut self, d: Duration) -> Limits {
        self.max_run_time = Some(d);
        self
    }

    /// Sets [`Limits::max_depth`].
    pub fn max_depth(mut self, n: u32) -> Limits {
        self.max_depth = n;
        self
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
    /// Whether `= http` tools declared in the file may reach the network.
    pub http_tools: bool,
    /// Environment variables a model's `api_key_env` may name, beyond the
    /// providers' own key variables (and `FLOW_ALLOWED_ENV`).
    pub allowed_env: Vec<String>,
    /// Base URL prefixes a file's `base_url` may send a key to, beyond the
    /// provider's own service and what the host set (and `FLOW_TRUSTED_URLS`).
    pub trusted_urls: Vec<String>,
    pub limits: Limits,
    pub seed: Option<u64>,
    pub http: reqwest::Client,
    /// Whether models may use the built-in HTTP providers (else only the
    /// host's own providers and mocks).
    pub builtin_providers: bool,
    /// Environment variables set by the host, read before the process's own.
    pub env: HashMap<String, String>,
    /// One limiter per model, shared across runs.
    pub limiters: Arc<Limiters>,
    /// Send every model's calls to this OpenAI-compatible server instead.
    pub model_server: Option<String>,
    /// Where completed work is recorded (nothing, by default) when there is
    /// no store.
    pub journal: Arc<dyn Journal>,
    /// Where durable runs live: each run journals through the store's
    /// journal instead of `journal`.
    pub store: Option<Arc<dyn Store>>,
    /// Answer identical model calls from the store's cache (every model,
    /// as if each had `cache: true`).
    pub cache_models: bool,
    /// What evaluates pure expressions; `None` for the tree walker.
    pub evaluator: Option<Arc<dyn ExprEval>>,
    /// How many events a run buffers for a subscriber that is behind.
    pub event_capacity: usize,
    /// The programs this engine (and its clones) compiled.
    pub programs: Arc<crate::programs::Programs>,
}

/// Events a run buffers before it waits for its subscriber.
pub const EVENT_CAPACITY: usize = 4096;

impl Default for Config {
    fn default() -> Config {
        Config {
            tools: HashMap::new(),
            providers: HashMap::new(),
            scripts: HashMap::new(),
            mock_models: false,
            mock_tools: false,
            allow_commands: false,
            http_tools: true,
            allowed_env: Vec::new(),
            trusted_urls: Vec::new(),
            limits: Limits::default(),
            seed: None,
            http: reqwest::Client::new(),
            builtin_providers: true,
            env: HashMap::new(),
            limiters: Arc::default(),
            model_server: None,
            journal: Arc::new(NoJournal),
            store: None,
            cache_models: false,
            evaluator: None,
            event_capacity: EVENT_CAPACITY,
            programs: Arc::default(),
        }
    }
}

impl Config {
    /// An environment variable: the host's setting, else the process's.
    pub fn env(&self, name: &str) -> Option<String> {
        self.env.get(name).cloned().or_else(|| std::env::var(name).ok())
    }
}
