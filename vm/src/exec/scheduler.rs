//! The scheduler: runs a block's step graph, starting each step as soon as
//! every step it depends on has finished; runs a step's attempts under its
//! clauses; dispatches actions; fans a `map` out. All of a run's steps are
//! futures polled by the run's one task: concurrency without locks on step
//! values, and no per-step spawn.
//!
//! Blocks run steps, steps run actions, and `map` and flow calls run blocks
//! again: that recursion lives here, and everything that does not recurse
//! (clauses, map plans, tool calls, model options) in the sibling modules.

use super::actions::{agent_spec, call_tool, llm_spec};
use super::clauses::{InFlight, choose_catch, retry_delay, timed_out};
use super::map::MapPlan;
use super::pending::{Done, Started, StepResult, tool_answer};
use crate::call_error::ToolError;
use crate::dispatch::Dispatch;
use crate::eval::Frame;
use crate::events::{Event, StepError};
use crate::state::{CallPath, Completion, Counters, Place, RunCtx, StepEnd};
use crate::value::{Value, from_json_typed};
use flow_compiler::ir::*;
use futures::future::{BoxFuture, Either, FutureExt};
use futures::stream::{FuturesUnordered, StreamExt};
use petgraph::Direction;
use petgraph::graph::NodeIndex;
use petgraph::visit::EdgeRef;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// A step of a block that ran beside others, and how it ended.
type StepOutcome = (NodeIndex, Result<Value, StepError>);

/// Runs a flow with its arguments in parameter order, at `call` in the
/// tree of flow calls.
pub(crate) fn run_flow<'p>(
    ctx: &'p Arc<RunCtx>,
    flow: usize,
    args: Vec<Value>,
    call: CallPath,
) -> BoxFuture<'p, Result<Value, StepError>> {
    Box::pin(async move {
        let f = &ctx.program.flows[flow];
        let frame = Arc::new(Frame::root(f.body.slots, ctx.bounds.clone()));
        for (p, v) in f.params.iter().zip(args) {
            frame.set(p.slot, v);
        }
        run_block(ctx, &f.body, frame, Vec::new(), call).await
    })
}

/// Flow calls nested this deep run on a task of their own: polling a deep
/// call tree nests a few stack frames per level, and a fresh task starts a
/// fresh stack, so `max_depth` is bounded by the limit, not by the stack.
const CALLS_PER_STACK: u32 = 8;

/// Runs a called flow: in place, or on a task of its own every
/// [`CALLS_PER_STACK`] levels (aborted if the caller is dropped).
async fn call_flow(ctx: &Arc<RunCtx>, flow: usize, args: Vec<Value>, call: CallPath) -> Result<Value, StepError> {
    if !call.depth().is_multiple_of(CALLS_PER_STACK) {
        return run_flow(ctx, flow, args, call).await;
    }
    let owned = ctx.clone();
    let mut task = AbortOnDrop(tokio::spawn(async move { run_flow(&owned, flow, args, call).await }));
    match (&mut task.0).await {
        Ok(result) => result,
        Err(e) => Err(StepError::new(
            ErrorKind::Cancelled,
            ctx.program.flows[flow].name.as_str(),
            format!("the call's task ended early: {e}"),
        )),
    }
}

