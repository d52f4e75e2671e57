//! Running a program: [`drive`] runs a whole flow under the run's deadline
//! and cancellation; `scheduler.rs` runs blocks, steps and actions, with
//! clauses (`clauses.rs`), maps (`map.rs`) and tool calls and model options
//! (`actions.rs`) beside it.

mod actions;
mod clauses;
mod map;
mod scheduler;

use crate::events::{Event, RunStatus, StepError};
use crate::state::{CallPath, RunCtx};
use crate::value::Value;
use flow_compiler::ir::ErrorKind;
use scheduler::run_flow;
use std::sync::Arc;
use std::time::Duration;

/// Runs a whole flow under the run's deadline and cancellation, reporting
/// how it ended.
pub(crate) async fn drive(
    ctx: Arc<RunCtx>,
    flow: usize,
    args: Vec<Value>,
    cancel: tokio_util::sync::CancellationToken,
    deadline: Option<Duration>,
) -> crate::RunOutcome {
    let name = ctx.program.flows[flow].name.clone();
    ctx.emit(|| Event::RunStarted { flow: name, at_ms: 0.0 });
    let result = {
        let mut run = run_flow(&ctx, flow, args, CallPath::default());
        let timer = async {
            match deadline {
                Some(d) => tokio::time::sleep(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            r = &mut run => Ok(r),
            _ = cancel.cancelled() => Err(RunStatus::Cancelled),
            _ = timer => Err(RunStatus::TimedOut),
        }
        // `run` is dropped here: steps still in flight report themselves cancelled.
    };
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
        Err(status) => (
            status,
            None,
            Some(StepError::new(ErrorKind::Cancelled, &ctx.program.flows[flow].name, "the run was cancelled")),
        ),
    };
    let duration = ctx.started.elapsed();
    let totals = ctx.totals();
    ctx.emit(|| Event::RunFinished {
        status,
        duration_ms: duration.as_secs_f64() * 1000.0,
        totals,
        output: output.clone(),
        error: error.clone(),
        at_ms: ctx.at_ms(),
    });
    if let Some(sink) = &ctx.events {
        sink.hand_off();
    }
    let cancelled_steps = ctx.counters.cancelled();
    crate::RunOutcome { run_id: ctx.run_id.to_string(), status, output, error, cancelled_steps, totals, duration }
}
