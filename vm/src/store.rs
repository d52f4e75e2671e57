//! The store seam: where durable runs live. A [`Store`] keeps runs (their
//! program, input, status and outcome), each run's journal and event
//! history, the answers people give to waiting steps, the model-call cache
//! and stored definitions. The engine talks to it only through this trait,
//! so SQLite (the `flow-store` crate) and Postgres back it alike without the
//! scheduler knowing which.
//!
//! Control-plane calls are async (a networked database answers them); the
//! journal a run writes through, returned by [`Store::begin`], is
//! synchronous and must only queue (see [`Journal`]).

use crate::events::RunStatus;
use crate::journal::Journal;
use flow_compiler::Code;
use futures::future::BoxFuture;
use serde::Serialize;
use std::fmt;
use std::sync::Arc;

/// Where a run is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RunState {
    /// Submitted to a queue, waiting for a worker to claim it.
    Queued,
    /// A process is running it (or was, and died: see [`RunRecord::stale`]).
    Running,
    /// Suspended until a person answers an `ask` step.
    Waiting,
    /// The flow returned a value.
    Succeeded,
    /// A step failed and nothing caught it (resumable: failed work runs again).
    Failed,
    /// Cancelled by Ctrl-C-like request or `flowc cancel` (resumable).
    Cancelled,
    /// Its deadline passed (resumable).
    TimedOut,
    /// Its process was stopped (SIGTERM) or died (resumable).
    Interrupted,
}

impl RunState {
    /// Every state, in the order `flowc runs --status` lists them.
    pub const ALL: [RunState; 8] = [
        RunState::Queued,
        RunState::Running,
        RunState::Waiting,
        RunState::Succeeded,
        RunState::Failed,
        RunState::Cancelled,
        RunState::TimedOut,
        RunState::Interrupted,
    ];

    /// The state as stores and the command line write it.
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Queued => "queued",
            RunState::Running => "running",
            RunState::Waiting => "waiting",
            RunState::Succeeded => "succeeded",
            RunState::Failed => "failed",
            RunState::Cancelled => "cancelled",
            RunState::TimedOut => "timed_out",
            RunState::Interrupted => "interrupted",
        }
    }

    /// The state written `text`, if any.
    pub fn parse(text: &str) -> Option<RunState> {
        RunState::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Whether `flowc resume` may continue a run in this state.
    pub fn resumable(self) -> bool {
        !matches!(self, RunState::Succeeded)
    }
}

impl From<RunStatus> for RunState {
    fn from(status: RunStatus) -> RunState {
        match status {
            RunStatus::Succeeded => RunState::Succeeded,
            RunStatus::Failed => RunState::Failed,
            RunStatus::Cancelled => RunState::Cancelled,
            RunStatus::TimedOut => RunState::TimedOut,
            RunStatus::Interrupted => RunState::Interrupted,
            RunStatus::Waiting => RunState::Waiting,
        }
    }
}

impl fmt::Display for RunState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A run starting or resuming, as [`Store::begin`] records it.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct RunStart<'a> {
    /// The run's id.
    pub id: &'a str,
    /// The flow it runs.
    pub flow: &'a str,
    /// The flow's input.
    pub input: &'a serde_json::Value,
    /// The program's source text, kept so the run can be resumed anywhere.
    pub source: &'a str,
    /// The stored definition it runs (`name@version`), if any.
    pub definition: Option<&'a str>,
    /// Whether the run exists and continues (its journal is loaded).
    pub resume: bool,
    /// For a resume: the state and heartbeat the run had when it was found
    /// resumable. The store takes the run over only if they are unchanged,
    /// so two processes resuming one run at once cannot both run it.
    pub expect: Option<(RunState, i64)>,
}

/// How a run stopped, as [`Store::finish`] records it.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct RunEnd<'a> {
    /// The run's id.
    pub id: &'a str,
    /// How it stopped.
    pub state: RunState,
    /// The flow's output, when it succeeded.
    pub output: Option<&'a serde_json::Value>,
    /// The error, when it did not.
    pub error: Option<&'a serde_json::Value>,
    /// The run's totals (`Totals` as JSON).
    pub totals: &'a serde_json::Value,
    /// Record it only if this owner (`host:pid`) still holds the run (a
    /// process recording its own run's end); `None` for a change made from
    /// outside (cancelling a run nobody runs).
    pub owner: Option<&'a str>,
}