/// A task that is aborted when its handle is dropped (a cancelled caller).
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Runs every step of a block, then evaluates its `return`.
pub(super) fn run_block<'p>(
    ctx: &'p Arc<RunCtx>,
    block: &'p Block,
    frame: Arc<Frame>,
    item: Vec<u32>,
    call: CallPath,
) -> BoxFuture<'p, Result<Value, StepError>> {
    let f = async move {
        let graph = &block.graph;
        let n = graph.node_count();
        let mut waiting: Vec<u32> =
            graph.node_indices().map(|i| graph.edges_directed(i, Direction::Incoming).count() as u32).collect();
        // Popped from the end: reversed so that ready steps start in source order.
        let mut ready: Vec<NodeIndex> = graph.node_indices().rev().filter(|i| waiting[i.index()] == 0).collect();
        // Made on the first step that runs beside another (most blocks have none).
        let mut inflight: Option<FuturesUnordered<BoxFuture<'p, StepOutcome>>> = None;
        let mut done = 0;
        let item = Arc::new(item);
        while done < n {
            while let Some(node) = ready.pop() {
                let step = &graph[node];
                ctx.count_step(step, &item, &call)?;
                match (&step.action, step.catches.is_empty()) {
                    // A pure step without catch runs right here: no future, no timer.
                    (Action::Expr(e), true) => {
                        let value = pure_step(ctx, step, e, &frame, &item, &call)?;
                        frame.set(step.slot, value);
                        done += 1;
                        release(graph, node, &mut waiting, &mut ready);
                        if let Some(behind) = ctx.catch_up() {
                            behind.await;
                        }
                    }
                    // The only step that can run (nothing else ready or in flight, as in a
                    // one-step map body): awaited here, without the set's task around it.
                    _ if ready.is_empty() && inflight.as_ref().is_none_or(FuturesUnordered::is_empty) => {
                        let value = Box::pin(run_step(ctx, step, &frame, &item, &call)).await?;
                        frame.set(step.slot, value);
                        done += 1;
                        release(graph, node, &mut waiting, &mut ready);
                        if let Some(behind) = ctx.catch_up() {
                            behind.await;
                        }
                    }
                    _ => {
                        let (frame, item, call) = (frame.clone(), item.clone(), call.clone());
                        // Boxed, so the set's internal stub task stays small.
                        let fut: BoxFuture<'p, _> =
                            Box::pin(async move { (node, run_step(ctx, step, &frame, &item, &call).await) });
                        inflight.get_or_insert_with(FuturesUnordered::new).push(fut);
                    }
                }
            }
            if done == n {
                break;
            }
            let Some(inflight) = &mut inflight else { break };
            let Some((node, result)) = inflight.next().await else { break };
            // The block fails on an error; dropping `inflight` cancels the steps still running.
            // (`?` moves the result whole: a pending block keeps no room for it.)
            frame.set(graph[node].slot, result?);
            done += 1;
            release(graph, node, &mut waiting, &mut ready);
            if let Some(behind) = ctx.catch_up() {
                behind.await;
            }
        }
        ctx.eval(&block.ret, &frame).and_then(|v| ctx.bounds.whole(&v).map(|()| v)).map_err(|e| {
            let message = format!("in `return`: {}", e.message);
            StepError::new(e.kind, block.id.as_str(), message)
        })
    };
    Box::pin(f)
}

fn release(
    graph: &petgraph::graph::DiGraph<Step, Edge>,
    node: NodeIndex,
    waiting: &mut [u32],
    ready: &mut Vec<NodeIndex>,
) {
    for edge in graph.edges_directed(node, Direction::Outgoing) {
        let target = edge.target();
        waiting[target.index()] -= 1;
        if waiting[target.index()] == 0 {
            ready.push(target);
        }
    }
}

fn pure_step(
    ctx: &RunCtx,
    step: &Step,
    e: &Expr,
    frame: &Frame,
    item: &[u32],
    call: &CallPath,
) -> Result<Value, StepError> {
    let timing = ctx.observed().then(Instant::now);
    ctx.emit(|| Event::StepStarted { step: step.id.to_string(), item: item.to_vec(), at_ms: ctx.at_ms() });
    match ctx.eval(e, frame).and_then(|value| ctx.bounds.whole(&value).map(|()| value)) {
        Ok(value) => {
            let duration = timing.map_or(Duration::ZERO, |t| t.elapsed());
            ctx.pure_step_finished(step, item, call, &value, duration);
            Ok(value)
        }
        Err(message) => {
            let error = message.at(step.id.as_str());
            ctx.complete(Completion::Step { step, item, call, attempt: 1, end: StepEnd::Failed(&error) });
            Err(error)
        }
    }
}

