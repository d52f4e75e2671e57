//! The scheduler: runs a block's step graph, starting each step as soon as
//! every step it depends on has finished, and applies `retry`, `timeout`
//! and `catch`. All of a run's steps are futures polled by the run's one
//! task: concurrency without locks on step values, and no per-step spawn.

use crate::engine::{Config, MAP_CONCURRENCY};
use crate::eval::{Frame, eval};
use crate::events::{Event, RunStatus, StepError, Totals};
use crate::llm::Route;
use crate::llm::step::{Prepared, Spec};
use crate::models::Usage;
use crate::tools::{self, DEFAULT_TOOL_TIMEOUT, ToolError};
use crate::value::{Fields, Value, from_json_typed};
use flow_compiler::ir::*;
use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, StreamExt};
use petgraph::Direction;
use petgraph::graph::NodeIndex;
use petgraph::visit::EdgeRef;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// Everything one run shares: the program, the engine's configuration, the
/// event sink, counters and the per-run state of scripted mocks.
pub(crate) struct RunCtx {
    pub program: Arc<Program>,
    pub config: Arc<Config>,
    pub events: Option<tokio::sync::mpsc::UnboundedSender<Event>>,
    pub started: Instant,
    steps: AtomicU64,
    finished: AtomicU64,
    failed: AtomicU64,
    skipped: AtomicU64,
    retries: AtomicU64,
    pub cancelled: Mutex<Vec<String>>,
    rng: Mutex<fastrand::Rng>,
    script_calls: Mutex<HashMap<String, usize>>,
    /// Who answers each model (by index; `None` for models this run cannot reach).
    pub routes: Vec<Option<Route>>,
    /// Schemas and validators of model steps, built on a step's first call.
    prepared: Mutex<HashMap<usize, Arc<Prepared>>>,
    model_calls: AtomicU64,
    input_tokens: AtomicU64,
    output_tokens: AtomicU64,
    cost_usd: Mutex<Option<f64>>,
}

/// What an action produced: its value, and for events whether it was
/// skipped (`when`) and which branch ran (`route`).
struct Done<'p> {
    value: Value,
    skipped: bool,
    branch: Option<&'p NodeId>,
}

impl<'p> Done<'p> {
    fn value(value: Value) -> Done<'p> {
        Done { value, skipped: false, branch: None }
    }
}

type StepResult<'p> = Result<Done<'p>, StepError>;

impl RunCtx {
    pub fn new(
        program: Arc<Program>,
        config: Arc<Config>,
        events: Option<tokio::sync::mpsc::UnboundedSender<Event>>,
        routes: Vec<Option<Route>>,
    ) -> RunCtx {
        let rng = match config.seed {
            Some(seed) => fastrand::Rng::with_seed(seed),
            None => fastrand::Rng::new(),
        };
        RunCtx {
            program,
            config,
            events,
            started: Instant::now(),
            steps: AtomicU64::new(0),
            finished: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            skipped: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            cancelled: Mutex::new(Vec::new()),
            rng: Mutex::new(rng),
            script_calls: Mutex::new(HashMap::new()),
            routes,
            prepared: Mutex::new(HashMap::new()),
            model_calls: AtomicU64::new(0),
            input_tokens: AtomicU64::new(0),
            output_tokens: AtomicU64::new(0),
            cost_usd: Mutex::new(None),
        }
    }

    /// What a model step sends every time, built on its first call.
    pub(crate) fn prepared(
        &self,
        step: &Step,
        build: impl FnOnce() -> Result<Prepared, String>,
    ) -> Result<Arc<Prepared>, String> {
        let key = step as *const Step as usize;
        if let Some(p) = self.prepared.lock().ok().and_then(|m| m.get(&key).cloned()) {
            return Ok(p);
        }
        let built = Arc::new(build()?);
        if let Ok(mut m) = self.prepared.lock() {
            m.insert(key, built.clone());
        }
        Ok(built)
    }

    pub(crate) fn count_model_call(&self, usage: Usage, cost: Option<f64>) {
        self.model_calls.fetch_add(1, Ordering::Relaxed);
        self.input_tokens.fetch_add(usage.input_tokens, Ordering::Relaxed);
        self.output_tokens.fetch_add(usage.output_tokens, Ordering::Relaxed);
        if let (Some(cost), Ok(mut total)) = (cost, self.cost_usd.lock()) {
            *total = Some(total.unwrap_or(0.0) + cost);
        }
    }

