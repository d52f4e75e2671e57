//! Scripted answers for one run (`mock` in test blocks, `Engine::mock`): a
//! value that fits answers every call; a list that does not fit answers the
//! calls in order, so the run counts calls per name.

use crate::call_error::ToolError;
use crate::value::from_json_typed;
use flow_compiler::types::{Ty, TypeTable};
use std::collections::HashMap;
use std::sync::Mutex;

#[derive(Default)]
pub(crate) struct Scripts {
    calls: Mutex<HashMap<String, usize>>,
}

impl Scripts {
    /// The scripted answer for a call to `name` (a step, model or tool), if
    /// `answers` has one.
    pub fn answer(
        &self,
        answers: &HashMap<String, serde_json::Value>,
        name: &str,
        ty: &Ty,
        types: &TypeTable,
    ) -> Option<Result<serde_json::Value, ToolError>> {
        let value = answers.get(name)?;
        if let Some(failure) = failure(value) {
            return Some(Err(failure));
        }
        if from_json_typed(value, ty, types).is_ok() {
            return Some(Ok(value.clone()));
        }
        let serde_json::Value::Array(items) = value else {
            // Neither fits nor is a list of answers: the type check reports it.
            return Some(Ok(value.clone()));
        };
        let mut calls = self.calls.lock().unwrap_or_else(|e| e.into_inner());
        let n = calls.entry(name.to_string()).or_insert(0);
        let answer = items.get(*n).cloned();
        *n += 1;
        if let Some(failure) = answer.as_ref().and_then(failure) {
            return Some(Err(failure));
        }
        Some(answer.ok_or_else(|| {
            ToolError::new(format!(
                "the mock for `{name}` has {} answers, and call {} asked for another",
                items.len(),
                *n
            ))
        }))
    }
}

/// A mocked failure (`error("kind", "message")` in a test), as the error a
/// real call would have failed with.
fn failure(value: &serde_json::Value) -> Option<ToolError> {
    let e = value.get(flow_compiler::ir::MOCK_ERROR)?;
    let kind = e.get("kind").and_then(|k| k.as_str()).and_then(flow_compiler::ir::ErrorKind::parse)?;
    let message = e.get("message").and_then(|m| m.as_str()).unwrap_or("mocked error");
    Some(ToolError::with_kind(kind, message))
}
