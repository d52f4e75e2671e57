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
    /// Wall-clock time for the whole run: it pre-empts pure work too.
    pub max_run_time: Option<Duration>,
    /// How deep flows may call flows.
    pub max_depth: u32,
    /// Bytes of one answer: a tool's or model's HTTP body (read as it
    /// arrives) or a command's output.
    pub max_answer_bytes: usize,
    /// Size of any one value a step produces or an expression builds,
    /// counted as its JSON text (a string's bytes, a list's items...).
    pub max_value_bytes: usize,
    /// Items in any one list a step produces or an expression builds.
    pub max_list_items: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_steps: 10_000_000,
            max_fanout: 1_000_000,
            max_run_time: None,
            max_depth: 64,
            max_answer_bytes: 8 << 20,
            max_value_bytes: crate::bounds::DEFAULT_VALUE_BYTES,
            max_list_items: crate::bounds::DEFAULT_LIST_ITEMS,
        }
    }
}

/// One limit, by name: what `flowc run --limit NAME=VALUE` sets and
/// `docs/security.md` lists. The table is the one list of limits.
#[non_exhaustive]
pub struct LimitSpec {
    /// The field's name, as `--limit` takes it.
    pub name: &'static str,
    /// What it bounds.
    pub doc: &'static str,
    set: fn(&mut Limits, &str) -> Result<(), String>,
    get: fn(&Limits) -> String,
}

impl LimitSpec {
    /// The limit's value in `limits`, as `--limit` would take it.
    pub fn value(&self, limits: &Limits) -> String {
        (self.get)(limits)
    }
}

fn number<T: std::str::FromStr>(text: &str) -> Result<T, String> {
    text.replace('_', "").parse().map_err(|_| format!("`{text}` is not a whole number"))
}

/// Every limit, in the order the docs show them.
pub const LIMITS: &[LimitSpec] = &[
    LimitSpec {
        name: "max_run_time",
        doc: "wall-clock time for the whole run (`none` for no deadline)",
        set: |l, t| {
            l.max_run_time = match t {
                "none" => None,
                _ => Some(crate::parse_duration(t)?),
            };
            Ok(())
        },
        get: |l| l.max_run_time.map_or_else(|| "none".into(), crate::fmt_duration),
    },
    LimitSpec {
        name: "max_steps",
        doc: "step executions per run, counting each map item's steps",
        set: |l, t| {
            l.max_steps = number(t)?;
            Ok(())
        },
        get: |l| l.max_steps.to_string(),
    },
    LimitSpec {
        name: "max_fanout",
        doc: "items in one `map`",
        set: |l, t| {
            l.max_fanout = number(t)?;
            Ok(())
        },
        get: |l| l.max_fanout.to_string(),
    },
    LimitSpec {
        name: "max_depth",
        doc: "how deep flows may call flows",
        set: |l, t| {
            l.max_depth = number(t)?;
            Ok(())
        },
        get: |l| l.max_depth.to_string(),
    },
    LimitSpec {
        name: "max_answer_bytes",
        doc: "bytes of one tool or model answer, or of a command's output, read as they arrive",
        set: |l, t| {
            l.max_answer_bytes = crate::parse_bytes(t)?;
            Ok(())
        },
        get: |l| crate::fmt_bytes(l.max_answer_bytes).replace(' ', ""),
    },
    LimitSpec {
        name: "max_value_bytes",
        doc: "size of any one value a step produces or an expression builds (as JSON text)",
        set: |l, t| {
            l.max_value_bytes = crate::parse_bytes(t)?;
            Ok(())
        },
        get: |l| crate::fmt_bytes(l.max_value_bytes).replace(' ', ""),
    },
    LimitSpec {
        name: "max_list_items",
        doc: "items in any one list a step produces or an expression builds",
        set: |l, t| {
            l.max_list_items = number(t)?;
            Ok(())
        },
        get: |l| l.max_list_items.to_string(),
    },
];

impl Limits {
    /// Tighter limits for a program you did not write (an LLM's, say): one
    /// minute, 100,000 steps, 10,000 items per map, 16 calls deep, 1 MiB
    /// answers, 4 MiB values, 100,000 items per list.
    pub fn sandbox() -> Limits {
        Limits {
            max_steps: 100_000,
            max_fanout: 10_000,
            max_run_time: Some(Duration::from_secs(60)),
            max_depth: 16,
            max_answer_bytes: 1 << 20,
            max_value_bytes: 4 << 20,
            max_list_items: 100_000,
        }
    }

    /// Sets the limit `name` (a field's name, as in [`LIMITS`]) from text:
    /// `max_steps=1000`, `max_answer_bytes=512KiB`, `max_run_time=30s`.
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), String> {
        let spec = LIMITS.iter().find(|s| s.name == name).ok_or_else(|| {
            let names: Vec<&str> = LIMITS.iter().map(|s| s.name).collect();
            format!("`{name}` is not a limit (one of {})", names.join(", "))
        })?;
        (spec.set)(self, value.trim()).map_err(|e| format!("{name}: {e}"))
    }

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

    /// Sets [`Limits::max_answer_bytes`].
    pub fn max_answer_bytes(mut self, n: usize) -> Limits {
        self.max_answer_bytes = n;
        self
    }

    /// Sets [`Limits::max_value_bytes`].
    pub fn max_value_bytes(mut self, n: usize) -> Limits {
        self.max_value_bytes = n;
        self
    }

    /// Sets [`Limits::max_list_items`].
    pub fn max_list_items(mut self, n: usize) -> Limits {
        self.max_list_items = n;
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
    /// Secrets the host grants: an http tool's `secret("NAME")` header.
    pub secrets: HashMap<String, crate::net::Secret>,
    /// Tools without an implementation (or not allowed) fail the call that
    /// reaches them instead of the whole run before it starts (`test` blocks:
    /// only what a test's run reaches needs a mock).
    pub tools_when_reached: bool,
    /// The program is the host's own: any address, any key variable, keys
    /// to any base URL.
    pub trusted_program: bool,
    pub limits: Limits,
    pub seed: Option<u64>,
    /// The network policy for the program's own requests, and the HTTP
    /// clients (built on first use).
    pub net: crate::net::Net,
    /// Whether models may use the built-in HTTP providers (else only the
    /// host's own providers and mocks).
    pub builtin_providers: bool,
    /// Environment variables set by the host, read before the process's own.
    pub env: HashMap<String, String>,
    /// One limiter per model, shared across runs.
    pub limiters: Arc<Limiters>,
    /// Limits held with other processes (a deployment's workers).
    pub shared_limits: Option<Arc<dyn crate::llm::shared::SharedLimits>>,
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
    /// Compiled expressions (when no `evaluator` is given); `None`: off.
    pub jit: Option<Arc<crate::jit::Jit>>,
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
            trusted_program: false,
            tools_when_reached: false,
            secrets: HashMap::new(),
            limits: Limits::default(),
            seed: None,
            net: crate::net::Net::default(),
            builtin_providers: true,
            env: HashMap::new(),
            limiters: Arc::default(),
            shared_limits: None,
            model_server: None,
            journal: Arc::new(NoJournal),
            store: None,
            cache_models: false,
            evaluator: None,
            jit: None,
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