    pub fn at_ms(&self) -> f64 {
        self.started.elapsed().as_secs_f64() * 1000.0
    }

    pub fn emit(&self, make: impl FnOnce() -> Event) {
        if let Some(sink) = &self.events {
            // A receiver that went away just stops listening.
            let _ = sink.send(make());
        }
    }

    pub fn totals(&self) -> Totals {
        Totals {
            started: self.steps.load(Ordering::Relaxed),
            finished: self.finished.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            skipped: self.skipped.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            cancelled: self.cancelled.lock().map_or(0, |c| c.len() as u64),
            model_calls: self.model_calls.load(Ordering::Relaxed),
            input_tokens: self.input_tokens.load(Ordering::Relaxed),
            output_tokens: self.output_tokens.load(Ordering::Relaxed),
            cost_usd: self.cost_usd.lock().ok().and_then(|c| *c),
        }
    }

    /// Counts and reports a step that finished with a value.
    fn step_finished(&self, step: &Step, item: &[u32], duration: Duration, value: &Value, branch: Option<&NodeId>) {
        self.finished.fetch_add(1, Ordering::Relaxed);
        self.emit(|| Event::StepFinished {
            step: step.id.to_string(),
            item: item.to_vec(),
            duration_ms: duration.as_secs_f64() * 1000.0,
            output_bytes: value.json_len(),
            branch: branch.map(NodeId::to_string),
            at_ms: self.at_ms(),
        });
    }

    /// Reports a step failure; `caught` when a `catch` takes over (only
    /// uncaught failures count as failed steps).
    fn step_failed(&self, step: &Step, item: &[u32], error: &StepError, caught: bool) {
        if !caught {
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
        self.emit(|| Event::StepFailed {
            step: step.id.to_string(),
            item: item.to_vec(),
            error: error.clone(),
            caught,
            at_ms: self.at_ms(),
        });
    }

    /// Counts a step start against the run's step limit (going over fails the step).
    fn count_step(&self, step: &Step, item: &[u32]) -> Result<(), StepError> {
        let n = self.steps.fetch_add(1, Ordering::Relaxed) + 1;
        if n > self.config.limits.max_steps {
            let error = StepError::new(
                ErrorKind::Limit,
                step.id.as_str(),
                format!("the run started more than {} steps (the engine's limit)", self.config.limits.max_steps),
            );
            self.step_failed(step, item, &error, false);
            return Err(error);
        }
        Ok(())
    }

    /// Fails a step that would call flows deeper than the engine allows.
    pub(crate) fn check_depth(&self, step: &Step, depth: u32) -> Result<(), StepError> {
        let max = self.config.limits.max_depth;
        if depth > max {
            let message = format!("flows call each other more than {max} deep (the engine's limit)");
            return Err(StepError::new(ErrorKind::Limit, step.id.as_str(), message));
        }
        Ok(())
    }

    fn delay(&self, retry: &Retry, retry_number: u32) -> Duration {
        let ms = retry.backoff.delay_ms(retry_number);
        let ms = if retry.jitter {
            // Full jitter: anywhere between no wait and the computed wait.
            self.rng.lock().map_or(ms, |mut rng| rng.u64(0..=ms))
        } else {
            ms
        };
        Duration::from_millis(ms)
    }
}

/// Runs a flow with its arguments in parameter order.
pub(crate) fn run_flow<'p>(
    ctx: &'p Arc<RunCtx>,
    flow: usize,
    args: Vec<Value>,
    depth: u32,
) -> BoxFuture<'p, Result<Value, StepError>> {
    Box::pin(async move {
        let f = &ctx.program.flows[flow];
        let frame = Arc::new(Frame::new(f.body.slots, None));
        for (p, v) in f.params.iter().zip(args) {
            frame.set(p.slot, v);
        }
        run_block(ctx, &f.body, frame, Vec::new(), depth).await
    })
}

