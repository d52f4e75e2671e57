//! The typed event stream every run emits, and the error value steps fail
//! with. Events serialize to one JSON object per line (`flowc run --events
//! jsonl`); `at_ms` is the time since the run started.

use flow_compiler::ir::ErrorKind;
use serde::Serialize;
use std::fmt;

/// Why a step failed: the value `catch e` binds (`e.kind`, `e.message`,
/// `e.step`).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct StepError {
    /// What went wrong, as programs write it: `timeout`, `schema`, ...
    #[serde(serialize_with = "kind_str")]
    pub kind: ErrorKind,
    /// What happened, in words.
    pub message: String,
    /// The id of the step that failed, e.g. `support/ticket`.
    pub step: String,
    /// For `schema` errors: the model's last answer, exactly as it came.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raw: Option<String>,
    /// How long the provider or service asked to wait (`Retry-After`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
}

fn kind_str<S: serde::Serializer>(kind: &ErrorKind, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(kind.as_str())
}

impl StepError {
    /// An error of `kind` in `step`, with no raw answer or `Retry-After`.
    pub fn new(kind: ErrorKind, step: &str, message: impl Into<String>) -> StepError {
        StepError { kind, message: message.into(), step: step.to_string(), raw: None, retry_after_ms: None }
    }

    /// A step error from a tool or provider error, keeping its kind and `Retry-After`.
    pub(crate) fn from_tool(step: &str, context: &str, e: crate::call_error::ToolError) -> StepError {
        StepError {
            // At most an hour, as the model limiter takes it: a host may say anything.
            retry_after_ms: e.retry_after.map(|d| d.min(std::time::Duration::from_secs(3600)).as_millis() as u64),
            ..StepError::new(e.kind, step, format!("{context}: {}", e.message))
        }
    }
}

impl fmt::Display for StepError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "step `{}` failed ({}): {}", self.step, self.kind, self.message)
    }
}

impl std::error::Error for StepError {}

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RunStatus {
    /// The flow returned a value.
    Succeeded,
    /// A step failed and nothing caught the error.
    Failed,
    /// The run was cancelled before it ended.
    Cancelled,
    /// The run's deadline passed.
    TimedOut,
    /// The host stopped the run (SIGTERM): resumable, as after a crash.
    Interrupted,
    /// Nothing is left to do but wait for answers to `ask` steps: the run
    /// is suspended, and resumes once they are answered.
    Waiting,
}

