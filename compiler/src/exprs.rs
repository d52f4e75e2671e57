//! Typing expressions: literals, names, field access, operators, builtin
//! functions and methods, lambdas, and checking a value against the type a
//! place expects (records and lists field by field, for precise spans).

use crate::checker::{Checker, Scope};
use crate::types::{FieldTy, RecordTy, Ty};
use crate::words::{placeholder, plural, source_text, widen};
use flow_grammar::ast::*;
use flow_grammar::suggest::did_you_mean;
use flow_grammar::{Code, Diagnostic, Span};
use flow_stdlib::{BuiltinId as B, Receiver};
use std::collections::HashSet;
use std::sync::Arc;

impl Checker<'_> {
    /// The type of `e`, reporting what is wrong inside it (and remembering
    /// it for lowering, when asked to).
    pub(crate) fn expr(&mut self, e: &Expr, scope: &mut Scope) -> Ty {
        let ty = self.expr_type(e, scope);
        self.facts.exprs.insert(e.span, ty.clone());
        ty
    }

    fn expr_type(&mut self, e: &Expr, scope: &mut Scope) -> Ty {
        match &e.kind {
            ExprKind::Int(_) => Ty::Int,
            ExprKind::Float(_) => Ty::Float,
            ExprKind::Bool(_) => Ty::Bool,
            ExprKind::Null => Ty::Null,
            ExprKind::Duration(_) => Ty::Duration,
            ExprKind::Percent(_) => Ty::Percent,
            ExprKind::Invalid => Ty::Unknown,
            ExprKind::Str(parts) => {
                for part in parts {
                    if let StrPart::Interp(inner) = part {
                        self.expr(inner, scope);
                    }
                }
                match parts.as_slice() {
                    [] => Ty::Lit(Arc::from("")),
                    [StrPart::Text(t)] => Ty::Lit(Arc::from(t.as_str())),
                    _ => Ty::String,
                }
            }
            ExprKind::List(items) => {
                let mut joined = Ty::Never;
                for item in items {
                    let ty = self.expr(item, scope);
                    match self.types.join(&joined, &ty) {
                        Some(j) => joined = j,
                        None => {
                            self.report(
                                Diagnostic::new(
                                    Code::TypeMismatch,
                                    item.span,
                                    "list items have different types",
                                    format!("this is `{ty}`, the items before are `{joined}`"),
                                )
                                .with_help("every item of a list has the same type"),
                            );
                        }
                    }
                }
                Ty::List(Box::new(joined))
            }
            ExprKind::Record(fields) => {
                let mut seen: Vec<&Ident> = Vec::new();
                let mut out = Vec::new();
                for field in fields {
                    if let Some(first) = seen.iter().find(|k| k.name == field.key.name) {
                        self.report(
                            Diagnostic::new(
                                Code::DuplicateName,
                                field.key.span,
                                format!("field `{}` is given twice", field.key.name),
                                "given again here",
                            )
                            .with_label(first.span, "first given here"),
                        );
                    }
                    seen.push(&field.key);
                    let ty = self.expr(&field.value, scope);
                    out.push(FieldTy { name: field.key.name.clone(), ty: widen(ty), doc: None });
                }
                Ty::Record(Arc::new(RecordTy { fields: out }))
            }
            ExprKind::Name(name) => self.name(name, e.span, scope),
            ExprKind::Field { target, name, optional } => {
                let target_ty = self.expr(target, scope);
                self.field_access(target, &target_ty, name, *optional)
            }
            ExprKind::Index { target, index } => {
                let target_ty = self.expr(target, scope);
                let index_ty = self.expr(index, scope);
                self.index(target, &target_ty, index, &index_ty)
            }
            ExprKind::Call { callee, args } => {
                if self.items.callables.contains_key(&callee.name) {
                    let kind = self.items.callables[&callee.name].kind;
                    self.report(
                        Diagnostic::new(
                            Code::MisplacedCall,
                            e.span,
                            format!("{kind} `{}` is called inside an expression", callee.name),
                            format!("a {kind} call must be a whole step"),
                        )
                        .with_help(format!(
                            "give the call its own step, e.g. `step result = {}(...)`, and use `result` here",
                            callee.name
                        )),
                    );
                    for arg in args {
                        self.expr(&arg.value, scope);
                    }
                    return self.items.callables[&callee.name].output.clone();
                }
                self.builtin_call(callee, args, e.span, scope)
            }
            ExprKind::Method { target, name, args, optional } => {
                let target_ty = self.expr(target, scope);
                self.method_call(target, &target_ty, name, args, *optional, scope)
            }
            ExprKind::Unary { op, operand } => {
                let ty = self.expr(operand, scope);
                let resolved = self.types.resolve(&ty).clone();
                match (op, &resolved) {
                    (_, Ty::Unknown) => Ty::Unknown,
                    (UnaryOp::Not, Ty::Bool) => Ty::Bool,
                    (UnaryOp::Neg, Ty::Int | Ty::Float) => resolved,
                    _ => {
                        let wants = if *op == UnaryOp::Not { "a bool" } else { "a number" };
                        self.report(Diagnostic::new(
                            Code::BadOperands,
                            operand.span,
                            format!("`{}` cannot be applied to `{ty}`", op.symbol()),
                            format!("this is `{ty}`, not {wants}"),
                        ));
                        Ty::Unknown
                    }
                }
            }
            ExprKind::Binary { op, lhs, rhs } => self.binary(*op, lhs, rhs, e.span, scope),
            ExprKind::Lambda { params, body } => {
                self.report(
                    Diagnostic::new(Code::BadLambda, e.span, "a lambda is not a value", "lambda used as a value")
                        .with_help("lambdas are arguments to list methods, e.g. `items.map(x => x.name)`"),
                );
                scope.push();
                for p in params {
                    scope.bind_local(&p.name, Ty::Unknown, p.span);
                }
                self.expr(body, scope);
                scope.pop();
                Ty::Unknown
            }
        }
    }

    fn name(&mut self, name: &str, span: Span, scope: &mut Scope) -> Ty {
        if let Some((ty, definition)) = scope.lookup(name) {
            self.facts.refer_local(span, definition);
            return ty;
        }
        if self.items.broken.contains(name) {
            return Ty::Unknown;
        }
        let what = if self.items.models.contains_key(name) {
            Some(("model", "a model is used with `llm NAME -> Type { ... }` or `agent`"))
        } else if let Some(c) = self.items.callables.get(name) {
            Some((
                c.kind.as_str(),
                "call it in a step of its own, e.g. `step result = name(arg: value)`, then use `result`",
            ))
        } else if self.types.bodies.contains_key(name) {
            Some(("type", "a type describes values; it is not a value itself"))
        } else {
            None
        };
        if let Some((kind, help)) = what {
            self.report(
                Diagnostic::new(
                    Code::MisplacedCall,
                    span,
                    format!("{kind} `{name}` is used as a value"),
                    format!("`{name}` is a {kind}"),
                )
                .with_help(help),
            );
            return Ty::Unknown;
        }
        let mut d =
            Diagnostic::new(Code::UnknownName, span, format!("unknown name `{name}`"), "not found in this flow");
        let candidates = scope.names();
        if let Some(best) = did_you_mean(name, candidates.iter().map(String::as_str)) {
            d = d.did_you_mean(span, best);
        } else {
            d = d.with_help("a flow can use its parameters, its steps and, inside `map`, the item");
        }
        self.report(d);
        Ty::Unknown
    }

    pub(crate) fn field_access(&mut self, target: &Expr, target_ty: &Ty, name: &Ident, optional: bool) -> Ty {
        let resolved = self.types.resolve(target_ty).clone();
        let (record_ty, was_optional) = match &resolved {
            Ty::Unknown => return Ty::Unknown,
            Ty::Optional(inner) => {
                if !optional {
                    self.optional_unhandled(target, target_ty, Some(name));
                }
                ((**inner).clone(), true)
            }
            Ty::Null => {
                self.optional_unhandled(target, target_ty, Some(name));
                return Ty::Unknown;
            }
            _ => (target_ty.clone(), false),
        };
        let field_ty = match self.types.record(&record_ty) {
            Some(record) => match record.field(&name.name) {
                Some(f) => f.ty.clone(),
                None => {
                    let names: Vec<&str> = record.fields.iter().map(|f| f.name.as_str()).collect();
                    let mut d = Diagnostic::new(
                        Code::UnknownField,
                        name.span,
                        format!("unknown field `{}` on `{record_ty}`", name.name),
                        format!("not a field of `{record_ty}`"),
                    );
                    if let Some(best) = did_you_mean(&name.name, names.iter().copied()) {
                        d = d.did_you_mean(name.span, best);
                    } else if names.is_empty() {
                        d = d.with_note(format!("`{record_ty}` has no fields"));
                    } else {
                        d = d.with_note(format!("`{record_ty}` has fields: {}", names.join(", ")));
                    }
                    self.report(d);
                    Ty::Unknown
                }
            },
            None => {
                let inner = self.types.resolve(&record_ty).clone();
                if inner.is_unknown() {
                    return Ty::Unknown;
                }
                let mut d = Diagnostic::new(
                    Code::NotARecord,
                    name.span,
                    format!("`{record_ty}` has no field `{}`", name.name),
                    format!("`{}` is `{record_ty}`, not a record", source_text(self.source, target.span)),
                );
                if matches!(inner, Ty::List(_)) {
                    d = d.with_help(format!(
                        "to take `{0}` from every item, write `.map(x => x.{0})`; for one item, index it: `[0].{0}`",
                        name.name
                    ));
                }
                self.report(d);
                Ty::Unknown
            }
        };
        // After reporting `a.b` on an optional `a`, go on as if it were handled.
        if was_optional && optional { field_ty.optional() } else { field_ty }
    }

    fn optional_unhandled(&mut self, target: &Expr, ty: &Ty, field: Option<&Ident>) {
        let text = source_text(self.source, target.span);
        let mut d = Diagnostic::new(
            Code::OptionalUnhandled,
            target.span,
            format!("`{text}` may be null"),
            format!("this is `{ty}`"),
        );
        d = match field {
            Some(f) => {
                let dot = Span::new(target.span.end, f.span.start);
                let call = if self.source[f.span.end..].trim_start().starts_with('(') { "(...)" } else { "" };
                d.with_help(format!(
                    "use `{text}?.{}{call}` to get null when it is null, or give a default with `??`",
                    f.name
                ))
                .with_replacement(dot, "?.")
            }
            None => d.with_help(format!(
                "give a default with `{text} ?? value`, or run the step only `when {text} != null`"
            )),
        };
        self.report(d);
    }

    fn index(&mut self, target: &Expr, target_ty: &Ty, index: &Expr, index_ty: &Ty) -> Ty {
        let resolved = self.types.resolve(target_ty).clone();
        let index_resolved = self.types.resolve(index_ty).clone();
        match &resolved {
            Ty::Unknown => Ty::Unknown,
            Ty::Optional(_) | Ty::Null => {
                self.optional_unhandled(target, target_ty, None);
                Ty::Unknown
            }
            Ty::List(elem) => {
                if !matches!(index_resolved, Ty::Int | Ty::Unknown) {
                    self.report(Diagnostic::new(
                        Code::BadIndex,
                        index.span,
                        format!("a list is indexed by `int`, not `{index_ty}`"),
                        "not an int",
                    ));
                }
                (**elem).clone()
            }
            Ty::Map(value) => {
                if !self.types.fits(&index_resolved, &Ty::String) {
                    self.report(Diagnostic::new(
                        Code::BadIndex,
                        index.span,
                        format!("a map is indexed by `string`, not `{index_ty}`"),
                        "not a string",
                    ));
                }
                (**value).clone().optional()
            }
            Ty::Record(_) => {
                let mut d = Diagnostic::new(
                    Code::BadIndex,
                    target.span.to(index.span),
                    format!("`{target_ty}` cannot be indexed"),
                    "a record, not a list or map",
                );
                if let ExprKind::Str(parts) = &index.kind
                    && let [StrPart::Text(key)] = parts.as_slice()
                {
                    d = d.with_help(format!("read a field with `.{key}`"));
                }
                self.report(d);
                Ty::Unknown
            }
            _ => {
                self.report(Diagnostic::new(
                    Code::BadIndex,
                    target.span,
                    format!("`{target_ty}` cannot be indexed"),
                    "only lists and maps can be indexed",
                ));
                Ty::Unknown
            }
        }
    }

    fn binary(&mut self, op: BinaryOp, lhs: &Expr, rhs: &Expr, span: Span, scope: &mut Scope) -> Ty {
        let lt = self.expr(lhs, scope);
        let rt = self.expr(rhs, scope);
        let l = self.types.resolve(&lt).clone();
        let r = self.types.resolve(&rt).clone();
        use BinaryOp::*;
        let is_comparison = matches!(op, Eq | Ne | Lt | Le | Gt | Ge);
        if l.is_unknown() || r.is_unknown() {
            return match op {
                Coalesce => {
                    if l.is_unknown() {
                        rt
                    } else {
                        unwrap_optional(&lt)
                    }
                }
                Or | And => Ty::Bool,
                _ if is_comparison => Ty::Bool,
                _ => Ty::Unknown,
            };
        }
        match op {
            Coalesce => {
                let inner = unwrap_optional(&l);
                match self.types.join(&inner, &r) {
                    Some(t) => t,
                    None => {
                        self.bad_operands(
                            op,
                            (lhs, &lt),
                            (rhs, &rt),
                            span,
                            Some("the default after `??` must have the type of the value without null"),
                        );
                        Ty::Unknown
                    }
                }
            }
            Or | And => {
                for (side, ty) in [(lhs, &lt), (rhs, &rt)] {
                    let res = self.types.resolve(ty).clone();
                    if matches!(res, Ty::Optional(_)) {
                        self.optional_unhandled(side, ty, None);
                    } else if !matches!(res, Ty::Bool | Ty::Unknown) {
                        self.report(Diagnostic::new(
                            Code::BadOperands,
                            side.span,
                            format!("`{}` needs bools on both sides", op.symbol()),
                            format!("this is `{ty}`"),
                        ));
                    }
                }
                Ty::Bool
            }
            Eq | Ne => {
                if let Some(d) = self.impossible_comparison(lhs, &l, rhs, &r) {
                    self.report(d);
                } else if !matches!(l, Ty::Null) && !matches!(r, Ty::Null) && self.types.join(&l, &r).is_none() {
                    self.bad_operands(op, (lhs, &lt), (rhs, &rt), span, None);
                }
                Ty::Bool
            }
            Lt | Le | Gt | Ge => {
                let ok = matches!(
                    (&l, &r),
                    (Ty::Int | Ty::Float, Ty::Int | Ty::Float)
                        | (Ty::Duration, Ty::Duration)
                        | (Ty::Percent, Ty::Percent)
                ) || (self.types.fits(&l, &Ty::String) && self.types.fits(&r, &Ty::String));
                if !ok {
                    self.bad_operands(
                        op,
                        (lhs, &lt),
                        (rhs, &rt),
                        span,
                        Some("ordering compares two numbers, two strings or two durations"),
                    );
                }
                Ty::Bool
            }
            Add | Sub | Mul | Div => {
                let stringy = |t: &Ty| matches!(t, Ty::String | Ty::Lit(_) | Ty::Enum(_));
                let result = match (op, &l, &r) {
                    (Div, Ty::Int | Ty::Float, Ty::Int | Ty::Float) => Some(Ty::Float),
                    (_, Ty::Int, Ty::Int) => Some(Ty::Int),
                    (_, Ty::Int | Ty::Float, Ty::Int | Ty::Float) => Some(Ty::Float),
                    (Add | Sub, Ty::Duration, Ty::Duration) => Some(Ty::Duration),
                    (Add, a, b) if stringy(a) && stringy(b) => Some(Ty::String),
                    (Add, Ty::List(a), Ty::List(b)) => self.types.join(a, b).map(Ty::list),
                    _ => None,
                };
                match result {
                    Some(t) => t,
                    None => {
                        let help = if op == Add && (stringy(&l) || stringy(&r)) {
                            Some("to build text from other values, use interpolation: \"${a} and ${b}\"")
                        } else {
                            None
                        };
                        self.bad_operands(op, (lhs, &lt), (rhs, &rt), span, help);
                        Ty::Unknown
                    }
                }
            }
        }
    }

    /// Reports an operator applied to operands (expression, type) it does not take.
    fn bad_operands(
        &mut self,
        op: BinaryOp,
        (lhs, lt): (&Expr, &Ty),
        (rhs, rt): (&Expr, &Ty),
        span: Span,
        help: Option<&str>,
    ) {
        // An optional operand is the more useful thing to point at.
        for (side, ty) in [(lhs, lt), (rhs, rt)] {
            if matches!(self.types.resolve(ty), Ty::Optional(_)) && op != BinaryOp::Coalesce {
                self.optional_unhandled(side, ty, None);
                return;
            }
        }
        let mut d = Diagnostic::new(
            Code::BadOperands,
            span,
            format!("`{}` cannot be applied to `{lt}` and `{rt}`", op.symbol()),
            format!("`{lt}` {} `{rt}`", op.symbol()),
        )
        .with_label(lhs.span, format!("`{lt}`"))
        .with_label(rhs.span, format!("`{rt}`"));
        if let Some(h) = help {
            d = d.with_help(h);
        }
        self.report(d);
    }

    /// `label == "negtive"` where `label` is `"positive" | "negative"`.
    fn impossible_comparison(&self, lhs: &Expr, l: &Ty, rhs: &Expr, r: &Ty) -> Option<Diagnostic> {
        let (lit, lit_expr, members, other) = match (l, r) {
            (Ty::Lit(s), Ty::Enum(m)) => (s, lhs, m, rhs),
            (Ty::Enum(m), Ty::Lit(s)) => (s, rhs, m, lhs),
            _ => return None,
        };
        if members.iter().any(|m| **m == **lit) {
            return None;
        }
        let list: Vec<String> = members.iter().map(|m| format!("{m:?}")).collect();
        let mut d = Diagnostic::new(
            Code::ImpossibleComparison,
            lit_expr.span,
            format!("{lit:?} is never a value of `{}`", source_text(self.source, other.span)),
            format!("not one of {}", list.join(", ")),
        );
        if let Some(best) = did_you_mean(lit, members.iter().map(String::as_str)) {
            d = d.with_help(format!("did you mean {best:?}?")).with_replacement(lit_expr.span, format!("{best:?}"));
        } else {
            d = d.with_help(format!("the possible values are {}", list.join(", ")));
        }
        Some(d)
    }

    // ------------------------------------------------------------ builtins

    fn builtin_call(&mut self, callee: &Ident, args: &[Arg], span: Span, scope: &mut Scope) -> Ty {
        let Some(builtin) = flow_stdlib::function(&callee.name) else {
            for arg in args {
                self.expr(&arg.value, scope);
            }
            if self.items.broken.contains(&callee.name) {
                return Ty::Unknown;
            }
            // Named arguments mean a tool or flow was meant; positional, a builtin.
            let named = args.iter().any(|a| a.name.is_some());
            let mut d = if named {
                Diagnostic::new(
                    Code::UnknownCallee,
                    callee.span,
                    format!("unknown tool or flow `{}`", callee.name),
                    "no tool or flow has this name",
                )
            } else {
                Diagnostic::new(
                    Code::UnknownFunction,
                    callee.span,
                    format!("unknown function `{}`", callee.name),
                    "no builtin, tool or flow has this name",
                )
            };
            let mut candidates: Vec<&str> =
                if named { Vec::new() } else { flow_stdlib::names(Receiver::None).collect() };
            candidates.extend(self.items.callables.keys().map(String::as_str));
            if let Some(best) = did_you_mean(&callee.name, candidates) {
                let best = best.to_string();
                d = d.did_you_mean(callee.span, best);
            } else {
                d = d.with_help(if named {
                    "declare it with `tool name(param: type) -> type`, or define the flow"
                } else {
                    "builtins are len, str, int, float, round, abs, min, max, sum, keys, values and json"
                });
            }
            self.report(d);
            return Ty::Unknown;
        };
        self.facts.builtins.insert(callee.span, builtin.id);
        let tys = self.positional_args(&callee.name, builtin.params, args, span, scope);
        let Some(tys) = tys else { return Ty::Unknown };
        let arg = |i: usize| tys.get(i).cloned().unwrap_or(Ty::Unknown);
        let a0 = self.types.resolve(&arg(0)).clone();
        let wrong = |this: &mut Self, wanted: &str| {
            this.report(Diagnostic::new(
                Code::BadArguments,
                args[0].value.span,
                format!("`{}` takes {wanted}, not `{}`", callee.name, arg(0)),
                format!("this is `{}`", arg(0)),
            ));
            Ty::Unknown
        };
        if a0.is_unknown() {
            return match builtin.id {
                B::Len | B::Int | B::Round => Ty::Int,
                B::Str | B::Json => Ty::String,
                B::Float => Ty::Float,
                B::Keys => Ty::String.list(),
                B::Abs | B::Min | B::Max | B::Sum | B::Values => Ty::Unknown,
                // Methods: `function` only finds free functions.
                B::ListMap
                | B::ListFilter
                | B::ListAny
                | B::ListAll
                | B::ListFind
                | B::ListCount
                | B::ListSortBy
                | B::ListFirst
                | B::ListLast
                | B::ListContains
                | B::ListJoin
                | B::ListFlatten
                | B::ListTake
                | B::ListSkip
                | B::StrLower
                | B::StrUpper
                | B::StrTrim
                | B::StrContains
                | B::StrStartsWith
                | B::StrEndsWith
                | B::StrSplit
                | B::StrReplace
                | B::MapGet => Ty::Unknown,
            };
        }
        let stringy = self.types.fits(&a0, &Ty::String);
        match builtin.id {
            B::Len => match a0 {
                Ty::List(_) | Ty::Map(_) => Ty::Int,
                _ if stringy => Ty::Int,
                _ => wrong(self, "a list, map or string"),
            },
            B::Str | B::Json => Ty::String,
            B::Int => match a0 {
                Ty::Int | Ty::Float => Ty::Int,
                _ if stringy => Ty::Int,
                _ => wrong(self, "a number or string"),
            },
            B::Float => match a0 {
                Ty::Int | Ty::Float => Ty::Float,
                _ if stringy => Ty::Float,
                _ => wrong(self, "a number or string"),
            },
            B::Round => match a0 {
                Ty::Int | Ty::Float => Ty::Int,
                _ => wrong(self, "a number"),
            },
            B::Abs => match a0 {
                Ty::Int | Ty::Float => a0,
                _ => wrong(self, "a number"),
            },
            B::Min | B::Max => {
                let a1 = self.types.resolve(&arg(1)).clone();
                match (&a0, &a1) {
                    (Ty::Int, Ty::Int) => Ty::Int,
                    (Ty::Int | Ty::Float, Ty::Int | Ty::Float | Ty::Unknown) => Ty::Float,
                    _ => wrong(self, "two numbers"),
                }
            }
            B::Sum => match &a0 {
                Ty::List(e) => match self.types.resolve(e) {
                    Ty::Int | Ty::Never => Ty::Int,
                    Ty::Float => Ty::Float,
                    Ty::Unknown => Ty::Unknown,
                    _ => wrong(self, "a list of numbers"),
                },
                _ => wrong(self, "a list of numbers"),
            },
            B::Keys => match a0 {
                Ty::Map(_) => Ty::String.list(),
                _ => wrong(self, "a map"),
            },
            B::Values => match a0 {
                Ty::Map(v) => Ty::List(v),
                _ => wrong(self, "a map"),
            },
            // Methods: `function` only finds free functions.
            B::ListMap
            | B::ListFilter
            | B::ListAny
            | B::ListAll
            | B::ListFind
            | B::ListCount
            | B::ListSortBy
            | B::ListFirst
            | B::ListLast
            | B::ListContains
            | B::ListJoin
            | B::ListFlatten
            | B::ListTake
            | B::ListSkip
            | B::StrLower
            | B::StrUpper
            | B::StrTrim
            | B::StrContains
            | B::StrStartsWith
            | B::StrEndsWith
            | B::StrSplit
            | B::StrReplace
            | B::MapGet => Ty::Unknown,
        }
    }

    /// Checks a builtin's arguments are positional and as many as it takes;
    /// returns their types (None when they are unusable).
    fn positional_args(
        &mut self,
        name: &str,
        params: &[&str],
        args: &[Arg],
        span: Span,
        scope: &mut Scope,
    ) -> Option<Vec<Ty>> {
        let mut tys = Vec::new();
        let mut ok = true;
        for arg in args {
            if let Some(n) = &arg.name {
                self.report(
                    Diagnostic::new(
                        Code::BadArguments,
                        n.span,
                        format!("`{name}` takes its arguments by position"),
                        "named argument",
                    )
                    .with_help(format!("write `{name}({})`", params.join(", ")))
                    .with_replacement(Span::new(n.span.start, arg.value.span.start), ""),
                );
                ok = false;
            }
            if matches!(arg.value.kind, ExprKind::Lambda { .. }) {
                self.report(
                    Diagnostic::new(
                        Code::BadLambda,
                        arg.value.span,
                        format!("`{name}` does not take a lambda"),
                        "lambda here",
                    )
                    .with_help(format!("`{name}` takes {}", params_phrase(params))),
                );
                tys.push(Ty::Unknown);
                continue;
            }
            tys.push(self.expr(&arg.value, scope));
        }
        if args.len() != params.len() {
            self.report(
                Diagnostic::new(
                    Code::BadArguments,
                    span,
                    format!("`{name}` takes {} argument{}, not {}", params.len(), plural(params.len()), args.len()),
                    format!("called with {}", args.len()),
                )
                .with_help(format!("write `{name}({})`", params.join(", "))),
            );
            ok = false;
        }
        ok.then_some(tys)
    }

    fn method_call(
        &mut self,
        target: &Expr,
        target_ty: &Ty,
        name: &Ident,
        args: &[Arg],
        optional: bool,
        scope: &mut Scope,
    ) -> Ty {
        let mut receiver_ty = self.types.resolve(target_ty).clone();
        let mut wrap_optional = false;
        if let Ty::Optional(inner) = &receiver_ty {
            if !optional {
                self.optional_unhandled(target, target_ty, Some(name));
            }
            // After reporting, go on as if it were handled.
            wrap_optional = optional;
            receiver_ty = self.types.resolve(inner).clone();
        }
        let receiver = match &receiver_ty {
            Ty::List(_) => Receiver::List,
            Ty::Map(_) => Receiver::Map,
            Ty::Unknown => {
                self.check_args_loosely(args, scope);
                return Ty::Unknown;
            }
            t if self.types.fits(t, &Ty::String) => Receiver::String,
            _ => Receiver::None,
        };
        let builtin = (receiver != Receiver::None).then(|| flow_stdlib::method(receiver, &name.name)).flatten();
        let Some(builtin) = builtin else {
            self.check_args_loosely(args, scope);
            let mut d = Diagnostic::new(
                Code::UnknownFunction,
                name.span,
                format!("`{receiver_ty}` has no method `{}`", name.name),
                "unknown method",
            );
            if receiver != Receiver::None
                && let Some(best) = did_you_mean(&name.name, flow_stdlib::names(receiver))
            {
                d = d.did_you_mean(name.span, best);
            }
            if d.help.is_none() && (name.name == "len" || name.name == "length" || name.name == "size") {
                d = d.with_help(format!("use `len({})`", source_text(self.source, target.span)));
            }
            if d.help.is_none() && self.types.record(&receiver_ty).is_some() {
                d = d.with_help("records have fields, not methods");
            }
            self.report(d);
            return Ty::Unknown;
        };
        self.facts.builtins.insert(name.span, builtin.id);
        let elem = match &receiver_ty {
            Ty::List(e) => (**e).clone(),
            Ty::Map(v) => (**v).clone(),
            _ => Ty::String,
        };
        let takes_lambda = builtin.takes_lambda();
        let result = if takes_lambda {
            let body = self.lambda_arg(&name.name, args, &elem, name.span, scope);
            let body_res = self.types.resolve(&body).clone();
            let must_be_bool = |this: &mut Self| {
                if !matches!(body_res, Ty::Bool | Ty::Unknown)
                    && let Some(lambda) = args.first()
                {
                    this.report(Diagnostic::new(
                        Code::ConditionNotBool,
                        lambda_body_span(&lambda.value),
                        format!("the lambda given to `{}` must return a bool, not `{body}`", builtin.name),
                        format!("this is `{body}`"),
                    ));
                }
            };
            match builtin.id {
                B::ListMap => widen(body.clone()).list(),
                B::ListFilter => {
                    must_be_bool(self);
                    elem.list()
                }
                B::ListFind => {
                    must_be_bool(self);
                    elem.optional()
                }
                B::ListCount => {
                    must_be_bool(self);
                    Ty::Int
                }
                B::ListAny | B::ListAll => {
                    must_be_bool(self);
                    Ty::Bool
                }
                B::ListSortBy => {
                    if !matches!(body_res, Ty::Int | Ty::Float | Ty::Unknown | Ty::Duration)
                        && !self.types.fits(&body_res, &Ty::String)
                        && let Some(lambda) = args.first()
                    {
                        self.report(Diagnostic::new(
                            Code::BadArguments,
                            lambda_body_span(&lambda.value),
                            format!("`sort_by` sorts by a number or string, not `{body}`"),
                            format!("this is `{body}`"),
                        ));
                    }
                    elem.list()
                }
                // Not lambda methods: typed below.
                B::ListFirst
                | B::ListLast
                | B::ListContains
                | B::ListJoin
                | B::ListFlatten
                | B::ListTake
                | B::ListSkip
                | B::StrLower
                | B::StrUpper
                | B::StrTrim
                | B::StrContains
                | B::StrStartsWith
                | B::StrEndsWith
                | B::StrSplit
                | B::StrReplace
                | B::MapGet
                | B::Len
                | B::Str
                | B::Int
                | B::Float
                | B::Round
                | B::Abs
                | B::Min
                | B::Max
                | B::Sum
                | B::Keys
                | B::Values
                | B::Json => Ty::Unknown,
            }
        } else {
            let tys = self.positional_args(&name.name, builtin.params, args, name.span, scope);
            let Some(tys) = tys else { return Ty::Unknown };
            let expect_arg = |this: &mut Self, i: usize, want: &Ty| {
                if let (Some(t), Some(a)) = (tys.get(i), args.get(i))
                    && !this.types.fits(t, want)
                {
                    this.report(Diagnostic::new(
                        Code::BadArguments,
                        a.value.span,
                        format!("`{}` takes `{want}` here, not `{t}`", builtin.name),
                        format!("this is `{t}`"),
                    ));
                }
            };
            match builtin.id {
                B::ListFirst | B::ListLast => elem.optional(),
                B::ListContains => {
                    expect_arg(self, 0, &elem);
                    Ty::Bool
                }
                B::ListJoin => {
                    if !self.types.fits(&elem, &Ty::String) {
                        self.report(
                            Diagnostic::new(
                                Code::BadArguments,
                                name.span,
                                format!("`join` needs a list of strings, not `{receiver_ty}`"),
                                "list of non-strings",
                            )
                            .with_help("turn the items into text first: `.map(x => str(x)).join(\", \")`"),
                        );
                    }
                    expect_arg(self, 0, &Ty::String);
                    Ty::String
                }
                B::ListFlatten => match self.types.resolve(&elem).clone() {
                    Ty::List(inner) => Ty::List(inner),
                    Ty::Unknown | Ty::Never => Ty::Unknown.list(),
                    _ => {
                        self.report(Diagnostic::new(
                            Code::BadArguments,
                            name.span,
                            format!("`flatten` needs a list of lists, not `{receiver_ty}`"),
                            "not a list of lists",
                        ));
                        Ty::Unknown
                    }
                },
                B::ListTake | B::ListSkip => {
                    expect_arg(self, 0, &Ty::Int);
                    elem.list()
                }
                B::StrLower | B::StrUpper | B::StrTrim => Ty::String,
                B::StrSplit => {
                    expect_arg(self, 0, &Ty::String);
                    Ty::String.list()
                }
                B::StrReplace => {
                    expect_arg(self, 0, &Ty::String);
                    expect_arg(self, 1, &Ty::String);
                    Ty::String
                }
                B::StrContains | B::StrStartsWith | B::StrEndsWith => {
                    expect_arg(self, 0, &Ty::String);
                    Ty::Bool
                }
                B::MapGet => {
                    expect_arg(self, 0, &Ty::String);
                    elem.optional()
                }
                // Lambda methods are typed above; free functions are never methods.
                B::ListMap
                | B::ListFilter
                | B::ListAny
                | B::ListAll
                | B::ListFind
                | B::ListCount
                | B::ListSortBy
                | B::Len
                | B::Str
                | B::Int
                | B::Float
                | B::Round
                | B::Abs
                | B::Min
                | B::Max
                | B::Sum
                | B::Keys
                | B::Values
                | B::Json => Ty::Unknown,
            }
        };
        if wrap_optional { result.optional() } else { result }
    }

    /// Checks the single lambda argument of a list method; returns the
    /// type of its body with the parameter bound to `elem`.
    fn lambda_arg(&mut self, method: &str, args: &[Arg], elem: &Ty, span: Span, scope: &mut Scope) -> Ty {
        let [arg] = args else {
            self.check_args_loosely(args, scope);
            self.report(
                Diagnostic::new(
                    Code::BadArguments,
                    span,
                    format!("`{method}` takes one lambda, not {} arguments", args.len()),
                    "wrong number of arguments",
                )
                .with_help(format!("write `.{method}(x => ...)`")),
            );
            return Ty::Unknown;
        };
        let ExprKind::Lambda { params, body } = &arg.value.kind else {
            self.expr(&arg.value, scope);
            self.report(
                Diagnostic::new(Code::BadLambda, arg.value.span, format!("`{method}` takes a lambda"), "not a lambda")
                    .with_help(format!("write `.{method}(x => ...)`")),
            );
            return Ty::Unknown;
        };
        if params.len() != 1 {
            self.report(
                Diagnostic::new(
                    Code::BadLambda,
                    arg.value.span,
                    format!("the lambda given to `{method}` takes one parameter, not {}", params.len()),
                    "wrong number of parameters",
                )
                .with_help(format!("write `.{method}(x => ...)`")),
            );
        }
        scope.push();
        let lambda = arg.value.span;
        for p in params {
            if let Some(existing) = scope.binding(&p.name) {
                let first = existing.span;
                self.report(
                    Diagnostic::new(
                        Code::DuplicateName,
                        p.span,
                        format!("the name `{}` is already used", p.name),
                        "this lambda parameter hides it",
                    )
                    .with_label(first, "defined here")
                    .with_help("give the lambda parameter a name of its own"),
                );
            }
            self.bind(scope, p, elem.clone(), crate::analysis::DefKind::LambdaParam, lambda);
        }
        let ty = self.expr(body, scope);
        scope.pop();
        // A lambda's type is its body's: what it gives per item.
        self.facts.exprs.insert(lambda, ty.clone());
        ty
    }

    fn check_args_loosely(&mut self, args: &[Arg], scope: &mut Scope) {
        for arg in args {
            if let ExprKind::Lambda { params, body } = &arg.value.kind {
                scope.push();
                for p in params {
                    scope.bind_local(&p.name, Ty::Unknown, p.span);
                }
                self.expr(body, scope);
                scope.pop();
            } else {
                self.expr(&arg.value, scope);
            }
        }
    }

    // ------------------------------------------------------------ expected types

    /// Checks `e` where a value of type `expected` is needed; reports a
    /// mismatch with `code`. Records and lists are checked member by member.
    pub(crate) fn check_against(&mut self, e: &Expr, expected: &Ty, code: Code, scope: &mut Scope) -> Ty {
        let resolved = self.types.resolve(expected).clone();
        let target = match &resolved {
            Ty::Optional(inner) if matches!(e.kind, ExprKind::Record(_) | ExprKind::List(_)) => {
                self.types.resolve(inner).clone()
            }
            other => other.clone(),
        };
        match (&e.kind, &target) {
            (ExprKind::Record(fields), Ty::Record(record)) => {
                let mut seen = HashSet::new();
                for field in fields {
                    if !seen.insert(field.key.name.as_str()) {
                        self.report(Diagnostic::new(
                            Code::DuplicateName,
                            field.key.span,
                            format!("field `{}` is given twice", field.key.name),
                            "given again here",
                        ));
                        continue;
                    }
                    match record.field(&field.key.name) {
                        Some(f) => {
                            let fty = f.ty.clone();
                            self.check_against(&field.value, &fty, code, scope);
                        }
                        None => {
                            self.expr(&field.value, scope);
                            let names: Vec<&str> = record.fields.iter().map(|f| f.name.as_str()).collect();
                            let mut d = Diagnostic::new(
                                Code::UnknownField,
                                field.key.span,
                                format!("`{expected}` has no field `{}`", field.key.name),
                                format!("not a field of `{expected}`"),
                            );
                            if let Some(best) = did_you_mean(&field.key.name, names.iter().copied()) {
                                d = d.did_you_mean(field.key.span, best);
                            } else {
                                d = d.with_note(format!("`{expected}` has fields: {}", names.join(", ")));
                            }
                            self.report(d);
                        }
                    }
                }
                let missing: Vec<&FieldTy> = record
                    .fields
                    .iter()
                    .filter(|f| {
                        !seen.contains(f.name.as_str())
                            && !matches!(self.types.resolve(&f.ty), Ty::Optional(_) | Ty::Unknown)
                    })
                    .collect();
                if !missing.is_empty() {
                    let names: Vec<String> = missing.iter().map(|f| format!("`{}`", f.name)).collect();
                    let example: Vec<String> =
                        missing.iter().map(|f| format!("{}: {}", f.name, placeholder(&f.ty))).collect();
                    self.report(
                        Diagnostic::new(
                            Code::MissingArgument,
                            e.span,
                            format!("missing field{} {} for `{expected}`", plural(missing.len()), names.join(", ")),
                            format!("this record has no {}", names.join(", ")),
                        )
                        .with_help(format!("add `{}`", example.join(", "))),
                    );
                }
                self.facts.exprs.insert(e.span, expected.clone());
                expected.clone()
            }
            (ExprKind::List(items), Ty::List(elem)) => {
                let elem = (**elem).clone();
                for item in items {
                    self.check_against(item, &elem, code, scope);
                }
                self.facts.exprs.insert(e.span, expected.clone());
                expected.clone()
            }
            _ => {
                let actual = self.expr(e, scope);
                self.expect_fits(e, &actual, expected, code);
                actual
            }
        }
    }

    /// Reports `actual` not fitting `expected` at `e`.
    pub(crate) fn expect_fits(&mut self, e: &Expr, actual: &Ty, expected: &Ty, code: Code) {
        if self.types.fits(actual, expected) {
            return;
        }
        let a = self.types.resolve(actual).clone();
        let x = self.types.resolve(expected).clone();
        if let (Ty::Optional(inner), false) = (&a, matches!(x, Ty::Optional(_)))
            && self.types.fits(inner, expected)
        {
            let text = source_text(self.source, e.span);
            self.report(
                Diagnostic::new(
                    Code::OptionalUnhandled,
                    e.span,
                    format!("`{text}` may be null, but `{expected}` is expected"),
                    format!("this is `{actual}`"),
                )
                .with_help(format!(
                    "give a default with `{text} ?? {}`, or declare the type as `{expected}?`",
                    placeholder(expected)
                )),
            );
            return;
        }
        let mut d = Diagnostic::new(
            code,
            e.span,
            format!("expected `{expected}`, found `{actual}`"),
            format!("this is `{actual}`"),
        );
        match (&a, &x) {
            (Ty::Lit(s), Ty::Enum(members)) => {
                let list: Vec<String> = members.iter().map(|m| format!("{m:?}")).collect();
                d.message = format!("{s:?} is not one of {}", list.join(", "));
                if let Some(best) = did_you_mean(s, members.iter().map(String::as_str)) {
                    d = d.with_help(format!("did you mean {best:?}?")).with_replacement(e.span, format!("{best:?}"));
                } else {
                    d = d.with_help(format!("use one of {}", list.join(", ")));
                }
            }
            (Ty::String, Ty::Enum(_)) => {
                d = d.with_help("a `string` may hold any text; only one of the listed literals fits here");
            }
            (Ty::Float, Ty::Int) => d = d.with_help("convert with `round(x)` or `int(x)`"),
            (Ty::Int | Ty::Float | Ty::Bool, Ty::String) => {
                d = d.with_help("convert with `str(x)` or interpolate: \"${x}\"")
            }
            (Ty::Lit(s), Ty::Int | Ty::Float) if s.parse::<f64>().is_ok() => {
                d = d.with_help(format!("write the number without quotes: {s}")).with_replacement(e.span, s.to_string())
            }
            (_, Ty::List(_)) if !matches!(a, Ty::List(_)) => {
                d = d.with_help("wrap a single value in a list: `[value]`")
            }
            _ => {}
        }
        self.report(d);
    }
}

fn unwrap_optional(ty: &Ty) -> Ty {
    match ty {
        Ty::Optional(inner) => (**inner).clone(),
        other => other.clone(),
    }
}

fn lambda_body_span(e: &Expr) -> Span {
    match &e.kind {
        ExprKind::Lambda { body, .. } => body.span,
        _ => e.span,
    }
}

fn params_phrase(params: &[&str]) -> String {
    match params.len() {
        0 => "no arguments".into(),
        n => format!("{n} argument{}: {}", plural(n), params.join(", ")),
    }
}