/// Runs a step's attempts under `retry` and `timeout`, then its `catch`.
/// The first attempt's action is awaited in place; retrying, a timeout and
/// a `catch` each run boxed, so a pending step is small (the memory bench).
async fn run_step<'p>(
    ctx: &'p Arc<RunCtx>,
    step: &'p Step,
    frame: &Arc<Frame>,
    item: &[u32],
    call: &CallPath,
) -> Result<Value, StepError> {
    if let Some(value) = ctx.journaled(step, item, call) {
        // Completed before (a resumed run): taken from the journal, not run again.
        return Ok(value);
    }
    let mut guard = InFlight { ctx, step, item, ended: false };
    let started = Instant::now();
    ctx.emit(|| Event::StepStarted { step: step.id.to_string(), item: item.to_vec(), at_ms: ctx.at_ms() });
    // (Results are never borrowed here, only moved whole into what is
    // awaited next: a pending step then keeps no room for them.)
    let first = match step.timeout_ms {
        Some(_) if !waits_for_a_person(&step.action) => {
            Box::pin(attempt_action(ctx, frame, Place { step, item, call, node: &step.id, attempt: 1 })).await
        }
        _ => start_action(ctx, &step.action, frame, Place { step, item, call, node: &step.id, attempt: 1 }).await,
    };
    let (first, delay) = first_retry(ctx, step, first);
    let (outcome, attempt) = match delay {
        Some(delay) => {
            Box::pin(retry(ctx, frame, Place { step, item, call, node: &step.id, attempt: 1 }, first, delay)).await
        }
        None => (first, 1),
    };
    // Whatever produced it (a host tool, a map, a flow call), a value
    // larger than the limits fails the step.
    let outcome = outcome.and_then(|done| match ctx.bounds.whole(&done.value) {
        Ok(()) => Ok(done),
        Err(e) => Err(e.at(step.id.as_str())),
    });
    // `matches!`, not `is_err()` in a `let`: measured, the latter keeps one
    // more value in this future across the await (+48 bytes per pending step).
    #[allow(clippy::redundant_pattern_matching)]
    let outcome = match matches!(outcome, Err(_)) {
        true => Box::pin(catch(ctx, frame, Place { step, item, call, node: &step.id, attempt }, outcome)).await,
        false => outcome,
    };
    guard.ended = true;
    let end = match &outcome {
        Ok(done) if done.skipped => StepEnd::Skipped,
        Ok(done) => {
            StepEnd::Finished { value: &done.value, duration: started.elapsed(), branch: done.branch, replayed: false }
        }
        Err(error) => StepEnd::Failed(error),
    };
    ctx.complete(Completion::Step { step, item, call, attempt, end });
    outcome.map(|done| done.value)
}

/// The first attempt's result, and the delay before a second when it failed
/// and `retry` applies.
fn first_retry<'p>(ctx: &RunCtx, step: &Step, first: StepResult<'p>) -> (StepResult<'p>, Option<Duration>) {
    let delay = first.as_ref().err().and_then(|error| retry_delay(ctx, step, 1, error));
    (first, delay)
}

/// Attempts after the first failed one, each after its delay, until one
/// succeeds or `retry` gives up: the outcome and the attempt it came from.
async fn retry<'p>(
    ctx: &'p Arc<RunCtx>,
    frame: &Arc<Frame>,
    place: Place<'p>,
    failed: StepResult<'p>,
    mut delay: Duration,
) -> (StepResult<'p>, u32) {
    let Err(mut error) = failed else { return (failed, place.attempt) };
    let step = place.step;
    let mut attempt = place.attempt;
    loop {
        Counters::add(&ctx.counters.retries);
        attempt += 1;
        ctx.emit(|| Event::StepRetrying {
            step: step.id.to_string(),
            item: place.item.to_vec(),
            attempt,
            delay_ms: delay.as_millis() as u64,
            error: error.clone(),
            at_ms: ctx.at_ms(),
        });
        {
            let _busy = ctx.counters.busy();
            tokio::time::sleep(delay).await;
        }
        match attempt_action(ctx, frame, Place { attempt, ..place }).await {
            Err(e) => match retry_delay(ctx, step, attempt, &e) {
                Some(next) => (error, delay) = (e, next),
                None => return (Err(e), attempt),
            },
            done => return (done, attempt),
        }
    }
}

