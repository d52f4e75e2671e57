//! Builtin calls: finding the registry entry a call or method names,
//! checking its arguments (positional values, or one lambda), and each
//! builtin's type rule. The rules are one exhaustive match on `BuiltinId`,
//! so a builtin added to `flow_stdlib` does not compile until it is typed.

use crate::checker::{Checker, Scope};
use crate::types::{Ty, TypeTable};
use crate::words::{and_list, plural, source_text, widen};
use flow_grammar::ast::*;
use flow_grammar::suggest::did_you_mean;
use flow_grammar::{Code, Diagnostic, Span};
use flow_stdlib::{Builtin, BuiltinId as B, Receiver};

/// A builtin call being typed.
struct Call<'a> {
    builtin: &'static Builtin,
    /// The function's or method's name.
    name: Span,
    args: &'a [Arg],
    /// The arguments' types (value builtins), or the lambda body's (lambda methods).
    tys: Vec<Ty>,
    /// A method's receiver, resolved (optional unwrapped).
    receiver: Ty,
    /// The receiver's item type: a list's item, a map's value, a string's `string`.
    elem: Ty,
}

impl Call<'_> {
    fn ty(&self, i: usize) -> Ty {
        self.tys.get(i).cloned().unwrap_or(Ty::Unknown)
    }
}

