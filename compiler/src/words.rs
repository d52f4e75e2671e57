//! Words for diagnostics: source excerpts, plurals, placeholders for a
//! type in `help:` lines, and widening literal types for messages. Shared by
//! every part of the checker.

use crate::types::Ty;
use flow_grammar::Span;

/// A string literal's type widened to `string` (a record field holding
/// `"x"` is a `string` field, not a `"x"` field).
pub(crate) fn widen(ty: Ty) -> Ty {
    match ty {
        Ty::Lit(_) => Ty::String,
        Ty::Const(c) => c.base(),
        Ty::List(inner) => Ty::List(Box::new(widen(*inner))),
        other => other,
    }
}

pub(crate) fn source_text(source: &str, span: Span) -> String {
    let text = source.get(span.start..span.end).unwrap_or("");
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() > 40 {
        let short: String = one_line.chars().take(37).collect();
        format!("{short}...")
    } else {
        one_line
    }
}

pub(crate) fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// A value of the type, as source text, for `help:` lines.
pub(crate) fn placeholder(ty: &Ty) -> String {
    match ty {
        Ty::Int => "0".into(),
        Ty::Float => "0.0".into(),
        Ty::Bool => "false".into(),
        Ty::String | Ty::Lit(_) => "\"\"".into(),
        Ty::Enum(m) => m.first().map_or("\"\"".into(), |s| format!("{s:?}")),
        Ty::List(_) => "[]".into(),
        Ty::Optional(_) | Ty::Null => "null".into(),
        Ty::Duration => "30s".into(),
        Ty::Percent => "5%".into(),
        Ty::Map(_) | Ty::Record(_) => "{ ... }".into(),
        _ => "...".into(),
    }
}

/// "a, b and c".
pub(crate) fn and_list(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => one.to_string(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}
