//! Why a run stops before its flow returns: cancelled (Ctrl-C,
//! `Run::cancel`, `flowc cancel`), interrupted (its process is stopping:
//! SIGTERM), suspended (it only waits for answers) or past its deadline.
//! One token for all four, so the run's task watches a single future; the
//! first reason wins. The deadline is also read by code that does not
//! await (pure evaluation, the scheduler between steps), through
//! [`Stop::expired`], so CPU-bound work cannot outlive it.

use crate::events::RunStatus;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Default)]
pub(crate) struct Stop {
    token: CancellationToken,
    /// The token's state where it is read per step: one atomic load (the
    /// token's own `is_cancelled` takes a lock).
    stopped: AtomicBool,
    reason: AtomicU8,
    deadline: Option<Instant>,
}

const CANCELLED: u8 = 1;
const INTERRUPTED: u8 = 2;
const WAITING: u8 = 3;
const TIMED_OUT: u8 = 4;

impl Stop {
    /// A token that also stops the run at `deadline`.
    pub fn with_deadline(deadline: Option<Instant>) -> Stop {
        Stop { deadline, ..Stop::default() }
    }

    /// Whether the run is stopped, stopping it first if its deadline
    /// passed. Costs a clock read when there is a deadline: call it every
    /// so often, not per operation.
    pub fn expired(&self) -> bool {
        if self.is_stopped() {
            return true;
        }
        if self.deadline.is_some_and(|d| Instant::now() >= d) {
            self.stop(RunStatus::TimedOut);
            return true;
        }
        false
    }

    /// Whether the run was stopped (without looking at the clock).
    #[inline]
    pub fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::Acquire)
    }

    /// Stops the run for `status` (cancelled, interrupted, waiting or timed out),
    /// unless it was stopped for another reason already.
    pub fn stop(&self, status: RunStatus) {
        let code = match status {
            RunStatus::Interrupted => INTERRUPTED,
            RunStatus::Waiting => WAITING,
            RunStatus::TimedOut => TIMED_OUT,
            _ => CANCELLED,
        };
        let _ = self.reason.compare_exchange(0, code, Ordering::AcqRel, Ordering::Acquire);
        self.stopped.store(true, Ordering::Release);
        self.token.cancel();
    }

    /// Why the run was stopped (cancelled if it was not).
    pub fn reason(&self) -> RunStatus {
        match self.reason.load(Ordering::Acquire) {
            INTERRUPTED => RunStatus::Interrupted,
            WAITING => RunStatus::Waiting,
            TIMED_OUT => RunStatus::TimedOut,
            _ => RunStatus::Cancelled,
        }
    }

    /// Resolves once the run is stopped.
    pub async fn stopped(&self) {
        self.token.cancelled().await
    }
}