/// A run as the store holds it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RunRecord {
    /// The run's id (a UUIDv7: sorts by start time).
    pub id: String,
    /// The flow it runs.
    pub flow: String,
    /// Where it is.
    pub state: RunState,
    /// Its input.
    pub input: serde_json::Value,
    /// Its output, once it succeeded.
    pub output: Option<serde_json::Value>,
    /// Its error, if it failed, timed out or was cancelled.
    pub error: Option<serde_json::Value>,
    /// Its totals (steps, model calls, tokens, cost) when it last stopped.
    pub totals: serde_json::Value,
    /// The stored definition it runs (`name@version`), if any.
    pub definition: Option<String>,
    /// The content hash of its program (SHA-256, hex).
    pub program: String,
    /// Milliseconds since the Unix epoch when it first started.
    pub started_ms: i64,
    /// When it last stopped, if it is not running.
    pub ended_ms: Option<i64>,
    /// When its process last said it was alive.
    pub heartbeat_ms: i64,
    /// Steps completed so far (journaled).
    pub steps_done: u64,
    /// Whether someone asked to cancel it.
    pub cancel_requested: bool,
    /// The process that runs (or last ran) it: `host:pid` (see [`this_process`]).
    pub owner: String,
}

/// This process as a run's owner: `host:pid`.
pub fn this_process() -> String {
    // Read once: every beat and every listed run's liveness asks for it.
    static THIS: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    THIS.get_or_init(|| {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .or_else(|_| std::env::var("HOSTNAME"))
            .unwrap_or_default();
        format!("{host}:{}", std::process::id())
    })
    .clone()
}

/// Whether `owner` is a process of this host that no longer exists (Linux:
/// no `/proc/PID`, or a zombie). `false` when that cannot be told.
fn owner_gone(owner: &str) -> bool {
    let Some((host, pid)) = owner.rsplit_once(':') else { return false };
    let here = this_process();
    if here.rsplit_once(':').map(|(h, _)| h) != Some(host) || !cfg!(target_os = "linux") {
        return false;
    }
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat.rsplit_once(") ").is_some_and(|(_, rest)| rest.starts_with('Z')),
        Err(_) => true,
    }
}

/// How long without a heartbeat before a running run counts as interrupted
/// (its process died, on another host: on this one a dead process is seen
/// at once). A running process beats every second; the margin covers a
/// beat held up by a database lock (up to 5 s) or a busy machine.
pub const STALE_AFTER_MS: i64 = 30_000;

impl RunRecord {
    /// Whether the run says it is running but its process is gone (seen on
    /// this host) or stopped beating: it died, and the run is interrupted
    /// (resumable).
    pub fn stale(&self, now_ms: i64) -> bool {
        self.state == RunState::Running && (now_ms - self.heartbeat_ms > STALE_AFTER_MS || owner_gone(&self.owner))
    }

    /// The state to show: a stale running run is interrupted.
    pub fn shown_state(&self, now_ms: i64) -> RunState {
        if self.stale(now_ms) { RunState::Interrupted } else { self.state }
    }
}

/// Which runs to list.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct RunFilter {
    /// Only runs in this state.
    pub state: Option<RunState>,
    /// Only runs of this flow.
    pub flow: Option<String>,
    /// At most this many, newest first (all when `None`).
    pub limit: Option<usize>,
}

/// One completed step as `flowc status` shows it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StepRecord {
    /// Its journal key (`call` path, node id, item indexes).
    pub key: String,
    /// The step's node id (`flow/step`).
    pub node: String,
    /// `finished`, `skipped` or `failed`.
    pub outcome: String,
    /// Its attempt.
    pub attempt: u32,
}

/// A step waiting for a person's answer.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Waiting {
    /// The journal key of the `ask` (what `flowc answer` names: the step
    /// id, with `[i]` inside maps).
    pub key: String,
    /// The `ask` step's node id (`flow/step`).
    pub node: String,
    /// The question, as the program wrote it.
    pub prompt: String,
    /// The JSON Schema of the answer.
    pub schema: serde_json::Value,
    /// When the wait times out (ms since the epoch), if it has a `timeout`.
    pub deadline_ms: Option<i64>,
    /// The answer, once given.
    pub answer: Option<serde_json::Value>,
}

/// A program stored under a name with `flowc deploy`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Definition {
    /// The name (a flow of the program).
    pub name: String,
    /// 1 for the first deploy of this name, then 2, ...
    pub version: u32,
    /// The program's SHA-256, hex.
    pub hash: String,
    /// Its source text.
    pub source: String,
    /// When it was stored (ms since the epoch).
    pub created_ms: i64,
}

/// What a running run's process learns when it beats.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Control {
    /// Someone asked to cancel the run (`flowc cancel`).
    pub cancel: bool,
}

