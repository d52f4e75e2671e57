//! Lowering a checked file to the graph IR: names become slots, calls find
//! their callees, clauses become data, and each block becomes a graph whose
//! edges come from what its steps refer to. Runs only on files without
//! errors, so anything missing here was already reported.

use crate::checker::Checker;
use crate::flows::step_refs;
use crate::ir::*;
use crate::types::Ty;
use flow_grammar::ast;
use flow_grammar::ast::{ExprKind as A, FormKind, StrPart};
use std::collections::HashMap;
use std::sync::Arc;

pub(crate) fn lower(file: &ast::File, checker: &mut Checker<'_>) -> Program {
    let mut names = Names::default();
    let mut models = Vec::new();
    let mut tools = Vec::new();
    for item in &file.items {
        match item {
            ast::Item::Model(m) => {
                names.models.insert(m.name.name.clone(), models.len());
                models.push(Model {
                    name: m.name.name.clone(),
                    provider: m.provider.name.clone(),
                    model_id: m.model_id.value.clone(),
                    options: m.options.iter().filter_map(|f| Some((f.key.name.clone(), constant(&f.value)?))).collect(),
                });
            }
            ast::Item::Tool(t) => {
                names.tools.insert(t.name.name.clone(), tools.len());
                tools.push(Tool {
                    name: t.name.name.clone(),
                    doc: t.doc.clone(),
                    params: t.params.iter().map(|p| (p.name.name.clone(), checker.resolve_type(&p.ty))).collect(),
                    output: checker.resolve_type(&t.output),
                    implementation: tool_impl(t.implementation.as_ref()),
                });
            }
            ast::Item::Flow(f) => {
                names.flows.insert(f.name.name.clone(), names.flows.len());
            }
            ast::Item::Type(_) | ast::Item::Test(_) => {}
        }
    }
    let mut lowerer = Lowerer { checker, names, frames: Vec::new(), lambdas: Vec::new() };
    let mut flows = Vec::new();
    let mut tests = Vec::new();
    for item in &file.items {
        match item {
            ast::Item::Flow(f) => flows.push(lowerer.flow(f)),
            ast::Item::Test(t) => tests.extend(lowerer.test(t)),
            _ => {}
        }
    }
    let types = std::mem::take(&mut lowerer.checker.types);
    Program { types, models, tools, flows, tests }
}

#[derive(Default)]
struct Names {
    models: HashMap<String, usize>,
    tools: HashMap<String, usize>,
    flows: HashMap<String, usize>,
}

/// One block's frame while lowering: nested scopes (catch bindings open
/// one) mapping names to slots, and the next free slot.
#[derive(Default)]
struct FrameScopes {
    scopes: Vec<HashMap<String, u32>>,
    next: u32,
}

impl FrameScopes {
    fn bind(&mut self, name: &str) -> u32 {
        let slot = self.next;
        self.next += 1;
        if self.scopes.is_empty() {
            self.scopes.push(HashMap::new());
        }
        if let Some(scope) = self.scopes.last_mut() {
            scope.insert(name.to_string(), slot);
        }
        slot
    }

    fn find(&self, name: &str) -> Option<u32> {
        self.scopes.iter().rev().find_map(|s| s.get(name).copied())
    }
}

struct Lowerer<'c, 's> {
    checker: &'c mut Checker<'s>,
    names: Names,
    frames: Vec<FrameScopes>,
    lambdas: Vec<String>,
}

impl Lowerer<'_, '_> {
    fn flow(&mut self, f: &ast::FlowDef) -> Flow {
        let id = NodeId::root(&f.name.name);
        let mut frame = FrameScopes::default();
        let params = f
            .params
            .iter()
            .map(|p| Param {
                name: p.name.name.clone(),
                ty: self.checker.resolve_type(&p.ty),
                slot: frame.bind(&p.name.name),
            })
            .collect();
        let output = self.checker.resolve_type(&f.output);
        let body = self.block(&f.body, id, frame);
        Flow { name: f.name.name.clone(), doc: f.doc.clone(), params, output, body }
    }

