//! Checking flow bodies: the steps of a block, the dependencies between them
//! (and cycles), each step form, the clauses on steps, `return`, and unused
//! steps and parameters.

use crate::analysis::DefKind;
use crate::checker::{CallableKind, Checker, Scope};
use crate::types::Ty;
use crate::words::{source_text, widen};
use flow_grammar::ast::*;
use flow_grammar::suggest::did_you_mean;
use flow_grammar::{Code, Diagnostic, Span};
use flow_stdlib::options::{AGENT_OPTIONS, ASK_OPTIONS, LLM_OPTIONS, MAP_OPTIONS, OptionKind, OptionSpec};
use petgraph::algo::tarjan_scc;
use petgraph::graph::{DiGraph, NodeIndex};
use rustc_hash::FxHashMap as HashMap;
use std::collections::BTreeSet;
use std::sync::Arc;

use flow_stdlib::{ErrorKind, Source};

fn names(kinds: impl IntoIterator<Item = ErrorKind>) -> impl Iterator<Item = &'static str> {
    kinds.into_iter().map(ErrorKind::as_str)
}

/// The most retries a `retry` clause may ask for.
pub const MAX_RETRIES: u64 = 100;

/// The type of the value a `catch e` binding holds.
pub fn error_type() -> Ty {
    Ty::record(vec![
        ("kind", Ty::Enum(Arc::from(ErrorKind::names().map(str::to_string).collect::<Vec<_>>()))),
        ("message", Ty::String),
        ("step", Ty::String),
        // The model's answer, for `schema` errors.
        ("raw", Ty::String.optional()),
    ])
}

