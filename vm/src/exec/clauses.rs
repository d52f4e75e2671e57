//! A step's clauses, apart from the recursion that runs actions: when to
//! retry and how long to wait, the `timeout` wrapper, which `catch`
//! applies, the error value it binds, and the guard that reports a step
//! cancelled when it is dropped in flight.

use crate::eval::Frame;
use crate::events::{Event, StepError};
use crate::state::RunCtx;
use crate::value::{Fields, Value};
use flow_compiler::ir::{Catch, ErrorKind, Step};
use std::sync::Arc;
use std::time::Duration;

/// The wait before the next attempt, if `step` retries `error` after
/// `attempt` attempts; `None` when it fails now.
pub(crate) fn retry_delay(ctx: &RunCtx, step: &Step, attempt: u32, error: &StepError) -> Option<Duration> {
    // A stopped run (cancelled, past its deadline) retries nothing.
    if ctx.stop.is_stopped() {
        return None;
    }
    let retry =
        step.retry.as_ref().filter(|r| attempt <= r.retries && error.kind.retryable() && r.on.contains(&error.kind))?;
    // A `Retry-After` from the provider or service is a floor under the backoff.
    Some(ctx.delay(retry, attempt).max(Duration::from_millis(error.retry_after_ms.unwrap_or(0))))
}

/// The error of an attempt that ran past the step's `timeout` of `ms`.
pub(crate) fn timed_out(step: &Step, ms: u64) -> StepError {
    StepError::new(
        ErrorKind::Timeout,
        step.id.as_str(),
        format!("the step took longer than its timeout of {}", crate::fmt_duration(Duration::from_millis(ms))),
    )
}

/// The first `catch` of `step` that applies to `error`, with its binding set.
pub(crate) fn choose_catch<'p>(
    ctx: &RunCtx,
    step: &'p Step,
    frame: &Arc<Frame>,
    error: &StepError,
) -> Option<&'p Catch> {
    step.catches.iter().find(|catch| {
        if let Some(slot) = catch.binding {
            frame.set(slot, error_value(error));
        }
        match &catch.guard {
            None => true,
            Some(guard) => matches!(ctx.eval(guard, frame), Ok(Value::Bool(true))),
        }
    })
}

/// The value `catch e` binds.
fn error_value(error: &StepError) -> Value {
    let mut fields = Fields::new();
    fields.insert(Arc::from("kind"), Value::str(error.kind.as_str()));
    fields.insert(Arc::from("message"), Value::str(&error.message));
    fields.insert(Arc::from("step"), Value::str(&error.step));
    fields.insert(Arc::from("raw"), error.raw.as_deref().map_or(Value::Null, Value::str));
    Value::object(fields)
}

/// Marks a step in flight; if it is dropped before it finishes (the run was
/// cancelled, timed out, or a sibling failed), the step is reported cancelled.
pub(crate) struct InFlight<'c> {
    pub ctx: &'c RunCtx,
    pub step: &'c Step,
    pub item: &'c [u32],
    pub ended: bool,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if self.ended || self.ctx.counters.ended.load(std::sync::atomic::Ordering::Relaxed) {
            return;
        }
        self.ctx.counters.cancel(|| {
            if self.item.is_empty() {
                self.step.id.to_string()
            } else {
                let items: Vec<String> = self.item.iter().map(u32::to_string).collect();
                format!("{}[{}]", self.step.id, items.join("]["))
            }
        });
        self.ctx.emit(|| Event::StepCancelled {
            step: self.step.id.to_string(),
            item: self.item.to_vec(),
            at_ms: self.ctx.at_ms(),
        });
    }
}
