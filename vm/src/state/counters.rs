//! The scheduler's counters for one run: steps started, finished, failed,
//! skipped and retried, and the steps cancelled while in flight.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Default)]
pub(crate) struct Counters {
    pub steps: AtomicU64,
    pub finished: AtomicU64,
    pub failed: AtomicU64,
    pub skipped: AtomicU64,
    pub retries: AtomicU64,
    /// `id` or `id[item]...` of each step cancelled in flight.
    pub cancelled: Mutex<Vec<String>>,
}

impl Counters {
    #[inline]
    pub fn add(counter: &AtomicU64) -> u64 {
        counter.fetch_add(1, Ordering::Relaxed) + 1
    }

    #[inline]
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    pub fn cancelled(&self) -> Vec<String> {
        self.cancelled.lock().map(|c| c.clone()).unwrap_or_default()
    }
}
