//! An action once started: its answer, or what is left to wait for. A
//! step waiting on a host tool (the common pending step, thousands at a
//! time in a `map`) holds only the tool's future and a few references,
//! not the state of the code that started it.

use super::actions::ToolCall;
use crate::call_error::ToolError;
use crate::events::StepError;
use crate::state::{Busy, RunCtx};
use crate::value::Value;
use flow_compiler::ir::{NodeId, Step, Tool};
use futures::future::BoxFuture;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

/// What an action produced: its value, and for events whether it was
/// skipped (`when`) and which branch ran (`route`).
pub(super) struct Done<'p> {
    pub value: Value,
    pub skipped: bool,
    pub branch: Option<&'p NodeId>,
}

impl<'p> Done<'p> {
    pub fn value(value: Value) -> Done<'p> {
        Done { value, skipped: false, branch: None }
    }
}

pub(super) type StepResult<'p> = Result<Done<'p>, StepError>;

/// An action just started, awaited for its result. Small on purpose: a
/// pending step holds it (the error of an action that failed at once is
/// boxed, so it does not make every pending step bigger).
pub(super) enum Started<'p, 'a> {
    /// It finished without waiting (a pure value, a skipped `when`, a mock).
    Ready(Done<'p>),
    Failed(Box<StepError>),
    Pending(Pending<'p, 'a>),
    /// Its result was taken.
    Spent,
}

impl<'p, 'a> Started<'p, 'a> {
    /// An action that finished without waiting.
    pub fn result(result: StepResult<'p>) -> Started<'p, 'a> {
        match result {
            Ok(done) => Started::Ready(done),
            Err(error) => Started::Failed(Box::new(error)),
        }
    }

    /// A tool call: answered, or pending with the run marked busy meanwhile.
    pub fn tool(ctx: &'a RunCtx, step: &'a Step, tool: &'a Tool, call: ToolCall<'a>) -> Started<'p, 'a> {
        match call {
            ToolCall::Answered(answer) => Started::result(tool_answer(ctx, step, tool, answer).map(Done::value)),
            ToolCall::Pending(answer) => Started::Pending(Pending {
                branch: None,
                wait: Wait::Tool { ctx, step, tool, answer, _busy: ctx.counters.busy() },
            }),
        }
    }

    /// Any other action that waits: a model, a flow call, a map, a loop, an `ask`.
    pub fn boxed(action: BoxFuture<'a, StepResult<'p>>) -> Started<'p, 'a> {
        Started::Pending(Pending { branch: None, wait: Wait::Action(action) })
    }

    /// The same action, reached through a `route` branch.
    pub fn in_branch(self, id: &'p NodeId) -> Started<'p, 'a> {
        match self {
            Started::Ready(done) => Started::Ready(Done { branch: Some(id), ..done }),
            Started::Pending(pending) => Started::Pending(Pending { branch: Some(id), ..pending }),
            other => other,
        }
    }
}

impl<'p> Future for Started<'p, '_> {
    type Output = StepResult<'p>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<StepResult<'p>> {
        // Every field is `Unpin` (the futures are boxed).
        let this = self.get_mut();
        if let Started::Pending(pending) = this {
            return Pin::new(pending).poll(cx);
        }
        match std::mem::replace(this, Started::Spent) {
            Started::Ready(done) => Poll::Ready(Ok(done)),
            Started::Failed(error) => Poll::Ready(Err(*error)),
            // Polled again after its result was taken: nothing more comes.
            _ => Poll::Pending,
        }
    }
}

/// What a started action waits for.
pub(super) struct Pending<'p, 'a> {
    branch: Option<&'p NodeId>,
    wait: Wait<'p, 'a>,
}

enum Wait<'p, 'a> {
    Tool {
        ctx: &'a RunCtx,
        step: &'a Step,
        tool: &'a Tool,
        answer: BoxFuture<'a, Result<serde_json::Value, ToolError>>,
        /// Outside work in flight, until the answer is in.
        _busy: Busy<'a>,
    },
    Action(BoxFuture<'a, StepResult<'p>>),
}

impl<'p> Future for Pending<'p, '_> {
    type Output = StepResult<'p>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<StepResult<'p>> {
        // Every field is `Unpin` (the futures are boxed).
        let this = self.get_mut();
        let done = match &mut this.wait {
            Wait::Tool { ctx, step, tool, answer, .. } => {
                let answer = ready!(answer.as_mut().poll(cx));
                tool_answer(ctx, step, tool, answer).map(Done::value)
            }
            Wait::Action(action) => ready!(action.as_mut().poll(cx)),
        };
        let branch = this.branch;
        Poll::Ready(done.map(|done| Done { branch: branch.or(done.branch), ..done }))
    }
}

/// A tool's answer to a step, checked against the tool's declared type.
pub(super) fn tool_answer(
    ctx: &RunCtx,
    step: &Step,
    tool: &Tool,
    answer: Result<serde_json::Value, ToolError>,
) -> Result<Value, StepError> {
    let answer = answer.map_err(|e| StepError::from_tool(step.id.as_str(), &format!("tool `{}`", tool.name), e))?;
    crate::value::from_json_typed(&answer, &tool.output, &ctx.program.types).map_err(|m| {
        StepError::new(
            flow_compiler::ir::ErrorKind::Tool,
            step.id.as_str(),
            format!("tool `{}` returned a value that does not fit `{}`: {m}", tool.name, tool.output),
        )
    })
}
