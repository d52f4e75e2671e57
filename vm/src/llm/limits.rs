//! Per-model limits, shared by every call an engine makes to that model
//! (across steps, map items and runs): requests in flight (`concurrency`),
//! requests per minute (`rpm`), tokens per minute (`tpm`), and a pause for
//! everyone when the provider answers 429 with `Retry-After`. With shared
//! limits (`shared.rs`), `concurrency`, `rpm` and pauses also hold across
//! the processes that share them.

use super::shared::{SharedLimits, SharedModel, Taken};
use flow_compiler::ir::Model;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// The most tokens one call is taken to have used. A provider that reports
/// more is wrong (no model reads or writes that much in one request); its
/// figure is clamped to this, so that it can neither stall the model's
/// `tpm` bucket nor overflow a run's totals.
pub const MAX_TOKENS_PER_CALL: u64 = 10_000_000;

/// The limits of one model declaration.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct ModelLimits {
    pub concurrency: Option<u64>,
    pub rpm: Option<u64>,
    pub tpm: Option<u64>,
}

pub struct Limiter {
    slots: Option<Arc<Semaphore>>,
    requests: Option<Mutex<Bucket>>,
    tokens: Option<Mutex<Bucket>>,
    paused_until: Mutex<Option<Instant>>,
    shared: Option<Shared>,
}

impl std::fmt::Debug for Limiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limiter").field("shared", &self.shared.as_ref().map(|s| &s.key)).finish_non_exhaustive()
    }
}

/// A model's limits held with other processes.
struct Shared {
    limits: Arc<dyn SharedLimits>,
    key: String,
    concurrency: Option<u64>,
    rpm: Option<u64>,
    hold: Duration,
}

/// Held while a request is in flight.
pub struct Permit {
    _slot: Option<OwnedSemaphorePermit>,
    estimated_tokens: u64,
    shared: Option<SharedSlot>,
}

/// A deployment-wide slot, given back when the request ends (0: nothing to give back).
struct SharedSlot {
    limits: Arc<dyn SharedLimits>,
    key: String,
    slot: i64,
}

impl Permit {
    /// Ends the request, giving a deployment-wide slot back before it
    /// returns (a permit merely dropped, by a cancelled call, gives it
    /// back in the background).
    pub async fn release(mut self) {
        if let Some(mut shared) = self.shared.take() {
            let slot = std::mem::replace(&mut shared.slot, 0);
            shared.limits.give_back(&shared.key, slot).await;
        }
    }
}

impl Drop for SharedSlot {
    fn drop(&mut self) {
        if self.slot == 0 {
            return;
        }
        let (limits, key, slot) = (self.limits.clone(), std::mem::take(&mut self.key), self.slot);
        // Given back in the background: a drop cannot wait. A slot never
        // given back (the process died) expires after its hold.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move { limits.give_back(&key, slot).await });
        }
    }
}

/// The longest wait between two tries for a shared slot.
const SHARED_RETRY_MAX: Duration = Duration::from_millis(500);

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
        // The checker requires at least 1; a zero from elsewhere must not divide by zero.
        let capacity = n.max(1) as f64;
        Bucket { capacity, level: capacity, per_sec: capacity / 60.0, at: Instant::now() }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.level = (self.level + elapsed * self.per_sec).min(self.capacity);
        self.at = now;
    }

    /// Takes `n` (at most a full bucket) and says how long to wait for it:
    /// callers that go into debt wait in the order they came.
    fn take(&mut self, n: f64) -> Duration {
        self.refill(Instant::now());
        self.level -= n.min(self.capacity);
        if self.level >= 0.0 {
            return Duration::ZERO;
        }
        // `try_from`: a figure out of range must not panic.
        Duration::try_from_secs_f64(-self.level / self.per_sec).unwrap_or(Duration::MAX)
    }

    /// Settles the difference between what was taken and what was used. One
    /// call's overuse costs at most a full bucket, so a wrong report delays
    /// later calls by at most a minute.
    fn settle(&mut self, difference: f64) {
        self.refill(Instant::now());
        self.level = (self.level - difference.min(self.capacity)).min(self.capacity);
    }
}

impl Limiter {
    pub fn new(limits: ModelLimits) -> Limiter {
        Limiter {
            slots: limits.concurrency.map(|n| Arc::new(Semaphore::new(usize::try_from(n).unwrap_or(usize::MAX)))),
            requests: limits.rpm.map(|n| Mutex::new(Bucket::per_minute(n))),
            tokens: limits.tpm.map(|n| Mutex::new(Bucket::per_minute(n))),
            paused_until: Mutex::new(None),
            shared: None,
        }
    }

