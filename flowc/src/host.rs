//! What `flowc run` and `flowc resume` grant a run — mocks, a model server,
//! commands, a seed, the model cache — and where runs are kept: the store
//! named by `--db`/`FLOW_DB`, `.flow/flow.db` by default, or none with
//! `--no-store`.

use clap::Args;
use flow_store::SqliteStore;
use flow_vm::{Engine, Store, StoreError};
use std::sync::Arc;
use std::time::Duration;

/// Where runs are kept.
#[derive(Args, Clone, Debug, Default)]
pub struct StoreArgs {
    /// The run store: a SQLite file (default .flow/flow.db in the current directory).
    #[arg(long, env = "FLOW_DB", value_name = "PATH", global = true)]
    pub db: Option<String>,
}

impl StoreArgs {
    /// Opens the store (E0610 when it cannot be used).
    pub fn open(&self) -> Result<Arc<dyn Store>, StoreError> {
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
    /// Fail the run if it takes longer than this, e.g. 30s or 5m.
    #[arg(long, value_parser = parse_duration)]
    pub timeout: Option<Duration>,
    /// Seed for retry jitter, for reproducible runs.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Answer identical model calls from the store's cache (as if every model had `cache: true`).
    #[arg(long)]
    pub cache: bool,
    /// Keep nothing: the run lives and dies with this process (no journal, no resume).
    #[arg(long)]
    pub no_store: bool,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum EventsFormat {
    Jsonl,
}

/// A duration as the language writes it: `500ms`, `1.5s`, `5m`, `1h`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    flow_compiler::literal::duration_millis(text).map(Duration::from_millis).map_err(|e| format!("`{text}` is {e}"))
}

impl HostArgs {
    /// The engine these options describe, with its store unless `--no-store`.
    pub fn engine(&self) -> Result<Engine, StoreError> {
        let mut engine = Engine::new()
            .mock_models(self.mock)
            .mock_tools(self.mock || self.mock_tools)
            .allow_commands(self.allow_commands)
            .cache_models(self.cache);
        if let Some(seed) = self.seed {
            engine = engine.seed(seed);
        }
        if let Some(server) = &self.model_server {
            engine = engine.model_server(server);
        }
        if !self.no_store {
            engine = engine.store(self.store.open()?);
        }
        Ok(engine)
    }
}
