//! Per-model limits, shared by every call an engine makes to that model
//! (across steps, map items and runs): requests in flight (`concurrency`),
//! requests per minute (`rpm`), tokens per minute (`tpm`), and a pause for
//! everyone when the provider answers 429 with `Retry-After`.

use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// The limits of one model declaration.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct ModelLimits {
    pub concurrency: Option<u64>,
    pub rpm: Option<u64>,
    pub tpm: Option<u64>,
}

#[derive(Debug)]
pub struct Limiter {
    slots: Option<Arc<Semaphore>>,
    requests: Option<Mutex<Bucket>>,
    tokens: Option<Mutex<Bucket>>,
    paused_until: Mutex<Option<Instant>>,
}

/// Held while a request is in flight.
pub struct Permit {
    _slot: Option<OwnedSemaphorePermit>,
    estimated_tokens: u64,
}

/// A token bucket that may go into debt: taking always succeeds at once and
/// says how long the taker must wait, so callers are served in order.
#[derive(Debug)]
struct Bucket {
    capacity: f64,
    level: f64,
    per_sec: f64,
    at: Instant,
}

impl Bucket {
    fn per_minute(n: u64) -> Bucket {
        let capacity = n as f64;
        Bucket { capacity, level: capacity, per_sec: capacity / 60.0, at: Instant::now() }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.level = (self.level + elapsed * self.per_sec).min(self.capacity);
        self.at = now;
    }

    fn take(&mut self, n: f64) -> Duration {
        self.refill(Instant::now());
        self.level -= n.min(self.capacity);
        if self.level >= 0.0 { Duration::ZERO } else { Duration::from_secs_f64(-self.level / self.per_sec) }
    }

    /// Settles the difference between what was taken and what was used.
    fn settle(&mut self, difference: f64) {
        self.refill(Instant::now());
        self.level = (self.level - difference).min(self.capacity);
    }
}

impl Limiter {
    pub fn new(limits: ModelLimits) -> Limiter {
        Limiter {
            slots: limits.concurrency.map(|n| Arc::new(Semaphore::new(usize::try_from(n).unwrap_or(usize::MAX)))),
            requests: limits.rpm.map(|n| Mutex::new(Bucket::per_minute(n))),
            tokens: limits.tpm.map(|n| Mutex::new(Bucket::per_minute(n))),
            paused_until: Mutex::new(None),
        }
    }

    /// Waits until a request estimated at `tokens` tokens may be sent.
    pub async fn acquire(&self, tokens: u64) -> Permit {
        loop {
            let until = self.paused_until.lock().ok().and_then(|p| *p);
            match until {
                Some(t) if t > Instant::now() => tokio::time::sleep_until(t).await,
                _ => break,
            }
        }
        let slot = match &self.slots {
            // The semaphore is never closed, so acquiring only fails if it were.
            Some(s) => s.clone().acquire_owned().await.ok(),
            None => None,
        };
        let mut wait = Duration::ZERO;
        if let Some(b) = &self.requests {
            wait = wait.max(b.lock().map_or(Duration::ZERO, |mut b| b.take(1.0)));
        }
        if let Some(b) = &self.tokens {
            wait = wait.max(b.lock().map_or(Duration::ZERO, |mut b| b.take(tokens as f64)));
        }
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        Permit { _slot: slot, estimated_tokens: tokens }
    }

    /// Records what a request really used (its permit held the estimate).
    pub fn settle(&self, permit: &Permit, used_tokens: u64) {
        if let Some(Ok(mut b)) = self.tokens.as_ref().map(Mutex::lock) {
            b.settle(used_tokens as f64 - permit.estimated_tokens as f64);
        }
    }

    /// Holds back every request to this model for `wait` (a 429's `Retry-After`).
    pub fn pause(&self, wait: Duration) {
        if let Ok(mut p) = self.paused_until.lock() {
            let until = Instant::now() + wait;
            if p.is_none_or(|t| t < until) {
                *p = Some(until);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn requests_per_minute_are_spread_out() {
        let limiter = Limiter::new(ModelLimits { rpm: Some(60), ..Default::default() });
        let start = Instant::now();
        // The bucket starts full: 60 at once, then one a second.
        for _ in 0..62 {
            limiter.acquire(0).await;
        }
        assert_eq!(start.elapsed(), Duration::from_secs(2));
    }

    #[tokio::test(start_paused = true)]
    async fn tokens_are_settled_after_the_call() {
        let limiter = Limiter::new(ModelLimits { tpm: Some(600), ..Default::default() });
        let start = Instant::now();
        let permit = limiter.acquire(100).await;
        // The call used 700 tokens, not 100: the next caller waits for the overdraft.
        limiter.settle(&permit, 700);
        limiter.acquire(60).await;
        assert_eq!(start.elapsed(), Duration::from_secs(16));
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_holds_everyone_back() {
        let limiter = Limiter::new(ModelLimits::default());
        let start = Instant::now();
        limiter.pause(Duration::from_secs(3));
        limiter.acquire(0).await;
        assert_eq!(start.elapsed(), Duration::from_secs(3));
    }
}
