//! Typing expressions: literals, names, field access, operators, builtin
//! functions and methods, lambdas, and checking a value against the type a
//! place expects (records and lists field by field, for precise spans).

use crate::checker::{Checker, Scope};
use crate::types::{FieldTy, RecordTy, Ty};
use crate::words::{placeholder, plural, source_text};
use flow_grammar::ast::*;
use flow_grammar::suggest::did_you_mean;
use flow_grammar::{Code, Diagnostic, Span};

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
                    let ty = literal_type(&field.value).unwrap_or(ty);
                    out.push(FieldTy { name: field.key.name.clone(), ty, doc: None, alias: None });
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
            ExprKind::If { condition, then, otherwise } => self.if_expr(condition, then, otherwise, scope),
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

    /// `if c { a } else { b }`: `c` a bool; the branches' join (a literal
    /// union when both are string literals: `if x { "a" } else { "b" }` is
    /// `"a" | "b"`).
    fn if_expr(&mut self, condition: &Expr, then: &Expr, otherwise: &Expr, scope: &mut Scope) -> Ty {
        self.condition(condition, scope);
        let a = self.expr(then, scope);
        let b = self.expr(otherwise, scope);
        match self.types.join(&a, &b) {
            Some(ty) => ty,
            None => {
                self.report(
                    Diagnostic::new(
                        Code::RouteBranchMismatch,
                        otherwise.span,
                        format!("the branches of `if` have different types: `{a}` and `{b}`"),
                        format!("this is `{b}`"),
                    )
                    .with_label(then.span, format!("this is `{a}`"))
                    .with_help("both branches give the expression's value: make them the same type"),
                );
                Ty::Unknown
            }
        }
    }

    /// The type of field `name` in every member of a union, joined; `None`
    /// when a member lacks it (or is not a record).
    fn common_field(&self, members: &[Ty], name: &str) -> Option<Ty> {
        let mut joined: Option<Ty> = None;
        for m in members {
            let field = self.types.record(m)?.field(name)?;
            joined = Some(match joined {
                None => field.ty.clone(),
                Some(j) => self.types.join(&j, &field.ty)?,
            });
        }
        joined
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
        // A field every member of a union has reads as the join of their types.
        if let Ty::Union(members) = self.types.resolve(&record_ty).clone()
            && let Some(ty) = self.common_field(&members, &name.name)
        {
            return if was_optional { ty.optional() } else { ty };
        }
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

    pub(crate) fn optional_unhandled(&mut self, target: &Expr, ty: &Ty, field: Option<&Ident>) {
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
        // Literal number and bool types compute as their `int`, `float` or `bool`.
        let l = self.types.base(&lt);
        let r = self.types.base(&rt);
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
                    let res = self.types.base(ty);
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
        // A number or bool literal where a literal type (or a union of them) is expected.
        if let Some(Ty::Const(c)) = literal_type(e)
            && matches!(target, Ty::Const(_) | Ty::Union(_))
            && self.types.admits(&target, c)
        {
            self.expr(e, scope);
            return Ty::Const(c);
        }
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
            (Ty::String, Ty::List(elem)) if *self.types.resolve(elem) == crate::types::message_type() => {
                let text = format!("[{{ role: \"user\", content: {} }}]", source_text(self.source, e.span));
                d = d
                    .with_help(format!("a conversation is a list of messages: `{text}`"))
                    .with_replacement(e.span, text)
            }
            (_, Ty::List(elem)) if !matches!(a, Ty::List(_)) && self.types.fits(actual, elem) => {
                d = d.with_help("wrap a single value in a list: `[value]`")
            }
            (Ty::Record(record), _) => {
                // A record holding the expected value (a loop's `value`, a one-field answer).
                let fitting: Vec<&str> = record
                    .fields
                    .iter()
                    .filter(|f| self.types.fits(&f.ty, expected))
                    .map(|f| f.name.as_str())
                    .collect();
                let field = fitting.iter().find(|f| **f == "value").or(match fitting.as_slice() {
                    [one] => Some(one),
                    _ => None,
                });
                let base = source_text(self.source, e.span);
                let simple = base.chars().all(|c| c.is_alphanumeric() || "_.?[]".contains(c));
                if let Some(field) = field.filter(|_| simple) {
                    let text = format!("{base}.{field}");
                    d = d.with_help(format!("did you mean `{text}`?")).with_replacement(e.span, text);
                }
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

/// The literal type of a number or bool literal (`3`, `0.5`, `true`), as
/// record and list literals keep it, so `{ stars: 3 }` fits `{ stars: 1 | 2 | 3 }`.
fn literal_type(e: &Expr) -> Option<Ty> {
    use crate::types::Const;
    Some(Ty::Const(match e.kind {
        ExprKind::Int(n) => Const::Int(n),
        ExprKind::Float(f) => Const::Float(f),
        ExprKind::Bool(b) => Const::Bool(b),
        _ => return None,
    }))
}
