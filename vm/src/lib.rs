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
mod journal;
mod llm;
pub mod models;
mod programs;
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

pub use call_error::{ProviderError, ToolError};
pub use config::{EVENT_CAPACITY, Limits, MAP_CONCURRENCY};
pub use engine::Engine;
pub use eval::Frame;
pub use events::{Event, EventStream, RunStatus, StepError, Totals};
pub use expr_eval::{ExprEval, TreeWalker};
pub use flow_compiler::ir::{ErrorKind, Program};
pub use journal::{Entry, EntryKey, EntryKind, Journal, NoJournal, Outcome, without_attempts};
pub use llm::{DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_TURNS, DEFAULT_REPAIR, DEFAULT_REQUEST_TIMEOUT};
pub use models::{
    ChatRequest, ChatResponse, Endpoint, Message, ModelProvider, ModelRef, OutputSchema, ToolCall, ToolSpec, Usage,
};
pub use run::{Canceller, CompileError, Run, RunError, RunOptions, RunOutcome};
pub use store::{
    Control, Definition, RunEnd, RunFilter, RunRecord, RunStart, RunState, STALE_AFTER_MS, StepRecord, Store,
    StoreError, StoreResult, Waiting, this_process,
};
pub use test_blocks::TestReport;
pub use tools::{DEFAULT_TOOL_TIMEOUT, ToolFuture};
pub use value::Value;

use std::time::Duration;

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
