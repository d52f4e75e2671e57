//! Expressions. An expression is read as pest's flat
//! `expr` rule reads it (operands with their prefix and postfix operators,
//! between infix operators), then folded by precedence as the builder's Pratt
//! parser folds it: every binary operator is left-associative, prefix
//! operators bind tighter than infix ones and looser than postfix ones.

use super::{Bail, Parser, R};
use crate::ast::*;
use crate::build::MAX_EXPR_DEPTH;
use crate::span::Span;

fn binary(op: BinaryOp, lhs: Expr, rhs: Expr) -> Expr {
    let span = lhs.span.to(rhs.span);
    Expr { kind: ExprKind::Binary { op, lhs: Box::new(lhs), rhs: Box::new(rhs) }, span }
}

/// Folds `u0 op1 u1 op2 u2 ...` by precedence, left to right within one.
fn fold(first: Expr, rest: Vec<(BinaryOp, Expr)>) -> Expr {
    let mut operands = vec![first];
    let mut operators: Vec<BinaryOp> = Vec::new();
    let reduce = |operands: &mut Vec<Expr>, op: BinaryOp| {
        let rhs = operands.pop().expect("an operand per operator");
        let lhs = operands.pop().expect("an operand per operator");
        operands.push(binary(op, lhs, rhs));
    };
    for (op, operand) in rest {
        while let Some(&top) = operators.last()
            && top.precedence() >= op.precedence()
        {
            operators.pop();
            reduce(&mut operands, top);
        }
        operators.push(op);
        operands.push(operand);
    }
    while let Some(op) = operators.pop() {
        reduce(&mut operands, op);
    }
    operands.pop().expect("one expression")
}

impl<'s> Parser<'s> {
    pub(super) fn expr(&mut self) -> R<Expr> {
        self.expr_rule(false)
    }

    /// A map's list: one operand, whose last `( ... )` is not a call when it
    /// starts with a map option.
    pub(super) fn map_source(&mut self) -> R<Expr> {
        self.expr_rule(true)
    }

    fn expr_rule(&mut self, map_source: bool) -> R<Expr> {
        self.nested(|p| {
            let outer = p.enter_expr();
            let mut parts = 0;
            let first = p.operand(&mut parts, map_source)?;
            let mut rest = Vec::new();
            if !map_source {
                p.skip();
                let mut next = p.infix_op();
                while let Some(op) = next {
                    parts += 1;
                    // Too deep for the builder: give up before building a
                    // tree whose drop alone would recurse that deep.
                    if parts > MAX_EXPR_DEPTH {
                        return Err(Bail);
                    }
                    p.skip();
                    rest.push((op, p.operand(&mut parts, false)?));
                    let save = p.pos;
                    p.skip();
                    next = p.infix_op();
                    if next.is_none() {
                        p.pos = save;
                    }
                }
            }
            let expr = if rest.is_empty() { first } else { fold(first, rest) };
            p.leave_expr(outer, parts)?;
            Ok(expr)
        })
    }

    /// `prefix_op* ~ primary ~ postfix*`, prefix operators applied last.
    fn operand(&mut self, parts: &mut usize, map_source: bool) -> R<Expr> {
        let mut prefixes = Vec::new();
        while let Some(prefix) = self.prefix_op() {
            prefixes.push(prefix);
            self.skip();
        }
        *parts += 1 + prefixes.len();
        if *parts > MAX_EXPR_DEPTH {
            return Err(Bail);
        }
        let mut expr = self.primary()?;
        self.skip();
        let mut first = true;
        loop {
            let save = self.pos;
            if !first {
                self.skip();
            }
            if (map_source && self.map_options_start()) || !self.postfix(&mut expr)? {
                self.pos = save;
                break;
            }
            first = false;
            *parts += 1;
            if *parts > MAX_EXPR_DEPTH {
                return Err(Bail);
            }
        }
        for (op, span) in prefixes.into_iter().rev() {
            let span = span.to(expr.span);
            expr = Expr { kind: ExprKind::Unary { op, operand: Box::new(expr) }, span };
        }
        Ok(expr)
    }

    fn prefix_op(&mut self) -> Option<(UnaryOp, Span)> {
        let start = self.pos;
        match self.peek() {
            b'-' => {
                self.pos += 1;
                Some((UnaryOp::Neg, Span::new(start, self.pos)))
            }
            // `not = { "!" ~ !"=" }`: the skip inside is part of its span.
            b'!' => {
                self.pos += 1;
                self.skip();
                if self.peek() == b'=' {
                    self.pos = start;
                    return None;
                }
                Some((UnaryOp::Not, self.span(start)))
            }
            _ => None,
        }
    }