/// Runs every step of a block, then evaluates its `return`.
fn run_block<'p>(
    ctx: &'p Arc<RunCtx>,
    block: &'p Block,
    frame: Arc<Frame>,
    item: Vec<u32>,
    depth: u32,
) -> BoxFuture<'p, Result<Value, StepError>> {
    let f = async move {
        let graph = &block.graph;
        let n = graph.node_count();
        let mut waiting: Vec<u32> =
            graph.node_indices().map(|i| graph.edges_directed(i, Direction::Incoming).count() as u32).collect();
        // Popped from the end: reversed so that ready steps start in source order.
        let mut ready: Vec<NodeIndex> = graph.node_indices().rev().filter(|i| waiting[i.index()] == 0).collect();
        let mut inflight = FuturesUnordered::new();
        let mut done = 0;
        let item = Arc::new(item);
        while done < n {
            while let Some(node) = ready.pop() {
                let step = &graph[node];
                ctx.count_step(step, &item)?;
                match (&step.action, step.catches.is_empty()) {
                    // A pure step without catch runs right here: no future, no timer.
                    (Action::Expr(e), true) => {
                        let value = pure_step(ctx, step, e, &frame, &item)?;
                        frame.set(step.slot, value);
                        done += 1;
                        release(graph, node, &mut waiting, &mut ready);
                    }
                    _ => {
                        let frame = frame.clone();
                        let item = item.clone();
                        // Boxed, so the set's internal stub task is small.
                        // Boxed, so the set's internal stub task stays small.
                        let fut: BoxFuture<'p, _> =
                            Box::pin(async move { (node, run_step(ctx, step, &frame, &item, depth).await) });
                        inflight.push(fut);
                    }
                }
            }
            if done == n {
                break;
            }
            match inflight.next().await {
                Some((node, Ok(value))) => {
                    frame.set(graph[node].slot, value);
                    done += 1;
                    release(graph, node, &mut waiting, &mut ready);
                }
                // The block fails; dropping `inflight` cancels the steps still running.
                Some((_, Err(e))) => return Err(e),
                None => break,
            }
        }
        eval(&block.ret, &frame, &mut Vec::new())
            .map_err(|m| StepError::new(ErrorKind::Value, block.id.as_str(), format!("in `return`: {m}")))
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

fn pure_step(ctx: &RunCtx, step: &Step, e: &Expr, frame: &Frame, item: &[u32]) -> Result<Value, StepError> {
    let timing = ctx.events.is_some().then(Instant::now);
    ctx.emit(|| Event::StepStarted { step: step.id.to_string(), item: item.to_vec(), at_ms: ctx.at_ms() });
    match eval(e, frame, &mut Vec::new()) {
        Ok(value) => {
            ctx.step_finished(step, item, timing.map_or(Duration::ZERO, |t| t.elapsed()), &value, None);
            Ok(value)
        }
        Err(message) => {
            let error = StepError::new(ErrorKind::Value, step.id.as_str(), message);
            ctx.step_failed(step, item, &error, false);
            Err(error)
        }
    }
}

/// Marks a step in flight; if it is dropped before it finishes (the run was
/// cancelled, timed out, or a sibling failed), the step is reported cancelled.
struct InFlight<'c> {
    ctx: &'c RunCtx,
    step: &'c Step,
    item: &'c [u32],
    ended: bool,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if self.ended {
            return;
        }
        let label = if self.item.is_empty() {
            self.step.id.to_string()
        } else {
            let items: Vec<String> = self.item.iter().map(u32::to_string).collect();
            format!("{}[{}]", self.step.id, items.join("]["))
        };
        if let Ok(mut cancelled) = self.ctx.cancelled.lock() {
            cancelled.push(label);
        }
        self.ctx.emit(|| Event::StepCancelled {
            step: self.step.id.to_string(),
            item: self.item.to_vec(),
            at_ms: self.ctx.at_ms(),
        });
    }
}

