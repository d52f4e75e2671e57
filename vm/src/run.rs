//! A run as the host sees it: what to run ([`RunOptions`]), the handle of a
//! run in progress ([`Run`]: events, cancel, wait), how it ended
//! ([`RunOutcome`]), and the errors of starting and compiling.

use crate::events::{Event, EventStream, RunStatus, StepError, Totals};
use crate::stop::Stop;
use flow_compiler::{Analysis, Code, Diagnostic};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// What to run, with what, and how.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RunOptions {
    /// The flow's name.
    pub flow: String,
    /// A JSON object of the flow's parameters.
    pub input: serde_json::Value,
    /// Collect events (see [`Run::events`]).
    pub events: bool,
    /// Keep a progress table (see [`Run::progress`]).
    pub progress: bool,
    /// Called with each event where it is produced (see [`RunOptions::observe`]).
    pub observer: Option<Observer>,
    /// Fail the run with `timeout` when it takes longer than this.
    pub deadline: Option<Duration>,
    /// Runs under this id instead of a new one: the id a journal knows a
    /// run by, to resume it.
    pub run_id: Option<String>,
    /// Continues the stored run `run_id` (set by
    /// [`Engine::resume`](crate::Engine::resume)): its journal is loaded.
    pub resume: bool,
    /// The stored definition this run runs (`name@version`), recorded with it.
    pub definition: Option<String>,
    /// When nothing is left to do but wait for answers to `ask` steps: keep
    /// waiting in this process (`true`), or end the run `waiting` so that
    /// the process may exit and a later resume continues it (`false`, the
    /// default).
    pub wait_for_answers: bool,
    /// For a resume: the stored state and heartbeat it was found with.
    pub(crate) expect: Option<(crate::store::RunState, i64)>,
}

/// A function called with each event of a run (see [`RunOptions::observe`]).
#[derive(Clone)]
pub struct Observer(pub(crate) std::sync::Arc<dyn Fn(&Event) + Send + Sync>);

impl std::fmt::Debug for Observer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Observer")
    }
}

impl RunOptions {
    /// Runs `flow` with `input`, without events or a deadline.
    pub fn new(flow: &str, input: serde_json::Value) -> RunOptions {
        RunOptions {
            flow: flow.to_string(),
            input,
            events: false,
            progress: false,
            observer: None,
            deadline: None,
            run_id: None,
            resume: false,
            definition: None,
            wait_for_answers: false,
            expect: None,
        }
    }

    /// Collects events (see [`Run::events`]).
    pub fn events(mut self, on: bool) -> RunOptions {
        self.events = on;
        self
    }

    /// Keeps a table of what each step did, for [`Run::progress`] to sample:
    /// progress without being woken for every event.
    pub fn progress(mut self, on: bool) -> RunOptions {
        self.progress = on;
        self
    }

    /// Calls `observer` with every event, on the task that produces it, as
    /// it is produced: no channel, no wake-up per event. It must be quick and
    /// must not block (write to a buffer; `flowc run --events jsonl` does).
    /// The last call is with `run_finished`, once the store recorded the end.
    pub fn observe(mut self, observer: impl Fn(&Event) + Send + Sync + 'static) -> RunOptions {
        self.observer = Some(Observer(std::sync::Arc::new(observer)));
        self
    }

    /// Fails the run with `timeout` when it takes longer.
    pub fn deadline(mut self, deadline: Duration) -> RunOptions {
        self.deadline = Some(deadline);
        self
    }

    /// Runs under `id` (say, a run a journal holds, to resume it): steps
    /// the journal completed under that id are not run again.
    pub fn run_id(mut self, id: &str) -> RunOptions {
        self.run_id = Some(id.to_string());
        self
    }

    /// Records that the run runs the stored definition `name@version`.
    pub fn definition(mut self, definition: &str) -> RunOptions {
        self.definition = Some(definition.to_string());
        self
    }
}

/// A run in progress.
pub struct Run {
    pub(crate) run_id: String,
    pub(crate) events: Option<EventStream>,
    pub(crate) progress: Option<std::sync::Arc<std::sync::Mutex<crate::progress::Progress>>>,
    pub(crate) stop: Arc<Stop>,
    pub(crate) handle: tokio::task::JoinHandle<RunOutcome>,
}

impl Run {
    /// The run's id: time-ordered and unique, the key of what it journals.
    pub fn id(&self) -> &str {
        &self.run_id
    }

    /// The run's events, in order, ending with `run_finished` (once; `None`
    /// when the run was started without `RunOptions::events`).
    ///
    /// Read them as they come, from another task than the one that waits:
    /// the run buffers at most
    /// [`Engine::event_capacity`](crate::Engine::event_capacity) events for
    /// a subscriber that is behind, then waits for it (no event is ever
    /// dropped). A subscriber that stops reading holds the run back until it
    /// reads again, the run is cancelled or times out, or the stream is
    /// dropped (then the run's events are discarded). Time the run spends
    /// waiting counts toward its steps' timeouts and its deadline, like a
    /// program writing to a full pipe: observe promptly, or not at all.
    pub fn events(&mut self) -> Option<EventStream> {
        self.events.take()
    }