    /// Holds `concurrency`, `rpm` and pauses with the other processes sharing `limits` too.
    fn sharing(mut self, limits: Arc<dyn SharedLimits>, key: String, model: ModelLimits, hold: Duration) -> Limiter {
        self.shared = Some(Shared { limits, key, concurrency: model.concurrency, rpm: model.rpm, hold });
        self
    }

    /// Waits for a deployment-wide slot. A store that cannot answer does
    /// not stop calls: the process's own limits still hold.
    async fn take_shared(&self) -> Option<SharedSlot> {
        let shared = self.shared.as_ref()?;
        let model =
            SharedModel { key: &shared.key, concurrency: shared.concurrency, rpm: shared.rpm, hold: shared.hold };
        loop {
            match shared.limits.try_take(model).await {
                Ok(Taken::Slot(slot)) => {
                    return Some(SharedSlot { limits: shared.limits.clone(), key: shared.key.clone(), slot });
                }
                Ok(Taken::Wait(wait)) => {
                    tokio::time::sleep(wait.clamp(Duration::from_millis(10), SHARED_RETRY_MAX)).await
                }
                Err(_) => return None,
            }
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
        let shared = self.take_shared().await;
        Permit { _slot: slot, estimated_tokens: tokens, shared }
    }

    /// Records what a request really used (its permit held the estimate).
    pub fn settle(&self, permit: &Permit, used_tokens: u64) {
        if let Some(Ok(mut b)) = self.tokens.as_ref().map(Mutex::lock) {
            let used = used_tokens.min(MAX_TOKENS_PER_CALL);
            b.settle(used as f64 - permit.estimated_tokens as f64);
        }
    }

    /// Holds back every request to this model for `wait` (a 429's `Retry-After`).
    /// A wait longer than an hour is taken as an hour (a host provider may
    /// say anything).
    pub fn pause(&self, wait: Duration) {
        let wait = wait.min(Duration::from_secs(3600));
        if let Ok(mut p) = self.paused_until.lock() {
            let until = Instant::now() + wait;
            if p.is_none_or(|t| t < until) {
                *p = Some(until);
            }
        }
        if let (Some(shared), Ok(runtime)) = (&self.shared, tokio::runtime::Handle::try_current()) {
            let (limits, key) = (shared.limits.clone(), shared.key.clone());
            let now_ms =
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
            let until_ms = now_ms + wait.as_millis() as i64;
            runtime.spawn(async move { limits.pause(&key, until_ms).await });
        }
    }
}

/// One limiter per model, shared by all of an engine's runs.
#[derive(Default)]
pub(crate) struct Limiters {
    limiters: Mutex<HashMap<String, Arc<Limiter>>>,
}

impl std::fmt::Debug for Limiters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Limiters { .. }")
    }
}

impl Limiters {
    /// The limiter of a model declaration. Declarations with the same
    /// name, provider, model id and limits share one, across runs.
    /// Every model has one, even without declared limits: a 429's
    /// `Retry-After` holds back all of the model's calls.
    pub fn limiter(&self, model: &Model, shared: Option<Arc<dyn SharedLimits>>) -> Option<Arc<Limiter>> {
        let o = &model.options;
        let limits = ModelLimits { concurrency: o.concurrency, rpm: o.rpm, tpm: o.tpm };
        let key = format!("{}|{}|{}|{:?}", model.name, model.provider, model.model_id, limits);
        // Held at most the request's timeout and a margin, if never given back.
        let timeout = o.timeout_ms.map_or(super::DEFAULT_REQUEST_TIMEOUT, Duration::from_millis);
        let hold = timeout + Duration::from_secs(30);
        let mut map = self.limiters.lock().unwrap_or_else(|e| e.into_inner());
        let limiter = map.entry(key.clone()).or_insert_with(|| {
            let limiter = Limiter::new(limits);
            Arc::new(match shared {
                Some(shared) => limiter.sharing(shared, key, limits, hold),
                None => limiter,
            })
        });
        Some(limiter.clone())
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
    async fn an_absurd_token_count_costs_at_most_a_minute() {
        let limiter = Limiter::new(ModelLimits { tpm: Some(60), ..Default::default() });
        let start = Instant::now();
        let permit = limiter.acquire(10).await;
        limiter.settle(&permit, u64::MAX);
        limiter.acquire(1).await;
        assert!(start.elapsed() <= Duration::from_secs(61), "{:?}", start.elapsed());
        limiter.acquire(u64::MAX).await;
        assert!(start.elapsed() <= Duration::from_secs(122), "{:?}", start.elapsed());
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
