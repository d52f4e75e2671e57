//! Turns pest's parse tree into the AST. Literal problems the grammar cannot
//! see (an integer too large, a duration that overflows) become diagnostics
//! here; the tree is still built, with `ExprKind::Invalid` in their place.

use crate::Rule;
use crate::ast::*;
use crate::codes::Code;
use crate::diagnostic::Diagnostic;
use crate::span::Span;
use pest::iterators::{Pair, Pairs};
use pest::pratt_parser::{Assoc, Op, PrattParser};
use std::cell::{Cell, RefCell};
use std::sync::LazyLock;

/// The deepest an expression tree may get (in operators and nested
/// expressions) before it is rejected: keeps every later recursive pass,
/// and dropping the tree, well inside a thread's stack.
pub const MAX_EXPR_DEPTH: usize = 256;

static PRATT: LazyLock<PrattParser<Rule>> = LazyLock::new(|| {
    PrattParser::new()
        .op(Op::infix(Rule::coalesce, Assoc::Left))
        .op(Op::infix(Rule::or, Assoc::Left))
        .op(Op::infix(Rule::and, Assoc::Left))
        .op(Op::infix(Rule::eq, Assoc::Left) | Op::infix(Rule::ne, Assoc::Left))
        .op(Op::infix(Rule::lt, Assoc::Left)
            | Op::infix(Rule::le, Assoc::Left)
            | Op::infix(Rule::gt, Assoc::Left)
            | Op::infix(Rule::ge, Assoc::Left))
        .op(Op::infix(Rule::add, Assoc::Left) | Op::infix(Rule::sub, Assoc::Left))
        .op(Op::infix(Rule::mul, Assoc::Left) | Op::infix(Rule::div, Assoc::Left))
        .op(Op::prefix(Rule::not) | Op::prefix(Rule::neg))
        .op(Op::postfix(Rule::member)
            | Op::postfix(Rule::opt_member)
            | Op::postfix(Rule::index)
            | Op::postfix(Rule::call_args))
});

pub(crate) struct Builder<'s> {
    source: &'s str,
    /// Where the parsed text starts in `source` (items are parsed one by one).
    offset: usize,
    pub(crate) diagnostics: RefCell<Vec<Diagnostic>>,
    depth: Cell<usize>,
}

impl<'s> Builder<'s> {
    pub(crate) fn new(source: &'s str, offset: usize) -> Self {
        Builder { source, offset, diagnostics: RefCell::new(Vec::new()), depth: Cell::new(0) }
    }

    /// The pair's span without trailing whitespace (pest keeps the
    /// whitespace it skipped before an optional part that was absent).
    fn span(&self, pair: &Pair<Rule>) -> Span {
        let s = pair.as_span();
        let text = s.as_str();
        let trimmed = text.trim_end_matches([' ', '\t', '\r', '\n']);
        let start = s.start() + self.offset;
        Span::new(start, start + trimmed.len())
    }

    fn report(&self, d: Diagnostic) {
        self.diagnostics.borrow_mut().push(d);
    }

    fn ident(&self, pair: Pair<Rule>) -> Ident {
        Ident { name: pair.as_str().to_string(), span: self.span(&pair) }
    }

    fn member_doc(&self, start: usize) -> Option<String> {
        member_doc(self.source, start)
    }

    fn doc_before(&self, start: usize) -> Option<String> {
        doc_before(self.source, start)
    }

    // ------------------------------------------------------------ items