/// Counts over a whole run (map items' steps included).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Totals {
    /// Steps that started.
    pub started: u64,
    /// Steps that finished, caught failures included.
    pub finished: u64,
    /// Steps that failed with nothing to catch the error.
    pub failed: u64,
    /// Steps skipped because their `when` did not hold.
    pub skipped: u64,
    /// Retries of failed steps.
    pub retries: u64,
    /// Steps stopped before they ended (e.g. the run was cancelled).
    pub cancelled: u64,
    /// Requests sent to models (repairs and agent turns included).
    pub model_calls: u64,
    /// Input tokens the models reported, over all calls.
    pub input_tokens: u64,
    /// Output tokens the models reported, over all calls.
    pub output_tokens: u64,
    /// In USD, for models that declare `input_price` / `output_price`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
    /// Model calls answered from the cache (not counted in `model_calls`).
    #[serde(skip_serializing_if = "is_zero")]
    pub cache_hits: u64,
    /// Tokens those answers used when they were first made: not paid again.
    #[serde(skip_serializing_if = "is_zero")]
    pub cache_saved_tokens: u64,
    /// What those answers cost when they were first made, in USD.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_saved_usd: Option<f64>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Something that happened in a run; the variant's name goes in `event`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Event {
    /// The run began.
    RunStarted {
        /// The name of the flow being run.
        flow: String,
        /// Milliseconds since the run started.
        at_ms: f64,
    },
    /// A step began (its first attempt).
    StepStarted {
        /// The step's id, e.g. `triage/reply`.
        step: String,
        /// The map item indexes, outermost first, for steps inside `map` bodies.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        item: Vec<u32>,
        /// Milliseconds since the run started.
        at_ms: f64,
    },
    /// An attempt failed and the step will be tried again after a delay.
    StepRetrying {
        /// The step's id, e.g. `triage/reply`.
        step: String,
        /// The map item indexes, outermost first (empty outside maps).
        #[serde(skip_serializing_if = "Vec::is_empty")]
        item: Vec<u32>,
        /// The attempt about to start (2 for the first retry).
        attempt: u32,
        /// How long the run waits before the next attempt.
        delay_ms: u64,
        /// The error the last attempt failed with.
        error: StepError,
        /// Milliseconds since the run started.
        at_ms: f64,
    },
    /// A step finished with a value.
    StepFinished {
        /// The step's id, e.g. `triage/reply`.
        step: String,
        /// The map item indexes, outermost first (empty outside maps).
        #[serde(skip_serializing_if = "Vec::is_empty")]
        item: Vec<u32>,
        /// How long the step took, retries included, in milliseconds.
        duration_ms: f64,
        /// The size of the step's value as JSON text, in bytes.
        output_bytes: usize,
        /// For `route` steps: the id of the branch that ran.
        #[serde(skip_serializing_if = "Option::is_none")]
        branch: Option<String>,
        /// The value came from the journal (a resumed run): nothing ran. A
        /// map item taken whole from the journal is reported as its map
        /// body (`flow/step/body`) finishing at that item.
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        replayed: bool,
        /// Milliseconds since the run started.
        at_ms: f64,
    },
    /// A step's `when` did not hold, so it did not run.
    StepSkipped {
        /// The step's id, e.g. `triage/reply`.
        step: String,
        /// The map item indexes, outermost first (empty outside maps).
        #[serde(skip_serializing_if = "Vec::is_empty")]
        item: Vec<u32>,
        /// Milliseconds since the run started.
        at_ms: f64,
    },
    /// A step failed (after any retries).
    StepFailed {
        /// The step's id, e.g. `triage/reply`.
        step: String,
        /// The map item indexes, outermost first (empty outside maps).
        #[serde(skip_serializing_if = "Vec::is_empty")]
        item: Vec<u32>,
        /// Why it failed.
        error: StepError,
        /// Whether a `catch` clause took over (the step then finishes).
        caught: bool,
        /// Milliseconds since the run started.
        at_ms: f64,
    },
    /// A step stopped before it ended, e.g. because the run was cancelled.
    StepCancelled {
        /// The step's id, e.g. `triage/reply`.
        step: String,
        /// The map item indexes, outermost first (empty outside maps).
        #[serde(skip_serializing_if = "Vec::is_empty")]
        item: Vec<u32>,
        /// Milliseconds since the run started.
        at_ms: f64,
    },
    /// A piece of a streamed model answer, as it arrives.
    LlmDelta {
        /// The step's id, e.g. `triage/reply`.
        step: String,
        /// The map item indexes, outermost first (empty outside maps).
        #[serde(skip_serializing_if = "Vec::is_empty")]
        item: Vec<u32>,
        /// The text that just arrived.
        text: String,
        /// Milliseconds since the run started.
        at_ms: f64,
    },
    /// One request to a model and its answer: the transcript of `llm` and
    /// `agent` steps, with tokens and cost.
    LlmCall {
        /// The step's id, e.g. `triage/reply`.
        step: String,
        /// The map item indexes, outermost first (empty outside maps).
        #[serde(skip_serializing_if = "Vec::is_empty")]
        item: Vec<u32>,
        /// The model's name, as the program declares it.
        model: String,
        /// 1 for a step's first call; repairs and agent turns count up.
        turn: u32,
        /// The prompt (first call of a step only).
        #[serde(skip_serializing_if = "Option::is_none")]
        prompt: Option<String>,
        /// What the model answered.
        text: String,
        /// The tools the model asked to run.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        tool_calls: Vec<crate::models::ToolCall>,
        /// Input tokens the provider reported for this call.
        input_tokens: u64,
        /// Output tokens the provider reported for this call.
        output_tokens: u64,
        /// The call's cost in USD, for models that declare prices.
        #[serde(skip_serializing_if = "Option::is_none")]
        cost_usd: Option<f64>,
        /// Why the model stopped (`stop`, `length`, ...), if the provider said.
        #[serde(skip_serializing_if = "Option::is_none")]
        finish_reason: Option<String>,
        /// Answered from the cache: no request was sent, nothing was paid.
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        cached: bool,
        /// How long the call took, in milliseconds.
        duration_ms: f64,
        /// Milliseconds since the run started.
        at_ms: f64,
    },
    /// A model's answer did not fit the schema and is being sent back to be fixed.
    LlmRepair {
        /// The step's id, e.g. `triage/reply`.
        step: String,
        /// The map item indexes, outermost first (empty outside maps).
        #[serde(skip_serializing_if = "Vec::is_empty")]
        item: Vec<u32>,
        /// The repair about to be asked for (1 for the first).
        repair: u32,
        /// Where and how the answer did not fit, one problem each.
        problems: Vec<String>,
        /// Milliseconds since the run started.
        at_ms: f64,
    },
    /// An agent ran one of its tools.
    AgentTool {
        /// The step's id, e.g. `triage/reply`.
        step: String,
        /// The map item indexes, outermost first (empty outside maps).
        #[serde(skip_serializing_if = "Vec::is_empty")]
        item: Vec<u32>,
        /// The turn of the model call that asked for the tool.
        turn: u32,
        /// The provider's id for the call.
        call_id: String,
        /// The tool's name.
        tool: String,
        /// The arguments the model gave.
        arguments: serde_json::Value,
        /// Whether the tool succeeded.
        ok: bool,
        /// The tool's result, or what went wrong (as the model is told).
        output: serde_json::Value,
        /// Milliseconds since the run started.
        at_ms: f64,
    },
    /// Something the engine corrected and the run went on: e.g. a provider
    /// reporting token counts no request can have used.
    Warning {
        /// The step's id, e.g. `triage/reply`.
        step: String,
        /// The map item indexes, outermost first (empty outside maps).
        #[serde(skip_serializing_if = "Vec::is_empty")]
        item: Vec<u32>,
        /// What was corrected.
        message: String,
        /// Milliseconds since the run started.
        at_ms: f64,
    },
    /// An `ask` step waits for a person's answer (`flowc answer`).
    Waiting {
        /// The step's id, e.g. `load/approval`.
        step: String,
        /// The map item indexes, outermost first (empty outside maps).
        #[serde(skip_serializing_if = "Vec::is_empty")]
        item: Vec<u32>,
        /// What `flowc answer` names: the ask's key in the run.
        key: String,
        /// The question.
        prompt: String,
        /// Milliseconds since the run started.
        at_ms: f64,
    },
    /// The run ended; always the last event.
    RunFinished {
        /// How it ended.
        status: RunStatus,
        /// How long the run took, in milliseconds.
        duration_ms: f64,
        /// Counts over the whole run.
        totals: Totals,
        /// The flow's result, when it succeeded.
        #[serde(skip_serializing_if = "Option::is_none")]
        output: Option<serde_json::Value>,
        /// Why it did not succeed (failed, cancelled or timed out).
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<StepError>,
        /// Milliseconds since the run started.
        at_ms: f64,
    },
}

