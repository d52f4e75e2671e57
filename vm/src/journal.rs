//! The journal seam: every completion a run makes (a step, a map item, a
//! model call, an agent's tool call) passes through one point, which hands
//! it to the engine's [`Journal`] before reporting it. The default journal
//! records nothing; a durable backend (SQLite, Postgres) records each entry
//! so that a resumed run takes completed work from it instead of doing it
//! again.

use crate::events::{Event, StepError};
use crate::value::Value;

/// What completed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EntryKind {
    /// A step (inside a map body: one item's step).
    Step,
    /// One item of a `map`.
    MapItem,
    /// One request to a model (repairs and agent turns are their own).
    ModelCall,
    /// One tool call an agent made.
    ToolCall,
}

/// Where in a run something completed. Keys are stable across processes
/// and unrelated edits of the program: node ids come from the source
/// (`flow/step/when0`), not from lowering order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct EntryKey<'a> {
    /// The run's id.
    pub run: &'a str,
    /// The flow calls that led here: empty in the run's flow,
    /// `f/summary[2]/` inside the flow that step `f/summary` of map item 2
    /// called (nested calls add to it).
    pub call: &'a str,
    /// What completed.
    pub kind: EntryKind,
    /// The stable id of the step or map body; for model and tool calls, of
    /// the action that made them (the step, or its route branch or catch).
    pub node: &'a str,
    /// The map item indexes, outermost first (empty outside maps).
    pub item: &'a [u32],
    /// The attempt of the step (1, then 2 for the first retry, ...).
    pub attempt: u32,
    /// For model and tool calls, the turn within the step (1 for the first
    /// call); 0 otherwise.
    pub turn: u32,
    /// For an agent's tool calls, the call's place within its turn.
    pub index: u32,
    /// Whether the work had effects (a tool, model or flow call, a map). A
    /// pure step's value is computed again on resume, so a journal may
    /// skip it.
    pub effect: bool,
}

/// How it completed.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub enum Outcome<'a> {
    /// With a value: a step's or item's result, a model's parsed answer, a
    /// tool's result.
    Value(&'a Value),
    /// With raw JSON: a model's answer text or a tool's output as it came.
    Json(&'a serde_json::Value),
    /// A `when` that did not hold.
    Skipped,
    /// With an error nothing caught.
    Failed(&'a StepError),
}

/// One completion.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct Entry<'a> {
    /// Where in the run it completed.
    pub key: EntryKey<'a>,
    /// How it completed.
    pub outcome: Outcome<'a>,
}

/// Records what a run completed, and gives completed work back on resume.
///
/// [`record`](Journal::record) is called at the completion point, before the
/// completion is reported in events, on the run's task, so it should be
/// quick: what it has made durable when it returns is what a subscriber may
/// rely on (see decision 0019). Register one with
/// [`Engine::journal`](crate::Engine::journal).
pub trait Journal: Send + Sync {
    /// Called once per completion. A key can come again: a step in flight
    /// when a process died runs again on resume, and its calls are recorded
    /// under the same keys; keep the latest.
    fn record(&self, entry: &Entry<'_>);

    /// Whether this journal is used at all: `false` (only [`NoJournal`]
    /// says so) lets the engine skip both building entries and asking for
    /// completed steps.
    fn records(&self) -> bool {
        true
    }

    /// The value (as JSON) a step or map item already completed with in
    /// this run, if it did: it is then not executed again. Asked with
    /// `attempt` 0 (any attempt) before every step that is not a plain pure
    /// step (steps with effects, and pure steps with a `catch`) and before
    /// every map item. `None` (the default) runs it.
    fn completed(&self, key: &EntryKey<'_>) -> Option<serde_json::Value> {
        let _ = key;
        None
    }

    /// Whether the journal keeps the run's events too ([`Journal::event`]):
    /// the engine then builds every event, listened to or not.
    fn keeps_events(&self) -> bool {
        false
    }

    /// Called with every event of the run, in order, when
    /// [`keeps_events`](Journal::keeps_events) says so. Like `record`, it
    /// must only queue.
    fn event(&self, event: &Event) {
        let _ = event;
    }
}

/// Records nothing: runs live and die with their process.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoJournal;

impl Journal for NoJournal {
    fn record(&self, _entry: &Entry<'_>) {}

    fn records(&self) -> bool {
        false
    }
}

/// A call path with the attempts of enclosing retried steps left out: the
/// `@N` of a retried flow call (`f/s@2/` → `f/s/`) and the `@N/` segment of
/// a retried map body. An agent's call (`f/a@2#1.0/`) keeps its attempt:
/// its turns differ from one attempt to the next. A store that keeps one
/// entry per step whatever the attempt keys steps and items with this.
pub fn without_attempts(call: &str) -> String {
    let mut text = String::with_capacity(call.len());
    let mut chars = call.char_indices().peekable();
    let mut segment_start = true;
    while let Some((at, c)) = chars.next() {
        if c != '@' {
            text.push(c);
            segment_start = c == '/';
            continue;
        }
        let mut end = at + 1;
        while let Some(&(i, d)) = chars.peek().filter(|(_, d)| d.is_ascii_digit()) {
            end = i + d.len_utf8();
            chars.next();
        }
        match chars.peek().map(|&(_, c)| c) {
            Some('#') => text.push_str(&call[at..end]),
            Some('/') if segment_start => {
                chars.next();
            }
            _ => {}
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::without_attempts;

    #[test]
    fn attempts_of_retried_steps_are_left_out_and_agent_turns_kept() {
        assert_eq!(without_attempts(""), "");
        assert_eq!(without_attempts("f/s/"), "f/s/");
        assert_eq!(without_attempts("f/s@2/"), "f/s/");
        assert_eq!(without_attempts("f/s[3]@12/g/t@2/"), "f/s[3]/g/t/");
        assert_eq!(without_attempts("@2/"), "");
        assert_eq!(without_attempts("f/m[1]/@3/"), "f/m[1]/");
        assert_eq!(without_attempts("f/a@2#1.0/"), "f/a@2#1.0/");
        assert_eq!(without_attempts("@2/f/a@3#1.0/"), "f/a@3#1.0/");
    }
}
