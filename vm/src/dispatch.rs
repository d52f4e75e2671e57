//! How a model step reaches the rest of the run: an agent calls tools and
//! flows through [`Dispatch`], which the scheduler implements, so the model
//! layer never imports the scheduler.

use crate::call_error::ToolError;
use crate::events::StepError;
use crate::state::CallPath;
use crate::value::Value;
use futures::future::BoxFuture;

pub(crate) trait Dispatch: Send + Sync {
    /// Calls tool number `tool` of the program with JSON arguments.
    fn call_tool(&self, tool: usize, args: serde_json::Value) -> BoxFuture<'_, Result<serde_json::Value, ToolError>>;

    /// Runs flow number `flow` at `call` in the tree of flow calls (its
    /// depth checked by the caller).
    fn call_flow(&self, flow: usize, args: Vec<Value>, call: CallPath) -> BoxFuture<'_, Result<Value, StepError>>;
}