impl Checker<'_> {
    /// `f(args)` where `f` is not a tool or flow: a builtin function.
    pub(crate) fn builtin_call(&mut self, callee: &Ident, args: &[Arg], span: Span, scope: &mut Scope) -> Ty {
        let Some(builtin) = flow_stdlib::function(&callee.name) else {
            self.unknown_function(callee, args, scope);
            return Ty::Unknown;
        };
        self.facts.builtins.insert(callee.span, builtin.id);
        let Some(tys) = self.positional_args(&callee.name, builtin.params, args, span, scope) else {
            return Ty::Unknown;
        };
        let call = Call { builtin, name: callee.span, args, tys, receiver: Ty::Unknown, elem: Ty::Unknown };
        self.type_rule(&call)
    }

    fn unknown_function(&mut self, callee: &Ident, args: &[Arg], scope: &mut Scope) {
        for arg in args {
            self.expr(&arg.value, scope);
        }
        if self.items.broken.contains(&callee.name) {
            return;
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
        let functions: Vec<&str> = flow_stdlib::names(Receiver::None).collect();
        let mut candidates: Vec<&str> = if named { Vec::new() } else { functions.clone() };
        candidates.extend(self.items.callables.keys().map(String::as_str));
        if let Some(best) = did_you_mean(&callee.name, candidates) {
            let best = best.to_string();
            d = d.did_you_mean(callee.span, best);
        } else if named {
            d = d.with_help("declare it with `tool name(param: type) -> type`, or define the flow");
        } else {
            d = d.with_help(format!("builtins are {}", and_list(&functions)));
        }
        self.report(d);
    }

    /// `target.name(args)`: a builtin method of lists, strings or maps.
    pub(crate) fn method_call(
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
            self.unknown_method(target, &receiver_ty, receiver, name);
            return Ty::Unknown;
        };
        self.facts.builtins.insert(name.span, builtin.id);
        let elem = match &receiver_ty {
            Ty::List(e) => (**e).clone(),
            Ty::Map(v) => (**v).clone(),
            _ => Ty::String,
        };
        let tys = if builtin.takes_lambda() {
            vec![self.lambda_arg(&name.name, args, &elem, name.span, scope)]
        } else if builtin.folds() {
            self.fold_args(&name.name, args, &elem, name.span, scope)
        } else {
            match self.positional_args(&name.name, builtin.params, args, name.span, scope) {
                Some(tys) => tys,
                None => return Ty::Unknown,
            }
        };
        let call = Call { builtin, name: name.span, args, tys, receiver: receiver_ty, elem };
        let result = self.type_rule(&call);
        if wrap_optional { result.optional() } else { result }
    }

    fn unknown_method(&mut self, target: &Expr, receiver_ty: &Ty, receiver: Receiver, name: &Ident) {
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
        if d.help.is_none() && self.types.record(receiver_ty).is_some() {
            d = d.with_help("records have fields, not methods");
        }
        self.report(d);
    }

    /// The type a builtin call gives, reporting arguments that do not fit.
    fn type_rule(&mut self, c: &Call<'_>) -> Ty {
        let number = |_: &TypeTable, t: &Ty| matches!(t, Ty::Int | Ty::Float);
        let text = |types: &TypeTable, t: &Ty| number(types, t) || types.fits(t, &Ty::String);
        match c.builtin.id {
            B::Len => self.one_arg(c, "a list, map or string", Ty::Int, |types, t| {
                (matches!(t, Ty::List(_) | Ty::Map(_)) || types.fits(t, &Ty::String)).then_some(Ty::Int)
            }),
            B::Str | B::Json => Ty::String,
            B::Int => self.one_arg(c, "a number or string", Ty::Int, |ty, t| text(ty, t).then_some(Ty::Int)),
            B::Float => self.one_arg(c, "a number or string", Ty::Float, |ty, t| text(ty, t).then_some(Ty::Float)),
            B::Round => self.one_arg(c, "a number", Ty::Int, |ty, t| number(ty, t).then_some(Ty::Int)),
            B::Abs => self.one_arg(c, "a number", Ty::Unknown, |ty, t| number(ty, t).then(|| t.clone())),
            B::Min | B::Max => self.min_max(c),
            B::Sum => self.one_arg(c, "a list of numbers", Ty::Unknown, |types, t| match t {
                Ty::List(e) => match types.resolve(e) {
                    Ty::Int | Ty::Never => Some(Ty::Int),
                    Ty::Float => Some(Ty::Float),
                    Ty::Unknown => Some(Ty::Unknown),
                    _ => None,
                },
                _ => None,
            }),
            B::Entries => self.one_arg(c, "a map", Ty::Unknown, |_, t| match t {
                Ty::Map(v) => Some(Ty::record(vec![("key", Ty::String), ("value", (**v).clone())]).list()),
                _ => None,
            }),
            B::Range => self.expect_args(c, &[Ty::Int], Ty::Int.list()),
            B::Keys => {
                self.one_arg(c, "a map", Ty::String.list(), |_, t| matches!(t, Ty::Map(_)).then(|| Ty::String.list()))
            }
            B::Values => self.one_arg(c, "a map", Ty::Unknown, |_, t| match t {
                Ty::Map(v) => Some(Ty::List(v.clone())),
                _ => None,
            }),
            B::ListMap => widen(c.ty(0)).list(),
            B::ListFilter => self.bool_lambda(c, c.elem.clone().list()),
            B::ListFind => self.bool_lambda(c, c.elem.clone().optional()),
            B::ListCount => self.bool_lambda(c, Ty::Int),
            B::ListAny | B::ListAll => self.bool_lambda(c, Ty::Bool),
            B::ListSortBy => self.sort_key(c),
            B::ListMaxBy | B::ListMinBy => {
                self.sort_key(c);
                c.elem.clone().optional()
            }
            // `fold_args` typed the accumulator: the start's type, or its join with the lambda's.
            B::ListReduce => c.ty(0),
            B::ListFirst | B::ListLast => c.elem.clone().optional(),
            B::ListSumBy => self.number_lambda(c),
            B::ListGroupBy => self.group_key(c),
            B::ListUnique | B::ListReverse => c.elem.clone().list(),
            B::ListSort => {
                self.ordered_items(c);
                c.elem.clone().list()
            }
            B::ListUniqueBy => self.sort_key(c),
            B::ListMax | B::ListMin => self.ordered_items(c),
            B::ListSlice => self.expect_args(c, &[Ty::Int, Ty::Int], c.elem.clone().list()),
            B::ListEnumerate => Ty::record(vec![("index", Ty::Int), ("value", c.elem.clone())]).list(),
            B::StrSlice => self.expect_args(c, &[Ty::Int, Ty::Int], Ty::String),
            B::Format => self.expect_args(c, &[Ty::Float, Ty::Int], Ty::String),
            B::ListContains => self.expect_args(c, std::slice::from_ref(&c.elem), Ty::Bool),
            B::ListJoin => self.join(c),
            B::ListFlatten => self.flatten(c),
            B::ListTake | B::ListSkip => self.expect_args(c, &[Ty::Int], c.elem.clone().list()),
            B::StrLower | B::StrUpper | B::StrTrim => Ty::String,
            B::StrSplit => self.expect_args(c, &[Ty::String], Ty::String.list()),
            B::StrReplace => self.expect_args(c, &[Ty::String, Ty::String], Ty::String),
            B::StrContains | B::StrStartsWith | B::StrEndsWith => self.expect_args(c, &[Ty::String], Ty::Bool),
            B::MapGet => self.expect_args(c, &[Ty::String], c.elem.clone().optional()),
        }
    }

    /// A function of one argument: `unknown` when the argument's type is
    /// unknown (already reported), else what `rule` gives, or an error
    /// saying the builtin takes `wanted`.
    fn one_arg(&mut self, c: &Call<'_>, wanted: &str, unknown: Ty, rule: impl Fn(&TypeTable, &Ty) -> Option<Ty>) -> Ty {
        let a0 = self.types.resolve(&c.ty(0)).clone();
        if a0.is_unknown() {
            return unknown;
        }
        match rule(&self.types, &a0) {
            Some(ty) => ty,
            None => self.wrong_argument(c, wanted),
        }
    }

    fn wrong_argument(&mut self, c: &Call<'_>, wanted: &str) -> Ty {
        let given = c.ty(0);
        let span = c.args.first().map_or(c.name, |a| a.value.span);
        self.report(Diagnostic::new(
            Code::BadArguments,
            span,
            format!("`{}` takes {wanted}, not `{given}`", c.builtin.name),
            format!("this is `{given}`"),
        ));
        Ty::Unknown
    }

    fn min_max(&mut self, c: &Call<'_>) -> Ty {
        let a0 = self.types.resolve(&c.ty(0)).clone();
        let a1 = self.types.resolve(&c.ty(1)).clone();
        match (&a0, &a1) {
            (Ty::Unknown, _) => Ty::Unknown,
            (Ty::Int, Ty::Int) => Ty::Int,
            (Ty::Int | Ty::Float, Ty::Int | Ty::Float | Ty::Unknown) => Ty::Float,
            _ => self.wrong_argument(c, "two numbers"),
        }
    }

    /// Reports each argument that does not fit its parameter's type; gives `result`.
    fn expect_args(&mut self, c: &Call<'_>, wanted: &[Ty], result: Ty) -> Ty {
        for (i, want) in wanted.iter().enumerate() {
            if let (Some(t), Some(a)) = (c.tys.get(i), c.args.get(i))
                && !self.types.fits(t, want)
            {
                self.report(Diagnostic::new(
                    Code::BadArguments,
                    a.value.span,
                    format!("`{}` takes `{want}` here, not `{t}`", c.builtin.name),
                    format!("this is `{t}`"),
                ));
            }
        }
        result
    }

    /// A lambda method whose lambda must give a bool.
    fn bool_lambda(&mut self, c: &Call<'_>, result: Ty) -> Ty {
        let body = c.ty(0);
        if !matches!(self.types.resolve(&body), Ty::Bool | Ty::Unknown)
            && let Some(lambda) = c.args.first()
        {
            self.report(Diagnostic::new(
                Code::ConditionNotBool,
                lambda_body_span(&lambda.value),
                format!("the lambda given to `{}` must return a bool, not `{body}`", c.builtin.name),
                format!("this is `{body}`"),
            ));
        }
        result
    }

    fn sort_key(&mut self, c: &Call<'_>) -> Ty {
        let body = c.ty(0);
        let key = self.types.resolve(&body).clone();
        if !matches!(key, Ty::Int | Ty::Float | Ty::Unknown | Ty::Duration)
            && !self.types.fits(&key, &Ty::String)
            && let Some(lambda) = c.args.first()
        {
            self.report(Diagnostic::new(
                Code::BadArguments,
                lambda_body_span(&lambda.value),
                format!("`{}` compares numbers or strings, not `{body}`", c.builtin.name),
                format!("this is `{body}`"),
            ));
        }
        c.elem.clone().list()
    }

    /// `.max()` / `.min()`: the items must be numbers or strings; `T?` (an
    /// empty list has none).
    fn ordered_items(&mut self, c: &Call<'_>) -> Ty {
        let item = self.types.base(&c.elem);
        if !matches!(item, Ty::Int | Ty::Float | Ty::Duration | Ty::Unknown | Ty::Never)
            && !self.types.fits(&item, &Ty::String)
        {
            self.report(Diagnostic::new(
                Code::BadArguments,
                c.name,
                format!("`.{}()` compares numbers or strings, not `{}`", c.builtin.name, c.elem),
                "not comparable",
            ));
        }
        c.elem.clone().optional()
    }

    /// `sum_by(x => number)`: an int when the lambda gives ints, else a float.
    fn number_lambda(&mut self, c: &Call<'_>) -> Ty {
        let body = c.ty(0);
        match self.types.base(&body) {
            Ty::Int => Ty::Int,
            Ty::Float => Ty::Float,
            Ty::Unknown => Ty::Unknown,
            _ => {
                if let Some(lambda) = c.args.first() {
                    self.report(Diagnostic::new(
                        Code::BadArguments,
                        lambda_body_span(&lambda.value),
                        format!("`sum_by` adds numbers, not `{body}`"),
                        format!("this is `{body}`"),
                    ));
                }
                Ty::Unknown
            }
        }
    }

    /// `group_by(x => key)`: a map from each string key to its items.
    fn group_key(&mut self, c: &Call<'_>) -> Ty {
        let body = c.ty(0);
        if !self.types.fits(&body, &Ty::String)
            && !body.is_unknown()
            && let Some(lambda) = c.args.first()
        {
            self.report(
                Diagnostic::new(
                    Code::BadArguments,
                    lambda_body_span(&lambda.value),
                    format!("`group_by` groups by a string, not `{body}`"),
                    format!("this is `{body}`"),
                )
                .with_help("turn the key into text with `str(...)`"),
            );
        }
        Ty::Map(Box::new(c.elem.clone().list()))
    }

    fn join(&mut self, c: &Call<'_>) -> Ty {
        if !self.types.fits(&c.elem, &Ty::String) {
            self.report(
                Diagnostic::new(
                    Code::BadArguments,
                    c.name,
                    format!("`join` needs a list of strings, not `{}`", c.receiver),
                    "list of non-strings",
                )
                .with_help("turn the items into text first: `.map(x => str(x)).join(\", \")`"),
            );
        }
        self.expect_args(c, &[Ty::String], Ty::String)
    }

    fn flatten(&mut self, c: &Call<'_>) -> Ty {
        match self.types.resolve(&c.elem).clone() {
            Ty::List(inner) => Ty::List(inner),
            // `[].flatten()` is an empty list still: `[Never]`, usable as any list.
            Ty::Never => Ty::Never.list(),
            Ty::Unknown => Ty::Unknown.list(),
            _ => {
                self.report(Diagnostic::new(
                    Code::BadArguments,
                    c.name,
                    format!("`flatten` needs a list of lists, not `{}`", c.receiver),
                    "not a list of lists",
                ));
                Ty::Unknown
            }
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
            self.bind_lambda_param(scope, p, elem.clone(), lambda);
        }
        let ty = self.expr(body, scope);
        scope.pop();
        // A lambda's type is its body's: what it gives per item.
        self.facts.exprs.insert(lambda, ty.clone());
        ty
    }

    /// `.reduce(start, (acc, x) => value)`: types the accumulator as the
    /// start's type, or (when the lambda gives more, e.g. a float from an
    /// int start, or items into `[]`) as the join of the two, checked again.
    /// Gives `[accumulator, lambda body]`.
    fn fold_args(&mut self, method: &str, args: &[Arg], elem: &Ty, span: Span, scope: &mut Scope) -> Vec<Ty> {
        let usage = format!("write `.{method}(start, (acc, x) => ...)`");
        let [start, lambda] = args else {
            self.check_args_loosely(args, scope);
            self.report(
                Diagnostic::new(
                    Code::BadArguments,
                    span,
                    format!("`{method}` takes a start value and a lambda, not {} arguments", args.len()),
                    "wrong number of arguments",
                )
                .with_help(usage),
            );
            return vec![Ty::Unknown, Ty::Unknown];
        };
        let ExprKind::Lambda { params, body } = &lambda.value.kind else {
            self.check_args_loosely(args, scope);
            let d = Diagnostic::new(
                Code::BadLambda,
                lambda.value.span,
                format!("`{method}` takes a lambda"),
                "not a lambda",
            );
            self.report(d.with_help(usage));
            return vec![Ty::Unknown, Ty::Unknown];
        };
        if params.len() != 2 {
            self.report(
                Diagnostic::new(
                    Code::BadLambda,
                    lambda.value.span,
                    format!(
                        "the lambda given to `{method}` takes two parameters (the value so far and the item), not {}",
                        params.len()
                    ),
                    "wrong number of parameters",
                )
                .with_help(usage),
            );
        }
        let acc = widen(self.expr(&start.value, scope));
        let mark = self.mark();
        let first = self.fold_body(params, body, &acc, elem, lambda.value.span, scope);
        if self.types.fits(&first, &acc) {
            return vec![acc, first];
        }
        let Some(joined) = self.types.join(&acc, &first).map(widen) else {
            self.report(
                Diagnostic::new(
                    Code::BadArguments,
                    body.span,
                    format!("the lambda gives `{first}`, but the value starts as `{acc}`"),
                    format!("this is `{first}`"),
                )
                .with_help("start from a value of the type the lambda gives (`0.0` for a float sum, `\"\"` for text)"),
            );
            return vec![acc, first];
        };
        self.rewind(mark);
        let second = self.fold_body(params, body, &joined, elem, lambda.value.span, scope);
        if !self.types.fits(&second, &joined) {
            self.report(Diagnostic::new(
                Code::BadArguments,
                body.span,
                format!("the lambda gives `{second}`, but the value so far is `{joined}`"),
                format!("this is `{second}`"),
            ));
        }
        vec![joined, second]
    }

    fn fold_body(&mut self, params: &[Ident], body: &Expr, acc: &Ty, elem: &Ty, lambda: Span, scope: &mut Scope) -> Ty {
        scope.push();
        for (p, ty) in params.iter().zip([acc, elem]) {
            self.bind_lambda_param(scope, p, ty.clone(), lambda);
        }
        let ty = self.expr(body, scope);
        scope.pop();
        self.facts.exprs.insert(lambda, ty.clone());
        ty
    }

    /// Binds a lambda's parameter, reporting one that hides another name.
    fn bind_lambda_param(&mut self, scope: &mut Scope, p: &Ident, ty: Ty, lambda: Span) {
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
        self.bind(scope, p, ty, crate::analysis::DefKind::LambdaParam, lambda);
    }

    /// Checks arguments that no builtin takes (to report what is wrong inside them).
    pub(crate) fn check_args_loosely(&mut self, args: &[Arg], scope: &mut Scope) {
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