    pub(crate) fn item(&self, pair: Pair<Rule>) -> Item {
        let span = self.span(&pair);
        let doc = self.doc_before(span.start);
        let rule = pair.as_rule();
        let mut inner = pair.into_inner();
        inner.next(); // the keyword
        match rule {
            Rule::type_def => {
                let name = self.ident(next(&mut inner));
                let ty = self.type_expr(next(&mut inner));
                Item::Type(TypeDef { name, doc, ty, span })
            }
            Rule::model_def => {
                let name = self.ident(next(&mut inner));
                let provider = self.ident(next(&mut inner));
                let model_id = self.str_lit(next(&mut inner));
                let options = inner.next().map(|p| self.record_fields(p)).unwrap_or_default();
                Item::Model(ModelDef { name, doc, provider, model_id, options, span })
            }
            Rule::tool_def => {
                let name = self.ident(next(&mut inner));
                let params = self.params(next(&mut inner));
                let output = self.type_expr(next(&mut inner));
                let implementation = inner.next().map(|p| self.tool_impl(p));
                Item::Tool(ToolDef { name, doc, params, output, implementation, span })
            }
            Rule::flow_def => {
                let name = self.ident(next(&mut inner));
                let params = self.params(next(&mut inner));
                let output = self.type_expr(next(&mut inner));
                let body = self.block(next(&mut inner));
                Item::Flow(FlowDef { name, doc, params, output, body, span })
            }
            Rule::test_def => {
                let name = self.ident(next(&mut inner));
                let entries = inner
                    .map(|entry| {
                        let rule = entry.as_rule();
                        let mut parts = entry.into_inner();
                        if rule == Rule::test_mock {
                            parts.next(); // `mock`
                            let target = self.ident(next(&mut parts));
                            TestEntry::Mock { target, value: self.expr(next(&mut parts)) }
                        } else {
                            let key = self.ident(next(&mut parts));
                            TestEntry::Field { key, value: self.expr(next(&mut parts)) }
                        }
                    })
                    .collect();
                Item::Test(TestDef { name, doc, entries, span })
            }
            other => unreachable!("grammar produced {other:?} as an item"),
        }
    }

    fn tool_impl(&self, pair: Pair<Rule>) -> ToolImpl {
        let span = self.span(&pair);
        let rule = pair.as_rule();
        let mut inner = pair.into_inner();
        inner.next(); // `http` / `command`
        if rule == Rule::http_impl {
            let method = next(&mut inner).as_str().to_string();
            let url = self.template_lit(next(&mut inner));
            let options = inner.next().map(|p| self.record_fields(p)).unwrap_or_default();
            ToolImpl::Http { method, url, options, span }
        } else {
            let argv = self.expr_from_primary(next(&mut inner));
            let options = inner.next().map(|p| self.record_fields(p)).unwrap_or_default();
            ToolImpl::Command { argv, options, span }
        }
    }

    fn params(&self, pair: Pair<Rule>) -> Vec<Param> {
        pair.into_inner()
            .map(|p| {
                let span = self.span(&p);
                let mut inner = p.into_inner();
                let name = self.ident(next(&mut inner));
                let ty = self.type_expr(next(&mut inner));
                Param { doc: self.doc_before(span.start), name, ty, span }
            })
            .collect()
    }

    // ------------------------------------------------------------ types

    fn type_expr(&self, pair: Pair<Rule>) -> TypeExpr {
        let span = self.span(&pair);
        match pair.as_rule() {
            Rule::type_expr => {
                let mut members: Vec<TypeExpr> = pair.into_inner().map(|p| self.type_expr(p)).collect();
                if members.len() == 1 {
                    members.pop().expect("one member")
                } else {
                    TypeExpr { kind: TypeExprKind::Union(members), span }
                }
            }
            Rule::type_postfix => {
                let mut inner = pair.into_inner();
                let mut ty = self.type_expr(next(&mut inner));
                for mark in inner {
                    let span = ty.span.to(self.span(&mark));
                    ty = TypeExpr { kind: TypeExprKind::Optional(Box::new(ty)), span };
                }
                ty
            }
            Rule::list_type => {
                let inner = self.type_expr(next(&mut pair.into_inner()));
                TypeExpr { kind: TypeExprKind::List(Box::new(inner)), span }
            }
            Rule::map_type => {
                let mut inner = pair.into_inner();
                inner.next(); // `map`
                let key = self.type_expr(next(&mut inner));
                let value = self.type_expr(next(&mut inner));
                TypeExpr { kind: TypeExprKind::Map(Box::new(key), Box::new(value)), span }
            }
            Rule::record_type => {
                let fields = pair
                    .into_inner()
                    .map(|f| {
                        let span = self.span(&f);
                        let mut inner = f.into_inner();
                        let name = self.ident(next(&mut inner));
                        let ty = self.type_expr(next(&mut inner));
                        // `as "Name"`: the keyword, then the string.
                        let alias = inner.next().and_then(|a| a.into_inner().nth(1)).map(|s| self.str_lit(s).value);
                        FieldDecl { doc: self.doc_before(span.start), name, ty, alias, span }
                    })
                    .collect();
                TypeExpr { kind: TypeExprKind::Record(fields), span }
            }
            Rule::literal_type => {
                let mut parts = pair.into_inner();
                let inner = next(&mut parts);
                let text = inner.as_str();
                let kind = match inner.as_rule() {
                    Rule::boolean => TypeExprKind::Value(LiteralValue::Bool(text == "true")),
                    Rule::number_type => match text.parse::<i64>() {
                        Ok(n) => TypeExprKind::Value(LiteralValue::Int(n)),
                        Err(_) => TypeExprKind::Value(LiteralValue::Float(text.parse().unwrap_or(f64::NAN))),
                    },
                    _ => {
                        // `as "Name"`: the keyword, then the string.
                        let alias = parts.next().and_then(|a| a.into_inner().nth(1)).map(|s| self.str_lit(s).value);
                        TypeExprKind::Literal(self.str_lit(inner).value, alias, self.member_doc(span.start))
                    }
                };
                TypeExpr { kind, span }
            }
            Rule::named_type => TypeExpr { kind: TypeExprKind::Named(self.ident(next(&mut pair.into_inner()))), span },
            Rule::null_type => TypeExpr { kind: TypeExprKind::Named(Ident { name: "null".into(), span }), span },
            other => unreachable!("grammar produced {other:?} as a type"),
        }
    }

