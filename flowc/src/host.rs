//! What `flowc run` and `flowc resume` grant a run — mocks, a model server,
//! commands, a seed, the model cache — and where runs are kept: the store
//! named by `--db`/`FLOW_DB` (a SQLite file, or a `postgres://` URL),
//! `.flow/flow.db` by default, or none with `--no-store`.

use clap::Args;
use flow_store::{PgStore, SqliteStore};
use flow_vm::{Engine, Store, StoreError};
use std::sync::Arc;
use std::time::Duration;

/// Where runs are kept.
#[derive(Args, Clone, Debug, Default)]
pub struct StoreArgs {
    /// The run store: a SQLite file (default .flow/flow.db in the current directory) or a
    /// PostgreSQL database (postgres://user@host:5432/db).
    #[arg(long, env = "FLOW_DB", value_name = "PATH|URL", global = true)]
    pub db: Option<String>,
}

impl StoreArgs {
    /// Opens the store, migrating it if needed (E0610 when it cannot be used).
    pub async fn open(&self) -> Result<Arc<dyn Store>, StoreError> {
        if let Some(url) = self.db.as_deref().filter(|db| flow_store::is_postgres_url(db)) {
            return Ok(Arc::new(PgStore::connect(url).await?));
        }
        let path = flow_store::resolve(self.db.as_deref())?;
        Ok(Arc::new(SqliteStore::open(&path)?))
    }
}

/// What a run is granted and how it is watched: shared by `run` and `resume`.
#[derive(Args, Clone, Debug)]
pub struct HostArgs {
    /// Write events to stdout as JSON lines instead of showing progress.
    #[arg(long, value_enum)]
    pub events: Option<EventsFormat>,
    /// Answer every model call and every host tool with a value made from its type.
    #[arg(long)]
    pub mock: bool,
    /// Answer only host tools (not models) with a value made from its type.
    #[arg(long)]
    pub mock_tools: bool,
    /// Send every model call to this OpenAI-compatible server (e.g. http://127.0.0.1:8089/v1).
    #[arg(long, env = "FLOW_MODEL_SERVER", value_name = "URL")]
    pub model_server: Option<String>,
    /// Let `= command [...]` tools run programs.
    #[arg(long)]
    pub allow_commands: bool,
    /// Fail the run if it takes longer than this, e.g. 30s or 5m; `none` for no deadline.
    #[arg(long, value_parser = parse_deadline, default_value = DEFAULT_TIMEOUT)]
    pub timeout: Deadline,
    /// Change a limit, e.g. --limit max_steps=1000 --limit max_answer_bytes=1MiB (see docs/security.md).
    #[arg(long, value_name = "NAME=VALUE", value_parser = parse_limit)]
    pub limit: Vec<(String, String)>,
    #[command(flatten)]
    pub net: NetArgs,
    /// Seed for retry jitter, for reproducible runs.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Answer identical model calls from the store's cache (as if every model had `cache: true`).
    #[arg(long)]
    pub cache: bool,
    /// Keep nothing: the run lives and dies with this process (no journal, no resume).
    #[arg(long)]
    pub no_store: bool,
    /// Compile hot arithmetic, comparisons and logic to native code (off by default; see BENCHMARKS.md).
    #[arg(long)]
    pub jit: bool,
    #[command(flatten)]
    pub store: StoreArgs,
}

/// Where a program's own requests may go: shared by `run`, `resume` and `test`.
#[derive(Args, Clone, Debug, Default)]
pub struct NetArgs {
    /// Let the program's http tools and base URLs reach this host, address or CIDR range,
    /// with an optional port (e.g. 127.0.0.1:8080, api.internal, 10.0.0.0/8); repeatable.
    #[arg(long, value_name = "HOST", env = "FLOW_ALLOW_HOSTS", value_delimiter = ',')]
    pub allow_host: Vec<flow_vm::NetRule>,
    /// What else the program may reach: public addresses (default), only allowed hosts, or any.
    #[arg(long, value_name = "ACCESS", default_value = "public")]
    pub net: flow_vm::NetAccess,
    /// The file is your own: any address, any key variable, keys to the base URLs it sets.
    #[arg(long)]
    pub trusted: bool,
    /// Grant the secret NAME (its value from the environment variable NAME) to http tools
    /// calling HOST, as `headers: { Authorization: secret("NAME") }`; repeatable.
    #[arg(long, value_name = "NAME@HOST", env = "FLOW_SECRETS", value_delimiter = ',', value_parser = parse_secret)]
    pub secret: Vec<(String, flow_vm::NetRule)>,
}

