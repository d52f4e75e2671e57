//! The layout of expressions and type expressions: operators with the
//! parentheses their precedence needs (and those the author wrote), records,
//! lists and arguments as bracketed groups, literals as written.

use super::doc::{Doc, concat, group, nest, text};
use super::items::{Brackets, Fmt, Sep};
use crate::ast::*;
use crate::span::Span;

/// How tightly an expression binds, as the grammar's precedence table says.
fn precedence(e: &Expr) -> u8 {
    match &e.kind {
        ExprKind::Binary { op, .. } => op.precedence(),
        ExprKind::Lambda { .. } => 0,
        ExprKind::Unary { .. } => 8,
        ExprKind::Field { .. } | ExprKind::Index { .. } | ExprKind::Method { .. } | ExprKind::Call { .. } => 9,
        _ => 10,
    }
}

const UNARY: u8 = 8;
const POSTFIX: u8 = 9;

impl Fmt<'_> {
    pub fn expr(&mut self, e: &Expr) -> Doc {
        match &e.kind {
            ExprKind::Str(_) if self.slice(e.span).starts_with("\"\"\"") => Doc::Verbatim {
                text: self.slice(e.span).to_string(),
                old_indent: self.line_indent(e.span.start),
                shift: true,
            },
            ExprKind::Int(_)
            | ExprKind::Float(_)
            | ExprKind::Bool(_)
            | ExprKind::Null
            | ExprKind::Str(_)
            | ExprKind::Duration(_)
            | ExprKind::Percent(_)
            | ExprKind::Name(_)
            | ExprKind::Invalid => self.verbatim(e.span),
            ExprKind::List(items) => {
                let b = Brackets {
                    open: "[",
                    close: "]",
                    sep: Sep::Comma,
                    pad: false,
                    close_at: e.span.end.saturating_sub(1),
                    expand: self.written_broken(e.span),
                };
                self.bracketed(b, items, |x| x.span, |f, x| f.expr(x))
            }
            ExprKind::Record(fields) => self.record_at(e.span, fields),
            ExprKind::Field { target, name, optional } => {
                let target = self.operand(target, POSTFIX);
                concat(vec![target, text(if *optional { "?." } else { "." }), text(&name.name)])
            }
            ExprKind::Index { target, index } => {
                let target = self.operand(target, POSTFIX);
                let index = self.expr(index);
                concat(vec![target, text("["), index, text("]")])
            }
            ExprKind::Call { callee, args } => {
                let args = self.args(args, e.span.end);
                concat(vec![text(&callee.name), args])
            }
            ExprKind::Method { .. } if method_calls(e) >= 2 => self.chain(e),
            ExprKind::Method { target, name, args, optional } => {
                let target = self.operand(target, POSTFIX);
                let args = self.args(args, e.span.end);
                concat(vec![target, text(if *optional { "?." } else { "." }), text(&name.name), args])
            }
            ExprKind::Unary { op, operand } => {
                let operand = self.operand(operand, UNARY);
                concat(vec![text(op.symbol()), operand])
            }
            ExprKind::Binary { op, lhs, rhs } => {
                let own = precedence(e);
                let lhs = self.operand(lhs, own);
                // Left-associative: an equal-precedence right operand needs parentheses.
                let rhs = self.operand(rhs, own + 1);
                // Too long for one line: broken before the operator.
                group(concat(vec![lhs, nest(concat(vec![Doc::Line, text(format!("{} ", op.symbol())), rhs]))]))
            }
            ExprKind::If { condition, then, otherwise } => {
                let condition = self.expr(condition);
                let then = self.expr(then);
                let mut parts = vec![text("if "), condition, text(" { "), then, text(" } else ")];
                if matches!(otherwise.kind, ExprKind::If { .. }) {
                    parts.push(self.expr(otherwise));
                } else {
                    parts.extend([text("{ "), self.expr(otherwise), text(" }")]);
                }
                concat(parts)
            }
            ExprKind::Lambda { params, body } => {
                let names: Vec<&str> = params.iter().map(|p| p.name.as_str()).collect();
                let head = match names.as_slice() {
                    [one] => one.to_string(),
                    _ => format!("({})", names.join(", ")),
                };
                concat(vec![text(format!("{head} => ")), self.expr(body)])
            }
        }
    }

    /// A chain of method calls: on one line when it fits, else broken
    /// before each call (`items\n  .filter(...)\n  .map(...)`).
    fn chain(&mut self, e: &Expr) -> Doc {
        let mut links = Vec::new();
        let mut base = e;
        while let ExprKind::Method { target, .. } | ExprKind::Field { target, .. } = &base.kind {
            links.push(base);
            base = target;
        }
        let head = self.operand(base, POSTFIX);
        let mut rest = Vec::new();
        for link in links.iter().rev() {
            match &link.kind {
                ExprKind::Method { name, args, optional, .. } => {
                    rest.push(Doc::SoftLine);
                    rest.push(text(format!("{}{}", if *optional { "?." } else { "." }, name.name)));
                    rest.push(self.args(args, link.span.end));
                }
                ExprKind::Field { name, optional, .. } => {
                    rest.push(text(format!("{}{}", if *optional { "?." } else { "." }, name.name)));
                }
                _ => {}
            }
        }
        group(concat(vec![head, nest(concat(rest))]))
    }

    /// An operand: in parentheses when it binds less tightly than `needed`
    /// or the author put it in them.
    fn operand(&mut self, e: &Expr, needed: u8) -> Doc {
        let inner = self.expr(e);
        if precedence(e) < needed || self.parenthesized(e.span) {
            concat(vec![text("("), inner, text(")")])
        } else {
            inner
        }
    }

    /// Whether the source has `(` just before `span` and its `)` just after
    /// (a span may start inside its first operand's parentheses and end
    /// inside its last one's: `(a) * (b)` is not in parentheses).
    fn parenthesized(&self, span: Span) -> bool {
        let before = self.source[..span.start].trim_end();
        let after = self.source[span.end..].trim_start();
        before.ends_with('(') && after.starts_with(')') && balanced(&self.source[span.start..span.end])
    }

    /// The indentation of the source line holding `offset`.
    fn line_indent(&self, offset: usize) -> usize {
        let start = self.source[..offset].rfind('\n').map_or(0, |i| i + 1);
        let line = &self.source[start..offset];
        line.len() - line.trim_start_matches(' ').len()
    }

    fn args(&mut self, args: &[Arg], call_end: usize) -> Doc {
        let b = Brackets {
            open: "(",
            close: ")",
            sep: Sep::Comma,
            pad: false,
            close_at: call_end.saturating_sub(1),
            expand: false,
        };
        self.bracketed(
            b,
            args,
            |a| a.span,
            |f, a| match &a.name {
                Some(name) => concat(vec![text(format!("{}: ", name.name)), f.expr(&a.value)]),
                None => f.expr(&a.value),
            },
        )
    }

    /// A record literal whose braces span `span`.
    pub fn record_at(&mut self, span: Span, fields: &[RecordField]) -> Doc {
        let b = Brackets {
            open: "{",
            close: "}",
            sep: Sep::Newline,
            pad: true,
            close_at: span.end.saturating_sub(1),
            expand: self.written_broken(span),
        };
        self.bracketed(b, fields, |f| f.span, |f, field| f.record_field(field))
    }

    /// A record literal starting after `from` and ending by `to`.
    pub fn record_after(&mut self, from: usize, to: usize, fields: &[RecordField]) -> Doc {
        let open = from + self.source[from..to].find('{').unwrap_or(0);
        let close = self.source[..to].rfind('}').map_or(to, |c| c + 1);
        self.record_at(Span::new(open, close), fields)
    }

    pub fn record_field(&mut self, field: &RecordField) -> Doc {
        concat(vec![self.verbatim(field.key.span), text(": "), self.expr(&field.value)])
    }

    // ------------------------------------------------------------ types

    pub fn type_expr(&mut self, t: &TypeExpr) -> Doc {
        let doc = match &t.kind {
            TypeExprKind::Named(_) | TypeExprKind::Value(_) => self.verbatim(t.span),
            TypeExprKind::Literal(..) => self.literal_type(t.span),
            TypeExprKind::List(inner) => concat(vec![text("["), self.type_expr(inner), text("]")]),
            TypeExprKind::Optional(inner) => {
                let needs = matches!(inner.kind, TypeExprKind::Union(_)) && !self.parenthesized(inner.span);
                let inner = self.type_expr(inner);
                if needs { concat(vec![text("("), inner, text(")?")]) } else { concat(vec![inner, text("?")]) }
            }
            TypeExprKind::Map(k, v) => {
                concat(vec![text("map<"), self.type_expr(k), text(", "), self.type_expr(v), text(">")])
            }
            TypeExprKind::Record(fields) => {
                let b = Brackets {
                    open: "{",
                    close: "}",
                    sep: Sep::Newline,
                    pad: true,
                    close_at: t.span.end.saturating_sub(1),
                    expand: self.written_broken(t.span),
                };
                self.bracketed(b, fields, |f| f.span, |f, field| f.field_decl(field))
            }
            TypeExprKind::Union(members) => group(concat(vec![self.union_first(members)])),
        };
        if self.parenthesized(t.span) { concat(vec![text("("), doc, text(")")]) } else { doc }
    }

    /// A union's members, broken one per line (`| B` on each line after the
    /// first) when it does not fit; the caller nests and groups it.
    pub fn union(&mut self, members: &[TypeExpr]) -> Doc {
        let mut parts = Vec::new();
        for (i, m) in members.iter().enumerate() {
            if i > 0 {
                parts.push(Doc::Line);
            }
            let line_start = self.member_start(m.span);
            parts.extend(self.comments.leading(line_start));
            if i > 0 {
                parts.push(text("| "));
            }
            parts.push(self.type_expr(m));
        }
        concat(parts)
    }

    /// A union inside another type: its members after the first nested.
    fn union_first(&mut self, members: &[TypeExpr]) -> Doc {
        let Some((first, rest)) = members.split_first() else {
            return text("");
        };
        let first = self.type_expr(first);
        let rest = self.union(rest);
        if matches!(&rest, Doc::Concat(p) if p.is_empty()) {
            return first;
        }
        concat(vec![first, nest(concat(vec![Doc::Line, text("| "), rest]))])
    }

    /// Where a union member's line starts: at its `|` when one precedes it.
    fn member_start(&self, span: Span) -> usize {
        let before = self.source[..span.start].trim_end();
        if before.ends_with('|') { before.len() - 1 } else { span.start }
    }

    fn literal_type(&self, span: Span) -> Doc {
        let written = self.slice(span);
        let Some(close) = string_end(written) else {
            return text(written);
        };
        let alias = written[close..].trim_start().strip_prefix("as").map(str::trim_start);
        match alias {
            Some(alias) => text(format!("{} as {alias}", &written[..close])),
            None => text(written),
        }
    }

    fn field_decl(&mut self, field: &FieldDecl) -> Doc {
        let mut parts = vec![self.verbatim(field.name.span), text(": "), self.type_expr(&field.ty)];
        if field.alias.is_some() {
            let rest = self.source[field.ty.span.end..field.span.end].trim();
            let alias = rest.strip_prefix("as").map_or(rest, str::trim_start);
            parts.push(text(format!(" as {alias}")));
        }
        concat(parts)
    }
}

/// How many method calls a chain of calls and fields holds.
fn method_calls(e: &Expr) -> usize {
    match &e.kind {
        ExprKind::Method { target, .. } => 1 + method_calls(target),
        ExprKind::Field { target, .. } => method_calls(target),
        _ => 0,
    }
}

/// Whether every `)` in the code of `text` closes a `(` before it (strings
/// and comments aside).
fn balanced(text: &str) -> bool {
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        if let Some(end) = crate::scan::skip_string_or_comment(text, i) {
            i = end;
            continue;
        }
        match bytes[i] {
            b'(' => depth += 1,
            b')' if depth == 0 => return false,
            b')' => depth -= 1,
            _ => {}
        }
        i += 1;
    }
    true
}

/// The end of the plain string that starts `s` (after its closing quote).
fn string_end(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    if bytes.first() != Some(&b'"') {
        return None;
    }
    let mut i = 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}
