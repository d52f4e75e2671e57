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
}

fn kind_str<S: serde::Serializer>(kind: &ErrorKind, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(kind.as_str())
}

impl StepError {
    pub fn new(kind: ErrorKind, step: &str, message: impl Into<String>) -> StepError {
        StepError { kind, message: message.into(), step: step.to_string() }
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
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    pub started: u64,
    pub finished: u64,
    pub failed: u64,
    pub skipped: u64,
    pub retries: u64,
    pub cancelled: u64,
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
            | Event::StepCancelled { step, .. } => Some(step),
            Event::RunStarted { .. } | Event::RunFinished { .. } => None,
        }
    }
}