impl Event {
    /// The step an event is about, if any.
    pub fn step(&self) -> Option<&str> {
        match self {
            Event::StepStarted { step, .. }
            | Event::StepRetrying { step, .. }
            | Event::StepFinished { step, .. }
            | Event::StepSkipped { step, .. }
            | Event::StepFailed { step, .. }
            | Event::StepCancelled { step, .. }
            | Event::LlmDelta { step, .. }
            | Event::LlmCall { step, .. }
            | Event::LlmRepair { step, .. }
            | Event::AgentTool { step, .. }
            | Event::Warning { step, .. }
            | Event::Waiting { step, .. } => Some(step),
            Event::RunStarted { .. } | Event::RunFinished { .. } => None,
        }
    }
}

/// Where a run's events go: a bounded channel to its subscriber.
///
/// Events are never dropped and stay in order. When the channel is full,
/// events wait in `pending`, and the run waits at its next check (after
/// each step, each map item and each model call) until the subscriber
/// catches up: memory is bounded by the capacity plus what the steps in
/// flight emit between two checks (among them the streamed pieces of the
/// answers being generated). A subscriber that stops reading holds the run back until it
/// reads again or drops its stream (events are then discarded), or the run
/// is cancelled or times out. Events still pending when the run ends are
/// handed to a task of their own, so the run's outcome never waits for them.
#[derive(Clone)]
pub(crate) struct EventSink {
    inner: std::sync::Arc<SinkInner>,
}