    fn block(&mut self, block: &ast::Block, id: NodeId, mut frame: FrameScopes) -> Block {
        let slots: Vec<u32> = block.steps.iter().map(|s| frame.bind(&s.name.name)).collect();
        self.frames.push(frame);
        let mut graph: DiGraph = DiGraph::new();
        let mut by_name: HashMap<&str, NodeIndex> = HashMap::new();
        for (step, slot) in block.steps.iter().zip(slots) {
            let lowered = self.step(step, &id, slot);
            let node = graph.add_node(lowered);
            by_name.insert(&step.name.name, node);
        }
        for step in &block.steps {
            let target = by_name[step.name.name.as_str()];
            let after_spans: Vec<flow_grammar::Span> = step
                .clauses
                .iter()
                .filter_map(|c| match c {
                    ast::Clause::After { span, .. } => Some(*span),
                    _ => None,
                })
                .collect();
            let mut refs = Vec::new();
            step_refs(step, &mut Vec::new(), &mut refs);
            for (name, span) in refs {
                let Some(&source) = by_name.get(name.as_str()) else { continue };
                let after = after_spans.iter().any(|a| a.start <= span.start && span.end <= a.end);
                let edge = if after { Edge::After } else { Edge::Data(graph[source].ty.clone()) };
                match graph.find_edge(source, target) {
                    Some(e) if matches!(graph[e], Edge::After) && !after => graph[e] = edge,
                    Some(_) => {}
                    None => {
                        graph.add_edge(source, target, edge);
                    }
                }
            }
        }
        let ret = match block.returns.first() {
            Some(r) => self.expr(r),
            None => Expr { kind: ExprKind::Null, ty: Ty::Null },
        };
        let frame = self.frames.pop().unwrap_or_default();
        Block { id, graph, slots: frame.next, ret }
    }

    fn step(&mut self, step: &ast::Step, parent: &NodeId, slot: u32) -> Step {
        let id = parent.child(&step.name.name);
        let ty =
            self.checker.recorded.as_ref().and_then(|r| r.steps.get(&step.name.span)).cloned().unwrap_or(Ty::Unknown);
        let action = self.action(&step.form, &id);
        let mut retry = None;
        let mut timeout_ms = None;
        let mut catches = Vec::new();
        for clause in &step.clauses {
            match clause {
                ast::Clause::Retry(r) => retry = Some(lower_retry(r)),
                ast::Clause::Timeout { duration, .. } => timeout_ms = Some(duration.millis),
                ast::Clause::Catch(c) => {
                    let catch_id = id.child(&format!("catch{}", catches.len()));
                    let frame = self.frames.last_mut().expect("a block frame is open");
                    frame.scopes.push(HashMap::new());
                    let binding = c.binding.as_ref().map(|b| frame.bind(&b.name));
                    let guard = c.guard.as_ref().map(|g| self.expr(g));
                    let action = self.action(&c.form, &catch_id);
                    if let Some(frame) = self.frames.last_mut() {
                        frame.scopes.pop();
                    }
                    catches.push(Catch { id: catch_id, binding, guard, action });
                }
                ast::Clause::After { .. } => {}
            }
        }
        Step { id, name: step.name.name.clone(), slot, ty, action, retry, timeout_ms, catches, span: step.span }
    }

    fn action(&mut self, form: &ast::Form, id: &NodeId) -> Action {
        match &form.kind {
            FormKind::Expr(e) => {
                let call = match &e.kind {
                    A::Call { callee, args } => self.callee(&callee.name).map(|c| (c, args)),
                    _ => None,
                };
                match call {
                    Some((callee, args)) => Action::Call {
                        callee,
                        args: args
                            .iter()
                            .map(|a| (Arc::from(a.name.as_ref().map_or("", |n| n.name.as_str())), self.expr(&a.value)))
                            .collect(),
                    },
                    None => Action::Expr(self.expr(e)),
                }
            }
            FormKind::Llm(call) => {
                let mut opts = self.options(&call.options);
                Action::Llm(Box::new(LlmCall {
                    model: self.names.models.get(&call.model.name).copied().unwrap_or(0),
                    output: self.checker.resolve_type(&call.output),
                    prompt: opts.remove("prompt").unwrap_or_else(|| constant_str("")),
                    system: opts.remove("system"),
                    temperature: opts.remove("temperature"),
                    max_tokens: opts.remove("max_tokens"),
                    repair: opts.remove("repair"),
                }))
            }
            FormKind::Agent(call) => {
                let tools = call
                    .options
                    .iter()
                    .filter(|f| f.key.name == "tools")
                    .flat_map(|f| match &f.value.kind {
                        A::List(items) => items.clone(),
                        _ => Vec::new(),
                    })
                    .filter_map(|e| match &e.kind {
                        A::Name(n) => self.callee(n),
                        _ => None,
                    })
                    .collect();
                let rest: Vec<ast::RecordField> =
                    call.options.iter().filter(|f| f.key.name != "tools").cloned().collect();
                let mut opts = self.options(&rest);
                Action::Agent(Box::new(AgentCall {
                    model: self.names.models.get(&call.model.name).copied().unwrap_or(0),
                    output: self.checker.resolve_type(&call.output),
                    goal: opts.remove("goal").unwrap_or_else(|| constant_str("")),
                    tools,
                    system: opts.remove("system"),
                    max_turns: opts.remove("max_turns"),
                    temperature: opts.remove("temperature"),
                    max_tokens: opts.remove("max_tokens"),
                }))
            }
            FormKind::Route(route) => {
                let mut branches = Vec::new();
                for (i, arm) in route.arms.iter().enumerate() {
                    let branch_id = id.child(&format!("when{i}"));
                    let condition = Some(self.expr(&arm.condition));
                    let action = self.action(&arm.form, &branch_id);
                    branches.push(Branch { id: branch_id, condition, action });
                }
                if let Some(otherwise) = &route.otherwise {
                    let branch_id = id.child("else");
                    let action = self.action(otherwise, &branch_id);
                    branches.push(Branch { id: branch_id, condition: None, action });
                }
                Action::Route(branches)
            }
            FormKind::When { condition, body } => {
                let then = id.child("then");
                let condition = self.expr(condition);
                let action = Box::new(self.action(body, &then));
                Action::When { id: then, condition, action }
            }
            FormKind::Map(map) => {
                let list = self.expr(&map.source);
                let mut concurrency = None;
                let mut tolerate = None;
                for option in &map.options {
                    match option.key.name.as_str() {
                        "concurrency" => concurrency = Some(self.expr(&option.value)),
                        "tolerate" => {
                            tolerate = Some(match option.value.kind {
                                A::Percent(p) => Tolerate::Percent(p),
                                _ => Tolerate::Count(self.expr(&option.value)),
                            })
                        }
                        _ => {}
                    }
                }
                let body_id = id.child("body");
                let mut frame = FrameScopes::default();
                let item_slot = frame.bind(&map.item.name);
                let body = self.block(&map.body, body_id.clone(), frame);
                Action::Map(Box::new(MapAction { id: body_id, item_slot, list, concurrency, tolerate, body }))
            }
        }
    }

