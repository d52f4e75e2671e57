//! Model calls as the interpreter sees them: a request (prompt, output type,
//! options) handed to a [`ModelProvider`]. Real HTTP providers plug in here;
//! this module has the offline one: answers generated from the output type
//! (`mock` models and `flowc run --mock`). Scripted answers (test blocks,
//! `Engine::mock`) are looked up by the scheduler before any provider.

use crate::tools::ToolError;
use flow_compiler::ir::Model;
use flow_compiler::types::{Ty, TypeTable};
use futures::future::BoxFuture;

/// One `llm` (or `agent`) call, with its options evaluated.
#[derive(Debug)]
pub struct LlmRequest<'a> {
    /// The id of the step making the call.
    pub step: &'a str,
    pub model: &'a Model,
    /// The type the answer must fit (named types resolve through `types`).
    pub output: &'a Ty,
    pub types: &'a TypeTable,
    pub prompt: String,
    pub system: Option<String>,
    pub temperature: Option<f64>,
    pub max_tokens: Option<u64>,
    /// For `agent` steps: the tools the model may call.
    pub tools: Vec<String>,
}

/// Answers model calls. The answer is JSON that the interpreter checks
/// against the step's declared type (a mismatch is a `schema` error).
pub trait ModelProvider: Send + Sync {
    fn call<'a>(&'a self, request: &'a LlmRequest<'a>) -> BoxFuture<'a, Result<serde_json::Value, ToolError>>;
}

/// Answers every call with a value generated from the output type: the same
/// request always gets the same answer.
#[derive(Debug, Default, Clone, Copy)]
pub struct TypeMock;

impl ModelProvider for TypeMock {
    fn call<'a>(&'a self, request: &'a LlmRequest<'a>) -> BoxFuture<'a, Result<serde_json::Value, ToolError>> {
        Box::pin(async move { Ok(sample(request.output, request.types, "")) })
    }
}

/// A deterministic value of type `ty`: enums take their first member,
/// optionals their inner type, lists one item, strings a short placeholder.
pub fn sample(ty: &Ty, types: &TypeTable, name: &str) -> serde_json::Value {
    sample_at(ty, types, name, 0)
}

fn sample_at(ty: &Ty, types: &TypeTable, name: &str, depth: u32) -> serde_json::Value {
    use serde_json::{Value as J, json};
    if depth > 8 {
        return J::Null;
    }
    match types.resolve(ty) {
        Ty::Unknown | Ty::Never | Ty::Null => J::Null,
        Ty::Bool => J::Bool(true),
        Ty::Int => json!(1),
        Ty::Float => json!(0.5),
        Ty::Duration => json!(1000),
        Ty::Percent => json!(50.0),
        Ty::String => J::String(if name.is_empty() { "mock text".into() } else { format!("mock {name}") }),
        Ty::Lit(s) => J::String(s.to_string()),
        Ty::Enum(members) => J::String(members.first().cloned().unwrap_or_default()),
        Ty::Optional(_) if depth > 4 => J::Null,
        Ty::Optional(inner) => sample_at(inner, types, name, depth + 1),
        Ty::List(_) if depth > 4 => J::Array(Vec::new()),
        Ty::List(elem) => J::Array(vec![sample_at(elem, types, name, depth + 1)]),
        Ty::Map(elem) => json!({ "key": sample_at(elem, types, name, depth + 1) }),
        Ty::Record(r) => {
            J::Object(r.fields.iter().map(|f| (f.name.clone(), sample_at(&f.ty, types, &f.name, depth + 1))).collect())
        }
        Ty::Named(_) => J::Null,
    }
}
