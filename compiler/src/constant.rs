//! Constant expressions as JSON: option values, test inputs and mocks,
//! which are fixed when the program is compiled.

use flow_grammar::ast;
use flow_grammar::ast::{ExprKind as A, StrPart};
use serde_json::Value as J;

/// The value of a constant expression (literals, lists and records of
/// them) as JSON; durations become milliseconds.
pub fn constant(e: &ast::Expr) -> Option<serde_json::Value> {
    Some(match &e.kind {
        A::Int(i) => J::from(*i),
        A::Float(f) => J::from(*f),
        A::Bool(b) => J::Bool(*b),
        A::Null => J::Null,
        A::Duration(ms) => J::from(*ms),
        A::Percent(p) => J::from(*p),
        A::Str(parts) => {
            let mut text = String::new();
            for part in parts {
                match part {
                    StrPart::Text(t) => text.push_str(t),
                    StrPart::Interp(_) => return None,
                }
            }
            J::String(text)
        }
        A::List(items) => J::Array(items.iter().map(constant).collect::<Option<_>>()?),
        A::Record(fields) => {
            J::Object(fields.iter().map(|f| Some((f.key.name.clone(), constant(&f.value)?))).collect::<Option<_>>()?)
        }
        A::Call { .. } => {
            let (kind, message) = mock_error(e)?;
            J::Object(
                [(MOCK_ERROR.to_string(), serde_json::json!({ "kind": kind, "message": message }))]
                    .into_iter()
                    .collect(),
            )
        }
        A::Unary { op: ast::UnaryOp::Neg, operand } => match constant(operand)? {
            J::Number(n) if n.is_i64() => J::from(-n.as_i64()?),
            J::Number(n) => J::from(-n.as_f64()?),
            _ => return None,
        },
        _ => return None,
    })
}

/// The name in `secret("NAME")`: a credential the host grants, allowed
/// only as an http tool's header value. The file names it; the host
/// supplies its value and the hosts it may go to.
pub fn secret_name(e: &ast::Expr) -> Option<&str> {
    let A::Call { callee, args } = &e.kind else { return None };
    if callee.name != SECRET || args.len() != 1 || args[0].name.is_some() {
        return None;
    }
    match &args[0].value.kind {
        A::Str(parts) => match parts.as_slice() {
            [StrPart::Text(name)] if !name.is_empty() => Some(name.as_str()),
            _ => None,
        },
        _ => None,
    }
}

/// The function that names a host secret in an http tool's headers.
pub const SECRET: &str = "secret";

/// Whether an option's value is fixed when the program is compiled: a
/// constant, or a record of constants and `secret("NAME")`s (headers).
pub fn fixed(e: &ast::Expr) -> bool {
    match &e.kind {
        A::Record(fields) => fields.iter().all(|f| secret_name(&f.value).is_some() || fixed(&f.value)),
        _ => constant(e).is_some(),
    }
}

use crate::ir::MOCK_ERROR;

/// `error("rate_limited")` or `error("timeout", "slow")` as a mock answer:
/// its error kind and message (the kind's name when none is given).
pub fn mock_error(e: &ast::Expr) -> Option<(String, String)> {
    let A::Call { callee, args } = &e.kind else { return None };
    if callee.name != "error" || args.is_empty() || args.len() > 2 || args.iter().any(|a| a.name.is_some()) {
        return None;
    }
    let text = |a: &ast::Arg| match constant(&a.value) {
        Some(J::String(s)) => Some(s),
        _ => None,
    };
    let kind = text(&args[0])?;
    let message = match args.get(1) {
        Some(a) => text(a)?,
        None => format!("mocked {kind} error"),
    };
    Some((kind, message))
}
