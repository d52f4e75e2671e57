//! Group commit: journal entries and events are queued by the runs that
//! make them and written by one thread with its own connection, as many as
//! are queued per transaction. A run never waits for the disk at a
//! completion; it waits once, at its end, for everything it queued
//! ([`Writer::flush`]). A group's events of one run are written as one row
//! (JSON lines): a run's history costs a row per group, not per event.

use rusqlite::{Connection, params};
use std::sync::mpsc::{Receiver, Sender, channel};

/// One row to write.
pub(crate) enum Row {
    /// A journal entry (the latest per key is kept).
    Entry { run: i64, key: String, seq: i64, attempt: u32, outcome: u8, value: Option<String> },
    /// An event, as its JSON line.
    Event { run: i64, seq: i64, json: String },
    /// Answers once everything queued before it is committed: whether all
    /// of run `run`'s rows (every run's, for `None`) were written.
    Flush(Option<i64>, tokio::sync::oneshot::Sender<Result<(), String>>),
}

impl Row {
    pub(crate) fn run(&self) -> Option<i64> {
        match self {
            Row::Entry { run, .. } | Row::Event { run, .. } => Some(*run),
            Row::Flush(..) => None,
        }
    }
}

/// At most this many rows per transaction: a bound on how long a reader waits.
const MAX_BATCH: usize = 8192;

/// How long to wait before writing a group again after a failure (a lock
/// held past the busy timeout, a full disk that someone clears).
const RETRY_AFTER: [std::time::Duration; 2] =
    [std::time::Duration::from_millis(100), std::time::Duration::from_millis(1000)];

/// The writer thread's queue, and the runs whose rows it could not write
/// (each run's flush reports its own loss, once).
#[derive(Clone)]
pub(crate) struct Writer {
    queue: Sender<Row>,
}

/// Runs that lost rows, with why; both stores' writers keep one, and each
/// run's flush reports its own loss, once.
#[derive(Default)]
pub(crate) struct Lost(std::collections::HashMap<i64, String>);

impl Lost {
    /// The group `batch` could not be written: each run with rows in it hears so at its flush.
    pub fn group(&mut self, batch: &[Row], error: &str) {
        for run in batch.iter().filter_map(Row::run) {
            self.0.entry(run).or_insert_with(|| error.to_string());
        }
    }

    /// Answers the batch's flushes: a run's own loss, or (a flush of every
    /// run) any loss, kept for its own run's flush.
    pub fn answer(&mut self, batch: Vec<Row>) {
        for row in batch {
            if let Row::Flush(run, done) = row {
                let loss = match run {
                    Some(run) => self.0.remove(&run),
                    None => self.0.values().next().cloned(),
                };
                let _ = done.send(loss.map_or(Ok(()), Err));
            }
        }
    }
}

impl Writer {
    /// Starts the writer thread on `conn`.
    pub fn start(conn: Connection) -> Result<Writer, String> {
        let (queue, rows) = channel();
        std::thread::Builder::new()
            .name("flow-store-writer".into())
            .spawn(move || write_loop(conn, rows))
            .map_err(|e| format!("cannot start the journal writer: {e}"))?;
        Ok(Writer { queue })
    }

    /// Queues a row; never blocks.
    pub fn push(&self, row: Row) {
        // The thread only ends when every sender is gone, so this cannot fail
        // while `self` lives.
        let _ = self.queue.send(row);
    }

    /// Waits until everything queued so far is committed; an error if any
    /// row of run `run` (of any run, for `None`) could not be written.
    pub async fn flush(&self, run: Option<i64>) -> Result<(), String> {
        let (done, wait) = tokio::sync::oneshot::channel();
        self.push(Row::Flush(run, done));
        wait.await.unwrap_or_else(|_| Err("the journal writer stopped".into()))
    }
}

fn write_loop(mut conn: Connection, rows: Receiver<Row>) {
    let mut lost = Lost::default();
    while let Ok(first) = rows.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rows.try_recv() {
                Ok(row) => batch.push(row),
                Err(_) => break,
            }
        }
        let mut result = write_batch(&mut conn, &mut batch);
        for wait in RETRY_AFTER {
            if result.is_ok() {
                break;
            }
            std::thread::sleep(wait);
            result = write_batch(&mut conn, &mut batch);
        }
        if let Err(e) = result {
            lost.group(&batch, &e);
            batch.retain(|row| matches!(row, Row::Flush(..)));
        }
        lost.answer(batch);
    }
}

/// Writes the batch's rows in one transaction (flushes stay in `batch`).
fn write_batch(conn: &mut Connection, batch: &mut Vec<Row>) -> Result<(), String> {
    let failed = |e: rusqlite::Error| format!("cannot write the journal: {e}");
    let tx = conn.transaction().map_err(failed)?;
    {
        let mut entry = tx
            .prepare_cached(
                "INSERT OR REPLACE INTO journal (run, key, seq, attempt, outcome, value) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .map_err(failed)?;
        let mut events =
            tx.prepare_cached("INSERT OR REPLACE INTO events (run, seq, event) VALUES (?1, ?2, ?3)").map_err(failed)?;
        // Each run's events of this group, as JSON lines from the first one's seq.
        let mut chunks: Vec<(i64, i64, String)> = Vec::new();
        for row in batch.iter() {
            match row {
                Row::Entry { run, key, seq, attempt, outcome, value } => {
                    entry.execute(params![run, key, seq, attempt, outcome, value]).map_err(failed)?;
                }
                Row::Event { run, seq, json } => match chunks.iter_mut().find(|(r, _, _)| r == run) {
                    Some((_, _, text)) => {
                        text.push('\n');
                        text.push_str(json);
                    }
                    None => chunks.push((*run, *seq, json.clone())),
                },
                Row::Flush(..) => {}
            }
        }
        for (run, seq, text) in &chunks {
            events.execute(params![run, seq, text]).map_err(failed)?;
        }
    }
    tx.commit().map_err(|e| format!("cannot commit the journal: {e}"))?;
    batch.retain(|row| matches!(row, Row::Flush(..)));
    Ok(())
}
