//! The queue of runs that workers take (`flowc submit`, `flowc worker`):
//! queued runs are rows of `runs` with a priority. A worker claims the
//! best runnable one with `FOR UPDATE SKIP LOCKED`, so two workers never
//! claim one run; the claim holds it for a short while, until the worker has
//! started it (its heartbeat then holds it: a run whose heartbeat is older
//! than the lease is claimable again, and is resumed from its journal).
//!
//! Order: the lowest *effective* priority first, then the oldest. A run's
//! effective priority is its level (0 critical … 4 background) less one for
//! every [`AGING_MS`] it has waited, so a low-priority run is passed over
//! for a while, never forever.

use super::PgStore;
use crate::{now_ms, program_hash};
use flow_vm::StoreResult;

/// The priority levels, highest first; a run's level is its index.
pub const PRIORITIES: [&str; 5] = ["critical", "high", "normal", "low", "background"];

/// Waiting this long raises a queued run by one level.
pub const AGING_MS: i64 = 30_000;

/// How long a claim holds a run before the worker has started it (starting
/// it clears the claim: from then on its heartbeat holds it).
const CLAIM_HOLD_MS: i64 = 10_000;

/// A run to queue.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct Submission<'a> {
    pub id: &'a str,
    pub flow: &'a str,
    pub input: &'a serde_json::Value,
    /// The whole program's source.
    pub source: &'a str,
    /// `name@version` when it is a stored flow.
    pub definition: Option<&'a str>,
    /// An index into [`PRIORITIES`].
    pub priority: u8,
}

impl<'a> Submission<'a> {
    pub fn new(id: &'a str, flow: &'a str, input: &'a serde_json::Value, source: &'a str) -> Submission<'a> {
        Submission { id, flow, input, source, definition: None, priority: 2 }
    }
}

impl PgStore {
    /// Queues a run for the workers.
    pub async fn submit(&self, run: &Submission<'_>) -> StoreResult<()> {
        let hash = program_hash(run.source);
        let (now, input, priority) = (now_ms(), run.input.to_string(), i16::from(run.priority.min(4)));
        self.execute(
            "INSERT INTO programs (hash, source) VALUES ($1, $2) ON CONFLICT (hash) DO NOTHING",
            &[&hash, &run.source],
        )
        .await?;
        self.execute(
            "INSERT INTO runs (id, flow, state, input, definition, program, started_ms, heartbeat_ms, priority, queued_ms)
             VALUES ($1, $2, 'queued', $3, $4, $5, $6, $6, $7, $6)",
            &[&run.id, &run.flow, &input, &run.definition, &hash, &now, &priority],
        )
        .await?;
        Ok(())
    }

    /// Claims the next runnable queued run for a while: a queued or
    /// interrupted one, or a running one whose heartbeat is older than
    /// `lease_ms` (its worker died). Returns its id.
    pub async fn claim(&self, lease_ms: i64) -> StoreResult<Option<String>> {
        let now = now_ms();
        let row = self
            .query_opt(
                "UPDATE runs SET claimed_until_ms = $1 + $3, first_claimed_ms = coalesce(first_claimed_ms, $1)
                 WHERE seq = (
                     SELECT seq FROM runs
                     WHERE priority IS NOT NULL AND coalesce(claimed_until_ms, 0) < $1
                       AND (state IN ('queued', 'interrupted') OR (state = 'running' AND heartbeat_ms < $1 - $2))
                     ORDER BY priority - ($1 - queued_ms) / $4, seq
                     LIMIT 1 FOR UPDATE SKIP LOCKED)
                 RETURNING id",
                &[&now, &lease_ms, &CLAIM_HOLD_MS, &AGING_MS],
            )
            .await?;
        Ok(row.map(|r| r.get(0)))
    }

    /// Queues a run again (a failed, cancelled, timed-out, interrupted or
    /// waiting one), at `priority` or its own; whether it was.
    pub async fn requeue(&self, id: &str, priority: Option<u8>) -> StoreResult<bool> {
        let priority = priority.map(|p| i16::from(p.min(4)));
        let updated = self
            .execute(
                "UPDATE runs SET state = 'queued', priority = coalesce($2::smallint, priority, 2::smallint), queued_ms = $3,
                     claimed_until_ms = NULL, ended_ms = NULL, cancel_requested = false
                 WHERE id = $1 AND state IN ('failed', 'cancelled', 'timed_out', 'interrupted', 'waiting')",
                &[&id, &priority, &now_ms()],
            )
            .await?;
        Ok(updated > 0)
    }

    /// Records that a claimed run cannot start here (its program no longer
    /// compiles, a model has no provider…): failed, with `error`, so that no
    /// worker claims it again until someone resumes it.
    pub async fn fail_claimed(&self, id: &str, error: &serde_json::Value) -> StoreResult<()> {
        let error = error.to_string();
        self.execute(
            "UPDATE runs SET state = 'failed', error = $2, ended_ms = $3, claimed_until_ms = NULL
             WHERE id = $1 AND state <> 'succeeded'",
            &[&id, &error, &now_ms()],
        )
        .await
        .map(|_| ())
    }

    /// Gives a claimed run back (its start was refused): claimable at once.
    pub async fn release(&self, id: &str) -> StoreResult<()> {
        self.execute("UPDATE runs SET claimed_until_ms = NULL WHERE id = $1", &[&id]).await.map(|_| ())
    }

    /// When each queued run was first claimed, in that order (for tests
    /// and operators: did priorities hold?).
    pub async fn claim_order(&self) -> StoreResult<Vec<(String, u8)>> {
        let rows = self
            .query(
                "SELECT id, priority FROM runs WHERE first_claimed_ms IS NOT NULL AND priority IS NOT NULL
                 ORDER BY first_claimed_ms, seq",
                &[],
            )
            .await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get::<_, i16>(1).clamp(0, 4) as u8)).collect())
    }
}

/// The level named `name` (`critical` … `background`).
pub fn priority(name: &str) -> Result<u8, String> {
    PRIORITIES
        .iter()
        .position(|p| *p == name)
        .map(|i| i as u8)
        .ok_or_else(|| format!("unknown priority `{name}`: one of {}", PRIORITIES.join(", ")))
}