async fn run_step<'p>(
    ctx: &'p Arc<RunCtx>,
    step: &'p Step,
    frame: &Arc<Frame>,
    item: &[u32],
    depth: u32,
) -> Result<Value, StepError> {
    let mut guard = InFlight { ctx, step, item, ended: false };
    let started = Instant::now();
    ctx.emit(|| Event::StepStarted { step: step.id.to_string(), item: item.to_vec(), at_ms: ctx.at_ms() });
    let mut attempt: u32 = 1;
    let outcome = loop {
        let action = run_action(ctx, &step.action, frame, step, item, depth);
        let result = match step.timeout_ms {
            // Boxed here and below: rarely-taken paths should not make every pending step bigger.
            Some(ms) => Box::pin(tokio::time::timeout(Duration::from_millis(ms), action)).await.unwrap_or_else(|_| {
                Err(StepError::new(
                    ErrorKind::Timeout,
                    step.id.as_str(),
                    format!(
                        "the step took longer than its timeout of {}",
                        crate::fmt_duration(Duration::from_millis(ms))
                    ),
                ))
            }),
            None => action.await,
        };
        match result {
            Ok(done) => break Ok(done),
            Err(error) => {
                let retry = step
                    .retry
                    .as_ref()
                    .filter(|r| attempt <= r.retries && error.kind.retryable() && r.on.contains(&error.kind));
                let Some(retry) = retry else { break Err(error) };
                // A `Retry-After` from the provider or service is a floor under the backoff.
                let delay = ctx.delay(retry, attempt).max(Duration::from_millis(error.retry_after_ms.unwrap_or(0)));
                ctx.retries.fetch_add(1, Ordering::Relaxed);
                attempt += 1;
                ctx.emit(|| Event::StepRetrying {
                    step: step.id.to_string(),
                    item: item.to_vec(),
                    attempt,
                    delay_ms: delay.as_millis() as u64,
                    error: error.clone(),
                    at_ms: ctx.at_ms(),
                });
                Box::pin(tokio::time::sleep(delay)).await;
            }
        }
    };
    let outcome = match outcome {
        Ok(done) => Ok(done),
        Err(error) => Box::pin(catch(ctx, step, frame, item, depth, error)).await,
    };
    guard.ended = true;
    match outcome {
        Ok(done) => {
            if done.skipped {
                ctx.skipped.fetch_add(1, Ordering::Relaxed);
                ctx.emit(|| Event::StepSkipped { step: step.id.to_string(), item: item.to_vec(), at_ms: ctx.at_ms() });
            } else {
                ctx.step_finished(step, item, started.elapsed(), &done.value, done.branch);
            }
            Ok(done.value)
        }
        Err(error) => {
            ctx.step_failed(step, item, &error, false);
            Err(error)
        }
    }
}

/// Hands a failed step to the first `catch` that applies; without one, the
/// step fails with its error.
async fn catch<'p>(
    ctx: &'p Arc<RunCtx>,
    step: &'p Step,
    frame: &Arc<Frame>,
    item: &[u32],
    depth: u32,
    error: StepError,
) -> StepResult<'p> {
    for catch in &step.catches {
        if let Some(slot) = catch.binding {
            frame.set(slot, error_value(&error));
        }
        let applies = match &catch.guard {
            None => true,
            Some(guard) => matches!(eval(guard, frame, &mut Vec::new()), Ok(Value::Bool(true))),
        };
        if applies {
            ctx.step_failed(step, item, &error, true);
            return run_action(ctx, &catch.action, frame, step, item, depth).await;
        }
    }
    Err(error)
}

/// The value `catch e` binds.
fn error_value(error: &StepError) -> Value {
    let mut fields = Fields::new();
    fields.insert(Arc::from("kind"), Value::str(error.kind.as_str()));
    fields.insert(Arc::from("message"), Value::str(&error.message));
    fields.insert(Arc::from("step"), Value::str(&error.step));
    Value::object(fields)
}

