//! Constant expressions as JSON: option values, test inputs and mocks,
//! which are fixed when the program is compiled.

use flow_grammar::ast;
use flow_grammar::ast::{ExprKind as A, StrPart};

/// The value of a constant expression (literals, lists and records of
/// them) as JSON; durations become milliseconds.
pub fn constant(e: &ast::Expr) -> Option<serde_json::Value> {
    use serde_json::Value as J;
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
        A::Unary { op: ast::UnaryOp::Neg, operand } => match constant(operand)? {
            J::Number(n) if n.is_i64() => J::from(-n.as_i64()?),
            J::Number(n) => J::from(-n.as_f64()?),
            _ => return None,
        },
        _ => return None,
    })
}