/// One attempt at a step's action, under its `timeout`.
async fn attempt_action<'p>(ctx: &'p Arc<RunCtx>, frame: &Arc<Frame>, place: Place<'p>) -> StepResult<'p> {
    let step = place.step;
    let action = start_action(ctx, &step.action, frame, place);
    match step.timeout_ms {
        // An `ask` that is the step keeps its own deadline, in the store: it
        // outlives this process. (Inside a route both apply.)
        Some(_) if waits_for_a_person(&step.action) => action.await,
        Some(ms) => {
            tokio::time::timeout(Duration::from_millis(ms), action).await.unwrap_or_else(|_| Err(timed_out(step, ms)))
        }
        None => action.await,
    }
}

/// Whether the step is an `ask` (or a `when` around one).
fn waits_for_a_person(action: &Action) -> bool {
    match action {
        Action::Ask(_) => true,
        Action::When { action, .. } => waits_for_a_person(action),
        _ => false,
    }
}

/// Hands a failed step to the first `catch` that applies; without one, the
/// step fails with its error.
async fn catch<'p>(
    ctx: &'p Arc<RunCtx>,
    frame: &Arc<Frame>,
    place: Place<'p>,
    failed: StepResult<'p>,
) -> StepResult<'p> {
    let Err(error) = failed else { return failed };
    // A stopped run (cancelled, past its deadline) catches nothing: it ends.
    if ctx.stop.is_stopped() {
        return Err(error);
    }
    match choose_catch(ctx, place.step, frame, &error) {
        Some(c) => {
            ctx.step_failed(place.step, place.item, &error, true);
            start_action(ctx, &c.action, frame, Place { node: &c.id, ..place }).await
        }
        None => Err(error),
    }
}

