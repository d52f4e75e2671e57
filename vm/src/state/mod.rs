//! The state of one run, in parts: the scheduler's counters, the scripted
//! mocks, the model cache and the accounting, with the engine's
//! configuration and the run's event sink. And the run's one completion
//! point: every step, map item, model call and agent tool call that
//! completes is journaled, counted and reported in [`RunCtx::complete`].

mod accounting;
mod counters;
mod model_cache;
mod scripts;

use crate::call_error::ToolError;
use crate::config::Config;
use crate::eval::Frame;
use crate::events::{Event, EventSink, StepError, Totals};
use crate::journal::{Entry, EntryKey, EntryKind, Journal, Outcome};
use crate::llm::Route;
use crate::models::Usage;
use crate::value::{Value, from_json_typed};
use flow_compiler::ir::{ErrorKind, Expr, NodeId, Program, Retry, Step};
use flow_compiler::types::Ty;

/// How many steps start between two looks at the stop token and deadline.
const STEPS_PER_STOP_CHECK: u64 = 64;
use futures::future::BoxFuture;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

pub(crate) use accounting::Accounting;
pub(crate) use counters::{Busy, Counters};
pub(crate) use model_cache::ModelCache;
pub(crate) use scripts::Scripts;

/// Everything one run shares.
pub(crate) struct RunCtx {
    pub program: Arc<Program>,
    pub config: Arc<Config>,
    /// Time-ordered and unique: the key of everything the run journals.
    pub run_id: Arc<str>,
    pub events: Option<EventSink>,
    pub started: Instant,
    pub counters: Counters,
    pub scripts: Scripts,
    pub models: ModelCache,
    pub accounting: Accounting,
    /// Who answers each model (by index; `None` for models this run cannot reach).
    pub routes: Vec<Option<Route>>,
    rng: Mutex<fastrand::Rng>,
    /// The host's evaluator; `None` for the tree walker, called directly.
    evaluator: Option<Arc<dyn crate::expr_eval::ExprEval>>,
    /// Where this run's completions go (the store's journal for the run,
    /// else the engine's).
    journal: Arc<dyn Journal>,
    /// Whether the journal records anything (keys are built only then).
    journaling: bool,
    /// Whether the journal keeps events (then every event is built).
    keeps_events: bool,
    /// Whether events are built at all: someone listens, the journal keeps
    /// them, or a progress table is kept.
    observed: bool,
    /// The run's progress table, when the host asked for one.
    progress: Option<Arc<std::sync::Mutex<crate::progress::Progress>>>,
    /// The host's observer, called with each event where it is produced.
    pub observer: Option<crate::run::Observer>,
    /// Stops the run: cancelled, interrupted, or suspended when it has
    /// nothing left to do but wait for answers.
    pub stop: Arc<crate::stop::Stop>,
    /// What pure evaluation stays within (the stop token and size limits).
    pub bounds: Arc<crate::bounds::Bounds>,
    /// Keep waiting for answers in this process instead of suspending.
    pub wait_for_answers: bool,
}

/// How a step ended, as the completion point records it.
pub(crate) enum StepEnd<'a> {
    Finished { value: &'a Value, duration: Duration, branch: Option<&'a NodeId>, replayed: bool },
    Skipped,
    Failed(&'a StepError),
}

/// Where a block runs in the tree of flow calls: how deep, and the path of
/// calls that led here (empty in the run's flow; `f/summary[2]/` in the
/// flow that step `f/summary` of map item 2 called). Part of every journal
/// key, so that a sub-flow's steps are told apart by their caller.
#[derive(Clone, Debug, Default)]
pub(crate) struct CallPath(Arc<CallSite>);

/// Behind one `Arc`: every step in flight carries its block's call path.
#[derive(Debug, Default)]
struct CallSite {
    depth: u32,
    prefix: String,
}

impl CallPath {
    /// How many flow calls deep (0 in the run's flow).
    pub fn depth(&self) -> u32 {
        self.0.depth
    }

    /// The path of calls, as journal keys write it.
    pub fn prefix(&self) -> &str {
        &self.0.prefix
    }