struct SinkInner {
    sender: tokio::sync::mpsc::Sender<Event>,
    pending: std::sync::Mutex<std::collections::VecDeque<Event>>,
    /// Whether `pending` holds events: read on every step, so not a lock.
    behind: std::sync::atomic::AtomicBool,
}

impl EventSink {
    /// The most events a run buffers (a larger capacity is clamped to it).
    pub const MAX_CAPACITY: usize = 1 << 20;

    pub fn new(capacity: usize) -> (EventSink, EventStream) {
        let (sender, receiver) = tokio::sync::mpsc::channel(capacity.clamp(1, Self::MAX_CAPACITY));
        let inner = SinkInner { sender, pending: Default::default(), behind: Default::default() };
        (EventSink { inner: std::sync::Arc::new(inner) }, EventStream { receiver })
    }

    pub fn emit(&self, event: Event) {
        use tokio::sync::mpsc::error::TrySendError;
        let inner = &*self.inner;
        let mut pending = inner.pending.lock().unwrap_or_else(|e| e.into_inner());
        if pending.is_empty() {
            match inner.sender.try_send(event) {
                Ok(()) | Err(TrySendError::Closed(_)) => return,
                Err(TrySendError::Full(event)) => pending.push_back(event),
            }
        } else {
            pending.push_back(event);
        }
        inner.behind.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether events are waiting for room in the channel.
    #[inline]
    pub fn behind(&self) -> bool {
        self.inner.behind.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Waits until every pending event is in the channel (backpressure).
    /// Cancel-safe: an event leaves `pending` only with a slot reserved for
    /// it, and under the lock, so events keep their order.
    pub async fn drain(&self) {
        let inner = &*self.inner;
        loop {
            let Ok(permit) = inner.sender.reserve().await else {
                // The subscriber is gone: nobody will read what is pending.
                inner.pending.lock().unwrap_or_else(|e| e.into_inner()).clear();
                inner.behind.store(false, std::sync::atomic::Ordering::Relaxed);
                return;
            };
            let mut pending = inner.pending.lock().unwrap_or_else(|e| e.into_inner());
            match pending.pop_front() {
                Some(event) => permit.send(event),
                None => {
                    inner.behind.store(false, std::sync::atomic::Ordering::Relaxed);
                    return;
                }
            }
        }
    }

    /// At the end of a run: delivers what is still pending from a task of
    /// its own, so the run's outcome does not wait for its subscriber.
    pub fn hand_off(&self) {
        if self.behind() {
            let sink = self.clone();
            tokio::spawn(async move { sink.drain().await });
        }
    }
}

/// A run's events, in order, ending with `run_finished`.
#[derive(Debug)]
pub struct EventStream {
    receiver: tokio::sync::mpsc::Receiver<Event>,
}

impl EventStream {
    /// The next event; `None` once the run has ended and every event was read.
    pub async fn recv(&mut self) -> Option<Event> {
        self.receiver.recv().await
    }

    /// The next event if one is ready.
    pub fn try_recv(&mut self) -> Option<Event> {
        self.receiver.try_recv().ok()
    }
}