impl Checker<'_> {
    pub(crate) fn check_flow(&mut self, f: &FlowDef) {
        let (params, output) = match self.items.callables.get(&f.name.name) {
            Some(c) if c.kind == CallableKind::Flow => (c.params.clone(), c.output.clone()),
            _ => {
                // A duplicate flow name: check its body against its own signature.
                let params = f.params.iter().map(|p| (p.name.name.clone(), self.resolve_type(&p.ty))).collect();
                (params, self.resolve_type(&f.output))
            }
        };
        let errors_before = self.error_count();
        let mut scope = Scope::default();
        scope.push();
        for p in &f.params {
            let ty = params.iter().find(|(n, _)| *n == p.name.name).map_or(Ty::Unknown, |(_, t)| t.clone());
            if scope.binding(&p.name.name).is_none() {
                self.bind(&mut scope, &p.name, ty, DefKind::Param, f.span);
            }
        }
        self.check_block(&f.body, &mut scope, Some(&output), f.name.span);
        // In a body with errors, parts were skipped: "unused" would be guesswork.
        if self.error_count() > errors_before || f.body.broken.any() {
            return;
        }
        for p in &f.params {
            if !scope.used.contains(&p.name.span) && !p.name.name.starts_with('_') {
                self.report(
                    Diagnostic::new(
                        Code::UnusedParam,
                        p.name.span,
                        format!("parameter `{}` is never used", p.name.name),
                        "unused",
                    )
                    .with_help(format!("remove it, or name it `_{}` if callers must still pass it", p.name.name)),
                );
            }
        }
    }

    /// Checks a flow or map body; returns the type of its `return`.
    pub(crate) fn check_block(&mut self, block: &Block, scope: &mut Scope, expected: Option<&Ty>, owner: Span) -> Ty {
        self.check_block_until(block, scope, expected, owner, None)
    }

    /// Checks a body, then `until` (a loop's condition) in the body's scope.
    pub(crate) fn check_block_until(
        &mut self,
        block: &Block,
        scope: &mut Scope,
        expected: Option<&Ty>,
        owner: Span,
        until: Option<&Expr>,
    ) -> Ty {
        let errors_before = self.error_count();
        scope.push();
        let mut index: HashMap<&str, usize> = HashMap::default();
        let mut live: Vec<usize> = Vec::new();
        for (i, step) in block.steps.iter().enumerate() {
            if let Some(existing) = scope.binding(&step.name.name) {
                let first = existing.span;
                self.report(
                    Diagnostic::new(
                        Code::DuplicateName,
                        step.name.span,
                        format!("the name `{}` is already used", step.name.name),
                        "defined again here",
                    )
                    .with_label(first, "first defined here")
                    .with_help("every step, parameter and map item in a flow needs its own name"),
                );
                continue;
            }
            self.bind(scope, &step.name, Ty::Unknown, DefKind::Step, block.span);
            index.insert(&step.name.name, i);
            live.push(i);
        }
        // Steps that did not parse are defined, of unknown type: using them is no further error.
        for name in &block.broken.steps {
            if scope.binding(&name.name).is_none() {
                self.bind(scope, name, Ty::Unknown, DefKind::Step, block.span);
            }
        }

        // Dependencies: the block's steps each step refers to.
        let mut graph: DiGraph<usize, Span> = DiGraph::new();
        let nodes: HashMap<usize, NodeIndex> = live.iter().map(|&i| (i, graph.add_node(i))).collect();
        for &i in &live {
            let mut refs = Vec::new();
            step_refs(&block.steps[i], &mut Vec::new(), &mut refs);
            // One edge per step used, at its first use (a set, not `update_edge`, which scans the
            // step's edges each time: quadratic for a step that uses thousands of others).
            let mut used: rustc_hash::FxHashSet<usize> = rustc_hash::FxHashSet::default();
            for (name, span) in refs {
                if let Some(&j) = index.get(name.as_str())
                    && used.insert(j)
                {
                    graph.add_edge(nodes[&i], nodes[&j], span);
                }
            }
        }
        // Tarjan yields components dependencies-first.
        for component in tarjan_scc(&graph) {
            let cyclic = component.len() > 1 || graph.find_edge(component[0], component[0]).is_some();
            if cyclic {
                self.report_cycle(block, &graph, &component);
            }
            let mut members: Vec<usize> = component.iter().map(|n| graph[*n]).collect();
            members.sort_unstable();
            for i in members {
                let step = &block.steps[i];
                let ty = self.check_step(step, scope);
                self.facts.steps.insert(step.name.span, ty.clone());
                let ty = if cyclic { Ty::Unknown } else { ty };
                self.facts.set_type(step.name.span, &ty);
                scope.set_type(&step.name.name, ty);
            }
        }

        let ret = match block.returns.as_slice() {
            // The `return` did not parse: already reported.
            [] if block.broken.returns => Ty::Unknown,
            [] => {
                self.report(
                    Diagnostic::new(Code::MissingReturn, owner, "no `return`", "this has no `return`")
                        .with_label(
                            Span::new(block.span.end.saturating_sub(1), block.span.end),
                            "expected `return ...` before this",
                        )
                        .with_help("end the body with `return <value>`: the value the flow (or map item) produces"),
                );
                Ty::Unknown
            }
            [first, rest @ ..] => {
                for extra in rest {
                    self.report(
                        Diagnostic::new(Code::DuplicateReturn, extra.span, "more than one `return`", "second return")
                            .with_label(first.span, "first return")
                            .with_help("a body has exactly one `return`; use `route` to choose between values"),
                    );
                    self.expr(extra, scope);
                }
                match expected {
                    Some(ty) => {
                        self.check_against(first, ty, Code::ReturnTypeMismatch, scope);
                        ty.clone()
                    }
                    None => self.expr(first, scope),
                }
            }
        };
        if let Some(condition) = until {
            self.condition(condition, scope);
        }

        let clean = self.error_count() == errors_before && !block.broken.any();
        if clean {
            self.map_after_map(block);
        }
        for &i in live.iter().filter(|_| clean) {
            let step = &block.steps[i];
            if !scope.used.contains(&step.name.span) && !step.name.name.starts_with('_') && self.is_pure(&step.form) {
                self.report(
                    Diagnostic::new(
                        Code::UnusedStep,
                        step.name.span,
                        format!("step `{}` is never used", step.name.name),
                        "unused",
                    )
                    .with_note("a step without side effects runs only to be used: nothing reads this one")
                    .with_help(format!(
                        "use it in `return` or another step, or remove it (or name it `_{}`)",
                        step.name.name
                    )),
                );
            }
        }
        scope.pop();
        ret
    }

    fn report_cycle(&mut self, block: &Block, graph: &DiGraph<usize, Span>, component: &[NodeIndex]) {
        let start = *component.iter().min_by_key(|n| graph[**n]).expect("a component is never empty");
        // Walk edges inside the component back to the start.
        let mut path = vec![start];
        let mut edges: Vec<Span> = Vec::new();
        let mut visited = vec![start];
        let mut current = start;
        'walk: for _ in 0..=component.len() {
            let mut next_choice = None;
            for edge in graph.edges(current) {
                use petgraph::visit::EdgeRef;
                let target = edge.target();
                if target == start {
                    edges.push(*edge.weight());
                    break 'walk;
                }
                if component.contains(&target) && !visited.contains(&target) && next_choice.is_none() {
                    next_choice = Some((target, *edge.weight()));
                }
            }
            match next_choice {
                Some((t, span)) => {
                    edges.push(span);
                    path.push(t);
                    visited.push(t);
                    current = t;
                }
                None => break,
            }
        }
        let names: Vec<&str> = path.iter().map(|n| block.steps[graph[*n]].name.name.as_str()).collect();
        let mut chain = names.join(" → ");
        chain.push_str(&format!(" → {}", names[0]));
        let first = &block.steps[graph[start]];
        let mut d = Diagnostic::new(
            Code::Cycle,
            first.name.span,
            format!("dependency cycle: {chain}"),
            if names.len() == 1 {
                "this step uses itself".to_string()
            } else {
                "this step is part of a cycle".to_string()
            },
        );
        for (k, span) in edges.iter().enumerate() {
            let from = names[k];
            let to = names[(k + 1) % names.len()];
            d = d.with_label(*span, format!("`{from}` uses `{to}` here"));
        }
        d = d.with_help("a step runs after the steps it uses, so they cannot use it back: compute the shared part in a step of its own");
        self.report(d);
    }

    fn check_step(&mut self, step: &Step, scope: &mut Scope) -> Ty {
        let ty = self.check_form(&step.form, scope);
        self.check_clauses(step, &ty, scope);
        ty
    }

    pub(crate) fn check_form(&mut self, form: &Form, scope: &mut Scope) -> Ty {
        match &form.kind {
            FormKind::Expr(e) => match &e.kind {
                ExprKind::Call { callee, args } if self.items.callables.contains_key(&callee.name) => {
                    self.check_call_args(callee, args, e.span, scope)
                }
                _ => self.expr(e, scope),
            },
            FormKind::Llm(call) => {
                self.check_model_ref(&call.model);
                let output = self.resolve_type(&call.output);
                let given = self.check_options("llm", &call.options, LLM_OPTIONS, scope);
                let has = |o: &str| given.contains_key(o) || (o == "prompt" && given.contains_key("messages"));
                self.require_options("llm", LLM_OPTIONS, has, call.options_span);
                output
            }
            FormKind::Agent(call) => self.check_agent_form(call, scope),
            FormKind::Ask(ask) => {
                let output = self.resolve_type(&ask.output);
                let given = self.check_options("ask", &ask.options, ASK_OPTIONS, scope);
                self.require_options("ask", ASK_OPTIONS, |o| given.contains_key(o), ask.options_span);
                output
            }
            FormKind::Route(route) => self.check_route_form(form, route, scope),
            FormKind::When { condition, body } => {
                self.condition(condition, scope);
                // `when x.kind == "circle" { ... }` narrows `x` as a route branch does.
                widen(self.check_narrowed(Some(condition), body, scope)).optional()
            }
            FormKind::Map(map) => self.check_map_form(map, scope),
            FormKind::Loop(lp) => self.check_loop_form(lp, scope),
        }
    }

    fn check_agent_form(&mut self, call: &LlmCall, scope: &mut Scope) -> Ty {
        self.check_model_ref(&call.model);
        let output = self.resolve_type(&call.output);
        let (tools, rest): (Vec<&RecordField>, Vec<&RecordField>) =
            call.options.iter().partition(|f| f.key.name == "tools");
        let rest: Vec<RecordField> = rest.into_iter().cloned().collect();
        // `tools` is checked apart (below); the table lists it so that `tool:` suggests it.
        let given = self.check_options("agent", &rest, AGENT_OPTIONS, scope);
        let has = |o: &str| {
            given.contains_key(o)
                || (o == "tools" && !tools.is_empty())
                || (o == "goal" && given.contains_key("messages"))
        };
        self.require_options("agent", AGENT_OPTIONS, has, call.options_span);
        match tools.as_slice() {
            [] => {}
            [first, again @ ..] => {
                self.check_agent_tools(&first.value);
                for field in again {
                    self.report(
                        Diagnostic::new(
                            Code::DuplicateName,
                            field.key.span,
                            "option `tools` is given twice",
                            "given again here",
                        )
                        .with_label(first.key.span, "first given here"),
                    );
                }
            }
        }
        output
    }

    /// A route's type is its branches' joined type; it needs an `else`.
    fn check_route_form(&mut self, form: &Form, route: &Route, scope: &mut Scope) -> Ty {
        let mut joined: Option<(Ty, Span)> = None;
        let mut branches: Vec<(&Form, Option<&Expr>)> =
            route.arms.iter().map(|a| (&a.form, Some(&a.condition))).collect();
        if let Some(otherwise) = &route.otherwise {
            branches.push((otherwise, None));
        }
        for (arm_form, condition) in branches {
            if let Some(c) = condition {
                self.condition(c, scope);
            }
            // `when x.kind == "circle"`: inside the branch, `x` is the members of its union that can be.
            let ty = self.check_narrowed(condition, arm_form, scope);
            joined = match joined {
                None => Some((ty, arm_form.span)),
                Some((prev, prev_span)) => match self.types.join(&prev, &ty) {
                    Some(j) => Some((j, prev_span)),
                    None => {
                        let (prev, ty) = (widen(prev), widen(ty));
                        self.report(
                            Diagnostic::new(
                                Code::RouteBranchMismatch,
                                arm_form.span,
                                format!("route branches have different types: `{prev}` and `{ty}`"),
                                format!("this branch is `{ty}`"),
                            )
                            .with_label(prev_span, format!("earlier branches are `{prev}`"))
                            .with_help("every branch of a route produces the same type: the step's value"),
                        );
                        Some((Ty::Unknown, prev_span))
                    }
                },
            };
        }
        match &route.otherwise {
            None => self.require_else(form, route),
            Some(otherwise) => self.unreachable_else(route, otherwise),
        }
        widen(joined.map_or(Ty::Unknown, |(t, _)| t))
    }

    /// A route without `else` must cover every case: its conditions all
    /// compare one expression of a literal-union type (`ticket.category`,
    /// a union's `kind`) with its members, and name every member.
    fn require_else(&mut self, form: &Form, route: &Route) {
        let keyword = Span::new(form.span.start, form.span.start + "route".len());
        let mut d = Diagnostic::new(Code::RouteWithoutElse, keyword, "route without an `else` branch", "no `else`")
            .with_note("exactly one branch of a route runs, so one must run when no condition holds");
        match self.cases(route) {
            Some((_, missing)) if missing.is_empty() => return,
            Some((subject, missing)) => {
                let list: Vec<String> = missing.iter().map(|m| format!("{m:?}")).collect();
                d = d.with_help(format!(
                    "`{subject}` may also be {}: add `when {subject} == {} => ...` for each, or `else => ...`",
                    list.join(", "),
                    list[0]
                ));
            }
            None => d = d.with_help("add `else => ...` as the last branch"),
        }
        self.report(d);
    }

    /// An `else` after branches that name every member of a literal union
    /// never runs (W0004): a member added to the type later would silently
    /// take it, where without `else` it is an error naming the member.
    fn unreachable_else(&mut self, route: &Route, otherwise: &Form) {
        let Some((subject, missing)) = self.cases(route) else { return };
        if !missing.is_empty() {
            return;
        }
        self.report(
            Diagnostic::new(
                Code::UnreachableElse,
                otherwise.span,
                format!("this `else` can never run: the branches name every value `{subject}` can have"),
                "never runs",
            )
            .with_help(
                "remove the `else`: a value added to the type later is then an error here, not a silent fallback",
            ),
        );
    }

    /// The expression every condition compares with a literal, and the
    /// members of its type no condition names; `None` when the conditions
    /// are not all such comparisons of one expression with a literal union.
    fn cases(&self, route: &Route) -> Option<(String, Vec<String>)> {
        let mut subject: Option<(String, Span)> = None;
        let mut named: Vec<String> = Vec::new();
        for arm in &route.arms {
            let (e, lit) = compared_with_literal(&arm.condition)?;
            let text = source_text(self.source, e.span);
            match &subject {
                Some((s, _)) if *s != text => return None,
                Some(_) => {}
                None => subject = Some((text, e.span)),
            }
            named.push(lit);
        }
        let (text, span) = subject?;
        let members = match self.types.resolve(self.facts.exprs.get(&span)?) {
            Ty::Enum(members) => members.to_vec(),
            Ty::Lit(one) => vec![one.to_string()],
            _ => return None,
        };
        Some((text, members.into_iter().filter(|m| !named.contains(m)).collect()))
    }

    /// Checks `form` with the name `condition` tests narrowed to the
    /// members it can be there (see [`Self::narrowing`]).
    fn check_narrowed(&mut self, condition: Option<&Expr>, form: &Form, scope: &mut Scope) -> Ty {
        let Some((name, ty, span)) = condition.and_then(|c| self.narrowing(c, scope)) else {
            return self.check_form(form, scope);
        };
        scope.push();
        scope.bind_local(&name, ty, span);
        let ty = self.check_form(form, scope);
        scope.pop();
        ty
    }

    /// `x.f == "lit"` where `x` is a name whose type is a union of records:
    /// `x`'s name, the members whose `f` can be `"lit"`, and `x`'s definition.
    fn narrowing(&self, condition: &Expr, scope: &Scope) -> Option<(String, Ty, Span)> {
        let (e, lit) = compared_with_literal(condition)?;
        let ExprKind::Field { target, name: field, optional: false } = &e.kind else { return None };
        let ExprKind::Name(x) = &target.kind else { return None };
        let binding = scope.binding(x)?;
        let Ty::Union(members) = self.types.resolve(&binding.ty) else { return None };
        let kept: Vec<Ty> = members
            .iter()
            .filter(|m| {
                self.types.record(m).and_then(|r| r.field(&field.name)).is_some_and(|f| {
                    match self.types.resolve(&f.ty) {
                        Ty::Enum(ms) => ms.contains(&lit),
                        Ty::Lit(v) => **v == *lit,
                        _ => true,
                    }
                })
            })
            .cloned()
            .collect();
        let ty = match kept.len() {
            0 => return None,
            1 => kept.into_iter().next()?,
            _ => Ty::Union(Arc::from(kept)),
        };
        Some((x.clone(), ty, binding.span))
    }

    /// A map's type is a list of its body's `return` type.
    fn check_map_form(&mut self, map: &MapForm, scope: &mut Scope) -> Ty {
        let source_ty = self.expr(&map.source, scope);
        let elem = match self.types.resolve(&source_ty).clone() {
            Ty::List(e) => *e,
            Ty::Unknown => Ty::Unknown,
            Ty::Optional(inner) if matches!(self.types.resolve(&inner), Ty::List(_)) => {
                let text = source_text(self.source, map.source.span);
                self.report(
                    Diagnostic::new(
                        Code::OptionalUnhandled,
                        map.source.span,
                        format!("`{text}` may be null"),
                        format!("this is `{source_ty}`"),
                    )
                    .with_help(format!("map over `{text} ?? []`"))
                    .with_replacement(map.source.span, format!("{text} ?? []")),
                );
                match self.types.resolve(&inner).clone() {
                    Ty::List(e) => *e,
                    _ => Ty::Unknown,
                }
            }
            other => {
                let mut d = Diagnostic::new(
                    Code::MapOverNonList,
                    map.source.span,
                    format!("`map` needs a list, but this is `{source_ty}`"),
                    format!("this is `{source_ty}`"),
                );
                if matches!(other, Ty::Map(_)) {
                    d = d.with_help("map over `keys(m)` or `values(m)`");
                } else if let Some(r) = self.types.record(&other) {
                    let lists: Vec<&str> = r
                        .fields
                        .iter()
                        .filter(|f| matches!(self.types.resolve(&f.ty), Ty::List(_)))
                        .map(|f| f.name.as_str())
                        .collect();
                    if let Some(first) = lists.first() {
                        let text = source_text(self.source, map.source.span);
                        d = d.with_help(format!("did you mean `{text}.{first}`?"));
                    }
                }
                self.report(d);
                Ty::Unknown
            }
        };
        self.check_options("map", &map.options, MAP_OPTIONS, scope);
        scope.push();
        if scope.binding(&map.item.name).is_some() {
            self.report(
                Diagnostic::new(
                    Code::DuplicateName,
                    map.item.span,
                    format!("the name `{}` is already used", map.item.name),
                    "the map item needs a name of its own",
                )
                .with_help("choose another name for the item"),
            );
        }
        self.facts.steps.insert(map.item.span, elem.clone());
        self.bind(scope, &map.item, elem, DefKind::MapItem, map.body.span);
        let body = self.check_block(&map.body, scope, None, map.item.span);
        scope.pop();
        widen(body).list()
    }

    pub(crate) fn check_tolerate(&mut self, value: &Expr, scope: &mut Scope) {
        let ty = self.expr(value, scope);
        match &value.kind {
            ExprKind::Percent(p) if !(0.0..=100.0).contains(p) => {
                self.report(
                    Diagnostic::new(
                        Code::TolerateOutOfRange,
                        value.span,
                        "`tolerate` must be between 0% and 100%",
                        "out of range",
                    )
                    .with_help(
                        "give the share of items allowed to fail, e.g. `tolerate: 5%`, or a count, e.g. `tolerate: 3`",
                    ),
                );
            }
            ExprKind::Unary { op: UnaryOp::Neg, .. } => {
                self.report(
                    Diagnostic::new(Code::TolerateOutOfRange, value.span, "`tolerate` cannot be negative", "negative")
                        .with_help("give the share of items allowed to fail, e.g. `tolerate: 5%`, or a count, e.g. `tolerate: 3`"),
                );
            }
            _ if !matches!(self.types.resolve(&ty), Ty::Percent | Ty::Int | Ty::Unknown) => {
                self.report(
                    Diagnostic::new(
                        Code::TypeMismatch,
                        value.span,
                        format!("`tolerate` takes a percentage or a count, not `{ty}`"),
                        format!("this is `{ty}`"),
                    )
                    .with_help("write e.g. `tolerate: 5%` or `tolerate: 3`"),
                );
            }
            _ => {}
        }
    }

    fn check_model_ref(&mut self, model: &Ident) {
        if self.items.models.contains_key(&model.name) {
            self.facts.refer_item(model.span, &model.name);
            return;
        }
        if self.items.broken.contains(&model.name) {
            return;
        }
        let mut d = Diagnostic::new(
            Code::UnknownModel,
            model.span,
            format!("unknown model `{}`", model.name),
            "no model has this name",
        );
        let names: Vec<&str> = self.items.models.keys().map(String::as_str).collect();
        d = match did_you_mean(&model.name, names.iter().copied()) {
            Some(best) => {
                let best = best.to_string();
                d.did_you_mean(model.span, best)
            }
            None => d.with_help(format!("declare it, e.g. `model {} = openai(\"gpt-4o-mini\")`", model.name)),
        };
        self.report(d);
    }

    fn check_agent_tools(&mut self, value: &Expr) {
        let ExprKind::List(items) = &value.kind else {
            self.report(
                Diagnostic::new(Code::TypeMismatch, value.span, "`tools` is a list of tool names", "not a list")
                    .with_help("write e.g. `tools: [search, fetch_page]`"),
            );
            return;
        };
        if items.is_empty() {
            self.report(
                Diagnostic::new(Code::BadOptionValue, value.span, "an agent needs at least one tool", "empty list")
                    .with_help(
                        "list the tools the model may call, e.g. `tools: [search]`; for a single answer use `llm`",
                    ),
            );
        }
        for item in items {
            match &item.kind {
                ExprKind::Name(name) if self.items.callables.contains_key(name) || self.items.broken.contains(name) => {
                    self.facts.refer_item(item.span, name);
                }
                ExprKind::Name(name) => {
                    let mut d = Diagnostic::new(
                        Code::UnknownCallee,
                        item.span,
                        format!("unknown tool `{name}`"),
                        "no tool or flow has this name",
                    );
                    let names: Vec<&str> = self.items.callables.keys().map(String::as_str).collect();
                    d = match did_you_mean(name, names.iter().copied()) {
                        Some(best) => {
                            let best = best.to_string();
                            d.did_you_mean(item.span, best)
                        }
                        None => d.with_help(format!("declare it with `tool {name}(...) -> ...`")),
                    };
                    self.report(d);
                }
                _ => self.report(
                    Diagnostic::new(Code::TypeMismatch, item.span, "`tools` lists tools by name", "not a tool name")
                        .with_help("write e.g. `tools: [search, fetch_page]`"),
                ),
            }
        }
    }

    /// Reports each required option of `table` that is not given.
    pub(crate) fn require_options(
        &mut self,
        what: &str,
        table: &[OptionSpec],
        given: impl Fn(&str) -> bool,
        span: Span,
    ) {
        for option in table.iter().filter(|o| o.required && !given(o.name)) {
            let example = match option.kind {
                OptionKind::Callables => format!("{}: [tool_name]", option.name),
                OptionKind::Positive => format!("{}: 3", option.name),
                _ => format!("{}: \"...\"", option.name),
            };
            self.missing_option(what, option.name, span, &example);
        }
    }

    fn missing_option(&mut self, what: &str, option: &str, span: Span, example: &str) {
        self.report(
            Diagnostic::new(
                Code::MissingOption,
                span,
                format!("`{what}` needs a `{option}`"),
                format!("no `{option}` here"),
            )
            .with_help(format!("add `{example}`")),
        );
    }

    /// Checks a condition is a bool.
    pub(crate) fn condition(&mut self, e: &Expr, scope: &mut Scope) {
        let ty = self.expr(e, scope);
        match &self.types.base(&ty) {
            Ty::Bool | Ty::Unknown => {}
            Ty::Optional(_) => {
                let text = source_text(self.source, e.span);
                self.report(
                    Diagnostic::new(
                        Code::OptionalUnhandled,
                        e.span,
                        format!("`{text}` may be null"),
                        format!("this is `{ty}`"),
                    )
                    .with_help(format!("test it explicitly: `{text} != null`, or give a default with `??`")),
                );
            }
            _ => {
                self.report(
                    Diagnostic::new(
                        Code::ConditionNotBool,
                        e.span,
                        format!("a condition must be a bool, not `{ty}`"),
                        format!("this is `{ty}`"),
                    )
                    .with_help("compare it to something, e.g. `x > 0` or `x == \"done\"`"),
                );
            }
        }
    }

    fn check_clauses(&mut self, step: &Step, ty: &Ty, scope: &mut Scope) {
        let mut kinds = self.form_kinds(&step.form);
        // The step's own `timeout` fails any form with `timeout`.
        if step.clauses.iter().any(|c| matches!(c, Clause::Timeout { .. })) {
            kinds.insert(ErrorKind::Timeout.as_str());
        }
        let mut retry_seen: Option<Span> = None;
        let mut timeout_seen: Option<Span> = None;
        let mut catch_all: Option<Span> = None;
        for clause in &step.clauses {
            match clause {
                Clause::Retry(r) => {
                    if let Some(first) = retry_seen.replace(r.span) {
                        self.duplicate_clause("retry", r.span, first);
                    }
                    self.check_retry(step, r, &kinds);
                }
                Clause::Timeout { duration, span } => {
                    if let Some(first) = timeout_seen.replace(*span) {
                        self.duplicate_clause("timeout", *span, first);
                    }
                    if duration.millis == 0 {
                        self.report(
                            Diagnostic::new(
                                Code::BadDuration,
                                duration.span,
                                "a timeout must be longer than zero",
                                "zero",
                            )
                            .with_help("give the longest the step may take, e.g. `timeout 30s`"),
                        );
                    }
                }
                Clause::Catch(c) => {
                    if let Some(all) = catch_all {
                        self.report(
                            Diagnostic::new(
                                Code::UnreachableCatch,
                                c.span,
                                "this `catch` can never run",
                                "unreachable",
                            )
                            .with_label(all, "this catch handles every error first")
                            .with_help("put catches with `when` before the one without"),
                        );
                    }
                    scope.push();
                    if let Some(b) = &c.binding {
                        self.bind(scope, b, error_type(), DefKind::CatchBinding, c.span);
                    }
                    if let Some(g) = &c.guard {
                        self.condition(g, scope);
                    } else {
                        catch_all.get_or_insert(c.span);
                    }
                    match &c.form.kind {
                        FormKind::Expr(e) if !matches!(&e.kind, ExprKind::Call { callee, .. } if self.items.callables.contains_key(&callee.name)) =>
                        {
                            self.check_against(e, ty, Code::CatchTypeMismatch, scope);
                        }
                        _ => {
                            let fallback = self.check_form(&c.form, scope);
                            if !self.types.fits(&fallback, ty) {
                                self.report(
                                    Diagnostic::new(
                                        Code::CatchTypeMismatch,
                                        c.form.span,
                                        format!("the fallback is `{fallback}`, but the step is `{ty}`"),
                                        format!("this is `{fallback}`"),
                                    )
                                    .with_label(step.form.span, format!("the step's value is `{ty}`"))
                                    .with_help(
                                        "a catch fallback takes the step's place, so it must have the step's type",
                                    ),
                                );
                            }
                        }
                    }
                    scope.pop();
                }
                Clause::After { steps, .. } => {
                    for s in steps {
                        if let Some((_, definition)) = scope.lookup(&s.name) {
                            self.facts.refer_local(s.span, definition);
                        } else {
                            let mut d = Diagnostic::new(
                                Code::UnknownName,
                                s.span,
                                format!("unknown step `{}`", s.name),
                                "no step has this name",
                            );
                            let names = scope.names();
                            if let Some(best) = did_you_mean(&s.name, names.iter().map(String::as_str)) {
                                d = d.did_you_mean(s.span, best);
                            }
                            self.report(d);
                        }
                    }
                }
            }
        }
    }

    fn duplicate_clause(&mut self, name: &str, span: Span, first: Span) {
        self.report(
            Diagnostic::new(Code::DuplicateClause, span, format!("`{name}` is given twice"), "second one")
                .with_label(first, "first one")
                .with_help(format!("a step takes one `{name}` clause; merge them")),
        );
    }

    fn check_retry(&mut self, step: &Step, r: &Retry, kinds: &BTreeSet<&'static str>) {
        if r.count > MAX_RETRIES {
            self.report(
                Diagnostic::new(Code::BadDuration, r.count_span, format!("at most {MAX_RETRIES} retries"), "too many")
                    .with_help("a few retries with backoff are enough for transient failures"),
            );
        }
        if let Some((low, Some(high))) = &r.backoff
            && low.millis > high.millis
        {
            self.report(
                Diagnostic::new(
                    Code::BadDuration,
                    low.span.to(high.span),
                    "backoff bounds are the wrong way round",
                    "first bound is longer",
                )
                .with_help("write the shortest delay first, e.g. `backoff 1s..30s`"),
            );
        }
        let form_desc = self.form_description(&step.form);
        match &r.on {
            Some(named) => {
                for k in named {
                    let name = k.name.as_str();
                    let kind = ErrorKind::parse(name);
                    if kind.is_none() {
                        let mut d = Diagnostic::new(
                            Code::UnknownErrorKind,
                            k.span,
                            format!("unknown error kind `{name}`"),
                            "not an error kind",
                        );
                        d = match did_you_mean(name, ErrorKind::names()) {
                            Some(best) => d.did_you_mean(k.span, best),
                            None => d.with_note(format!(
                                "error kinds are: {}",
                                ErrorKind::names().collect::<Vec<_>>().join(", ")
                            )),
                        };
                        self.report(d);
                    } else if kind.is_some_and(|k| !k.retryable()) {
                        self.report(
                            Diagnostic::new(
                                Code::RetryImpossible,
                                k.span,
                                format!("`{name}` errors are never retried"),
                                "cannot be retried",
                            )
                            .with_note(if kind == Some(ErrorKind::Cancelled) {
                                "a cancelled run stops; retrying would undo the cancellation"
                            } else {
                                "a run that hit a limit set by the host stops"
                            }),
                        );
                    } else if !kinds.contains(name) {
                        let possible: Vec<&str> = kinds.iter().copied().collect();
                        self.report(
                            Diagnostic::new(
                                Code::RetryImpossible,
                                k.span,
                                format!("{form_desc} never fails with `{name}`"),
                                "this error cannot occur here",
                            )
                            .with_note(format!("it can fail with: {}", possible.join(", ")))
                            .with_help(format!("remove `{name}` from the list")),
                        );
                    }
                }
            }
            None => {
                let transient: Vec<&str> = names(ErrorKind::transients()).collect();
                if !transient.iter().any(|k| kinds.contains(k)) {
                    self.report(
                        Diagnostic::new(
                            Code::RetryNoEffect,
                            r.span,
                            "retry has no effect here",
                            format!("{form_desc} never fails transiently"),
                        )
                        .with_note(format!("without `on [...]`, retry covers {}", transient.join(", ")))
                        .with_help("remove the `retry` clause"),
                    );
                }
            }
        }
    }

    fn form_description(&self, form: &Form) -> &'static str {
        match &form.kind {
            FormKind::Expr(e) => match &e.kind {
                ExprKind::Call { callee, .. } => match self.items.callables.get(&callee.name).map(|c| c.kind) {
                    Some(CallableKind::Tool) => "a tool call",
                    Some(CallableKind::Flow) => "a flow call",
                    None => "a pure expression",
                },
                _ => "a pure expression",
            },
            FormKind::Llm(_) => "an `llm` call",
            FormKind::Agent(_) => "an `agent` step",
            FormKind::Ask(_) => "an `ask` step",
            FormKind::Route(_) => "this route",
            FormKind::When { .. } => "this `when` step",
            FormKind::Map(_) => "this map",
            FormKind::Loop(_) => "this loop",
        }
    }

    /// The error kinds a form can fail with.
    pub(crate) fn form_kinds(&self, form: &Form) -> BTreeSet<&'static str> {
        let mut kinds: BTreeSet<&'static str> = BTreeSet::new();
        match &form.kind {
            FormKind::Expr(e) => match &e.kind {
                ExprKind::Call { callee, .. } => match self.items.callables.get(&callee.name).map(|c| c.kind) {
                    // Evaluating the arguments can fail too.
                    Some(CallableKind::Tool) => {
                        for source in [Source::ToolCall, Source::Expression] {
                            kinds.extend(names(ErrorKind::raised_by(source)));
                        }
                    }
                    Some(CallableKind::Flow) => {
                        kinds.extend(names(ErrorKind::ALL.iter().copied().filter(|k| k.retryable())))
                    }
                    // An unknown callee is already reported; assume it can fail every way.
                    None if flow_stdlib::function(&callee.name).is_none() => kinds.extend(ErrorKind::names()),
                    None => kinds.extend(names(ErrorKind::raised_by(Source::Expression))),
                },
                _ => kinds.extend(names(ErrorKind::raised_by(Source::Expression))),
            },
            // The prompt and options are evaluated first. An agent's tool
            // failures go back to the model: they do not fail the step.
            FormKind::Llm(_) => {
                for source in [Source::ModelCall, Source::Expression] {
                    kinds.extend(names(ErrorKind::raised_by(source)));
                }
            }
            FormKind::Agent(_) => {
                for source in [Source::ModelCall, Source::AgentLoop, Source::Expression] {
                    kinds.extend(names(ErrorKind::raised_by(source)));
                }
            }
            // The prompt is evaluated first; the wait itself fails only by its `timeout`.
            FormKind::Ask(_) => kinds.extend(names(ErrorKind::raised_by(Source::Expression))),
            FormKind::Route(r) => {
                kinds.extend(names(ErrorKind::raised_by(Source::Expression)));
                for arm in &r.arms {
                    kinds.extend(self.form_kinds(&arm.form));
                }
                if let Some(o) = &r.otherwise {
                    kinds.extend(self.form_kinds(o));
                }
            }
            FormKind::When { body, .. } => {
                kinds.extend(names(ErrorKind::raised_by(Source::Expression)));
                kinds.extend(self.form_kinds(body));
            }
            FormKind::Map(m) => {
                kinds.extend(names(ErrorKind::raised_by(Source::Expression)));
                for s in &m.body.steps {
                    kinds.extend(self.form_kinds(&s.form));
                }
            }
            FormKind::Loop(l) => {
                kinds.extend(names(ErrorKind::raised_by(Source::Expression)));
                for s in &l.body.steps {
                    kinds.extend(self.form_kinds(&s.form));
                }
            }
        }
        kinds
    }

    /// Whether a form has no effect beyond its value (so leaving it unused is a mistake).
    pub(crate) fn is_pure(&self, form: &Form) -> bool {
        match &form.kind {
            FormKind::Expr(e) => match &e.kind {
                ExprKind::Call { callee, .. } => {
                    !self.items.callables.contains_key(&callee.name) && !self.items.broken.contains(&callee.name)
                }
                _ => true,
            },
            FormKind::Llm(_) => true,
            FormKind::Agent(_) | FormKind::Ask(_) => false,
            FormKind::Route(r) => {
                r.arms.iter().all(|a| self.is_pure(&a.form)) && r.otherwise.as_ref().is_none_or(|o| self.is_pure(o))
            }
            FormKind::When { body, .. } => self.is_pure(body),
            FormKind::Map(m) => m.body.steps.iter().all(|s| self.is_pure(&s.form)),
            FormKind::Loop(l) => l.body.steps.iter().all(|s| self.is_pure(&s.form)),
        }
    }
}

