//! The Flow interpreter: runs a compiled program's graph IR on tokio.
//!
//! A step starts as soon as the steps it depends on have finished, so
//! independent steps run concurrently; `map` fans out under its
//! `concurrency` limit; `retry`, `timeout` and `catch` behave as
//! `docs/language.md` says. Every run emits typed [`Event`]s, can be
//! cancelled, and stays within the engine's [`Limits`].
//!
//! Start with [`Engine`]: register tools, compile source text, then
//! [`Engine::run`] (just the output) or [`Engine::start`] (events,
//! cancellation, the full [`RunOutcome`]).
//!
//! With a [`Store`], runs are durable: recorded, journaled, resumable
//! ([`Engine::resume`]) and cancellable from another process.
//!
//! Two seams let hosts and later crates change how runs work without
//! touching the scheduler: a [`Journal`] sees every completion (and gives
//! completed work back on resume), and an [`ExprEval`] evaluates pure
//! expressions.
//!
//! The interpreter depends on the compiler's IR only, never on the syntax tree.

#![warn(missing_docs)]

mod bounds;
mod builtins;
mod call_error;
mod compare;
mod config;
mod dispatch;
mod engine;
mod eval;
mod events;
mod exec;
mod expr_eval;
mod jit;
mod journal;
mod llm;
pub mod models;
mod net;
mod programs;
mod progress;
mod resume;
mod run;
mod setup;
mod state;
mod stop;
mod store;
mod test_blocks;
#[cfg(feature = "test-support")]
pub mod test_support;
mod tools;
pub mod value;

/// The built-in HTTP providers, for hosts that wrap one (to log, record or
/// reroute requests) and register it with [`Engine::provider`]. Each
/// `body` function gives the exact JSON a request is sent as.
pub mod providers {
    pub use crate::llm::anthropic::{self, Anthropic};
    pub use crate::llm::ollama::{self, Ollama};
    pub use crate::llm::openai::{self, OpenAi};
    /// The HTTP client the providers are built with.
    pub use reqwest::Client as HttpClient;
}

pub use bounds::EvalError;
pub use call_error::{ProviderError, ToolError};
pub use config::{EVENT_CAPACITY, LIMITS, LimitSpec, Limits, MAP_CONCURRENCY};
pub use engine::{Engine, new_run_id};
pub use eval::Frame;
pub use events::{Event, EventStream, RunStatus, StepError, Totals};
pub use expr_eval::{ExprEval, TreeWalker};
pub use flow_compiler::ir::{ErrorKind, Program};
pub use journal::{Entry, EntryKey, EntryKind, Journal, NoJournal, Outcome, without_attempts};
pub use llm::shared::{SharedLimits, SharedModel, Taken};
pub use llm::{DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_TURNS, DEFAULT_REPAIR, DEFAULT_REQUEST_TIMEOUT, DEFAULT_RETRY};
pub use models::{
    ChatRequest, ChatResponse, Endpoint, Message, ModelProvider, ModelRef, OutputSchema, ToolCall, ToolSpec, Usage,
};
pub use net::{NetAccess, NetRule};
pub use progress::{Progress, ProgressTable, StepSummary};
pub use run::{Canceller, CompileError, Observer, Run, RunError, RunOptions, RunOutcome};
pub use store::{
    Control, Definition, RunEnd, RunFilter, RunRecord, RunStart, RunState, STALE_AFTER_MS, StepRecord, Store,
    StoreError, StoreResult, Waiting, this_process,
};
pub use test_blocks::TestReport;
pub use tools::{DEFAULT_TOOL_TIMEOUT, ToolFuture};
pub use value::Value;

use std::time::Duration;

/// Reads a duration as the language writes it: `500ms`, `1.5s`, `5m`, `1h`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    flow_compiler::literal::duration_millis(text).map(Duration::from_millis).map_err(|e| format!("`{text}` is {e}"))
}

/// A size as people read it: `8 MiB`, `512 KiB`, `100 bytes`.
pub fn fmt_bytes(n: usize) -> String {
    match n {
        _ if n >= 1 << 30 && n.is_multiple_of(1 << 30) => format!("{} GiB", n >> 30),
        _ if n >= 1 << 20 && n.is_multiple_of(1 << 20) => format!("{} MiB", n >> 20),
        _ if n >= 1 << 10 && n.is_multiple_of(1 << 10) => format!("{} KiB", n >> 10),
        _ => format!("{n} bytes"),
    }
}

/// Reads a size as [`fmt_bytes`] writes it, or a plain number of bytes:
/// `4096`, `512KiB`, `8 MiB`, `1GiB` (also `KB`, `MB`, `GB` for the same).
pub fn parse_bytes(text: &str) -> Result<usize, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" | "bytes" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        _ => return Err(format!("`{text}` is not a size (e.g. 4096, 512KiB, 8MiB, 1GiB)")),
    };
    let n: usize = digits.parse().map_err(|_| format!("`{text}` is not a size (e.g. 4096, 512KiB, 8MiB, 1GiB)"))?;
    n.checked_mul(1 << shift).ok_or_else(|| format!("`{text}` is too large"))
}

/// A duration as people write it in Flow: `500ms`, `30s`, `2m`, `1.5s`.
pub fn fmt_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 || !ms.is_multiple_of(1000) {
        if ms < 1000 { format!("{ms}ms") } else { format!("{}s", d.as_secs_f64()) }
    } else if ms.is_multiple_of(60_000) {
        format!("{}m", ms / 60_000)
    } else {
        format!("{}s", ms / 1000)
    }
}