    fn infix_op(&mut self) -> Option<BinaryOp> {
        let (op, len) = match (self.peek(), self.peek_at(1)) {
            (b'?', b'?') => (BinaryOp::Coalesce, 2),
            (b'|', b'|') => (BinaryOp::Or, 2),
            (b'&', b'&') => (BinaryOp::And, 2),
            (b'=', b'=') => (BinaryOp::Eq, 2),
            (b'!', b'=') => (BinaryOp::Ne, 2),
            (b'<', b'=') => (BinaryOp::Le, 2),
            (b'>', b'=') => (BinaryOp::Ge, 2),
            (b'<', _) => (BinaryOp::Lt, 1),
            (b'>', _) => (BinaryOp::Gt, 1),
            (b'+', _) => (BinaryOp::Add, 1),
            (b'*', _) => (BinaryOp::Mul, 1),
            (b'/', _) => (BinaryOp::Div, 1),
            // `sub = { "-" ~ !">" }`, the skip inside kept.
            (b'-', _) => {
                let start = self.pos;
                self.pos += 1;
                self.skip();
                if self.peek() == b'>' {
                    self.pos = start;
                    return None;
                }
                return Some(BinaryOp::Sub);
            }
            _ => return None,
        };
        self.pos += len;
        Some(op)
    }

    // ------------------------------------------------------------ postfix

    /// One postfix operator applied to `target`; `false` (cursor unmoved)
    /// when none starts here.
    fn postfix(&mut self, target: &mut Expr) -> R<bool> {
        let start = self.pos;
        let placeholder = || Expr { kind: ExprKind::Invalid, span: Span::new(start, start) };
        let optional = match (self.peek(), self.peek_at(1)) {
            (b'?', b'.') => true,
            (b'.', _) => false,
            (b'[', _) => {
                self.pos += 1;
                self.skip();
                let index = self.expr()?;
                self.skip();
                self.expect("]")?;
                let span = target.span.to(self.span(start));
                let inner = Box::new(std::mem::replace(target, placeholder()));
                *target = Expr { kind: ExprKind::Index { target: inner, index: Box::new(index) }, span };
                return Ok(true);
            }
            (b'(', _) => {
                let args = self.call_args()?;
                let span = target.span.to(self.span(start));
                let callee = std::mem::replace(target, placeholder());
                *target = match callee.kind {
                    ExprKind::Name(name) => {
                        let callee = Ident { name, span: callee.span };
                        Expr { kind: ExprKind::Call { callee, args }, span }
                    }
                    ExprKind::Invalid => callee,
                    // The builder reports "only a name can be called".
                    _ => return Err(Bail),
                };
                return Ok(true);
            }
            _ => return Ok(false),
        };
        self.pos += if optional { 2 } else { 1 };
        self.skip();
        if self.next_statement() {
            return Err(Bail);
        }
        let name = self.name()?;
        self.skip();
        let args = match self.peek() == b'(' && !self.map_options_start() {
            true => Some(self.call_args()?),
            false => None,
        };
        let span = target.span.to(self.span(start));
        let target_expr = Box::new(std::mem::replace(target, placeholder()));
        let kind = match args {
            Some(args) => ExprKind::Method { target: target_expr, name, args, optional },
            None => ExprKind::Field { target: target_expr, name, optional },
        };
        *target = Expr { kind, span };
        Ok(true)
    }

    /// pest's `next_statement` lookahead: `step NAME =` follows.
    fn next_statement(&mut self) -> bool {
        if !self.at_keyword("step") {
            return false;
        }
        let save = self.pos;
        self.pos += 4;
        self.skip();
        let found = self.ident().is_ok() && {
            self.skip();
            self.peek() == b'='
        };
        self.pos = save;
        found
    }

    /// pest's `map_options_start` lookahead: `( concurrency :` or `( tolerate :`.
    pub(super) fn map_options_start(&mut self) -> bool {
        if self.peek() != b'(' {
            return false;
        }
        let save = self.pos;
        self.pos += 1;
        self.skip();
        let found = (self.eat("concurrency") || self.eat("tolerate")) && {
            self.skip();
            self.peek() == b':'
        };
        self.pos = save;
        found
    }

    fn call_args(&mut self) -> R<Vec<Arg>> {
        self.punct("(")?;
        let args = self.comma_list(b')', |_| true, |p| p.arg())?;
        self.expect(")")?;
        Ok(args)
    }

    fn arg(&mut self) -> R<Arg> {
        let start = self.pos;
        if self.lambda_follows() {
            let value = self.lambda()?;
            return Ok(Arg { name: None, value, span: self.span(start) });
        }
        if let Some(word) = self.peek_word() {
            self.pos += word.len();
            self.skip();
            let named = self.peek() == b':';
            self.pos = start;
            if named {
                let name = self.name()?;
                self.skip();
                self.punct(":")?;
                let value = self.expr()?;
                return Ok(Arg { name: Some(name), value, span: self.span(start) });
            }
        }
        let value = self.expr()?;
        Ok(Arg { name: None, value, span: self.span(start) })
    }