// ---------------------------------------------------------------- references

/// The names a step refers to that are not bound inside it.
pub(crate) fn step_refs(step: &Step, bound: &mut Vec<String>, out: &mut Vec<(String, Span)>) {
    form_refs(&step.form, bound, out);
    for clause in &step.clauses {
        match clause {
            Clause::Catch(c) => {
                let n = bound.len();
                if let Some(b) = &c.binding {
                    bound.push(b.name.clone());
                }
                if let Some(g) = &c.guard {
                    expr_refs(g, bound, out);
                }
                form_refs(&c.form, bound, out);
                bound.truncate(n);
            }
            Clause::After { steps, .. } => {
                for s in steps {
                    if !bound.contains(&s.name) {
                        out.push((s.name.clone(), s.span));
                    }
                }
            }
            Clause::Retry(_) | Clause::Timeout { .. } => {}
        }
    }
}

fn form_refs(form: &Form, bound: &mut Vec<String>, out: &mut Vec<(String, Span)>) {
    match &form.kind {
        FormKind::Expr(e) => expr_refs(e, bound, out),
        FormKind::Llm(c) | FormKind::Agent(c) => {
            for f in &c.options {
                if f.key.name != "tools" {
                    expr_refs(&f.value, bound, out);
                }
            }
        }
        FormKind::Ask(a) => {
            for f in &a.options {
                expr_refs(&f.value, bound, out);
            }
        }
        FormKind::Route(r) => {
            for arm in &r.arms {
                expr_refs(&arm.condition, bound, out);
                form_refs(&arm.form, bound, out);
            }
            if let Some(o) = &r.otherwise {
                form_refs(o, bound, out);
            }
        }
        FormKind::When { condition, body } => {
            expr_refs(condition, bound, out);
            form_refs(body, bound, out);
        }
        FormKind::Map(m) => {
            expr_refs(&m.source, bound, out);
            for o in &m.options {
                expr_refs(&o.value, bound, out);
            }
            let n = bound.len();
            bound.push(m.item.name.clone());
            bound.extend(m.body.steps.iter().map(|s| s.name.name.clone()));
            for s in &m.body.steps {
                step_refs(s, bound, out);
            }
            for r in &m.body.returns {
                expr_refs(r, bound, out);
            }
            bound.truncate(n);
        }
        FormKind::Loop(l) => {
            for o in &l.options {
                expr_refs(&o.value, bound, out);
            }
            let n = bound.len();
            bound.extend(l.previous.iter().map(|p| p.name.clone()));
            bound.extend(l.body.steps.iter().map(|s| s.name.name.clone()));
            for s in &l.body.steps {
                step_refs(s, bound, out);
            }
            for e in l.body.returns.iter().chain(&l.until) {
                expr_refs(e, bound, out);
            }
            bound.truncate(n);
        }
    }
}