fn parse_secret(text: &str) -> Result<(String, flow_vm::NetRule), String> {
    let (name, host) = text.split_once('@').ok_or_else(|| format!("`{text}` is not NAME@HOST"))?;
    Ok((name.trim().to_string(), host.parse()?))
}

impl NetArgs {
    /// `engine` under this network policy.
    pub fn apply(&self, engine: Engine) -> Engine {
        let mut engine = self.allow_host.iter().fold(engine, |e, rule| e.allow_net(rule.clone()));
        // A secret granted for several hosts is named once per host.
        let mut hosts: std::collections::BTreeMap<&str, Vec<flow_vm::NetRule>> = Default::default();
        for (name, host) in &self.secret {
            hosts.entry(name).or_default().push(host.clone());
        }
        for (name, hosts) in hosts {
            // A secret whose variable is not set is not granted (E0617 names it).
            if let Ok(value) = std::env::var(name) {
                engine = engine.secret(name, &value, &hosts);
            }
        }
        if self.trusted { engine.trust_program(true) } else { engine.net_access(self.net) }
    }
}

/// The run deadline `flowc run` and `flowc resume` give when `--timeout` is not set.
pub const DEFAULT_TIMEOUT: &str = "30m";

/// A run deadline, or none.
#[derive(Clone, Copy, Debug)]
pub struct Deadline(pub Option<Duration>);

fn parse_deadline(text: &str) -> Result<Deadline, String> {
    match text {
        "none" => Ok(Deadline(None)),
        _ => parse_duration(text).map(|d| Deadline(Some(d))),
    }
}

fn parse_limit(text: &str) -> Result<(String, String), String> {
    let (name, value) = text.split_once('=').ok_or_else(|| format!("`{text}` is not NAME=VALUE"))?;
    // Checked here, so that a typo is a usage error before anything runs.
    flow_vm::Limits::default().set(name.trim(), value)?;
    Ok((name.trim().to_string(), value.to_string()))
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum EventsFormat {
    Jsonl,
}

use flow_vm::parse_duration;

impl HostArgs {
    /// The engine these options describe, with its store unless `--no-store`.
    pub async fn engine(&self) -> Result<Engine, StoreError> {
        if self.no_store {
            return Ok(self.engine_with(None));
        }
        // On Postgres, a run holds its models' limits with every other process of the deployment.
        if let Some(url) = self.store.db.as_deref().filter(|db| flow_store::is_postgres_url(db)) {
            let shared = Arc::new(PgStore::connect(url).await?);
            return Ok(self.engine_with(Some(shared.clone() as Arc<dyn Store>)).shared_limits(shared));
        }
        Ok(self.engine_with(Some(self.store.open().await?)))
    }

    /// The engine these options describe, keeping runs in `store`.
    pub fn engine_with(&self, store: Option<Arc<dyn Store>>) -> Engine {
        let mut engine = Engine::new()
            .mock_models(self.mock)
            .mock_tools(self.mock || self.mock_tools)
            .allow_commands(self.allow_commands)
            .cache_models(self.cache)
            .jit(self.jit);
        if let Some(seed) = self.seed {
            engine = engine.seed(seed);
        }
        if let Some(server) = &self.model_server {
            engine = engine.model_server(server);
        }
        let mut limits = flow_vm::Limits::default();
        for (name, value) in &self.limit {
            // Each was checked when the command line was read.
            let _ = limits.set(name, value);
        }
        engine = self.net.apply(engine.limits(limits));
        if let Some(store) = store {
            engine = engine.store(store);
        }
        engine
    }
}