fn run_action<'p, 'a>(
    ctx: &'p Arc<RunCtx>,
    action: &'p Action,
    frame: &'a Arc<Frame>,
    step: &'p Step,
    item: &'a [u32],
    depth: u32,
) -> BoxFuture<'a, StepResult<'p>>
where
    'p: 'a,
{
    let f = async move {
        let program = &*ctx.program;
        let value_error = |m: String| StepError::new(ErrorKind::Value, step.id.as_str(), m);
        let eval_here = |e: &Expr| eval(e, frame, &mut Vec::new()).map_err(value_error);
        match action {
            Action::Expr(e) => eval_here(e).map(Done::value),
            Action::Call { callee: Callee::Tool(i), args } => {
                let tool = &program.tools[*i];
                let mut json = serde_json::Map::new();
                for (name, e) in args {
                    json.insert(name.to_string(), eval_here(e)?.to_json());
                }
                // A test can script a step by its name, ahead of the tool's own script.
                let answer = match scripted(ctx, &step.name, &tool.output) {
                    Some(answer) => answer,
                    None => call_tool(ctx, tool, serde_json::Value::Object(json)).await,
                };
                let answer =
                    answer.map_err(|e| StepError::from_tool(step.id.as_str(), &format!("tool `{}`", tool.name), e))?;
                from_json_typed(&answer, &tool.output, &program.types).map(Done::value).map_err(|m| {
                    StepError::new(
                        ErrorKind::Tool,
                        step.id.as_str(),
                        format!("tool `{}` returned a value that does not fit `{}`: {m}", tool.name, tool.output),
                    )
                })
            }
            Action::Call { callee: Callee::Flow(i), args } => {
                let flow = &program.flows[*i];
                ctx.check_depth(step, depth + 1)?;
                let mut values = Vec::with_capacity(flow.params.len());
                for p in &flow.params {
                    let v = match args.iter().find(|(n, _)| **n == *p.name) {
                        Some((_, e)) => eval_here(e)?,
                        None => Value::Null,
                    };
                    values.push(v);
                }
                run_flow(ctx, *i, values, depth + 1).await.map(Done::value)
            }
            Action::Llm(call) => {
                let spec = Spec {
                    model: call.model,
                    output: &call.output,
                    prompt: eval_here(&call.prompt)?.to_string(),
                    system: call.system.as_ref().map(eval_here).transpose()?.map(|v| v.to_string()),
                    temperature: call.temperature.as_ref().map(eval_here).transpose()?.and_then(|v| number(&v)),
                    max_tokens: call.max_tokens.as_ref().map(eval_here).transpose()?.and_then(|v| count(&v)),
                    repair: call.repair.as_ref().map(eval_here).transpose()?.and_then(|v| count(&v)),
                    agent: None,
                };
                Box::pin(crate::llm::step::run(ctx, step, item, depth, spec)).await.map(Done::value)
            }
            Action::Agent(call) => {
                let spec = Spec {
                    model: call.model,
                    output: &call.output,
                    prompt: eval_here(&call.goal)?.to_string(),
                    system: call.system.as_ref().map(eval_here).transpose()?.map(|v| v.to_string()),
                    temperature: call.temperature.as_ref().map(eval_here).transpose()?.and_then(|v| number(&v)),
                    max_tokens: call.max_tokens.as_ref().map(eval_here).transpose()?.and_then(|v| count(&v)),
                    repair: None,
                    agent: Some((
                        &call.tools,
                        call.max_turns.as_ref().map(eval_here).transpose()?.and_then(|v| count(&v)),
                    )),
                };
                Box::pin(crate::llm::step::run(ctx, step, item, depth, spec)).await.map(Done::value)
            }
            Action::Route(branches) => {
                for branch in branches {
                    let taken = match &branch.condition {
                        None => true,
                        Some(c) => matches!(eval_here(c)?, Value::Bool(true)),
                    };
                    if taken {
                        let done = run_action(ctx, &branch.action, frame, step, item, depth).await?;
                        return Ok(Done { branch: Some(&branch.id), ..done });
                    }
                }
                Ok(Done::value(Value::Null))
            }
            Action::When { condition, action, .. } => {
                if matches!(eval_here(condition)?, Value::Bool(true)) {
                    run_action(ctx, action, frame, step, item, depth).await
                } else {
                    Ok(Done { value: Value::Null, skipped: true, branch: None })
                }
            }
            Action::Map(map) => Box::pin(run_map(ctx, map, frame, step, item, depth)).await.map(Done::value),
        }
    };
    Box::pin(f)
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Int(i) => Some(*i as f64),
        Value::Float(f) => Some(*f),
        _ => None,
    }
}

fn count(v: &Value) -> Option<u64> {
    match v {
        Value::Int(i) => u64::try_from(*i).ok(),
        _ => None,
    }
}

