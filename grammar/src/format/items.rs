//! The layout of items, blocks, steps, step forms and clauses, and the two
//! list shapes everything else is built from: a vertical list (always one
//! element per line) and a bracketed group (flat when it fits).

use super::comments::Comments;
use super::doc::{Doc, concat, group, nest, text, trailing_comma};
use crate::ast::*;
use crate::span::Span;

pub struct Fmt<'s> {
    pub source: &'s str,
    pub comments: Comments<'s>,
}

/// How a bracketed group separates its elements.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Sep {
    /// `a, b` flat; one per line with a trailing comma when broken.
    Comma,
    /// `a, b` flat; one per line without commas when broken (records).
    Newline,
}

/// How a bracketed group is written.
#[derive(Clone, Copy)]
pub struct Brackets {
    pub open: &'static str,
    pub close: &'static str,
    pub sep: Sep,
    /// Spaces inside the brackets when flat: `{ a: 1 }`.
    pub pad: bool,
    /// The offset of the closing bracket (comments before it stay inside).
    pub close_at: usize,
    /// Broken whatever the width (written broken in the source).
    pub expand: bool,
}

impl<'s> Fmt<'s> {
    /// The text of a node, without whitespace or comments its span ran over.
    pub fn slice(&self, span: Span) -> &'s str {
        &self.source[span.start..self.comments.code_end(span.end).max(span.start)]
    }

    pub fn verbatim(&self, span: Span) -> Doc {
        text(self.slice(span))
    }

    /// Whether the source has a line break right after the bracket that
    /// opens `span`.
    pub fn written_broken(&self, span: Span) -> bool {
        let after = &self.source[(span.start + 1).min(span.end)..span.end];
        let line = after.split('\n').next().unwrap_or("");
        after.contains('\n') && (line.trim().is_empty() || line.trim_start().starts_with("//"))
    }

    pub fn file(&mut self, file: &File) -> Doc {
        let end = self.source.len();
        let mut parts = self.vertical(&file.items, Item::span, |f, item| f.item(item), end);
        if file.items.is_empty() {
            parts = concat(self.comments.rest());
        }
        concat(vec![parts, concat(self.comments.rest())])
    }

    /// Elements one per line, with their comments and the blank lines
    /// between them; comments after the last one and before `close_at` are
    /// written after it.
    pub fn vertical<T>(
        &mut self,
        elements: &[T],
        span: impl Fn(&T) -> Span,
        mut build: impl FnMut(&mut Self, &T) -> Doc,
        close_at: usize,
    ) -> Doc {
        let mut parts = Vec::new();
        let mut previous_end = None;
        for (i, element) in elements.iter().enumerate() {
            let s = span(element);
            let s = Span::new(s.start, self.comments.code_end(s.end));
            let limit = elements.get(i + 1).map_or(close_at, |next| span(next).start);
            if let Some(end) = previous_end {
                if self.comments.blank_between(end, self.comments.first_line_of(s.start)) {
                    parts.push(Doc::Blank);
                }
                parts.push(Doc::HardLine);
            }
            parts.extend(self.comments.leading(s.start));
            parts.push(build(self, element));
            parts.extend(self.comments.trailing(s.end, limit));
            previous_end = Some(s.end);
        }
        let mut dangling = self.comments.leading(close_at);
        if !dangling.is_empty() {
            dangling.pop(); // the line break after the last comment: the caller's
            if let Some(end) = previous_end {
                if self.comments.blank_between(end, close_at) {
                    parts.push(Doc::Blank);
                }
                parts.push(Doc::HardLine);
            }
            parts.extend(dangling);
        }
        concat(parts)
    }

    /// `{` + elements one per line + `}`.
    pub fn braced_vertical<T>(
        &mut self,
        elements: &[T],
        span: impl Fn(&T) -> Span,
        build: impl FnMut(&mut Self, &T) -> Doc,
        close_at: usize,
    ) -> Doc {
        let inner = self.vertical(elements, span, build, close_at);
        if matches!(&inner, Doc::Concat(p) if p.is_empty()) {
            return text("{}");
        }
        concat(vec![text("{"), nest(concat(vec![Doc::HardLine, inner])), Doc::HardLine, text("}")])
    }

    /// A bracketed group: flat when it fits, one element per line when not.
    pub fn bracketed<T>(
        &mut self,
        b: Brackets,
        elements: &[T],
        span: impl Fn(&T) -> Span,
        mut build: impl FnMut(&mut Self, &T) -> Doc,
    ) -> Doc {
        let edge = || if b.pad { Doc::Line } else { Doc::SoftLine };
        let mut inner = Vec::new();
        let count = elements.len();
        let mut previous_end = None;
        for (i, element) in elements.iter().enumerate() {
            let s = span(element);
            let s = Span::new(s.start, self.comments.code_end(s.end));
            let limit = elements.get(i + 1).map_or(b.close_at, |next| span(next).start);
            if let Some(end) = previous_end {
                if self.comments.blank_between(end, self.comments.first_line_of(s.start)) {
                    inner.push(Doc::Blank);
                }
                inner.push(Doc::Line);
            }
            inner.extend(self.comments.leading(s.start));
            inner.push(build(self, element));
            inner.push(match (b.sep, i + 1 == count) {
                (Sep::Comma, false) => text(","),
                (Sep::Comma, true) => trailing_comma(),
                (Sep::Newline, false) => Doc::IfBreak(Box::new(text("")), Box::new(text(","))),
                (Sep::Newline, true) => text(""),
            });
            inner.extend(self.comments.trailing(s.end, limit));
            previous_end = Some(s.end);
        }
        let mut dangling = self.comments.leading(b.close_at);
        if !dangling.is_empty() {
            dangling.pop();
            if previous_end.is_some() {
                inner.push(Doc::HardLine);
            }
            inner.extend(dangling);
            inner.push(Doc::BreakParent);
        }
        if inner.is_empty() {
            return text(format!("{}{}", b.open, b.close));
        }
        if b.expand {
            inner.push(Doc::BreakParent);
        }
        group(concat(vec![text(b.open), nest(concat(vec![edge(), concat(inner)])), edge(), text(b.close)]))
    }

    // ------------------------------------------------------------ items

    fn item(&mut self, item: &Item) -> Doc {
        match item {
            Item::Type(t) => self.type_def(t),
            Item::Model(m) => self.model_def(m),
            Item::Tool(t) => self.tool_def(t),
            Item::Flow(f) => self.flow_def(f),
            Item::Test(t) => self.test_def(t),
        }
    }

    fn type_def(&mut self, t: &TypeDef) -> Doc {
        let head = text(format!("type {}", t.name.name));
        let between = &self.source[t.name.span.end..t.ty.span.start];
        if !between.contains('=') {
            return concat(vec![head, text(" "), self.type_expr(&t.ty)]);
        }
        match &t.ty.kind {
            TypeExprKind::Union(members) => {
                concat(vec![head, text(" ="), group(nest(concat(vec![Doc::Line, self.union(members)])))])
            }
            _ => concat(vec![head, text(" = "), self.type_expr(&t.ty)]),
        }
    }

    fn model_def(&mut self, m: &ModelDef) -> Doc {
        let mut parts =
            vec![text(format!("model {} = {}({})", m.name.name, m.provider.name, self.slice(m.model_id.span)))];
        if !m.options.is_empty() {
            parts.push(text(" "));
            parts.push(self.record_after(m.model_id.span.end, m.span.end, &m.options));
        }
        concat(parts)
    }

    fn tool_def(&mut self, t: &ToolDef) -> Doc {
        let mut parts = vec![text(format!("tool {}", t.name.name)), self.params(t.name.span.end, &t.params)];
        parts.push(text(" -> "));
        parts.push(self.type_expr(&t.output));
        match &t.implementation {
            None => {}
            Some(ToolImpl::Http { method, url, options, span }) => {
                parts.push(text(format!(" = http {method} {}", self.slice(url.span))));
                if !options.is_empty() {
                    parts.push(text(" "));
                    parts.push(self.record_after(url.span.end, span.end, options));
                }
            }
            Some(ToolImpl::Command { argv, options, span }) => {
                parts.push(text(" = command "));
                parts.push(self.expr(argv));
                if !options.is_empty() {
                    parts.push(text(" "));
                    parts.push(self.record_after(argv.span.end, span.end, options));
                }
            }
        }
        concat(parts)
    }

    /// `(a: T, b: U)`, after the name ending at `after`.
    fn params(&mut self, after: usize, params: &[Param]) -> Doc {
        let close_at = params.last().map_or(after, |p| p.span.end);
        let close_at = close_at + self.source[close_at..].find(')').unwrap_or(0);
        let b = Brackets { open: "(", close: ")", sep: Sep::Comma, pad: false, close_at, expand: false };
        self.bracketed(
            b,
            params,
            |p| p.span,
            |f, p| concat(vec![text(format!("{}: ", p.name.name)), f.type_expr(&p.ty)]),
        )
    }

    fn flow_def(&mut self, flow: &FlowDef) -> Doc {
        let params = self.params(flow.name.span.end, &flow.params);
        let output = self.type_expr(&flow.output);
        let body = self.block(&flow.body);
        concat(vec![text(format!("flow {}", flow.name.name)), params, text(" -> "), output, text(" "), body])
    }

    fn test_def(&mut self, t: &TestDef) -> Doc {
        let entries: Vec<(Span, &TestEntry)> = t.entries.iter().map(|e| (self.entry_span(e), e)).collect();
        let close_at = t.span.end.saturating_sub(1);
        let body = self.braced_vertical(&entries, |(s, _)| *s, |f, (_, e)| f.test_entry(e), close_at);
        concat(vec![text(format!("test {} ", t.name.name)), body])
    }

    fn entry_span(&self, entry: &TestEntry) -> Span {
        match entry {
            TestEntry::Field { key, value } => key.span.to(value.span),
            TestEntry::Mock { target, value } => {
                let start = self.source[..target.span.start].rfind("mock").unwrap_or(target.span.start);
                Span::new(start, value.span.end)
            }
        }
    }

    fn test_entry(&mut self, entry: &TestEntry) -> Doc {
        match entry {
            TestEntry::Field { key, value } => concat(vec![text(format!("{}: ", key.name)), self.expr(value)]),
            TestEntry::Mock { target, value } => {
                concat(vec![text(format!("mock {}: ", target.name)), self.expr(value)])
            }
        }
    }

    // ------------------------------------------------------------ blocks and steps

    pub fn block(&mut self, block: &Block) -> Doc {
        enum Statement<'a> {
            Step(&'a Step),
            Return(&'a Expr),
        }
        let mut statements: Vec<(Span, Statement)> = block.steps.iter().map(|s| (s.span, Statement::Step(s))).collect();
        for r in &block.returns {
            let start = self.source[..r.span.start].rfind("return").unwrap_or(r.span.start);
            statements.push((Span::new(start, r.span.end), Statement::Return(r)));
        }
        statements.sort_by_key(|(s, _)| s.start);
        let close_at = block.span.end.saturating_sub(1);
        self.braced_vertical(
            &statements,
            |(s, _)| *s,
            |f, (_, st)| match st {
                Statement::Step(s) => f.step(s),
                Statement::Return(e) => concat(vec![text("return "), f.expr(e)]),
            },
            close_at,
        )
    }

    fn step(&mut self, step: &Step) -> Doc {
        let form = self.form(&step.form);
        let head = text(format!("step {} = ", step.name.name));
        if step.clauses.is_empty() {
            return concat(vec![head, form]);
        }
        // On the form's line when the whole step fits, else one clause per line.
        // Clauses written on lines of their own stay there.
        let mut clauses: Vec<Doc> = step.clauses.iter().map(|c| concat(vec![Doc::Line, self.clause(c)])).collect();
        let first = step.clauses.first().map_or(step.span.end, |c| c.span().start);
        if self.source[step.form.span.end.min(first)..first].contains('\n') {
            clauses.push(Doc::BreakParent);
        }
        concat(vec![head, group(concat(vec![form, nest(concat(clauses))]))])
    }

    pub fn form(&mut self, form: &Form) -> Doc {
        match &form.kind {
            FormKind::Expr(e) => self.expr(e),
            FormKind::Llm(call) => self.llm_call("llm", call),
            FormKind::Agent(call) => self.llm_call("agent", call),
            FormKind::Ask(ask) => {
                let output = self.type_expr(&ask.output);
                let options = self.record_at(ask.options_span, &ask.options);
                concat(vec![text("ask -> "), output, text(" "), options])
            }
            FormKind::Route(route) => self.route(route, form.span),
            FormKind::When { condition, body } => {
                let brace = condition.span.end + self.source[condition.span.end..form.span.end].find('{').unwrap_or(0);
                let expand =
                    if self.written_broken(Span::new(brace, form.span.end)) { Doc::BreakParent } else { text("") };
                let condition = self.expr(condition);
                let body = self.form(body);
                let braced = concat(vec![text("{"), nest(concat(vec![Doc::Line, body])), Doc::Line, text("}"), expand]);
                concat(vec![text("when "), condition, text(" "), group(braced)])
            }
            FormKind::Map(map) => self.map(map),
            FormKind::Loop(lp) => self.loop_form(lp),
        }
    }

    fn llm_call(&mut self, keyword: &str, call: &LlmCall) -> Doc {
        let output = self.type_expr(&call.output);
        let options = self.record_at(call.options_span, &call.options);
        concat(vec![text(format!("{keyword} {} -> ", call.model.name)), output, text(" "), options])
    }

    fn route(&mut self, route: &Route, span: Span) -> Doc {
        enum Arm<'a> {
            When(&'a RouteArm),
            Else(&'a Form, Span),
        }
        let mut arms: Vec<Arm> = route.arms.iter().map(Arm::When).collect();
        if let (Some(form), Some(at)) = (&route.otherwise, route.else_span) {
            arms.push(Arm::Else(form, at));
        }
        let arm_span = |a: &Arm| match a {
            Arm::When(arm) => arm.span,
            Arm::Else(form, at) => at.to(form.span),
        };
        let body = self.braced_vertical(
            &arms,
            arm_span,
            |f, arm| match arm {
                Arm::When(arm) => {
                    let condition = f.expr(&arm.condition);
                    concat(vec![text("when "), condition, text(" => "), f.form(&arm.form)])
                }
                Arm::Else(form, _) => concat(vec![text("else => "), f.form(form)]),
            },
            span.end.saturating_sub(1),
        );
        concat(vec![text("route "), body])
    }

    fn map(&mut self, map: &MapForm) -> Doc {
        let source = self.expr(&map.source);
        let mut parts = vec![text(format!("map {} in ", map.item.name)), source];
        if !map.options.is_empty() {
            parts.push(text(" "));
            parts.push(self.options(&map.options, map.body.span.start));
        }
        parts.push(text(" "));
        parts.push(self.block(&map.body));
        concat(parts)
    }

    fn loop_form(&mut self, lp: &LoopForm) -> Doc {
        let mut parts = vec![text("loop")];
        if let Some(previous) = &lp.previous {
            parts.push(text(format!(" {}", previous.name)));
        }
        if !lp.options.is_empty() {
            parts.push(text(" "));
            parts.push(self.options(&lp.options, lp.body.span.start));
        }
        parts.push(text(" "));
        parts.push(self.block(&lp.body));
        if let Some(until) = &lp.until {
            parts.push(text(" until "));
            parts.push(self.expr(until));
        }
        concat(parts)
    }

    /// `(name: value, ...)`: a map's or loop's options, before `close_before`.
    fn options(&mut self, options: &[RecordField], close_before: usize) -> Doc {
        let last = options.last().map_or(close_before, |o| o.span.end);
        let close_at = last + self.source[last..close_before].find(')').unwrap_or(0);
        let b = Brackets { open: "(", close: ")", sep: Sep::Comma, pad: false, close_at, expand: false };
        self.bracketed(b, options, |o| o.span, |f, o| f.record_field(o))
    }

    fn clause(&mut self, clause: &Clause) -> Doc {
        match clause {
            Clause::Retry(r) => {
                let mut s = format!("retry {}", self.slice(r.count_span));
                if let Some((from, to)) = &r.backoff {
                    s.push_str(&format!(" backoff {}", self.slice(from.span)));
                    if let Some(to) = to {
                        s.push_str(&format!("..{}", self.slice(to.span)));
                    }
                }
                if r.jitter {
                    s.push_str(" jitter");
                }
                if let Some(kinds) = &r.on {
                    let names: Vec<&str> = kinds.iter().map(|k| k.name.as_str()).collect();
                    s.push_str(&format!(" on [{}]", names.join(", ")));
                }
                text(s)
            }
            Clause::Timeout { duration, .. } => text(format!("timeout {}", self.slice(duration.span))),
            Clause::After { steps, .. } => {
                let names: Vec<&str> = steps.iter().map(|s| s.name.as_str()).collect();
                text(format!("after {}", names.join(", ")))
            }
            Clause::Catch(c) => {
                let mut parts = vec![text("catch")];
                if let Some(binding) = &c.binding {
                    parts.push(text(format!(" {}", binding.name)));
                }
                if let Some(guard) = &c.guard {
                    parts.push(text(" when "));
                    parts.push(self.expr(guard));
                }
                parts.push(text(" => "));
                parts.push(self.form(&c.form));
                concat(parts)
            }
        }
    }
}