    /// The path inside the flow that the action at `place` calls:
    /// `{node}[item]…/`, with `@attempt` when the step is retrying and
    /// `#turn.index` for an agent's call (`call`), so that no two calls in
    /// one run share a path.
    pub fn enter(&self, place: &Place<'_>, call: Option<(u32, u32)>) -> CallPath {
        use std::fmt::Write;
        let mut prefix = String::with_capacity(self.0.prefix.len() + place.node.as_str().len() + 12);
        prefix.push_str(&self.0.prefix);
        prefix.push_str(place.node.as_str());
        for i in place.item {
            let _ = write!(prefix, "[{i}]");
        }
        if place.attempt > 1 {
            let _ = write!(prefix, "@{}", place.attempt);
        }
        if let Some((turn, index)) = call {
            let _ = write!(prefix, "#{turn}.{index}");
        }
        prefix.push('/');
        CallPath(Arc::new(CallSite { depth: self.0.depth + 1, prefix }))
    }

    /// The path of a `map` body run by a retrying step (attempt 2 and
    /// later): the same depth, a segment `@attempt/` added, so its steps'
    /// keys differ from the first attempt's (a store that wants one key per
    /// step whatever the attempt drops such segments).
    pub fn retrying(&self, place: &Place<'_>) -> CallPath {
        if place.attempt <= 1 {
            return self.clone();
        }
        let prefix = format!("{}@{}/", self.0.prefix, place.attempt);
        CallPath(Arc::new(CallSite { depth: self.0.depth, prefix }))
    }
}

/// Where an action runs: its step, map item path and call path, its own
/// node (the step, or the route branch, `when` or `catch` it is in), and
/// the step's attempt.
#[derive(Clone, Copy)]
pub(crate) struct Place<'a> {
    pub step: &'a Step,
    pub item: &'a [u32],
    pub call: &'a CallPath,
    pub node: &'a NodeId,
    pub attempt: u32,
}

/// One completion: what it is, where, and how it ended.
pub(crate) enum Completion<'a> {
    Step {
        step: &'a Step,
        item: &'a [u32],
        call: &'a CallPath,
        attempt: u32,
        end: StepEnd<'a>,
    },
    MapItem {
        place: Place<'a>,
        map: &'a NodeId,
        item: &'a [u32],
        result: Result<&'a Value, &'a StepError>,
    },
    /// A model answered; `event` is its `llm_call` event.
    ModelCall {
        place: Place<'a>,
        turn: u32,
        usage: Usage,
        cost: Option<f64>,
        answer: &'a serde_json::Value,
        event: &'a dyn Fn() -> Event,
    },
    /// An agent's tool call finished (`index` within its turn); `event` is
    /// its `agent_tool` event.
    ToolCall {
        place: Place<'a>,
        turn: u32,
        index: u32,
        output: &'a serde_json::Value,
        event: &'a dyn Fn() -> Event,
    },
}

impl RunCtx {
    pub fn new(
        program: Arc<Program>,
        config: Arc<Config>,
        events: Option<EventSink>,
        routes: Vec<Option<Route>>,
        run_id: &str,
        journal: Option<Arc<dyn Journal>>,
        stop: Arc<crate::stop::Stop>,
    ) -> RunCtx {
        let rng = match config.seed {
            Some(seed) => fastrand::Rng::with_seed(seed),
            None => fastrand::Rng::new(),
        };
        let evaluator =
            config.evaluator.clone().or_else(|| Some(config.jit.clone()? as Arc<dyn crate::expr_eval::ExprEval>));
        let journal = journal.unwrap_or_else(|| config.journal.clone());
        let journaling = journal.records();
        let keeps_events = journal.keeps_events();
        let observed = keeps_events || events.is_some();
        let config_limits = config.limits.clone();
        RunCtx {
            program,
            config,
            run_id: Arc::from(run_id),
            events,
            started: Instant::now(),
            counters: Counters::default(),
            scripts: Scripts::default(),
            models: ModelCache::default(),
            accounting: Accounting::default(),
            routes,
            rng: Mutex::new(rng),
            evaluator,
            journal,
            journaling,
            keeps_events,
            observed,
            progress: None,
            observer: None,
            bounds: Arc::new(crate::bounds::Bounds::new(
                config_limits.max_value_bytes,
                config_limits.max_list_items,
                stop.clone(),
            )),
            stop,
            wait_for_answers: false,
        }
    }

    /// The store durable runs live in, if the engine has one.
    pub fn store(&self) -> Option<&Arc<dyn crate::store::Store>> {
        self.config.store.as_ref()
    }

    pub fn at_ms(&self) -> f64 {
        self.started.elapsed().as_secs_f64() * 1000.0
    }