/// Why the store could not do something: a coded error.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoreError {
    /// E0610 (unavailable: locked, corrupt, unwritable) unless more precise.
    pub code: Code,
    /// What went wrong, naming the database.
    pub message: String,
}

impl StoreError {
    /// A store error with `code`.
    pub fn new(code: Code, message: impl Into<String>) -> StoreError {
        StoreError { code, message: message.into() }
    }

    /// The store cannot be used (E0610).
    pub fn unavailable(message: impl Into<String>) -> StoreError {
        StoreError::new(Code::StoreUnavailable, message)
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "error[{}]: {}", self.code.as_str(), self.message)
    }
}

impl std::error::Error for StoreError {}

/// A result of the store.
pub type StoreResult<T> = Result<T, StoreError>;

/// Where durable runs live; register one with
/// [`Engine::store`](crate::Engine::store).
///
/// A backend keeps, per run: the row ([`RunRecord`]), the program's source
/// (by hash), the journal (latest entry per key), the event history, and
/// the `ask` steps waiting or answered. Beside runs: the model-call cache
/// and stored definitions. Every method but the journal's is async.
pub trait Store: Send + Sync {
    /// Records a run starting (or resuming: the row exists, its state
    /// becomes running, its journal is loaded) and returns the journal the
    /// run writes through.
    fn begin<'a>(&'a self, start: RunStart<'a>) -> BoxFuture<'a, StoreResult<Arc<dyn Journal>>>;

    /// Records how a run stopped, after everything it journaled is durable.
    fn finish<'a>(&'a self, end: RunEnd<'a>) -> BoxFuture<'a, StoreResult<()>>;

    /// The run `id`.
    fn run<'a>(&'a self, id: &'a str) -> BoxFuture<'a, StoreResult<Option<RunRecord>>>;

    /// Runs, newest first.
    fn runs<'a>(&'a self, filter: &'a RunFilter) -> BoxFuture<'a, StoreResult<Vec<RunRecord>>>;

    /// The program source of a run.
    fn source<'a>(&'a self, hash: &'a str) -> BoxFuture<'a, StoreResult<Option<String>>>;

    /// The steps a run completed, in the order they completed.
    fn steps<'a>(&'a self, id: &'a str) -> BoxFuture<'a, StoreResult<Vec<StepRecord>>>;

    /// A run's event history (each event as its JSON line), oldest first.
    fn events<'a>(&'a self, id: &'a str) -> BoxFuture<'a, StoreResult<Vec<serde_json::Value>>>;

    /// Beats for a running run and reads what others asked of it. A run
    /// another process took over (its owner is no longer this process) is
    /// told to stop (`cancel`).
    fn beat<'a>(&'a self, id: &'a str) -> BoxFuture<'a, StoreResult<Control>>;

    /// Asks the process running `id` to cancel it (it reads the request at
    /// its next beat, within a second). `false` when the run does not exist.
    fn request_cancel<'a>(&'a self, id: &'a str) -> BoxFuture<'a, StoreResult<bool>>;

    /// Records that the run waits at the `ask` `waiting.key` (unless it
    /// already did: a resumed run keeps its first deadline) and returns the
    /// stored row, with its answer if one was given.
    fn ask<'a>(&'a self, id: &'a str, waiting: &'a Waiting) -> BoxFuture<'a, StoreResult<Waiting>>;

    /// The `ask` steps of a run, waiting or answered.
    fn waiting<'a>(&'a self, id: &'a str) -> BoxFuture<'a, StoreResult<Vec<Waiting>>>;

    /// Records the answer to the `ask` at `key` (checked by the caller).
    fn answer<'a>(&'a self, id: &'a str, key: &'a str, value: &'a serde_json::Value) -> BoxFuture<'a, StoreResult<()>>;

    /// A cached model answer. The key is the request as canonical JSON
    /// (long: a backend should hash it).
    fn cache_get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, StoreResult<Option<serde_json::Value>>>;

    /// Caches a model answer.
    fn cache_put<'a>(&'a self, key: &'a str, value: &'a serde_json::Value) -> BoxFuture<'a, StoreResult<()>>;

    /// Stores `source` under `name`: a new version unless the latest has the same hash.
    fn deploy<'a>(&'a self, name: &'a str, source: &'a str) -> BoxFuture<'a, StoreResult<Definition>>;

    /// Every stored definition, latest version of each name first.
    fn definitions(&self) -> BoxFuture<'_, StoreResult<Vec<Definition>>>;

    /// The definition `name` at `version` (the latest when `None`).
    fn definition<'a>(&'a self, name: &'a str, version: Option<u32>) -> BoxFuture<'a, StoreResult<Option<Definition>>>;
}
