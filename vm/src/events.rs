//! The typed event stream every run emits, and the error value steps fail
//! with. Events serialize to one JSON object per line (`flowc run --events
//! jsonl`); `at_ms` is the time since the run started.

use flow_compiler::ir::ErrorKind;
use serde::Serialize;
use std::fmt;

/// Why a step failed: the value `catch e` binds (`e.kind`, `e.message`,
/// `e.step`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StepError {
    #[serde(serialize_with = "kind_str")]
    pub kind: ErrorKind,
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
    pub fn new(kind: ErrorKind, step: &str, message: impl Into<String>) -> StepError {
        StepError { kind, message: message.into(), step: step.to_string(), raw: None, retry_after_ms: None }
    }

    /// A step error from a tool or provider error, keeping its kind and `Retry-After`.
    pub(crate) fn from_tool(step: &str, context: &str, e: crate::call_error::ToolError) -> StepError {
        StepError {
            retry_after_ms: e.retry_after.map(|d| d.as_millis() as u64),
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
pub enum RunStatus {
    Succeeded,
    Failed,
    Cancelled,
    /// The run's deadline passed.
    TimedOut,
}

/// Counts over a whole run (map items' steps included).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Totals {
    pub started: u64,
    pub finished: u64,
    pub failed: u64,
    pub skipped: u64,
    pub retries: u64,
    pub cancelled: u64,
    /// Requests sent to models (repairs and agent turns included).
    pub model_calls: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// In USD, for models that declare `input_price` / `output_price`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    RunStarted {
        flow: String,
        at_ms: f64,
    },
    StepStarted {
        step: String,
        /// The map item indexes, outermost first, for steps inside `map` bodies.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        item: Vec<u32>,
        at_ms: f64,
    },
    StepRetrying {
        step: String,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        item: Vec<u32>,
        /// The attempt about to start (2 for the first retry).
        attempt: u32,
        delay_ms: u64,
        error: StepError,
        at_ms: f64,
    },
    StepFinished {
        step: String,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        item: Vec<u32>,
        duration_ms: f64,
        output_bytes: usize,
        /// For `route` steps: the id of the branch that ran.
        #[serde(skip_serializing_if = "Option::is_none")]
        branch: Option<String>,
        at_ms: f64,
    },
    StepSkipped {
        step: String,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        item: Vec<u32>,
        at_ms: f64,
    },
    StepFailed {
        step: String,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        item: Vec<u32>,
        error: StepError,
        /// Whether a `catch` clause took over (the step then finishes).
        caught: bool,
        at_ms: f64,
    },
    StepCancelled {
        step: String,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        item: Vec<u32>,
        at_ms: f64,
    },
    /// A piece of a streamed model answer, as it arrives.
    LlmDelta {
        step: String,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        item: Vec<u32>,
        text: String,
        at_ms: f64,
    },
    /// One request to a model and its answer: the transcript of `llm` and
    /// `agent` steps, with tokens and cost.
    LlmCall {
        step: String,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        item: Vec<u32>,
        model: String,
        /// 1 for a step's first call; repairs and agent turns count up.
        turn: u32,
        /// The prompt (first call of a step only).
        #[serde(skip_serializing_if = "Option::is_none")]
        prompt: Option<String>,
        /// What the model answered.
        text: String,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        tool_calls: Vec<crate::models::ToolCall>,
        input_tokens: u64,
        output_tokens: u64,
        #[serde(skip_serializing_if = "Option::is_none")]
        cost_usd: Option<f64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        finish_reason: Option<String>,
        duration_ms: f64,
        at_ms: f64,
    },
    /// A model's answer did not fit the schema and is being sent back to be fixed.
    LlmRepair {
        step: String,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        item: Vec<u32>,
        /// The repair about to be asked for (1 for the first).
        repair: u32,
        problems: Vec<String>,
        at_ms: f64,
    },
    /// An agent ran one of its tools.
    AgentTool {
        step: String,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        item: Vec<u32>,
        turn: u32,
        call_id: String,
        tool: String,
        arguments: serde_json::Value,
        ok: bool,
        /// The tool's result, or what went wrong (as the model is told).
        output: serde_json::Value,
        at_ms: f64,
    },
    /// Something the engine corrected and the run went on: e.g. a provider
    /// reporting token counts no request can have used.
    Warning {
        step: String,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        item: Vec<u32>,
        message: String,
        at_ms: f64,
    },
    RunFinished {
        status: RunStatus,
        duration_ms: f64,
        totals: Totals,
        /// The flow's result, when it succeeded.
        #[serde(skip_serializing_if = "Option::is_none")]
        output: Option<serde_json::Value>,
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<StepError>,
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
            | Event::Warning { step, .. } => Some(step),
            Event::RunStarted { .. } | Event::RunFinished { .. } => None,
        }
    }
}

/// Where a run's events go: a bounded channel to its subscriber.
///
/// Events are never dropped and stay in order. When the channel is full,
/// events wait in `pending`, and the run waits at its next await point
/// ([`EventSink::drain`]) until the subscriber catches up: memory is bounded
/// by the capacity plus what the run emits between two await points. A
/// subscriber that stops reading holds the run back until it reads again,
/// is cancelled, or drops its receiver (events are then discarded).
pub(crate) struct EventSink {
    sender: tokio::sync::mpsc::Sender<Event>,
    pending: std::sync::Mutex<std::collections::VecDeque<Event>>,
    /// Whether `pending` holds events: read on every step, so not a lock.
    behind: std::sync::atomic::AtomicBool,
}

impl EventSink {
    pub fn new(capacity: usize) -> (EventSink, EventStream) {
        let (sender, receiver) = tokio::sync::mpsc::channel(capacity.max(1));
        let sink = EventSink { sender, pending: Default::default(), behind: Default::default() };
        (sink, EventStream { receiver })
    }

    pub fn emit(&self, event: Event) {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        if pending.is_empty() {
            match self.sender.try_send(event) {
                Ok(()) | Err(tokio::sync::mpsc::error::TrySendError::Closed(_)) => return,
                Err(tokio::sync::mpsc::error::TrySendError::Full(event)) => pending.push_back(event),
            }
        } else {
            pending.push_back(event);
        }
        self.behind.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether events are waiting for room in the channel.
    pub fn behind(&self) -> bool {
        self.behind.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Waits until every pending event is in the channel (backpressure).
    pub async fn drain(&self) {
        loop {
            let next = {
                let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
                let next = pending.pop_front();
                if next.is_none() {
                    self.behind.store(false, std::sync::atomic::Ordering::Relaxed);
                }
                next
            };
            let Some(event) = next else { return };
            if self.sender.send(event).await.is_err() {
                // The subscriber is gone: nobody will read what is pending.
                self.pending.lock().unwrap_or_else(|e| e.into_inner()).clear();
                return;
            }
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