    fn callee(&self, name: &str) -> Option<Callee> {
        self.names
            .tools
            .get(name)
            .map(|&i| Callee::Tool(i))
            .or_else(|| self.names.flows.get(name).map(|&i| Callee::Flow(i)))
    }

    fn options(&mut self, fields: &[ast::RecordField]) -> HashMap<String, Expr> {
        fields.iter().map(|f| (f.key.name.clone(), self.expr(&f.value))).collect()
    }

    fn test(&mut self, t: &ast::TestDef) -> Option<Test> {
        let mut flow = None;
        let mut input = serde_json::Value::Object(Default::default());
        let mut mocks = Vec::new();
        let mut expects = Vec::new();
        let mut frame = FrameScopes::default();
        frame.bind("output");
        self.frames.push(frame);
        for entry in &t.entries {
            match entry {
                ast::TestEntry::Field { key, value } => match key.name.as_str() {
                    "flow" => {
                        if let A::Name(n) = &value.kind {
                            flow = self.names.flows.get(n).copied();
                        }
                    }
                    "input" => input = constant(value).unwrap_or(serde_json::Value::Null),
                    "expect" => {
                        let text = crate::exprs::source_text(self.checker.source, value.span);
                        expects.push((text, self.expr(value)));
                    }
                    _ => {}
                },
                ast::TestEntry::Mock { target, value } => {
                    mocks.push((target.name.clone(), constant(value).unwrap_or(serde_json::Value::Null)));
                }
            }
        }
        self.frames.pop();
        Some(Test { name: t.name.name.clone(), flow: flow?, input, mocks, expects })
    }

    fn var(&self, name: &str) -> Var {
        if let Some(i) = self.lambdas.iter().rposition(|n| n == name) {
            return Var::Local(i as u32);
        }
        for (up, frame) in self.frames.iter().rev().enumerate() {
            if let Some(slot) = frame.find(name) {
                return Var::Slot { up: up as u32, slot };
            }
        }
        // Unreachable after a clean check; a slot that is never set fails as a value error.
        Var::Slot { up: 0, slot: u32::MAX }
    }