    // ------------------------------------------------------------ steps

    fn block(&self, pair: Pair<Rule>) -> Block {
        let span = self.span(&pair);
        let mut steps = Vec::new();
        let mut returns = Vec::new();
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::step => steps.push(self.step(p)),
                Rule::return_stmt => {
                    let mut inner = p.into_inner();
                    inner.next(); // `return`
                    returns.push(self.expr(next(&mut inner)));
                }
                other => unreachable!("grammar produced {other:?} in a block"),
            }
        }
        Block { steps, returns, span, broken: Broken::default() }
    }

    /// A flow rebuilt from its header (`flow_head_only`) and a body whose
    /// statements were parsed one by one.
    pub(crate) fn recovered_flow(&self, head: Pair<Rule>, body: Block, span: Span) -> Item {
        let doc = self.doc_before(span.start);
        let mut inner = head.into_inner();
        inner.next(); // `flow`
        let name = self.ident(next(&mut inner));
        let params = self.params(next(&mut inner));
        let output = self.type_expr(next(&mut inner));
        Item::Flow(FlowDef { name, doc, params, output, body, span })
    }

    /// The statement of `step_only` or `return_only`.
    pub(crate) fn statement(&self, pair: Pair<Rule>) -> Result<Step, Expr> {
        match pair.into_inner().next() {
            Some(p) if p.as_rule() == Rule::step => Ok(self.step(p)),
            Some(p) => {
                let mut inner = p.into_inner();
                inner.next(); // `return`
                Err(self.expr(next(&mut inner)))
            }
            None => unreachable!("a statement rule holds its statement"),
        }
    }

    fn step(&self, pair: Pair<Rule>) -> Step {
        let span = self.span(&pair);
        let mut inner = pair.into_inner();
        inner.next(); // `step`
        let name = self.ident(next(&mut inner));
        let form = self.form(next(&mut inner));
        let clauses = inner.map(|c| self.clause(c)).collect();
        Step { doc: self.doc_before(span.start), name, form, clauses, span }
    }

    fn form(&self, pair: Pair<Rule>) -> Form {
        let span = self.span(&pair);
        let rule = pair.as_rule();
        let kind = match rule {
            Rule::expr => FormKind::Expr(self.expr(pair)),
            Rule::llm_form | Rule::agent_form => {
                let mut inner = pair.into_inner();
                inner.next(); // `llm` / `agent`
                let model = self.ident(next(&mut inner));
                let output = self.type_expr(next(&mut inner));
                let options_pair = next(&mut inner);
                let options_span = self.span(&options_pair);
                let call = LlmCall { model, output, options: self.record_fields(options_pair), options_span };
                if rule == Rule::llm_form { FormKind::Llm(call) } else { FormKind::Agent(call) }
            }
            Rule::ask_form => {
                let mut inner = pair.into_inner();
                inner.next(); // `ask`
                let output = self.type_expr(next(&mut inner));
                let options_pair = next(&mut inner);
                let options_span = self.span(&options_pair);
                FormKind::Ask(AskForm { output, options: self.record_fields(options_pair), options_span })
            }
            Rule::route_form => {
                let mut arms = Vec::new();
                let mut otherwise = None;
                let mut else_span = None;
                let mut inner = pair.into_inner();
                inner.next(); // `route`
                for arm in inner {
                    let arm_span = self.span(&arm);
                    let rule = arm.as_rule();
                    let mut parts = arm.into_inner();
                    let keyword = next(&mut parts);
                    if rule == Rule::else_arm {
                        // A second `else` is kept as an arm so the checker can report it.
                        if otherwise.is_none() {
                            else_span = Some(self.span(&keyword));
                            otherwise = Some(Box::new(self.form(next(&mut parts))));
                        } else {
                            let condition = Expr { kind: ExprKind::Bool(true), span: self.span(&keyword) };
                            arms.push(RouteArm { condition, form: self.form(next(&mut parts)), span: arm_span });
                        }
                    } else {
                        let condition = self.expr(next(&mut parts));
                        arms.push(RouteArm { condition, form: self.form(next(&mut parts)), span: arm_span });
                    }
                }
                FormKind::Route(Route { arms, otherwise, else_span })
            }
            Rule::when_form => {
                let mut inner = pair.into_inner();
                inner.next(); // `when`
                let condition = self.expr(next(&mut inner));
                FormKind::When { condition, body: Box::new(self.form(next(&mut inner))) }
            }
            Rule::map_form => {
                let mut inner = pair.into_inner();
                inner.next(); // `map`
                let item = self.ident(next(&mut inner));
                inner.next(); // `in`
                let source = self.expr(next(&mut inner));
                let mut options = Vec::new();
                let mut body = None;
                for p in inner {
                    match p.as_rule() {
                        Rule::map_options => options = self.record_fields(p),
                        _ => body = Some(self.block(p)),
                    }
                }
                let body =
                    body.unwrap_or(Block { steps: Vec::new(), returns: Vec::new(), span, broken: Broken::default() });
                FormKind::Map(MapForm { item, source, options, body })
            }
            Rule::loop_form => self.loop_form(pair, span),
            other => unreachable!("grammar produced {other:?} as a step form"),
        };
        Form { kind, span }
    }

    fn loop_form(&self, pair: Pair<Rule>, span: Span) -> FormKind {
        let mut inner = pair.into_inner();
        let keyword = inner.next().map_or(span, |k| self.span(&k));
        let (mut previous, mut options, mut options_span, mut body, mut until) =
            (None, Vec::new(), keyword, None, None);
        for p in inner {
            match p.as_rule() {
                Rule::ident => previous = Some(self.ident(p)),
                Rule::loop_options => {
                    options_span = self.span(&p);
                    options = self.record_fields(p);
                }
                Rule::until_clause => until = p.into_inner().nth(1).map(|e| self.expr(e)),
                _ => body = Some(self.block(p)),
            }
        }
        let body = body.unwrap_or(Block { steps: Vec::new(), returns: Vec::new(), span, broken: Broken::default() });
        FormKind::Loop(LoopForm { previous, options, options_span, body, until })
    }

    fn clause(&self, pair: Pair<Rule>) -> Clause {
        let span = self.span(&pair);
        let rule = pair.as_rule();
        let mut inner = pair.into_inner();
        inner.next(); // the keyword
        match rule {
            Rule::retry_clause => {
                let count_pair = next(&mut inner);
                let count_span = self.span(&count_pair);
                let count = match self.int_value(&count_pair) {
                    Some(n) if n >= 0 => n as u64,
                    _ => 0,
                };
                let mut retry = Retry { count, count_span, backoff: None, jitter: false, on: None, span };
                for p in inner {
                    match p.as_rule() {
                        Rule::backoff => {
                            let mut parts = p.into_inner();
                            parts.next(); // `backoff`
                            let low = self.duration_lit(next(&mut parts));
                            let high = parts.next().map(|p| self.duration_lit(p));
                            retry.backoff = Some((low, high));
                        }
                        Rule::jitter => retry.jitter = true,
                        Rule::retry_on => {
                            let mut parts = p.into_inner();
                            parts.next(); // `on`
                            retry.on = Some(parts.map(|k| self.ident(k)).collect());
                        }
                        other => unreachable!("grammar produced {other:?} in retry"),
                    }
                }
                Clause::Retry(retry)
            }
            Rule::timeout_clause => Clause::Timeout { duration: self.duration_lit(next(&mut inner)), span },
            Rule::catch_clause => {
                let mut binding = None;
                let mut guard = None;
                let mut form_pair = next(&mut inner);
                if form_pair.as_rule() == Rule::catch_binding {
                    let mut parts = form_pair.into_inner();
                    binding = Some(self.ident(next(&mut parts)));
                    if let Some(g) = parts.next() {
                        let mut g = g.into_inner();
                        g.next(); // `when`
                        guard = Some(self.expr(next(&mut g)));
                    }
                    form_pair = next(&mut inner);
                }
                let form = Box::new(self.form(form_pair));
                Clause::Catch(Catch { binding, guard, form, span })
            }
            Rule::after_clause => Clause::After { steps: inner.map(|p| self.ident(p)).collect(), span },
            other => unreachable!("grammar produced {other:?} as a clause"),
        }
    }

    fn duration_lit(&self, pair: Pair<Rule>) -> DurationLit {
        let span = self.span(&pair);
        // An invalid duration is already reported; the longest one keeps later checks quiet.
        let millis = self.duration_value(pair.as_str(), span).unwrap_or(u64::MAX / 2);
        DurationLit { millis, span }
    }

    fn duration_value(&self, text: &str, span: Span) -> Option<u64> {
        match crate::literal::duration_millis(text) {
            Ok(millis) => Some(millis),
            Err(crate::literal::DurationError::TooLong) => {
                self.report(Diagnostic::new(Code::InvalidLiteral, span, "duration is too long", "too long").with_help(
                    "durations are at most a few thousand years; write something shorter such as `30s` or `5m`",
                ));
                None
            }
            // The grammar only lets well-formed durations through.
            Err(crate::literal::DurationError::Malformed) => None,
        }
    }

    fn int_value(&self, pair: &Pair<Rule>) -> Option<i64> {
        let text = pair.as_str().replace('_', "");
        match text.parse::<i64>() {
            Ok(n) => Some(n),
            Err(_) => {
                self.report(
                    Diagnostic::new(
                        Code::InvalidLiteral,
                        self.span(pair),
                        "integer is too large",
                        "does not fit in 64 bits",
                    )
                    .with_help(format!(
                        "integers range from {} to {}; use a float for larger numbers",
                        i64::MIN,
                        i64::MAX
                    )),
                );
                None
            }
        }
    }

    // ------------------------------------------------------------ expressions

    pub(crate) fn expr(&self, pair: Pair<Rule>) -> Expr {
        let span = self.span(&pair);
        let parts = pair.clone().into_inner().count();
        let depth = self.depth.get() + parts;
        if depth > MAX_EXPR_DEPTH {
            self.report(
                Diagnostic::new(Code::TooDeep, span, "expression is too deeply nested", "too deep to check")
                    .with_help("split it into several steps"),
            );
            return Expr { kind: ExprKind::Invalid, span };
        }
        self.depth.set(depth);
        let expr = self.pratt(pair.into_inner());
        self.depth.set(depth - parts);
        expr
    }

    fn pratt(&self, pairs: Pairs<Rule>) -> Expr {
        PRATT
            .map_primary(|p| self.expr_from_primary(p))
            .map_prefix(|op, operand| {
                let span = self.span(&op).to(operand.span);
                let op = if op.as_rule() == Rule::not { UnaryOp::Not } else { UnaryOp::Neg };
                Expr { kind: ExprKind::Unary { op, operand: Box::new(operand) }, span }
            })
            .map_postfix(|target, op| self.postfix(target, op))
            .map_infix(|lhs, op, rhs| {
                let op = match op.as_rule() {
                    Rule::coalesce => BinaryOp::Coalesce,
                    Rule::or => BinaryOp::Or,
                    Rule::and => BinaryOp::And,
                    Rule::eq => BinaryOp::Eq,
                    Rule::ne => BinaryOp::Ne,
                    Rule::lt => BinaryOp::Lt,
                    Rule::le => BinaryOp::Le,
                    Rule::gt => BinaryOp::Gt,
                    Rule::ge => BinaryOp::Ge,
                    Rule::add => BinaryOp::Add,
                    Rule::sub => BinaryOp::Sub,
                    Rule::mul => BinaryOp::Mul,
                    _ => BinaryOp::Div,
                };
                let span = lhs.span.to(rhs.span);
                Expr { kind: ExprKind::Binary { op, lhs: Box::new(lhs), rhs: Box::new(rhs) }, span }
            })
            .parse(pairs)
    }

    fn postfix(&self, target: Expr, op: Pair<Rule>) -> Expr {
        let span = target.span.to(self.span(&op));
        let rule = op.as_rule();
        match rule {
            Rule::member | Rule::opt_member => {
                let optional = rule == Rule::opt_member;
                let mut inner = op.into_inner();
                let name = self.ident(next(&mut inner));
                match inner.next() {
                    Some(args) => {
                        let args = self.args(args);
                        Expr { kind: ExprKind::Method { target: Box::new(target), name, args, optional }, span }
                    }
                    None => Expr { kind: ExprKind::Field { target: Box::new(target), name, optional }, span },
                }
            }
            Rule::index => {
                let index = self.expr(next(&mut op.into_inner()));
                Expr { kind: ExprKind::Index { target: Box::new(target), index: Box::new(index) }, span }
            }
            _ => {
                let args = self.args(op);
                match target.kind {
                    ExprKind::Name(name) => {
                        let callee = Ident { name, span: target.span };
                        Expr { kind: ExprKind::Call { callee, args }, span }
                    }
                    ExprKind::Invalid => target,
                    _ => {
                        self.report(
                            Diagnostic::new(Code::Syntax, span, "only a name can be called", "this is not a name")
                                .with_help("call a builtin, tool or flow by its name, e.g. `len(items)`, or a method with `.name(...)`"),
                        );
                        Expr { kind: ExprKind::Invalid, span }
                    }
                }
            }
        }
    }

    fn args(&self, pair: Pair<Rule>) -> Vec<Arg> {
        pair.into_inner()
            .map(|arg| {
                let span = self.span(&arg);
                let inner = next(&mut arg.into_inner());
                match inner.as_rule() {
                    Rule::named_arg => {
                        let mut parts = inner.into_inner();
                        let name = self.ident(next(&mut parts));
                        Arg { name: Some(name), value: self.expr(next(&mut parts)), span }
                    }
                    Rule::lambda => Arg { name: None, value: self.lambda(inner), span },
                    _ => Arg { name: None, value: self.expr(inner), span },
                }
            })
            .collect()
    }

    fn lambda(&self, pair: Pair<Rule>) -> Expr {
        let span = self.span(&pair);
        let mut inner = pair.into_inner();
        let params = next(&mut inner).into_inner().map(|p| self.ident(p)).collect();
        let body = self.expr(next(&mut inner));
        Expr { kind: ExprKind::Lambda { params, body: Box::new(body) }, span }
    }

    fn expr_from_primary(&self, pair: Pair<Rule>) -> Expr {
        let span = self.span(&pair);
        let kind = match pair.as_rule() {
            Rule::int => match self.int_value(&pair) {
                Some(n) => ExprKind::Int(n),
                None => ExprKind::Invalid,
            },
            Rule::float => match pair.as_str().replace('_', "").parse::<f64>() {
                Ok(f) if f.is_finite() => ExprKind::Float(f),
                _ => {
                    self.report(Diagnostic::new(
                        Code::InvalidLiteral,
                        span,
                        "number is too large",
                        "not a finite float",
                    ));
                    ExprKind::Invalid
                }
            },
            Rule::duration => match self.duration_value(pair.as_str(), span) {
                Some(ms) => ExprKind::Duration(ms),
                None => ExprKind::Invalid,
            },
            Rule::percent => match pair.as_str().trim_end_matches('%').replace('_', "").parse::<f64>() {
                Ok(p) if p.is_finite() => ExprKind::Percent(p),
                _ => {
                    self.report(Diagnostic::new(
                        Code::InvalidLiteral,
                        span,
                        "percentage is too large",
                        "not a finite number",
                    ));
                    ExprKind::Invalid
                }
            },
            Rule::boolean => ExprKind::Bool(pair.as_str() == "true"),
            Rule::null => ExprKind::Null,
            Rule::string => return self.expr_from_primary(next(&mut pair.into_inner())),
            Rule::plain_string => ExprKind::Str(self.string_parts(pair, false)),
            Rule::triple_string => ExprKind::Str(self.string_parts(pair, true)),
            Rule::list_lit => ExprKind::List(pair.into_inner().map(|p| self.expr(p)).collect()),
            Rule::record_lit => ExprKind::Record(self.record_fields(pair)),
            Rule::paren => return self.expr(next(&mut pair.into_inner())),
            Rule::if_expr => {
                // The keywords are pairs of their own: `if`, condition, then, `else`, otherwise.
                let mut inner = pair.into_inner();
                inner.next();
                let condition = Box::new(self.expr(next(&mut inner)));
                let then = Box::new(self.expr(next(&mut inner)));
                inner.next();
                let last = next(&mut inner);
                let otherwise = Box::new(match last.as_rule() {
                    Rule::if_expr => self.expr_from_primary(last),
                    _ => self.expr(last),
                });
                ExprKind::If { condition, then, otherwise }
            }
            Rule::ident => ExprKind::Name(pair.as_str().to_string()),
            Rule::expr | Rule::map_source => return self.expr(pair),
            other => unreachable!("grammar produced {other:?} as a primary expression"),
        };
        Expr { kind, span }
    }

    fn record_fields(&self, pair: Pair<Rule>) -> Vec<RecordField> {
        pair.into_inner()
            .map(|f| {
                let span = self.span(&f);
                let mut inner = f.into_inner();
                let key_pair = next(&mut inner);
                let key = if key_pair.as_rule() == Rule::plain_string {
                    let lit = self.str_lit(key_pair);
                    Ident { name: lit.value, span: lit.span }
                } else {
                    self.ident(key_pair)
                };
                RecordField { key, value: self.expr(next(&mut inner)), span }
            })
            .collect()
    }

    /// A string literal's text, with interpolations rendered as written
    /// (used where the grammar takes a plain string: model ids, URLs, keys).
    fn str_lit(&self, pair: Pair<Rule>) -> StrLit {
        let span = self.span(&pair);
        StrLit { value: string_text(self.source, self.string_parts(pair, false), false), span }
    }

    fn template_lit(&self, pair: Pair<Rule>) -> StrLit {
        let span = self.span(&pair);
        StrLit { value: string_text(self.source, self.string_parts(pair, false), true), span }
    }

    fn string_parts(&self, pair: Pair<Rule>, triple: bool) -> Vec<StrPart> {
        let mut parts: Vec<StrPart> = Vec::new();
        let mut text = String::new();
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::str_chars | Rule::triple_chars => text.push_str(p.as_str()),
                Rule::escape => text.push(unescape(p.as_str())),
                Rule::interp => {
                    if !text.is_empty() {
                        parts.push(StrPart::Text(std::mem::take(&mut text)));
                    }
                    parts.push(StrPart::Interp(self.expr(next(&mut p.into_inner()))));
                }
                other => unreachable!("grammar produced {other:?} in a string"),
            }
        }
        if !text.is_empty() {
            parts.push(StrPart::Text(text));
        }
        if triple {
            dedent(&mut parts);
        }
        parts
    }
}

