//! Model limits held across processes. An engine's own limiter holds a
//! model's `concurrency`, `rpm` and `tpm` for the runs of that engine; with a
//! [`SharedLimits`] (a store that several processes share, such as the
//! Postgres store), `concurrency` and `rpm` hold for the whole deployment
//! and a 429's pause reaches every process. `tpm` stays per process: tokens
//! are known only after a call, and settling them across processes would
//! cost a write per call for an estimate.

use crate::store::StoreError;
use futures::future::BoxFuture;
use std::time::Duration;

/// A model's deployment-wide limits, as one try to take a slot sees them.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct SharedModel<'a> {
    /// The model as every process names it (declaration name, provider, model id, limits).
    pub key: &'a str,
    /// Requests in flight at once, across every process.
    pub concurrency: Option<u64>,
    /// Requests started in any 60 seconds, across every process.
    pub rpm: Option<u64>,
    /// How long a slot is held at most if its holder never gives it back
    /// (it died): the model's request timeout and a margin.
    pub hold: Duration,
}

impl<'a> SharedModel<'a> {
    /// A model without limits (a pause can still hold it back), held a minute at most.
    pub fn default_for(key: &'a str) -> SharedModel<'a> {
        SharedModel { key, concurrency: None, rpm: None, hold: Duration::from_secs(60) }
    }
}

/// What a try to take a slot gives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Taken {
    /// A slot, given back with [`SharedLimits::give_back`].
    Slot(i64),
    /// None now: try again after about this long.
    Wait(Duration),
}

/// Limits shared by the processes of a deployment.
pub trait SharedLimits: Send + Sync {
    /// Takes a slot of `model` if its limits and any pause allow one now.
    fn try_take<'a>(&'a self, model: SharedModel<'a>) -> BoxFuture<'a, Result<Taken, StoreError>>;
    /// Gives a slot back.
    fn give_back<'a>(&'a self, key: &'a str, slot: i64) -> BoxFuture<'a, ()>;
    /// Holds back every process's calls to `key` until `until_ms` (Unix milliseconds).
    fn pause<'a>(&'a self, key: &'a str, until_ms: i64) -> BoxFuture<'a, ()>;
}
