//! A run's progress, kept where its events are produced: a table of what
//! each step did, the steps running, the answer streaming in and the
//! warnings. A host that shows progress samples it at its own pace
//! ([`Run::progress`](crate::Run::progress)) instead of being woken for
//! every event; `flowc run` draws its spinner and summary from it.

use crate::events::Event;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

/// A run's progress table, shared with the run (from [`Run::progress`](crate::Run::progress)).
#[derive(Clone, Debug)]
pub struct ProgressTable(pub(crate) Arc<Mutex<Progress>>);

impl ProgressTable {
    /// A copy of the table as it is now.
    pub fn get(&self) -> Progress {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

/// What one step (or all items of one step inside a `map`) did so far.
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct StepSummary {
    /// Times it finished.
    pub runs: u64,
    /// Times it had finished before and was taken from the journal (a resumed run).
    pub replayed: u64,
    /// Times it failed (a failure a `catch` took over is not counted).
    pub failed: u64,
    /// Times it was skipped (a `when` that did not hold, a failed dependency).
    pub skipped: u64,
    /// Retries it made.
    pub retries: u64,
    /// Time spent in its finished runs, in milliseconds.
    pub total_ms: f64,
    /// The longest of its finished runs, in milliseconds.
    pub max_ms: f64,
    /// Model calls it made.
    pub model_calls: u64,
    /// Tokens its model calls sent.
    pub input_tokens: u64,
    /// Tokens its model calls received.
    pub output_tokens: u64,
    /// What its model calls cost, when the models have prices.
    pub cost_usd: Option<f64>,
}

/// A run's progress so far.
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct Progress {
    /// What each step did, by its name (its path inside maps: `fan/item`).
    pub steps: BTreeMap<String, StepSummary>,
    /// The steps running now, with how many of each.
    pub running: BTreeMap<String, usize>,
    /// The step whose answer is streaming in, and its last few characters.
    pub generating: Option<(String, String)>,
    /// Warnings so far, each `step: message`.
    pub warnings: Vec<String>,
}

/// How many characters of a streaming answer are kept.
const TAIL: usize = 48;

impl Progress {
    /// Takes one event into account.
    pub(crate) fn record(&mut self, event: &Event) {
        let Some(step) = event.step() else { return };
        let row = self.steps.entry(step.to_string()).or_default();
        match event {
            Event::LlmDelta { text, .. } => {
                let tail = match self.generating.take() {
                    Some((s, tail)) if s == step => tail + text,
                    _ => text.clone(),
                };
                let tail = tail.replace(['\n', '\r'], " ");
                let keep = tail.chars().count().saturating_sub(TAIL);
                self.generating = Some((step.to_string(), tail.chars().skip(keep).collect()));
            }
            Event::LlmCall { input_tokens, output_tokens, cost_usd, .. } => {
                row.model_calls += 1;
                row.input_tokens += input_tokens;
                row.output_tokens += output_tokens;
                if let Some(c) = cost_usd {
                    row.cost_usd = Some(row.cost_usd.unwrap_or(0.0) + c);
                }
                self.generating = None;
            }
            Event::StepStarted { .. } => *self.running.entry(step.to_string()).or_default() += 1,
            Event::StepFinished { replayed: true, .. } => row.replayed += 1,
            Event::StepFinished { duration_ms, .. } => {
                row.runs += 1;
                row.total_ms += duration_ms;
                row.max_ms = row.max_ms.max(*duration_ms);
            }
            Event::StepSkipped { .. } => row.skipped += 1,
            Event::StepRetrying { .. } => row.retries += 1,
            Event::StepFailed { caught, .. } => row.failed += u64::from(!caught),
            Event::Warning { message, .. } => self.warnings.push(format!("{step}: {message}")),
            _ => {}
        }
        let ended = matches!(
            event,
            Event::StepFinished { .. }
                | Event::StepSkipped { .. }
                | Event::StepCancelled { .. }
                | Event::StepFailed { caught: false, .. }
        );
        if ended && let Some(n) = self.running.get_mut(step) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.running.remove(step);
            }
        }
    }

    /// Steps finished so far, over every step.
    pub fn finished(&self) -> u64 {
        self.steps.values().map(|r| r.runs).sum()
    }

    /// Tokens used so far, in and out.
    pub fn tokens(&self) -> u64 {
        self.steps.values().map(|r| r.input_tokens + r.output_tokens).sum()
    }
}
