//! Running a program: [`drive`] runs a whole flow under the run's deadline
//! and cancellation; `scheduler.rs` runs blocks, steps and actions, with
//! clauses (`clauses.rs`), maps (`map.rs`) and tool calls and model options
//! (`actions.rs`) beside it.

mod actions;
mod ask;
mod clauses;
mod loops;
mod map;
mod pending;
mod scheduler;

use crate::events::{Event, RunStatus, StepError};
use crate::state::{CallPath, RunCtx};
use crate::value::Value;
use flow_compiler::ir::ErrorKind;
use scheduler::run_flow;
use std::sync::Arc;
use std::time::Duration;

/// How often a run kept in a store beats (and reads a cancel request).
const BEAT: Duration = Duration::from_secs(1);

/// Beats for a run kept in a store, on a task of its own, and cancels the
/// run when someone asks (from another process). `None` without a store.
fn watch(ctx: &RunCtx) -> Option<tokio::task::JoinHandle<()>> {
    let store = ctx.store()?.clone();
    let (id, stop) = (ctx.run_id.clone(), ctx.stop.clone());
    Some(tokio::spawn(async move {
        let mut beat = tokio::time::interval(BEAT);
        beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            beat.tick().await;
            // A store that fails to answer a beat is tried again at the next one.
            if let Ok(control) = store.beat(&id).await
                && control.cancel
            {
                return stop.stop(RunStatus::Cancelled);
            }
        }
    }))
}

/// Runs a whole flow under the run's deadline and cancellation, reporting
/// how it ended.
pub(crate) async fn drive(
    ctx: Arc<RunCtx>,
    flow: usize,
    args: Vec<Value>,
    deadline: Option<Duration>,
) -> crate::RunOutcome {
    let name = ctx.program.flows[flow].name.clone();
    ctx.emit(|| Event::RunStarted { flow: name, at_ms: 0.0 });
    let beating = watch(&ctx);
    let result = {
        let mut run = run_flow(&ctx, flow, args, CallPath::default());
        let timer = async {
            match deadline {
                Some(d) => tokio::time::sleep(d).await,
                None => std::future::pending().await,
            }
        };
        let ended = tokio::select! {
            r = &mut run => Ok(r),
            _ = ctx.stop.stopped() => Err(ctx.stop.reason()),
            _ = timer => {
                // Work on tasks of its own (nested calls) sees the stop too.
                ctx.stop.stop(RunStatus::TimedOut);
                Err(RunStatus::TimedOut)
            }
        };
        match ended {
            // A run that failed because it was stopped (work that noticed
            // the deadline or a cancel itself) ended for that reason.
            Ok(Err(_)) if ctx.stop.is_stopped() => Err(ctx.stop.reason()),
            other => other,
        }
        // `run` is dropped here: steps still in flight report themselves cancelled.
    };
    // Nested calls on tasks of their own are aborted, and end later: silently.
    ctx.counters.ended.store(true, std::sync::atomic::Ordering::Relaxed);
    let (status, output, error) = match result {
        Ok(Ok(v)) => (RunStatus::Succeeded, Some(v.to_json()), None),
        Ok(Err(e)) => (RunStatus::Failed, None, Some(e)),
        Err(RunStatus::TimedOut) => {
            let d = deadline.map(crate::fmt_duration).unwrap_or_default();
            (
                RunStatus::TimedOut,
                None,
                Some(StepError::new(
                    ErrorKind::Timeout,
                    &ctx.program.flows[flow].name,
                    format!("the run did not finish within its deadline of {d}"),
                )),
            )
        }
        Err(RunStatus::Waiting) => (RunStatus::Waiting, None, None),
        Err(status) => {
            let message = match status {
                RunStatus::Interrupted => {
                    format!("the run was interrupted; resume it with `flowc resume {}`", ctx.run_id)
                }
                _ => "the run was cancelled".to_string(),
            };
            (status, None, Some(StepError::new(ErrorKind::Cancelled, &ctx.program.flows[flow].name, message)))
        }
    };
    if let Some(beating) = beating {
        beating.abort();
    }
    let duration = ctx.started.elapsed();
    let totals = ctx.totals();
    let finished = Event::RunFinished {
        status,
        duration_ms: duration.as_secs_f64() * 1000.0,
        totals,
        output: output.clone(),
        error: error.clone(),
        at_ms: ctx.at_ms(),
    };
    // Kept and made durable before anyone hears the run ended.
    ctx.keep(&finished);
    let error = match finish(&ctx, status, output.as_ref(), error.as_ref(), &totals).await {
        Ok(()) => error,
        Err(e) => Some(StepError::new(ErrorKind::Store, &ctx.program.flows[flow].name, e.to_string())),
    };
    if let Some(observer) = &ctx.observer {
        (observer.0)(&finished);
    }
    if let Some(sink) = &ctx.events {
        sink.emit(finished);
        sink.hand_off();
    }
    let cancelled_steps = ctx.counters.cancelled();
    crate::RunOutcome { run_id: ctx.run_id.to_string(), status, output, error, cancelled_steps, totals, duration }
}

/// Records in the store how the run stopped, once all it journaled is durable.
async fn finish(
    ctx: &RunCtx,
    status: RunStatus,
    output: Option<&serde_json::Value>,
    error: Option<&StepError>,
    totals: &crate::Totals,
) -> Result<(), crate::store::StoreError> {
    let Some(store) = ctx.store() else { return Ok(()) };
    let error = error.map(|e| serde_json::to_value(e).unwrap_or_default());
    let totals = serde_json::to_value(totals).unwrap_or_default();
    let owner = crate::store::this_process();
    let end = crate::store::RunEnd {
        id: &ctx.run_id,
        state: status.into(),
        output,
        error: error.as_ref(),
        totals: &totals,
        owner: Some(&owner),
    };
    store.finish(end).await
}