fn next<'i>(pairs: &mut Pairs<'i, Rule>) -> Pair<'i, Rule> {
    pairs.next().expect("the grammar guarantees this child")
}

/// The `///` lines directly above the line where `start` is, if `start` is
/// the first thing on its line.
pub(crate) fn doc_before(source: &str, start: usize) -> Option<String> {
    let line_start = source[..start].rfind('\n').map_or(0, |i| i + 1);
    if !source[line_start..start].trim().is_empty() {
        return None;
    }
    let mut lines = Vec::new();
    let mut end = line_start;
    while end > 0 {
        let prev_start = source[..end - 1].rfind('\n').map_or(0, |i| i + 1);
        let line = source[prev_start..end - 1].trim();
        match line.strip_prefix("///") {
            Some(text) if !text.starts_with('/') => lines.push(text.strip_prefix(' ').unwrap_or(text).trim_end()),
            _ => break,
        }
        end = prev_start;
    }
    if lines.is_empty() {
        return None;
    }
    lines.reverse();
    Some(lines.join("\n"))
}

/// The doc comment of a union member: as [`doc_before`], and the member may
/// follow the `|` on its line.
pub(crate) fn member_doc(source: &str, start: usize) -> Option<String> {
    let line_start = source[..start].rfind('\n').map_or(0, |i| i + 1);
    let before = source[line_start..start].trim();
    if before.is_empty() || before == "|" {
        let line = &source[line_start..];
        // From the line's first character (the member or its `|`).
        return doc_before(source, line_start + (line.len() - line.trim_start().len()));
    }
    None
}