async fn run_map<'p>(
    ctx: &'p Arc<RunCtx>,
    map: &'p MapAction,
    frame: &Arc<Frame>,
    step: &'p Step,
    item: &[u32],
    depth: u32,
) -> Result<Value, StepError> {
    let here = |kind, m: String| StepError::new(kind, step.id.as_str(), m);
    let list = match eval(&map.list, frame, &mut Vec::new()) {
        Ok(Value::List(items)) => items,
        Ok(other) => return Err(here(ErrorKind::Value, format!("`map` needs a list, got {}", other.kind_name()))),
        Err(m) => return Err(here(ErrorKind::Value, m)),
    };
    let len = list.len();
    let limits = &ctx.config.limits;
    if len > limits.max_fanout {
        return Err(here(
            ErrorKind::Limit,
            format!("`map` over {len} items is more than the engine allows ({})", limits.max_fanout),
        ));
    }
    let concurrency = match &map.concurrency {
        Some(e) => match eval(e, frame, &mut Vec::new()) {
            Ok(Value::Int(n)) if n > 0 => usize::try_from(n).unwrap_or(usize::MAX),
            Ok(other) => {
                return Err(here(ErrorKind::Value, format!("`concurrency` must be a positive int, got {other}")));
            }
            Err(m) => return Err(here(ErrorKind::Value, m)),
        },
        None => MAP_CONCURRENCY,
    };
    let allowed_failures = match &map.tolerate {
        None => 0,
        Some(Tolerate::Percent(p)) => ((len as f64) * p / 100.0).floor() as usize,
        Some(Tolerate::Count(e)) => match eval(e, frame, &mut Vec::new()) {
            Ok(Value::Int(n)) => usize::try_from(n).unwrap_or(0),
            Ok(other) => return Err(here(ErrorKind::Value, format!("`tolerate` must be an int, got {other}"))),
            Err(m) => return Err(here(ErrorKind::Value, m)),
        },
    };
    let outer = item;
    // Items not yet started are only indexes: no frame, no future, no task.
    let mut results = futures::stream::iter(0..len)
        .map(|i| {
            let item_frame = Arc::new(Frame::new(map.body.slots, Some(frame.clone())));
            item_frame.set(map.item_slot, list[i].clone());
            let mut path = outer.to_vec();
            path.push(i as u32);
            async move { (i, run_block(ctx, &map.body, item_frame, path, depth).await) }
        })
        .buffer_unordered(concurrency.min(len.max(1)));
    let mut values: Vec<Option<Value>> = vec![None; len];
    let mut failures = 0;
    while let Some((i, result)) = results.next().await {
        match result {
            Ok(v) => values[i] = Some(v),
            Err(e) => {
                failures += 1;
                if failures > allowed_failures {
                    let tolerance = match allowed_failures {
                        0 => "none may fail".to_string(),
                        n => format!("at most {n} may fail"),
                    };
                    let message = format!("item {i} of {len} failed ({tolerance}): {}", e.message);
                    return Err(StepError { message, ..e });
                }
            }
        }
    }
    Ok(Value::list(values.into_iter().flatten().collect()))
}

/// Calls a tool by what implements it: a scripted mock, the host, HTTP, a
/// command, or (with mocked tools) a value generated from its type.
pub(crate) async fn call_tool(
    ctx: &RunCtx,
    tool: &Tool,
    args: serde_json::Value,
) -> Result<serde_json::Value, ToolError> {
    let config = &ctx.config;
    if let Some(answer) = scripted(ctx, &tool.name, &tool.output) {
        return answer;
    }
    if let Some(host) = config.tools.get(&tool.name) {
        return host(args).await;
    }
    match &tool.implementation {
        ToolImpl::Http { method, url, timeout_ms, headers } => {
            let timeout = timeout_ms.map_or(DEFAULT_TOOL_TIMEOUT, Duration::from_millis);
            // Boxed: the HTTP future is large, and most steps never hold one.
            Box::pin(tools::call_http(&config.http, method, url, headers, timeout, args)).await
        }
        ToolImpl::Command { argv, timeout_ms } if config.allow_commands => {
            let timeout = timeout_ms.map_or(DEFAULT_TOOL_TIMEOUT, Duration::from_millis);
            Box::pin(tools::call_command(argv, timeout, args)).await
        }
        ToolImpl::Command { .. } => Err(ToolError::with_kind(ErrorKind::Limit, "running commands is not allowed")),
        ToolImpl::Host if config.mock_tools => Ok(crate::models::sample(&tool.output, &ctx.program.types, "")),
        ToolImpl::Host => Err(ToolError::with_kind(ErrorKind::Limit, "the host did not register this tool")),
    }
}

pub(crate) fn scripted(
    ctx: &RunCtx,
    name: &str,
    ty: &flow_compiler::types::Ty,
) -> Option<Result<serde_json::Value, ToolError>> {
    let value = ctx.config.scripts.get(name)?;
    if from_json_typed(value, ty, &ctx.program.types).is_ok() {
        return Some(Ok(value.clone()));
    }
    let serde_json::Value::Array(items) = value else {
        // Neither fits nor is a list of answers: the type check reports it.
        return Some(Ok(value.clone()));
    };
    let mut calls = ctx.script_calls.lock().unwrap_or_else(|e| e.into_inner());
    let n = calls.entry(name.to_string()).or_insert(0);
    let answer = items.get(*n).cloned();
    *n += 1;
    Some(answer.ok_or_else(|| {
        ToolError::new(format!("the mock for `{name}` has {} answers, and call {} asked for another", items.len(), *n))
    }))
}

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
        let mut run = run_flow(&ctx, flow, args, 0);
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
    let cancelled_steps = ctx.cancelled.lock().map(|c| c.clone()).unwrap_or_default();
    crate::RunOutcome { status, output, error, cancelled_steps, totals, duration }
}