    /// Reports an event (built only when someone listens or the journal
    /// keeps events: one check on the path where nobody does).
    #[inline(always)]
    pub fn emit(&self, make: impl FnOnce() -> Event) {
        if self.observed {
            self.emit_observed(make);
        }
    }

    /// Keeps a progress table from the events (set before the run starts).
    pub fn keep_progress(&mut self, table: Arc<std::sync::Mutex<crate::progress::Progress>>) {
        self.progress = Some(table);
        self.observed = true;
    }

    /// Calls `observer` with every event from now on (set before the run starts).
    pub fn observe(&mut self, observer: crate::run::Observer) {
        self.observer = Some(observer);
        self.observed = true;
    }

    #[inline(never)]
    fn emit_observed(&self, make: impl FnOnce() -> Event) {
        // After `run_finished`, work still winding down says nothing.
        if self.counters.ended.load(std::sync::atomic::Ordering::Relaxed) {
            return;
        }
        let event = make();
        if let Some(table) = &self.progress {
            table.lock().unwrap_or_else(std::sync::PoisonError::into_inner).record(&event);
        }
        if let Some(observer) = &self.observer {
            (observer.0)(&event);
        }
        if self.keeps_events {
            self.journal.event(&event);
        }
        if let Some(sink) = &self.events {
            sink.emit(event);
        }
    }

    /// Hands an event to the journal only (the run's last, which the
    /// subscriber hears after the store has recorded the run's end).
    pub fn keep(&self, event: &Event) {
        if self.keeps_events {
            self.journal.event(event);
        }
    }

    /// Whether events are built at all (someone listens or keeps them).
    #[inline(always)]
    pub fn observed(&self) -> bool {
        self.observed
    }