/// Starts an action: evaluates its arguments and conditions, and either
/// finishes it or hands back what is left to wait for (awaited for its
/// result).
fn start_action<'p, 'a>(
    ctx: &'p Arc<RunCtx>,
    action: &'p Action,
    frame: &'a Arc<Frame>,
    place: Place<'a>,
) -> Started<'p, 'a>
where
    'p: 'a,
{
    let step = place.step;
    let program = &*ctx.program;
    // Arguments and options are values too: measured before they leave (as JSON, to a tool).
    let eval_here = |e: &Expr| {
        ctx.eval(e, frame).and_then(|v| ctx.bounds.whole(&v).map(|()| v)).map_err(|e| e.at(step.id.as_str()))
    };
    let ready = |result: Result<Value, StepError>| Started::result(result.map(Done::value));
    macro_rules! eval_or_fail {
        ($e:expr) => {
            match eval_here($e) {
                Ok(v) => v,
                Err(e) => return Started::result(Err(e)),
            }
        };
    }
    match action {
        Action::Expr(e) => ready(eval_here(e)),
        Action::Call { callee: Callee::Tool(i), args } => {
            start_tool_call(ctx, &program.tools[*i], args, &eval_here, step).unwrap_or_else(|e| Started::result(Err(e)))
        }
        Action::Call { callee: Callee::Flow(i), args } => {
            start_flow_call(ctx, *i, args, &eval_here, place).unwrap_or_else(|e| Started::result(Err(e)))
        }
        Action::Llm(call) => match llm_spec(ctx, frame, step, call) {
            Ok(spec) => Started::boxed(Box::pin(async move {
                let _busy = ctx.counters.busy();
                crate::llm::step::run(ctx, &Calls { ctx }, place, spec).await.map(Done::value)
            })),
            Err(e) => Started::result(Err(e)),
        },
        Action::Agent(call) => match agent_spec(ctx, frame, step, call) {
            Ok(spec) => Started::boxed(Box::pin(async move {
                let _busy = ctx.counters.busy();
                crate::llm::step::run(ctx, &Calls { ctx }, place, spec).await.map(Done::value)
            })),
            Err(e) => Started::result(Err(e)),
        },
        Action::Route(branches) => {
            for branch in branches {
                let taken = match &branch.condition {
                    None => true,
                    Some(c) => matches!(eval_or_fail!(c), Value::Bool(true)),
                };
                if taken {
                    let place = Place { node: &branch.id, ..place };
                    return start_action(ctx, &branch.action, frame, place).in_branch(&branch.id);
                }
            }
            ready(Ok(Value::Null))
        }
        Action::When { id, condition, action } => {
            if matches!(eval_or_fail!(condition), Value::Bool(true)) {
                start_action(ctx, action, frame, Place { node: id, ..place })
            } else {
                Started::Ready(Done { value: Value::Null, skipped: true, branch: None })
            }
        }
        Action::Map(map) => {
            Started::boxed(Box::pin(async move { run_map(ctx, map, frame, place).await.map(Done::value) }))
        }
        Action::Loop(lp) => {
            Started::boxed(Box::pin(
                async move { super::loops::run_loop(ctx, lp, frame, place).await.map(Done::value) },
            ))
        }
        Action::Ask(ask) => {
            let prompt = match eval_or_fail!(&ask.prompt) {
                Value::Str(s) => s.to_string(),
                other => other.to_string(),
            };
            Started::boxed(Box::pin(async move { super::ask::wait(ctx, place, ask, prompt).await.map(Done::value) }))
        }
    }
}

/// A tool call: its arguments evaluated here, as JSON; a test's script for
/// the step (by its name) answers ahead of the tool's own.
fn start_tool_call<'p, 'a>(
    ctx: &'a RunCtx,
    tool: &'a Tool,
    args: &'a [(Arc<str>, Expr)],
    eval_here: &impl Fn(&Expr) -> Result<Value, StepError>,
    step: &'a Step,
) -> Result<Started<'p, 'a>, StepError> {
    let mut json = serde_json::Map::new();
    for (name, e) in args {
        json.insert(name.to_string(), eval_here(e)?.to_json());
    }
    Ok(match ctx.scripted(&step.name, &tool.output) {
        Some(answer) => Started::result(tool_answer(ctx, step, tool, answer).map(Done::value)),
        None => Started::tool(ctx, step, tool, call_tool(ctx, tool, serde_json::Value::Object(json))),
    })
}

/// A call of flow `i`: its arguments evaluated here, in its parameters'
/// order, and the flow run boxed; a test's mock answers instead (by step,
/// then by flow), and the flow then does not run.
fn start_flow_call<'p, 'a>(
    ctx: &'p Arc<RunCtx>,
    i: usize,
    args: &'p [(Arc<str>, Expr)],
    eval_here: &impl Fn(&Expr) -> Result<Value, StepError>,
    place: Place<'a>,
) -> Result<Started<'p, 'a>, StepError>
where
    'p: 'a,
{
    let step = place.step;
    if let Some(answer) = mocked_flow(ctx, step.id.as_str(), i, Some(&step.name)) {
        for (_, e) in args {
            eval_here(e)?;
        }
        return Ok(Started::result(answer.map(Done::value)));
    }
    ctx.check_depth(step, place.call.depth() + 1)?;
    let flow = &ctx.program.flows[i];
    let mut values = Vec::with_capacity(flow.params.len());
    for p in &flow.params {
        values.push(match args.iter().find(|(n, _)| **n == *p.name) {
            Some((_, e)) => eval_here(e)?,
            None => Value::Null,
        });
    }
    let call = place.call.enter(&place, None);
    Ok(Started::boxed(Box::pin(async move { call_flow(ctx, i, values, call).await.map(Done::value) })))
}