    fn expr(&mut self, e: &ast::Expr) -> Expr {
        let ty = self.checker.recorded.as_ref().and_then(|r| r.exprs.get(&e.span)).cloned().unwrap_or(Ty::Unknown);
        let boxed = |l: &mut Self, e: &ast::Expr| Box::new(l.expr(e));
        let kind = match &e.kind {
            A::Int(i) => ExprKind::Int(*i),
            A::Float(f) => ExprKind::Float(*f),
            A::Bool(b) => ExprKind::Bool(*b),
            A::Null | A::Invalid => ExprKind::Null,
            A::Duration(ms) => ExprKind::Duration(*ms),
            A::Percent(p) => ExprKind::Percent(*p),
            A::Str(parts) => {
                if parts.iter().all(|p| matches!(p, StrPart::Text(_))) {
                    let text: String = parts
                        .iter()
                        .map(|p| match p {
                            StrPart::Text(t) => t.as_str(),
                            StrPart::Interp(_) => "",
                        })
                        .collect();
                    ExprKind::Str(Arc::from(text))
                } else {
                    ExprKind::Concat(
                        parts
                            .iter()
                            .map(|p| match p {
                                StrPart::Text(t) => constant_str(t),
                                StrPart::Interp(i) => self.expr(i),
                            })
                            .collect(),
                    )
                }
            }
            A::List(items) => ExprKind::List(items.iter().map(|i| self.expr(i)).collect()),
            A::Record(fields) => {
                ExprKind::Record(fields.iter().map(|f| (Arc::from(f.key.name.as_str()), self.expr(&f.value))).collect())
            }
            A::Name(n) => ExprKind::Var(self.var(n)),
            A::Field { target, name, optional } => ExprKind::Field {
                target: boxed(self, target),
                name: Arc::from(name.name.as_str()),
                optional: *optional,
            },
            A::Index { target, index } => ExprKind::Index { target: boxed(self, target), index: boxed(self, index) },
            A::Call { callee, args } => ExprKind::Call {
                function: flow_stdlib::function(&callee.name).map_or("?", |b| b.name),
                args: args.iter().map(|a| self.expr(&a.value)).collect(),
            },
            A::Method { target, name, args, optional } => ExprKind::Method {
                target: boxed(self, target),
                method: flow_stdlib::BUILTINS
                    .iter()
                    .find(|b| b.receiver != flow_stdlib::Receiver::None && b.name == name.name)
                    .map_or("?", |b| b.name),
                args: args.iter().map(|a| self.expr(&a.value)).collect(),
                optional: *optional,
            },
            A::Lambda { params, body } => {
                let first = self.lambdas.len() as u32;
                self.lambdas.extend(params.iter().map(|p| p.name.clone()));
                let body = boxed(self, body);
                self.lambdas.truncate(first as usize);
                ExprKind::Lambda { first, arity: params.len() as u32, body }
            }
            A::Unary { op, operand } => ExprKind::Unary { op: *op, operand: boxed(self, operand) },
            A::Binary { op, lhs, rhs } => ExprKind::Binary { op: *op, lhs: boxed(self, lhs), rhs: boxed(self, rhs) },
        };
        Expr { kind, ty }
    }
}

type DiGraph = petgraph::graph::DiGraph<Step, Edge>;
use petgraph::graph::NodeIndex;

fn constant_str(s: &str) -> Expr {
    Expr { kind: ExprKind::Str(Arc::from(s)), ty: Ty::String }
}

fn lower_retry(r: &ast::Retry) -> Retry {
    let backoff = match &r.backoff {
        Some((low, Some(high))) => Backoff::Exponential { low_ms: low.millis, high_ms: high.millis },
        Some((fixed, None)) => Backoff::Fixed { ms: fixed.millis },
        None => Backoff::DEFAULT,
    };
    let on = match &r.on {
        Some(kinds) => kinds.iter().filter_map(|k| ErrorKind::parse(&k.name)).collect(),
        None => ErrorKind::TRANSIENT.to_vec(),
    };
    Retry { retries: u32::try_from(r.count).unwrap_or(u32::MAX), backoff, jitter: r.jitter, on }
}

fn option<'a>(options: &'a [ast::RecordField], key: &str) -> Option<&'a ast::Expr> {
    options.iter().find(|f| f.key.name == key).map(|f| &f.value)
}

fn tool_impl(implementation: Option<&ast::ToolImpl>) -> ToolImpl {
    match implementation {
        None => ToolImpl::Host,
        Some(ast::ToolImpl::Http { method, url, options, .. }) => ToolImpl::Http {
            method: method.clone(),
            url: url.value.clone(),
            timeout_ms: option(options, "timeout").and_then(constant).and_then(|v| v.as_u64()),
            headers: match option(options, "headers").and_then(constant) {
                Some(serde_json::Value::Object(map)) => {
                    map.into_iter().filter_map(|(k, v)| Some((k, v.as_str()?.to_string()))).collect()
                }
                _ => Vec::new(),
            },
        },
        Some(ast::ToolImpl::Command { argv, options, .. }) => ToolImpl::Command {
            argv: match constant(argv) {
                Some(serde_json::Value::Array(items)) => {
                    items.into_iter().filter_map(|v| v.as_str().map(str::to_string)).collect()
                }
                _ => Vec::new(),
            },
            timeout_ms: option(options, "timeout").and_then(constant).and_then(|v| v.as_u64()),
        },
    }
}

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