    /// The run's progress table (`None` unless it was started with
    /// [`RunOptions::progress`]): a handle to sample at the host's own pace,
    /// while the run goes on and after it ended.
    pub fn progress(&self) -> Option<crate::progress::ProgressTable> {
        self.progress.clone().map(crate::progress::ProgressTable)
    }

    /// A handle that cancels the run from anywhere (another task, a signal
    /// handler). Steps in flight stop at once and are reported cancelled.
    pub fn canceller(&self) -> Canceller {
        Canceller(self.stop.clone())
    }

    /// Cancels the run: steps in flight stop at once and are reported cancelled.
    pub fn cancel(&self) {
        self.stop.stop(RunStatus::Cancelled);
    }

    /// Waits for the run to end and returns its outcome with every event it
    /// emitted (none unless it was started with `RunOptions::events`): a
    /// whole transcript, for tests and audit logs.
    pub async fn wait_with_events(mut self) -> (RunOutcome, Vec<Event>) {
        let receiver = self.events();
        // Read while the run goes on: the run waits when its buffer is full.
        let collect = async move {
            let mut events = Vec::new();
            if let Some(mut receiver) = receiver {
                while let Some(e) = receiver.recv().await {
                    events.push(e);
                }
            }
            events
        };
        let (outcome, events) = tokio::join!(self.wait(), collect);
        (outcome, events)
    }

    /// Waits for the run to end. An event stream not taken with
    /// [`Run::events`] is dropped first, so nobody holds the run back.
    pub async fn wait(mut self) -> RunOutcome {
        drop(self.events.take());
        match self.handle.await {
            Ok(outcome) => outcome,
            Err(e) => RunOutcome::failed(
                self.run_id,
                StepError::new(flow_compiler::ir::ErrorKind::Cancelled, "", format!("the run's task ended: {e}")),
            ),
        }
    }
}

/// Cancels a run from anywhere: another task, a signal handler.
#[derive(Clone, Debug)]
pub struct Canceller(Arc<Stop>);

impl Canceller {
    /// Cancels the run, as [`Run::cancel`] does.
    pub fn cancel(&self) {
        self.0.stop(RunStatus::Cancelled);
    }

    /// Stops the run because its process is stopping (SIGTERM): steps in
    /// flight stop at once, and the run ends `interrupted`, to be resumed.
    pub fn interrupt(&self) {
        self.0.stop(RunStatus::Interrupted);
    }
}

/// How a run ended.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct RunOutcome {
    /// The run's id.
    pub run_id: String,
    /// Succeeded, failed, cancelled or timed out.
    pub status: RunStatus,
    /// The flow's result, when it succeeded.
    pub output: Option<serde_json::Value>,
    /// Why it did not.
    pub error: Option<StepError>,
    /// Steps that were in flight when the run stopped (`id[item]` inside maps).
    pub cancelled_steps: Vec<String>,
    /// Steps, retries, model calls, tokens and cost over the whole run.
    pub totals: Totals,
    /// Wall-clock time from start to end.
    pub duration: Duration,
}

impl RunOutcome {
    /// The outcome of a run that could not run at all.
    pub(crate) fn failed(run_id: String, error: StepError) -> RunOutcome {
        RunOutcome {
            run_id,
            status: RunStatus::Failed,
            output: None,
            error: Some(error),
            cancelled_steps: Vec::new(),
            totals: Totals::default(),
            duration: Duration::ZERO,
        }
    }
}

/// Why a run could not start, or how it failed.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum RunError {
    /// Found before anything ran: a coded error (E06xx).
    Setup {
        /// The diagnostic code (`docs/errors.md`).
        code: Code,
        /// What is wrong.
        message: String,
        /// How to fix it, when that is clear.
        help: Option<String>,
    },
    /// A step failed and nothing caught it.
    Failed(StepError),
    /// The host used the API wrongly (e.g. started a run outside a tokio runtime).
    Host(String),
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::Setup { code, message, help } => {
                write!(f, "error[{}]: {message}", code.as_str())?;
                if let Some(help) = help {
                    write!(f, "\n  = help: {help}")?;
                }
                Ok(())
            }
            RunError::Failed(e) => write!(f, "error[{}]: {e}", e.kind),
            RunError::Host(message) => write!(f, "error: {message}"),
        }
    }
}

impl std::error::Error for RunError {}

/// A program that did not compile: its diagnostics, with the source to
/// render them against.
#[derive(Debug)]
#[non_exhaustive]
pub struct CompileError {
    /// The program's text.
    pub source: String,
    /// What the checker found, diagnostics first.
    pub analysis: Box<Analysis>,
}

impl CompileError {
    /// Every problem found, errors and warnings, in source order.
    pub fn diagnostics(&self) -> &[Diagnostic] {
        &self.analysis.diagnostics
    }
}

impl fmt::Display for CompileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = flow_compiler::render::human("<source>", &self.source, &self.analysis.diagnostics, false);
        f.write_str(text.trim_end())
    }
}

impl std::error::Error for CompileError {}
