//! Why a run stops before its flow returns: cancelled (Ctrl-C,
//! `Run::cancel`, `flowc cancel`), interrupted (its process is stopping:
//! SIGTERM) or suspended (it only waits for answers). One token for all
//! three, so the run's task watches a single future; the first reason wins.

use crate::events::RunStatus;
use std::sync::atomic::{AtomicU8, Ordering};
use tokio_util::sync::CancellationToken;

#[derive(Debug, Default)]
pub(crate) struct Stop {
    token: CancellationToken,
    reason: AtomicU8,
}

const CANCELLED: u8 = 1;
const INTERRUPTED: u8 = 2;
const WAITING: u8 = 3;

impl Stop {
    /// Stops the run for `status` (cancelled, interrupted or waiting),
    /// unless it was stopped for another reason already.
    pub fn stop(&self, status: RunStatus) {
        let code = match status {
            RunStatus::Interrupted => INTERRUPTED,
            RunStatus::Waiting => WAITING,
            _ => CANCELLED,
        };
        let _ = self.reason.compare_exchange(0, code, Ordering::AcqRel, Ordering::Acquire);
        self.token.cancel();
    }

    /// Why the run was stopped (cancelled if it was not).
    pub fn reason(&self) -> RunStatus {
        match self.reason.load(Ordering::Acquire) {
            INTERRUPTED => RunStatus::Interrupted,
            WAITING => RunStatus::Waiting,
            _ => RunStatus::Cancelled,
        }
    }

    /// Resolves once the run is stopped.
    pub async fn stopped(&self) {
        self.token.cancelled().await
    }
}
