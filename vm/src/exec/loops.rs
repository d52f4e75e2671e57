//! `loop prev (max: N) { ... } until cond`: iterations one after another,
//! each a body run at item index `i` (so its steps' journal keys carry the
//! iteration), each journaled as `{"value": V, "until": bool}` so that a
//! resumed run replays finished iterations without running their bodies.

use super::scheduler::run_block;
use crate::eval::Frame;
use crate::events::StepError;
use crate::state::{Place, RunCtx};
use crate::value::{Fields, Value, from_json_typed};
use flow_compiler::MAX_ITERATIONS;
use flow_compiler::ir::{ErrorKind, LoopAction};
use std::sync::Arc;

/// Runs the loop; its value is `{ value, count, done }`.
pub(super) async fn run_loop<'p>(
    ctx: &'p Arc<RunCtx>,
    lp: &'p LoopAction,
    frame: &Arc<Frame>,
    place: Place<'_>,
) -> Result<Value, StepError> {
    let step = place.step;
    let max = match ctx.eval(&lp.max, frame) {
        Ok(Value::Int(n)) if (1..=MAX_ITERATIONS).contains(&n) => n as usize,
        Ok(other) => {
            return Err(StepError::new(
                ErrorKind::Value,
                step.id.as_str(),
                format!("a loop's `max` must be an int from 1 to {MAX_ITERATIONS}, got {other}"),
            ));
        }
        Err(e) => return Err(e.at(step.id.as_str())),
    };
    let call = place.call.retrying(&place);
    let (mut previous, mut count, mut done) = (Value::Null, 0, false);
    for i in 0..max {
        let mut path = place.item.to_vec();
        path.push(i as u32);
        let (value, until) = match replayed(ctx, lp, place, i) {
            Some((value, until)) => {
                ctx.item_replayed(&lp.id, &path, &value);
                (value, until)
            }
            None => {
                let body = Arc::new(Frame::new(lp.body.slots, Some(frame.clone())));
                if let Some(slot) = lp.previous_slot {
                    body.set(slot, previous.clone());
                }
                let outcome = match run_block(ctx, &lp.body, body.clone(), path, call.clone()).await {
                    Ok(value) => until_holds(ctx, lp, &body, step.id.as_str()).map(|until| (value, until)),
                    Err(e) => Err(e),
                };
                let journaled = outcome.as_ref().map(|(value, until)| iteration(value, *until));
                ctx.item_completed(place, &lp.id, i, journaled.as_ref().map_err(|e| *e));
                outcome?
            }
        };
        (previous, count) = (value, i + 1);
        if until {
            done = true;
            break;
        }
        if let Some(behind) = ctx.catch_up() {
            behind.await;
        }
    }
    let mut result = Fields::new();
    result.insert(Arc::from("value"), previous);
    result.insert(Arc::from("count"), Value::Int(count as i64));
    result.insert(Arc::from("done"), Value::Bool(done));
    Ok(Value::object(result))
}

/// Whether `until` holds for the iteration that just ran in `body`.
fn until_holds(ctx: &RunCtx, lp: &LoopAction, body: &Frame, step: &str) -> Result<bool, StepError> {
    match &lp.until {
        None => Ok(false),
        Some(condition) => match ctx.eval(condition, body) {
            Ok(Value::Bool(b)) => Ok(b),
            Ok(other) => Err(StepError::new(ErrorKind::Value, step, format!("`until` must be a bool, got {other}"))),
            Err(e) => Err(e.at(step)),
        },
    }
}

/// An iteration as the journal keeps it.
fn iteration(value: &Value, until: bool) -> Value {
    let mut fields = Fields::new();
    fields.insert(Arc::from("value"), value.clone());
    fields.insert(Arc::from("until"), Value::Bool(until));
    Value::object(fields)
}

/// Iteration `i` from the journal, when a run being resumed finished it.
fn replayed(ctx: &RunCtx, lp: &LoopAction, place: Place<'_>, i: usize) -> Option<(Value, bool)> {
    let json = ctx.journaled_iteration(place, &lp.id, i)?;
    let until = json.get("until")?.as_bool()?;
    let value = from_json_typed(json.get("value")?, &lp.body.ret.ty, &ctx.program.types).ok()?;
    Some((value, until))
}
