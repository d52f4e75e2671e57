//! One run's journal (either backend): completions and events are queued
//! for the store's writer; on resume, the values of the steps and map items
//! the run completed are loaded once, and answer `completed` from memory.

use crate::writer::Row;
use flow_vm::{Entry, EntryKey, EntryKind, Event, Journal, Outcome};
use std::collections::HashMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicI64, Ordering};

/// Outcome codes in the `journal` table.
pub(crate) const FINISHED: u8 = 0;
pub(crate) const SKIPPED: u8 = 1;
pub(crate) const FAILED: u8 = 2;
/// A model's or tool's raw answer.
pub(crate) const ANSWERED: u8 = 3;

/// Where a journal's rows go: the SQLite writer thread or the Postgres
/// writer task, both committing in groups.
#[derive(Clone)]
pub(crate) enum Queue {
    Sqlite(crate::writer::Writer),
    Postgres(crate::postgres::writer::PgWriter),
}

impl Queue {
    pub fn push(&self, row: Row) {
        match self {
            Queue::Sqlite(w) => w.push(row),
            Queue::Postgres(w) => w.push(row),
        }
    }
}

/// The journal of one run.
pub(crate) struct RunJournal {
    pub run: i64,
    pub writer: Queue,
    /// Values of completed steps and map items, by key (resume only).
    pub completed: HashMap<String, serde_json::Value>,
    pub entry_seq: AtomicI64,
    pub event_seq: AtomicI64,
}

/// A journal key as text: a letter for the kind, then the call path, `|`,
/// the node and the item indexes (`s:f/summary[2]/|g/step[0]`); model and tool
/// calls add `@attempt#turn.index`, steps and items take the latest attempt.
pub(crate) fn key_text(key: &EntryKey<'_>) -> String {
    let kind = match key.kind {
        EntryKind::Step => 's',
        EntryKind::MapItem => 'm',
        EntryKind::ModelCall => 'c',
        EntryKind::ToolCall => 't',
        _ => '?',
    };
    let mut text = String::with_capacity(key.call.len() + key.node.len() + 8);
    text.push(kind);
    text.push(':');
    if matches!(key.kind, EntryKind::Step | EntryKind::MapItem) {
        // A step's or item's key is the same whichever attempt of an
        // enclosing step did the work: the latest completion wins, and a
        // resumed run (which starts at attempt 1) finds it.
        text.push_str(&flow_vm::without_attempts(key.call));
    } else {
        text.push_str(key.call);
    }
    text.push('|');
    text.push_str(key.node);
    for i in key.item {
        let _ = write!(text, "[{i}]");
    }
    if matches!(key.kind, EntryKind::ModelCall | EntryKind::ToolCall) {
        let _ = write!(text, "@{}#{}.{}", key.attempt, key.turn, key.index);
    }
    text
}

impl Journal for RunJournal {
    fn record(&self, entry: &Entry<'_>) {
        // A pure step is computed again on resume: nothing to keep.
        if !entry.key.effect {
            return;
        }
        let (outcome, value) = match entry.outcome {
            Outcome::Value(v) => (FINISHED, Some(v.to_json().to_string())),
            Outcome::Json(j) => (ANSWERED, Some(j.to_string())),
            Outcome::Skipped => (SKIPPED, None),
            Outcome::Failed(e) => (FAILED, serde_json::to_string(e).ok()),
            _ => return,
        };
        self.writer.push(Row::Entry {
            run: self.run,
            key: key_text(&entry.key),
            seq: self.entry_seq.fetch_add(1, Ordering::Relaxed),
            attempt: entry.key.attempt,
            outcome,
            value,
        });
    }

    fn completed(&self, key: &EntryKey<'_>) -> Option<serde_json::Value> {
        if self.completed.is_empty() {
            return None;
        }
        self.completed.get(&key_text(key)).cloned()
    }

    fn keeps_events(&self) -> bool {
        true
    }

    fn event(&self, event: &Event) {
        let Ok(json) = serde_json::to_string(event) else { return };
        self.writer.push(Row::Event { run: self.run, seq: self.event_seq.fetch_add(1, Ordering::Relaxed), json });
    }
}

/// The node id in a key's text (between `|` and the item indexes).
pub(crate) fn key_node(key: &str) -> &str {
    let node = key.split_once('|').map_or(key, |(_, rest)| rest);
    node.split(['[', '@']).next().unwrap_or(node)
}