/// The names `e` refers to.
pub(crate) fn expr_refs_of(e: &Expr, out: &mut Vec<(String, Span)>) {
    expr_refs(e, &mut Vec::new(), out);
}

fn expr_refs(e: &Expr, bound: &mut Vec<String>, out: &mut Vec<(String, Span)>) {
    match &e.kind {
        ExprKind::Name(n) => {
            if !bound.contains(n) {
                out.push((n.clone(), e.span));
            }
        }
        ExprKind::Str(parts) => {
            for p in parts {
                if let StrPart::Interp(i) = p {
                    expr_refs(i, bound, out);
                }
            }
        }
        ExprKind::List(items) => items.iter().for_each(|i| expr_refs(i, bound, out)),
        ExprKind::Record(fields) => fields.iter().for_each(|f| expr_refs(&f.value, bound, out)),
        ExprKind::Field { target, .. } => expr_refs(target, bound, out),
        ExprKind::Index { target, index } => {
            expr_refs(target, bound, out);
            expr_refs(index, bound, out);
        }
        ExprKind::Call { args, .. } => args.iter().for_each(|a| expr_refs(&a.value, bound, out)),
        ExprKind::Method { target, args, .. } => {
            expr_refs(target, bound, out);
            args.iter().for_each(|a| expr_refs(&a.value, bound, out));
        }
        ExprKind::Unary { operand, .. } => expr_refs(operand, bound, out),
        ExprKind::Binary { lhs, rhs, .. } => {
            expr_refs(lhs, bound, out);
            expr_refs(rhs, bound, out);
        }
        ExprKind::If { condition, then, otherwise } => {
            for part in [condition, then, otherwise] {
                expr_refs(part, bound, out);
            }
        }
        ExprKind::Lambda { params, body } => {
            let n = bound.len();
            bound.extend(params.iter().map(|p| p.name.clone()));
            expr_refs(body, bound, out);
            bound.truncate(n);
        }
        ExprKind::Int(_)
        | ExprKind::Float(_)
        | ExprKind::Bool(_)
        | ExprKind::Null
        | ExprKind::Duration(_)
        | ExprKind::Percent(_)
        | ExprKind::Invalid => {}
    }
}

/// `E == "lit"` or `"lit" == E`: the expression and the literal.
fn compared_with_literal(condition: &Expr) -> Option<(&Expr, String)> {
    let ExprKind::Binary { op: BinaryOp::Eq, lhs, rhs } = &condition.kind else { return None };
    let literal = |e: &Expr| match &e.kind {
        ExprKind::Str(parts) => match parts.as_slice() {
            [flow_grammar::ast::StrPart::Text(t)] => Some(t.clone()),
            [] => Some(String::new()),
            _ => None,
        },
        _ => None,
    };
    match (literal(lhs), literal(rhs)) {
        (None, Some(lit)) => Some((lhs, lit)),
        (Some(lit), None) => Some((rhs, lit)),
        _ => None,
    }
}