    /// `x =>` or `(a, b) =>` follows.
    fn lambda_follows(&mut self) -> bool {
        let save = self.pos;
        let found = self.lambda_params().is_ok() && {
            self.skip();
            self.at("=>")
        };
        self.pos = save;
        found
    }

    fn lambda_params(&mut self) -> R<Vec<Ident>> {
        if self.peek() != b'(' {
            return Ok(vec![self.ident()?]);
        }
        self.pos += 1;
        self.skip();
        let mut params = Vec::new();
        if self.at_ident() {
            params.push(self.ident()?);
            loop {
                self.skip();
                if !self.eat(",") {
                    break;
                }
                self.skip();
                params.push(self.ident()?);
            }
        }
        self.skip();
        self.expect(")")?;
        Ok(params)
    }

    fn lambda(&mut self) -> R<Expr> {
        let start = self.pos;
        let params = self.lambda_params()?;
        self.skip();
        self.punct("=>")?;
        let body = Box::new(self.expr()?);
        Ok(Expr { kind: ExprKind::Lambda { params, body }, span: self.span(start) })
    }

    // ------------------------------------------------------------ primaries

    fn primary(&mut self) -> R<Expr> {
        let start = self.pos;
        match self.peek() {
            b'"' => self.string(),
            b'[' => self.list_lit(),
            b'{' => {
                let (fields, span) = self.record_lit_opt()?.ok_or(Bail)?;
                Ok(Expr { kind: ExprKind::Record(fields), span })
            }
            b'(' => {
                self.pos += 1;
                self.skip();
                let inner = self.expr()?;
                self.skip();
                self.expect(")")?;
                Ok(inner)
            }
            b'0'..=b'9' => self.number(),
            _ => {
                let kind = match self.peek_word() {
                    Some("if") => return self.if_expr(),
                    Some("true") => ExprKind::Bool(true),
                    Some("false") => ExprKind::Bool(false),
                    Some("null") => ExprKind::Null,
                    _ => {
                        let name = self.ident()?;
                        return Ok(Expr { kind: ExprKind::Name(name.name), span: name.span });
                    }
                };
                self.pos = self.word_end();
                Ok(Expr { kind, span: Span::new(start, self.pos) })
            }
        }
    }

    /// `if c { a } else { b }`, `else if` chained.
    fn if_expr(&mut self) -> R<Expr> {
        self.nested(|p| {
            let start = p.pos;
            p.keyword("if")?;
            p.skip();
            let condition = Box::new(p.expr()?);
            let then = Box::new(p.braced_expr()?);
            p.skip();
            p.keyword("else")?;
            p.skip();
            let otherwise = Box::new(match p.at_keyword("if") {
                true => p.if_expr()?,
                false => p.braced_expr()?,
            });
            Ok(Expr { kind: ExprKind::If { condition, then, otherwise }, span: p.span(start) })
        })
    }

    /// `{ expr }`, after the skip before it.
    fn braced_expr(&mut self) -> R<Expr> {
        self.skip();
        self.punct("{")?;
        let expr = self.expr()?;
        self.skip();
        self.expect("}")?;
        Ok(expr)
    }

    pub(super) fn list_lit(&mut self) -> R<Expr> {
        let start = self.pos;
        self.punct("[")?;
        let items = self.comma_list(b']', |_| true, |p| p.expr())?;
        self.expect("]")?;
        Ok(Expr { kind: ExprKind::List(items), span: self.span(start) })
    }

    /// A record literal's fields and span, if one starts here.
    pub(super) fn record_lit_opt(&mut self) -> R<Option<(Vec<RecordField>, Span)>> {
        if self.peek() != b'{' {
            return Ok(None);
        }
        let start = self.pos;
        self.pos += 1;
        self.skip();
        let fields = self.separated_star(|p| p.peek() == b'"' || p.peek_word().is_some(), |p| p.record_field())?;
        self.skip();
        self.expect("}")?;
        Ok(Some((fields, self.span(start))))
    }

    /// `key: expr`, the key a name or a plain string.
    pub(super) fn record_field(&mut self) -> R<RecordField> {
        let start = self.pos;
        let key = match self.peek() {
            b'"' => {
                let lit = self.str_lit()?;
                Ident { name: lit.value, span: lit.span }
            }
            _ => self.name()?,
        };
        self.skip();
        self.punct(":")?;
        let value = self.expr()?;
        Ok(RecordField { key, value, span: self.span(start) })
    }
}
