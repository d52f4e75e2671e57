//! Group commit on Postgres: the runs' journal entries and events are
//! queued and written by one task, as many as are queued per transaction,
//! in one statement per table (arrays unnested server-side). As on SQLite,
//! a run waits for the database once, at its end ([`PgWriter::flush`]).

use crate::writer::{Lost, Row};
use deadpool_postgres::Pool;
use std::collections::HashMap;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

/// At most this many rows per transaction.
const MAX_BATCH: usize = 8192;

/// Waits before writing a group again after a failure (a restarting database).
const RETRY_AFTER: [std::time::Duration; 3] = [
    std::time::Duration::from_millis(100),
    std::time::Duration::from_millis(1000),
    std::time::Duration::from_millis(3000),
];

/// The writer task's queue.
#[derive(Clone)]
pub(crate) struct PgWriter {
    queue: UnboundedSender<Row>,
}

impl PgWriter {
    /// Starts the writer task (on the current tokio runtime).
    pub fn start(pool: Pool) -> PgWriter {
        let (queue, rows) = unbounded_channel();
        tokio::spawn(write_loop(pool, rows));
        PgWriter { queue }
    }

    /// Queues a row; never blocks.
    pub fn push(&self, row: Row) {
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

async fn write_loop(pool: Pool, mut rows: UnboundedReceiver<Row>) {
    let mut lost = Lost::default();
    while let Some(first) = rows.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rows.try_recv() {
                Ok(row) => batch.push(row),
                Err(_) => break,
            }
        }
        let mut result = write_batch(&pool, &batch).await;
        for wait in RETRY_AFTER {
            if result.is_ok() {
                break;
            }
            tokio::time::sleep(wait).await;
            result = write_batch(&pool, &batch).await;
        }
        if let Err(e) = result {
            lost.group(&batch, &e);
        }
        lost.answer(batch);
    }
}

/// The batch's rows in one transaction: the latest entry per key (a key
/// may complete twice in one group, as a retried step does), each run's
/// events as one chunk of JSON lines.
async fn write_batch(pool: &Pool, batch: &[Row]) -> Result<(), String> {
    let failed = |e: &dyn std::fmt::Display| format!("cannot write the journal: {e}");
    let mut latest: HashMap<(i64, &str), usize> = HashMap::new();
    let mut chunks: Vec<(i64, i64, String)> = Vec::new();
    for (i, row) in batch.iter().enumerate() {
        match row {
            Row::Entry { run, key, .. } => {
                latest.insert((*run, key.as_str()), i);
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
    if latest.is_empty() && chunks.is_empty() {
        return Ok(());
    }
    let mut entries: Vec<usize> = latest.into_values().collect();
    entries.sort_unstable();
    let (mut runs, mut keys, mut seqs, mut attempts, mut outcomes, mut values) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for i in entries {
        if let Row::Entry { run, key, seq, attempt, outcome, value } = &batch[i] {
            runs.push(*run);
            keys.push(key.as_str());
            seqs.push(*seq);
            attempts.push(*attempt as i32);
            outcomes.push(i16::from(*outcome));
            values.push(value.as_deref());
        }
    }
    let (event_runs, event_seqs, event_texts): (Vec<i64>, Vec<i64>, Vec<&str>) = {
        let mut r = (Vec::new(), Vec::new(), Vec::new());
        for (run, seq, text) in &chunks {
            r.0.push(*run);
            r.1.push(*seq);
            r.2.push(text.as_str());
        }
        r
    };
    let mut client = pool.get().await.map_err(|e| failed(&e))?;
    let tx = client.transaction().await.map_err(|e| failed(&e))?;
    if !runs.is_empty() {
        tx.execute(
            "INSERT INTO journal (run, key, seq, attempt, outcome, value)
             SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::int[], $5::smallint[], $6::text[])
             ON CONFLICT (run, key) DO UPDATE SET seq = excluded.seq, attempt = excluded.attempt,
                 outcome = excluded.outcome, value = excluded.value",
            &[&runs, &keys, &seqs, &attempts, &outcomes, &values],
        )
        .await
        .map_err(|e| failed(&e))?;
    }
    if !event_runs.is_empty() {
        tx.execute(
            "INSERT INTO events (run, seq, event) SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[])
             ON CONFLICT (run, seq) DO UPDATE SET event = excluded.event",
            &[&event_runs, &event_seqs, &event_texts],
        )
        .await
        .map_err(|e| failed(&e))?;
    }
    tx.commit().await.map_err(|e| format!("cannot commit the journal: {e}"))
}
