//! Model calls, tokens and cost over one run.

use crate::models::Usage;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Default)]
pub(crate) struct Accounting {
    pub model_calls: AtomicU64,
    pub input_tokens: AtomicU64,
    pub output_tokens: AtomicU64,
    pub cost_usd: Mutex<Option<f64>>,
    pub cache_hits: AtomicU64,
    pub cache_saved_tokens: AtomicU64,
    pub cache_saved_usd: Mutex<Option<f64>>,
}

impl Accounting {
    pub fn add(&self, usage: Usage, cost: Option<f64>) {
        self.model_calls.fetch_add(1, Ordering::Relaxed);
        // Saturating: usage is clamped per call, but totals must never wrap.
        let add = |counter: &AtomicU64, n: u64| {
            let _ = counter.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |t| Some(t.saturating_add(n)));
        };
        add(&self.input_tokens, usage.input_tokens);
        add(&self.output_tokens, usage.output_tokens);
        if let (Some(cost), Ok(mut total)) = (cost, self.cost_usd.lock()) {
            *total = Some(total.unwrap_or(0.0) + cost);
        }
    }

    /// A model call answered from the cache: what it would have used.
    pub fn cache_hit(&self, usage: Usage, cost: Option<f64>) {
        self.cache_hits.fetch_add(1, Ordering::Relaxed);
        let tokens = usage.input_tokens.saturating_add(usage.output_tokens);
        let _ = self
            .cache_saved_tokens
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |t| Some(t.saturating_add(tokens)));
        if let (Some(cost), Ok(mut total)) = (cost, self.cache_saved_usd.lock()) {
            *total = Some(total.unwrap_or(0.0) + cost);
        }
    }
}