    /// When the subscriber is behind: a future that waits until its events
    /// are delivered (backpressure; see `EventSink`). Boxed, and only then,
    /// so that the futures awaiting it stay small.
    #[inline]
    pub fn catch_up(&self) -> Option<BoxFuture<'_, ()>> {
        let sink = self.events.as_ref().filter(|s| s.behind())?;
        Some(Box::pin(sink.drain()))
    }

    /// Evaluates a pure expression through the engine's evaluator.
    #[inline(always)]
    pub fn eval(&self, e: &Expr, frame: &Frame) -> Result<Value, crate::EvalError> {
        match &self.evaluator {
            Some(evaluator) => evaluator.eval(e, frame),
            None => crate::eval::eval(e, frame, &mut Vec::new()),
        }
    }

    /// The scripted answer for a call to `name`, if the run has one.
    pub fn scripted(&self, name: &str, ty: &Ty) -> Option<Result<serde_json::Value, ToolError>> {
        self.scripts.answer(&self.config.scripts, name, ty, &self.program.types)
    }

    pub fn totals(&self) -> Totals {
        let c = &self.counters;
        let a = &self.accounting;
        Totals {
            started: Counters::get(&c.steps),
            finished: Counters::get(&c.finished),
            failed: Counters::get(&c.failed),
            skipped: Counters::get(&c.skipped),
            retries: Counters::get(&c.retries),
            cancelled: c.cancelled_total(),
            model_calls: Counters::get(&a.model_calls),
            input_tokens: Counters::get(&a.input_tokens),
            output_tokens: Counters::get(&a.output_tokens),
            cost_usd: a.cost_usd.lock().ok().and_then(|c| *c),
            cache_hits: Counters::get(&a.cache_hits),
            cache_saved_tokens: Counters::get(&a.cache_saved_tokens),
            cache_saved_usd: a.cache_saved_usd.lock().ok().and_then(|c| *c),
        }
    }

    /// The journal's value for a step this run already completed (resume):
    /// counted and reported as finished, not run again.
    pub fn journaled(&self, step: &Step, item: &[u32], call: &CallPath) -> Option<Value> {
        if !self.journaling {
            return None;
        }
        let key = EntryKey { call: call.prefix(), ..self.key(EntryKind::Step, &step.id, item, 0, true) };
        let json = self.journal.completed(&key)?;
        // A value that no longer fits the step's type (the program changed
        // under it) is not reused: the step runs again.
        let value = from_json_typed(&json, &step.ty, &self.program.types).ok()?;
        // Reported like any finished step, and not journaled again.
        let end = StepEnd::Finished { value: &value, duration: Duration::ZERO, branch: None, replayed: true };
        self.report(Completion::Step { step, item, call, attempt: 0, end });
        Some(value)
    }

    fn key<'a>(
        &'a self,
        kind: EntryKind,
        node: &'a NodeId,
        item: &'a [u32],
        attempt: u32,
        effect: bool,
    ) -> EntryKey<'a> {
        EntryKey { run: &self.run_id, call: "", kind, node: node.as_str(), item, attempt, turn: 0, index: 0, effect }
    }

    /// The journal's value for item `i` of the map at `place`, when this
    /// run completed it before (resume): its body does not run again.
    pub fn journaled_item(&self, place: Place<'_>, map: &NodeId, i: usize) -> Option<Value> {
        if !self.journaling {
            return None;
        }
        let list = match &place.step.ty {
            flow_compiler::types::Ty::Optional(inner) => inner,
            ty => ty,
        };
        let flow_compiler::types::Ty::List(item_ty) = list else { return None };
        let json = self.journaled_iteration(place, map, i)?;
        from_json_typed(&json, item_ty, &self.program.types).ok()
    }

    /// The journal's JSON for item (or loop iteration) `i` of the body
    /// `node` at `place`, when this run completed it before.
    pub fn journaled_iteration(&self, place: Place<'_>, node: &NodeId, i: usize) -> Option<serde_json::Value> {
        if !self.journaling {
            return None;
        }
        let mut item = place.item.to_vec();
        item.push(i as u32);
        let key = EntryKey { call: place.call.prefix(), ..self.key(EntryKind::MapItem, node, &item, 0, true) };
        self.journal.completed(&key)
    }

    /// Reports a map item taken from the journal: a `step_finished` of the
    /// map's body (`flow/step/body`) at the item, marked replayed.
    pub fn item_replayed(&self, body: &NodeId, item: &[u32], value: &Value) {
        self.emit(|| Event::StepFinished {
            step: body.to_string(),
            item: item.to_vec(),
            duration_ms: 0.0,
            output_bytes: value.json_len(),
            branch: None,
            replayed: true,
            at_ms: self.at_ms(),
        });
    }

    /// Item `i` of a map at `place` completed (the path is built only for
    /// a journal that records).
    pub fn item_completed(&self, place: Place<'_>, map: &NodeId, i: usize, result: Result<&Value, &StepError>) {
        if self.journaling {
            let mut item = place.item.to_vec();
            item.push(i as u32);
            self.complete(Completion::MapItem { place, map, item: &item, result });
        }
    }

    /// A pure step finished: the completion point's fast path, the same
    /// journal entry and report as [`RunCtx::complete`] without building a
    /// `Completion` first (this runs once per pure step).
    #[inline(always)]
    pub fn pure_step_finished(&self, step: &Step, item: &[u32], call: &CallPath, value: &Value, duration: Duration) {
        if self.journaling {
            let end = StepEnd::Finished { value, duration, branch: None, replayed: false };
            self.journal(&Completion::Step { step, item, call, attempt: 1, end });
        }
        Counters::add(&self.counters.finished);
        if self.observed() {
            self.emit(|| Event::StepFinished {
                step: step.id.to_string(),
                item: item.to_vec(),
                duration_ms: duration.as_secs_f64() * 1000.0,
                output_bytes: value.json_len(),
                branch: None,
                replayed: false,
                at_ms: self.at_ms(),
            });
        }
    }

    /// The completion point: journals what completed, counts it, reports it.
    /// Inlined, so that a pure step's completion costs no more than its count.
    #[inline(always)]
    pub fn complete(&self, completion: Completion<'_>) {
        if self.journaling {
            self.journal(&completion);
        }
        self.report(completion);
    }

    #[inline(never)]
    fn journal(&self, completion: &Completion<'_>) {
        let (key, outcome) = match completion {
            Completion::Step { step, item, call, attempt, end } => {
                let outcome = match end {
                    StepEnd::Finished { value, .. } => Outcome::Value(value),
                    StepEnd::Skipped => Outcome::Skipped,
                    StepEnd::Failed(error) => Outcome::Failed(error),
                };
                let pure = |a: &flow_compiler::ir::Action| matches!(a, flow_compiler::ir::Action::Expr(_));
                let effect = !pure(&step.action) || step.catches.iter().any(|c| !pure(&c.action));
                let key = self.key(EntryKind::Step, &step.id, item, *attempt, effect);
                (EntryKey { call: call.prefix(), ..key }, outcome)
            }
            Completion::MapItem { place, map, item, result } => {
                let outcome = match result {
                    Ok(value) => Outcome::Value(value),
                    Err(error) => Outcome::Failed(error),
                };
                let key = self.key(EntryKind::MapItem, map, item, place.attempt, true);
                (EntryKey { call: place.call.prefix(), ..key }, outcome)
            }
            Completion::ModelCall { place, turn, answer, .. } => {
                let key = self.key(EntryKind::ModelCall, place.node, place.item, place.attempt, true);
                (EntryKey { call: place.call.prefix(), turn: *turn, ..key }, Outcome::Json(answer))
            }
            Completion::ToolCall { place, turn, index, output, .. } => {
                let key = self.key(EntryKind::ToolCall, place.node, place.item, place.attempt, true);
                (EntryKey { call: place.call.prefix(), turn: *turn, index: *index, ..key }, Outcome::Json(output))
            }
        };
        self.journal.record(&Entry { key, outcome });
    }

    #[inline(always)]
    fn report(&self, completion: Completion<'_>) {
        let c = &self.counters;
        match completion {
            Completion::Step { step, item, end, .. } => match end {
                StepEnd::Finished { value, duration, branch, replayed } => {
                    Counters::add(&c.finished);
                    self.emit(|| Event::StepFinished {
                        step: step.id.to_string(),
                        item: item.to_vec(),
                        duration_ms: duration.as_secs_f64() * 1000.0,
                        output_bytes: value.json_len(),
                        branch: branch.map(NodeId::to_string),
                        replayed,
                        at_ms: self.at_ms(),
                    });
                }
                StepEnd::Skipped => {
                    Counters::add(&c.skipped);
                    self.emit(|| Event::StepSkipped {
                        step: step.id.to_string(),
                        item: item.to_vec(),
                        at_ms: self.at_ms(),
                    });
                }
                StepEnd::Failed(error) => self.step_failed(step, item, error, false),
            },
            Completion::MapItem { .. } => {}
            Completion::ModelCall { usage, cost, event, .. } => {
                self.accounting.add(usage, cost);
                self.emit(event);
            }
            Completion::ToolCall { event, .. } => self.emit(event),
        }
    }

    /// Reports a step failure; `caught` when a `catch` takes over (then it
    /// is not a completion: the step goes on, and only uncaught failures
    /// count as failed steps).
    pub fn step_failed(&self, step: &Step, item: &[u32], error: &StepError, caught: bool) {
        if !caught {
            Counters::add(&self.counters.failed);
        }
        self.emit(|| Event::StepFailed {
            step: step.id.to_string(),
            item: item.to_vec(),
            error: error.clone(),
            caught,
            at_ms: self.at_ms(),
        });
    }

    /// Counts a step start against the run's step limit (going over fails
    /// the step, through the completion point).
    #[inline(always)]
    pub fn count_step(&self, step: &Step, item: &[u32], call: &CallPath) -> Result<(), StepError> {
        let n = Counters::add(&self.counters.steps);
        if n > self.config.limits.max_steps {
            return Err(self.over_step_limit(step, item, call));
        }
        // Steps that never await (pure ones, flow calls) must not outlive a
        // stop: the token is looked at before every step (one atomic load),
        // the clock for the deadline every few steps.
        if self.stop.is_stopped() || (n.is_multiple_of(STEPS_PER_STOP_CHECK) && self.stop.expired()) {
            return Err(StepError::new(ErrorKind::Cancelled, step.id.as_str(), "the run stopped"));
        }
        Ok(())
    }

    #[cold]
    fn over_step_limit(&self, step: &Step, item: &[u32], call: &CallPath) -> StepError {
        let error = StepError::new(
            ErrorKind::Limit,
            step.id.as_str(),
            format!("the run started more than {} steps (the engine's limit)", self.config.limits.max_steps),
        );
        self.complete(Completion::Step { step, item, call, attempt: 1, end: StepEnd::Failed(&error) });
        error
    }

    /// Fails a step that would call flows deeper than the engine allows.
    pub fn check_depth(&self, step: &Step, depth: u32) -> Result<(), StepError> {
        let max = self.config.limits.max_depth;
        if depth > max {
            let message = format!("flows call each other more than {max} deep (the engine's limit)");
            return Err(StepError::new(ErrorKind::Limit, step.id.as_str(), message));
        }
        Ok(())
    }

    /// The wait before retry number `retry_number` (1-based).
    pub fn delay(&self, retry: &Retry, retry_number: u32) -> Duration {
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