/// A plain string's text, each interpolation as written: bare for model ids
/// and record keys, or kept as `${...}` for an http tool's URL template,
/// whose placeholders the checker resolves against the tool's parameters.
pub(crate) fn string_text(source: &str, parts: Vec<StrPart>, keep_placeholders: bool) -> String {
    let mut value = String::new();
    for part in parts {
        match part {
            StrPart::Text(t) => value.push_str(&t),
            StrPart::Interp(e) if keep_placeholders => {
                value.push_str("${");
                value.push_str(&source[e.span.start..e.span.end]);
                value.push('}');
            }
            StrPart::Interp(e) => value.push_str(&source[e.span.start..e.span.end]),
        }
    }
    value
}

pub(crate) fn unescape(escape: &str) -> char {
    match &escape[1..] {
        "n" => '\n',
        "t" => '\t',
        "r" => '\r',
        "\"" => '"',
        "\\" => '\\',
        "$" => '$',
        other => other
            .strip_prefix("u{")
            .and_then(|h| h.strip_suffix('}'))
            .and_then(|h| u32::from_str_radix(h, 16).ok())
            .and_then(char::from_u32)
            .unwrap_or('\u{FFFD}'),
    }
}

/// Triple-quoted strings drop the line break after the opening quotes, the
/// whitespace-only last line, and the indentation common to every line, so
/// a prompt can be indented with the code around it.
pub(crate) fn dedent(parts: &mut Vec<StrPart>) {
    // Work on a copy of the text with placeholders for interpolations.
    const MARK: char = '\u{E000}';
    if parts.iter().any(|p| matches!(p, StrPart::Text(t) if t.contains(MARK))) {
        return; // the placeholder is in the text itself: leave it as written
    }
    let mut joined = String::new();
    let mut interps = Vec::new();
    for part in parts.drain(..) {
        match part {
            StrPart::Text(t) => joined.push_str(&t),
            StrPart::Interp(e) => {
                joined.push(MARK);
                interps.push(e);
            }
        }
    }
    if let Some(rest) = joined.strip_prefix('\n').or_else(|| joined.strip_prefix("\r\n")) {
        joined = rest.to_string();
    }
    if let Some(last_break) = joined.rfind('\n')
        && joined[last_break + 1..].trim().is_empty()
    {
        joined.truncate(last_break);
    }
    let indent = joined
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start_matches([' ', '\t']).len())
        .min()
        .unwrap_or(0);
    let dedented: Vec<&str> = joined.split('\n').map(|l| l.get(indent..).unwrap_or_else(|| l.trim_start())).collect();
    let text = dedented.join("\n");
    let mut interps = interps.into_iter();
    let mut current = String::new();
    for c in text.chars() {
        if c == MARK {
            if !current.is_empty() {
                parts.push(StrPart::Text(std::mem::take(&mut current)));
            }
            if let Some(e) = interps.next() {
                parts.push(StrPart::Interp(e));
            }
        } else {
            current.push(c);
        }
    }
    if !current.is_empty() {
        parts.push(StrPart::Text(current));
    }
}
