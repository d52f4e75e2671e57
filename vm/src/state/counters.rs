//! The scheduler's counters for one run: steps started, finished, failed,
//! skipped and retried, the steps cancelled while in flight, and the work
//! waiting on the world (tool and model calls, retry waits), by which an
//! `ask` tells that nothing but answers can move the run.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// How many cancelled steps a run names (the rest are counted).
pub(crate) const CANCELLED_NAMES: usize = 1000;

#[derive(Default)]
pub(crate) struct Counters {
    pub steps: AtomicU64,
    pub finished: AtomicU64,
    pub failed: AtomicU64,
    pub skipped: AtomicU64,
    pub retries: AtomicU64,
    /// `id` or `id[item]...` of the first steps cancelled in flight
    /// (up to [`CANCELLED_NAMES`]; a fan-out may cancel millions).
    cancelled: Mutex<Vec<String>>,
    /// How many steps were cancelled in flight.
    cancelled_total: AtomicU64,
    /// Set once the run has ended: work dropped after that (tasks of
    /// nested calls, aborted) is not reported step by step.
    pub ended: std::sync::atomic::AtomicBool,
    /// Tool and model calls and retry waits in flight.
    busy: AtomicU64,
    /// How often `busy` changed.
    moves: AtomicU64,
}

/// Counts one piece of outside work in flight while it lives.
pub(crate) struct Busy<'a>(&'a Counters);

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.busy.fetch_sub(1, Ordering::Relaxed);
        self.0.moves.fetch_add(1, Ordering::Relaxed);
    }
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

    /// Marks outside work in flight until the guard is dropped.
    pub fn busy(&self) -> Busy<'_> {
        self.busy.fetch_add(1, Ordering::Relaxed);
        self.moves.fetch_add(1, Ordering::Relaxed);
        Busy(self)
    }

    /// When nothing outside is in flight: a mark of how far the run has
    /// got; the same mark twice, some time apart, means it stood still.
    pub fn idle_mark(&self) -> Option<u64> {
        (self.busy.load(Ordering::Relaxed) == 0)
            .then(|| Counters::get(&self.moves) + Counters::get(&self.steps) + Counters::get(&self.finished))
    }

    /// Records a step cancelled in flight, named by `label()`.
    pub fn cancel(&self, label: impl FnOnce() -> String) {
        let n = self.cancelled_total.fetch_add(1, Ordering::Relaxed);
        if (n as usize) < CANCELLED_NAMES
            && let Ok(mut names) = self.cancelled.lock()
        {
            names.push(label());
        }
    }

    /// How many steps were cancelled in flight.
    pub fn cancelled_total(&self) -> u64 {
        self.cancelled_total.load(Ordering::Relaxed)
    }

    pub fn cancelled(&self) -> Vec<String> {
        self.cancelled.lock().map(|c| c.clone()).unwrap_or_default()
    }
}
