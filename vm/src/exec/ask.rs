//! `ask`: a step that waits for a person. The wait is recorded in the store
//! with its question, the answer's schema and a durable deadline (the
//! step's `timeout`, counted from when the run first asked); the step polls
//! the store for the answer. When nothing but answers can move the run any
//! more, the run is suspended (`waiting`) so that its process may exit; a
//! resume asks again and finds the answer, or waits again.

use crate::events::{Event, StepError};
use crate::state::{Place, RunCtx};
use crate::store::Waiting;
use crate::value::{Value, from_json_typed};
use flow_compiler::ir::{AskAction, ErrorKind};
use std::fmt::Write;
use std::time::Duration;
use tokio::time::Instant;

/// How often a waiting `ask` reads the store for its answer.
pub(crate) const POLL: Duration = Duration::from_millis(500);

/// Waits for the answer to `ask` at `place`.
pub(crate) async fn wait(ctx: &RunCtx, place: Place<'_>, ask: &AskAction, prompt: String) -> Result<Value, StepError> {
    let step = place.step;
    let fail = |kind, message: String| StepError::new(kind, step.id.as_str(), message);
    // A test or the host scripts the answer: no wait.
    if let Some(answer) = ctx.scripted(&step.name, &ask.output) {
        let json = answer.map_err(|e| StepError::from_tool(step.id.as_str(), "the scripted answer", e))?;
        return fits(ctx, ask, &json).map_err(|m| fail(ErrorKind::Value, m));
    }
    let Some(store) = ctx.store() else {
        return Err(fail(ErrorKind::Store, "`ask` needs a store to wait in, or a mocked answer".into()));
    };
    let store_failed = |e: crate::store::StoreError| fail(ErrorKind::Store, e.to_string());
    let key = key(place);
    let now = crate::resume::now_ms();
    let deadline_ms = step.timeout_ms.map(|ms| now.saturating_add(ms.min(i64::MAX as u64) as i64));
    let asked =
        Waiting { key, node: place.node.to_string(), prompt, schema: ask.schema.clone(), deadline_ms, answer: None };
    let mut row = store.ask(&ctx.run_id, &asked).await.map_err(store_failed)?;
    // The stored deadline is the first one (a resumed run keeps it); this
    // process counts down on its own clock from what is left of it.
    let deadline = row.deadline_ms.map(|d| Instant::now() + Duration::from_millis((d - now).max(0) as u64));
    if row.answer.is_none() {
        ctx.emit(|| Event::Waiting {
            step: step.id.to_string(),
            item: place.item.to_vec(),
            key: row.key.clone(),
            prompt: row.prompt.clone(),
            at_ms: ctx.at_ms(),
        });
    }
    let mut still = None;
    loop {
        if let Some(answer) = &row.answer {
            return fits(ctx, ask, answer).map_err(|m| fail(ErrorKind::Value, m));
        }
        let next = Instant::now() + POLL;
        match deadline {
            Some(d) if d <= Instant::now() => return Err(timed_out(step, &row.key)),
            Some(d) => tokio::time::sleep_until(next.min(d)).await,
            None => tokio::time::sleep_until(next).await,
        }
        if !ctx.wait_for_answers {
            suspend_if_still(ctx, &mut still);
        }
        // The store reads the row first: a poll does not write.
        row = store.ask(&ctx.run_id, &asked).await.map_err(store_failed)?;
    }
}

/// Suspends the run when, twice in a row, nothing outside was in flight and
/// nothing moved: only answers can move it now.
fn suspend_if_still(ctx: &RunCtx, still: &mut Option<u64>) {
    let mark = ctx.counters.idle_mark();
    if mark.is_some() && mark == *still {
        ctx.stop.stop(crate::events::RunStatus::Waiting);
    }
    *still = mark;
}

/// The ask's key: the call path, its node and the item indexes, as
/// `flowc status` shows it and `flowc answer` names it.
fn key(place: Place<'_>) -> String {
    // Like a step's journal key, without the attempts of enclosing steps.
    let mut key = format!("{}{}", crate::journal::without_attempts(place.call.prefix()), place.node);
    for i in place.item {
        let _ = write!(key, "[{i}]");
    }
    // The ask step retried asks again, with a deadline of its own (an ask
    // in a `catch` runs once, whatever attempt the step failed at).
    let in_catch = place.step.catches.iter().any(|c| c.id == *place.node);
    if place.attempt > 1 && !in_catch {
        let _ = write!(key, "@{}", place.attempt);
    }
    key
}

fn fits(ctx: &RunCtx, ask: &AskAction, json: &serde_json::Value) -> Result<Value, String> {
    from_json_typed(json, &ask.output, &ctx.program.types)
        .map_err(|m| format!("the answer does not fit `{}`: {m}", ask.output))
}

fn timed_out(step: &flow_compiler::ir::Step, key: &str) -> StepError {
    let ms = step.timeout_ms.unwrap_or(0);
    StepError::new(
        ErrorKind::Timeout,
        step.id.as_str(),
        format!("nobody answered `{key}` within its timeout of {}", crate::fmt_duration(Duration::from_millis(ms))),
    )
}