/// A test's scripted answer to a call of flow `i` (by the calling step's
/// name first), checked against the flow's type; `None` when unscripted.
fn mocked_flow(ctx: &RunCtx, at: &str, i: usize, step: Option<&str>) -> Option<Result<Value, StepError>> {
    let flow = &ctx.program.flows[i];
    let answer = step.and_then(|s| ctx.scripted(s, &flow.output)).or_else(|| ctx.scripted(&flow.name, &flow.output))?;
    let what = format!("flow `{}`", flow.name);
    Some(answer.map_err(|e| StepError::from_tool(at, &what, e)).and_then(|answer| {
        from_json_typed(&answer, &flow.output, &ctx.program.types).map_err(|m| {
            StepError::new(ErrorKind::Value, at, format!("the mock for {what} does not fit `{}`: {m}", flow.output))
        })
    }))
}

async fn run_map<'p>(
    ctx: &'p Arc<RunCtx>,
    map: &'p MapAction,
    frame: &Arc<Frame>,
    place: Place<'_>,
) -> Result<Value, StepError> {
    let plan = MapPlan::new(ctx, map, frame, place.step)?;
    let len = plan.items.len();
    // Items not yet started are only indexes: no frame, no future, no task.
    // A started item is its block's future and its index (small: the map
    // holds thousands).
    let mut results = futures::stream::iter(0..len)
        .map(|i| {
            let mut path = place.item.to_vec();
            path.push(i as u32);
            // Completed before (a resumed run): the item's value comes from the journal.
            if let Some(value) = ctx.journaled_item(place, &map.id, i) {
                ctx.item_replayed(&map.id, &path, &value);
                return Either::Left(std::future::ready(value).map(move |v| (i, Ok(v), true)));
            }
            let item_frame = Arc::new(Frame::new(map.body.slots, Some(frame.clone())));
            item_frame.set(map.item_slot, plan.items[i].clone());
            let call = place.call.retrying(&place);
            Either::Right(run_block(ctx, &map.body, item_frame, path, call).map(move |result| (i, result, false)))
        })
        .buffer_unordered(plan.concurrency);
    let mut values: Vec<Option<Value>> = vec![None; len];
    let mut failures = 0;
    while let Some((i, result, replayed)) = results.next().await {
        if !replayed {
            ctx.item_completed(place, &map.id, i, result.as_ref());
        }
        match result {
            Ok(v) => values[i] = Some(v),
            Err(e) => {
                failures += 1;
                if let Some(error) = plan.failure(i, failures, e) {
                    return Err(error);
                }
            }
        }
        if let Some(behind) = ctx.catch_up() {
            behind.await;
        }
    }
    Ok(Value::list(values.into_iter().flatten().collect()))
}

/// How an agent's tool and flow calls reach the scheduler.
struct Calls<'p> {
    ctx: &'p Arc<RunCtx>,
}

impl Dispatch for Calls<'_> {
    fn call_tool(&self, tool: usize, args: serde_json::Value) -> BoxFuture<'_, Result<serde_json::Value, ToolError>> {
        let ctx = self.ctx;
        call_tool(ctx, &ctx.program.tools[tool], args).boxed()
    }

    fn call_flow(&self, flow: usize, args: Vec<Value>, call: CallPath) -> BoxFuture<'_, Result<Value, StepError>> {
        let at = format!("{}{}", call.prefix(), self.ctx.program.flows[flow].name);
        match mocked_flow(self.ctx, &at, flow, None) {
            Some(answer) => Box::pin(std::future::ready(answer)),
            None => run_flow(self.ctx, flow, args, call),
        }
    }
}
