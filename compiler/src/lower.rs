//! Lowering a checked file to the graph IR: names become slots, calls find
//! their callees, clauses and options become typed data, and each block
//! becomes a graph whose edges come from what its steps refer to.
//!
//! It reads the [`Analysis`] only, and runs only on files without errors.
//! Anything it needs and does not find there (a type, a builtin, a name) is
//! a bug in the checker: an internal error (E0900), never a guess.

use crate::analysis::Analysis;
use crate::constant::constant;
use crate::flows::step_refs;
use crate::ir::*;
use crate::types::Ty;
use flow_grammar::ast::{ExprKind as A, FormKind, StrPart};
use flow_grammar::{Code, Diagnostic, Span, ast};
use flow_stdlib::options::{
    AgentOption, AskOption, CommandToolOption, HttpToolOption, LlmOption, LoopOption, MapOption, ModelOption,
};
use rustc_hash::FxHashMap as HashMap;
use std::sync::Arc;

/// Boxed: the error path is taken only for a compiler bug.
type Lowered<T> = Result<T, Box<Diagnostic>>;

/// A fact the checker should have established and did not.
fn internal(span: Span, what: impl Into<String>) -> Box<Diagnostic> {
    Box::new(
        Diagnostic::new(
            Code::Internal,
            span,
            format!("internal compiler error: {}", what.into()),
            "while lowering this",
        )
        .with_help("this is a bug in Flow, not in the program; please report it with this file"),
    )
}

pub(crate) fn lower(analysis: &Analysis, source: &str) -> Lowered<Program> {
    let file = &analysis.file;
    let mut names = Names::default();
    let mut models = Vec::new();
    let mut tools = Vec::new();
    for item in &file.items {
        match item {
            ast::Item::Model(m) => {
                names.models.insert(m.name.name.clone(), models.len());
                let provider = flow_stdlib::Provider::parse(&m.provider.name)
                    .ok_or_else(|| internal(m.provider.span, "an unknown provider passed the checker"))?;
                models.push(Model {
                    name: m.name.name.clone(),
                    provider,
                    model_id: m.model_id.value.clone(),
                    options: model_options(&m.options)?,
                });
            }
            ast::Item::Tool(t) => {
                names.tools.insert(t.name.name.clone(), tools.len());
                let params = t
                    .params
                    .iter()
                    .map(|p| Ok((p.name.name.clone(), resolved(analysis, &p.ty)?)))
                    .collect::<Lowered<_>>()?;
                tools.push(Tool {
                    name: t.name.name.clone(),
                    doc: t.doc.clone(),
                    params,
                    output: resolved(analysis, &t.output)?,
                    implementation: tool_impl(t.implementation.as_ref())?,
                });
            }
            ast::Item::Flow(f) => {
                names.flows.insert(f.name.name.clone(), names.flows.len());
            }
            ast::Item::Type(_) | ast::Item::Test(_) => {}
        }
    }
    let mut lowerer = Lowerer { analysis, source, names, frames: Vec::new(), lambdas: Vec::new() };
    let mut flows = Vec::new();
    let mut tests = Vec::new();
    for item in &file.items {
        match item {
            ast::Item::Flow(f) => flows.push(lowerer.flow(f)?),
            ast::Item::Test(t) => tests.push(lowerer.test(t)?),
            _ => {}
        }
    }
    Ok(Program { source: Arc::from(source), types: analysis.types.clone(), models, tools, flows, tests })
}

/// The type a type annotation resolved to.
fn resolved(analysis: &Analysis, t: &ast::TypeExpr) -> Lowered<Ty> {
    analysis.resolved_type(t.span).cloned().ok_or_else(|| internal(t.span, "a type annotation was never resolved"))
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
            self.scopes.push(HashMap::default());
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

struct Lowerer<'a> {
    analysis: &'a Analysis,
    source: &'a str,
    names: Names,
    frames: Vec<FrameScopes>,
    lambdas: Vec<String>,
}

impl Lowerer<'_> {
    fn flow(&mut self, f: &ast::FlowDef) -> Lowered<Flow> {
        let id = NodeId::root(&f.name.name);
        let mut frame = FrameScopes::default();
        let mut params = Vec::with_capacity(f.params.len());
        for p in &f.params {
            let ty = resolved(self.analysis, &p.ty)?;
            params.push(Param { name: p.name.name.clone(), ty, slot: frame.bind(&p.name.name) });
        }
        let output = resolved(self.analysis, &f.output)?;
        let body = self.block(&f.body, id, frame)?;
        Ok(Flow { name: f.name.name.clone(), doc: f.doc.clone(), params, output, body })
    }

    fn block(&mut self, block: &ast::Block, id: NodeId, frame: FrameScopes) -> Lowered<Block> {
        Ok(self.block_until(block, id, frame, None)?.0)
    }

    /// Lowers a body, and a loop's `until`, which sees the body's steps.
    fn block_until(
        &mut self,
        block: &ast::Block,
        id: NodeId,
        mut frame: FrameScopes,
        until: Option<&ast::Expr>,
    ) -> Lowered<(Block, Option<Expr>)> {
        let slots: Vec<u32> = block.steps.iter().map(|s| frame.bind(&s.name.name)).collect();
        self.frames.push(frame);
        let mut graph: DiGraph = DiGraph::new();
        let mut by_name: HashMap<&str, NodeIndex> = HashMap::default();
        for (step, slot) in block.steps.iter().zip(slots) {
            let lowered = self.step(step, &id, slot)?;
            let node = graph.add_node(lowered);
            by_name.insert(&step.name.name, node);
        }
        for step in &block.steps {
            let target = *by_name
                .get(step.name.name.as_str())
                .ok_or_else(|| internal(step.name.span, "a step was not lowered"))?;
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
            // The edges into this step so far, by source: `find_edge` would scan
            // the source's edges, quadratic for a step that thousands use.
            let mut edges: HashMap<NodeIndex, petgraph::graph::EdgeIndex> = HashMap::default();
            for (name, span) in refs {
                let Some(&source) = by_name.get(name.as_str()) else { continue };
                let after = after_spans.iter().any(|a| a.start <= span.start && span.end <= a.end);
                let edge = if after { Edge::After } else { Edge::Data(graph[source].ty.clone()) };
                match edges.get(&source) {
                    Some(&e) if matches!(graph[e], Edge::After) && !after => graph[e] = edge,
                    Some(_) => {}
                    None => {
                        edges.insert(source, graph.add_edge(source, target, edge));
                    }
                }
            }
        }
        let ret = match block.returns.first() {
            Some(r) => self.expr(r)?,
            None => return Err(internal(block.span, "a block without `return` passed the checker")),
        };
        let until = until.map(|e| self.expr(e)).transpose()?;
        let frame = self.frames.pop().ok_or_else(|| internal(block.span, "no frame is open"))?;
        Ok((Block { id, graph, slots: frame.next, ret }, until))
    }

    fn step(&mut self, step: &ast::Step, parent: &NodeId, slot: u32) -> Lowered<Step> {
        let id = parent.child(&step.name.name);
        let ty = self
            .analysis
            .type_of_step(step.name.span)
            .cloned()
            .ok_or_else(|| internal(step.name.span, "a step has no type"))?;
        let action = self.action(&step.form, &id)?;
        let mut retry = None;
        let mut timeout_ms = None;
        let mut catches = Vec::new();
        for clause in &step.clauses {
            match clause {
                ast::Clause::Retry(r) => retry = Some(lower_retry(r)),
                ast::Clause::Timeout { duration, .. } => timeout_ms = Some(duration.millis),
                ast::Clause::Catch(c) => {
                    let catch_id = id.child(&format!("catch{}", catches.len()));
                    let frame = self.frames.last_mut().ok_or_else(|| internal(c.span, "no frame is open"))?;
                    frame.scopes.push(HashMap::default());
                    let binding = c.binding.as_ref().map(|b| frame.bind(&b.name));
                    let guard = c.guard.as_ref().map(|g| self.expr(g)).transpose()?;
                    let action = self.action(&c.form, &catch_id)?;
                    if let Some(frame) = self.frames.last_mut() {
                        frame.scopes.pop();
                    }
                    catches.push(Catch { id: catch_id, binding, guard, action });
                }
                ast::Clause::After { .. } => {}
            }
        }
        Ok(Step { id, name: step.name.name.clone(), slot, ty, action, retry, timeout_ms, catches, span: step.span })
    }

    fn action(&mut self, form: &ast::Form, id: &NodeId) -> Lowered<Action> {
        Ok(match &form.kind {
            FormKind::Expr(e) => {
                let call = match &e.kind {
                    A::Call { callee, args } => self.callee(&callee.name).map(|c| (c, args)),
                    _ => None,
                };
                match call {
                    Some((callee, args)) => {
                        let mut lowered = Vec::with_capacity(args.len());
                        for a in args {
                            let name = a.name.as_ref().ok_or_else(|| internal(a.span, "a positional argument"))?;
                            lowered.push((Arc::from(name.name.as_str()), self.expr(&a.value)?));
                        }
                        Action::Call { callee, args: lowered }
                    }
                    None => Action::Expr(self.expr(e)?),
                }
            }
            FormKind::Llm(call) => Action::Llm(Box::new(self.llm(call)?)),
            FormKind::Agent(call) => Action::Agent(Box::new(self.agent(call)?)),
            FormKind::Ask(ask) => Action::Ask(Box::new(self.ask(ask)?)),
            FormKind::Route(route) => {
                let mut branches = Vec::new();
                for (i, arm) in route.arms.iter().enumerate() {
                    let branch_id = id.child(&format!("when{i}"));
                    let condition = Some(self.expr(&arm.condition)?);
                    let action = self.action(&arm.form, &branch_id)?;
                    branches.push(Branch { id: branch_id, condition, action });
                }
                if let Some(otherwise) = &route.otherwise {
                    let branch_id = id.child("else");
                    let action = self.action(otherwise, &branch_id)?;
                    branches.push(Branch { id: branch_id, condition: None, action });
                }
                Action::Route(branches)
            }
            FormKind::When { condition, body } => {
                let then = id.child("then");
                let condition = self.expr(condition)?;
                let action = Box::new(self.action(body, &then)?);
                Action::When { id: then, condition, action }
            }
            FormKind::Map(map) => Action::Map(Box::new(self.map(map, id)?)),
            FormKind::Loop(lp) => Action::Loop(Box::new(self.loop_action(lp, id)?)),
        })
    }

    fn model(&self, model: &ast::Ident) -> Lowered<usize> {
        self.names.models.get(&model.name).copied().ok_or_else(|| internal(model.span, "an unknown model"))
    }

    fn llm(&mut self, call: &ast::LlmCall) -> Lowered<LlmCall> {
        let mut lowered = LlmCall {
            model: self.model(&call.model)?,
            output: resolved(self.analysis, &call.output)?,
            prompt: Expr::new(ExprKind::Null, Ty::Null),
            system: None,
            messages: None,
            temperature: None,
            max_tokens: None,
            repair: None,
        };
        for field in &call.options {
            let key = LlmOption::parse(&field.key.name).ok_or_else(|| internal(field.key.span, "an unknown option"))?;
            let value = self.expr(&field.value)?;
            match key {
                LlmOption::Prompt => lowered.prompt = value,
                LlmOption::System => lowered.system = Some(value),
                LlmOption::Messages => lowered.messages = Some(value),
                LlmOption::Temperature => lowered.temperature = Some(value),
                LlmOption::MaxTokens => lowered.max_tokens = Some(value),
                LlmOption::Repair => lowered.repair = Some(value),
            }
        }
        Ok(lowered)
    }

    fn ask(&mut self, ask: &ast::AskForm) -> Lowered<AskAction> {
        let output = resolved(self.analysis, &ask.output)?;
        let schema = crate::schema::type_schema(&output, &self.analysis.types);
        let mut prompt = Expr::new(ExprKind::Null, Ty::Null);
        for field in &ask.options {
            match AskOption::parse(&field.key.name).ok_or_else(|| internal(field.key.span, "an unknown option"))? {
                AskOption::Prompt => prompt = self.expr(&field.value)?,
            }
        }
        Ok(AskAction { output, prompt, schema })
    }

    fn agent(&mut self, call: &ast::LlmCall) -> Lowered<AgentCall> {
        let mut lowered = AgentCall {
            model: self.model(&call.model)?,
            output: resolved(self.analysis, &call.output)?,
            goal: Expr::new(ExprKind::Null, Ty::Null),
            tools: Vec::new(),
            system: None,
            messages: None,
            max_turns: None,
            temperature: None,
            max_tokens: None,
        };
        for field in &call.options {
            let key =
                AgentOption::parse(&field.key.name).ok_or_else(|| internal(field.key.span, "an unknown option"))?;
            if key == AgentOption::Tools {
                let A::List(items) = &field.value.kind else {
                    return Err(internal(field.value.span, "`tools` is not a list"));
                };
                for item in items {
                    let callee = match &item.kind {
                        A::Name(n) => self.callee(n),
                        _ => None,
                    };
                    lowered.tools.push(callee.ok_or_else(|| internal(item.span, "an unknown tool"))?);
                }
                continue;
            }
            let value = self.expr(&field.value)?;
            match key {
                AgentOption::Goal => lowered.goal = value,
                AgentOption::System => lowered.system = Some(value),
                AgentOption::Messages => lowered.messages = Some(value),
                AgentOption::MaxTurns => lowered.max_turns = Some(value),
                AgentOption::Temperature => lowered.temperature = Some(value),
                AgentOption::MaxTokens => lowered.max_tokens = Some(value),
                AgentOption::Tools => {}
            }
        }
        Ok(lowered)
    }

    fn map(&mut self, map: &ast::MapForm, id: &NodeId) -> Lowered<MapAction> {
        let list = self.expr(&map.source)?;
        let mut concurrency = None;
        let mut tolerate = None;
        for option in &map.options {
            let key =
                MapOption::parse(&option.key.name).ok_or_else(|| internal(option.key.span, "an unknown option"))?;
            match key {
                MapOption::Concurrency => concurrency = Some(self.expr(&option.value)?),
                MapOption::Tolerate => {
                    tolerate = Some(match option.value.kind {
                        A::Percent(p) => Tolerate::Percent(p),
                        _ => Tolerate::Count(self.expr(&option.value)?),
                    })
                }
            }
        }
        let body_id = id.child("body");
        let mut frame = FrameScopes::default();
        let item_slot = frame.bind(&map.item.name);
        let body = self.block(&map.body, body_id.clone(), frame)?;
        Ok(MapAction { id: body_id, item_slot, list, concurrency, tolerate, body })
    }

    fn loop_action(&mut self, lp: &ast::LoopForm, id: &NodeId) -> Lowered<LoopAction> {
        let mut max = None;
        for option in &lp.options {
            match LoopOption::parse(&option.key.name) {
                Some(LoopOption::Max) => max = Some(self.expr(&option.value)?),
                None => return Err(internal(option.key.span, "an unknown option")),
            }
        }
        let max = max.ok_or_else(|| internal(lp.options_span, "a loop without `max` passed the checker"))?;
        let body_id = id.child("body");
        let mut frame = FrameScopes::default();
        let previous_slot = lp.previous.as_ref().map(|p| frame.bind(&p.name));
        let (body, until) = self.block_until(&lp.body, body_id.clone(), frame, lp.until.as_ref())?;
        Ok(LoopAction { id: body_id, previous_slot, max, until, body })
    }

    fn callee(&self, name: &str) -> Option<Callee> {
        self.names
            .tools
            .get(name)
            .map(|&i| Callee::Tool(i))
            .or_else(|| self.names.flows.get(name).map(|&i| Callee::Flow(i)))
    }

    fn test(&mut self, t: &ast::TestDef) -> Lowered<Test> {
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
                    "input" => input = constant(value).ok_or_else(|| internal(value.span, "a test input"))?,
                    "expect" => {
                        let text = crate::words::source_text(self.source, value.span);
                        expects.push((text, self.expr(value)?));
                    }
                    _ => return Err(internal(key.span, "an unknown test entry")),
                },
                ast::TestEntry::Mock { target, value } => {
                    let answer =
                        constant(value).ok_or_else(|| internal(value.span, "a mock that is not a constant"))?;
                    mocks.push((target.name.clone(), answer));
                }
            }
        }
        self.frames.pop();
        let flow = flow.ok_or_else(|| internal(t.name.span, "a test without a flow"))?;
        Ok(Test { name: t.name.name.clone(), flow, input, mocks, expects })
    }

    fn var(&self, name: &str, span: Span) -> Lowered<Var> {
        if let Some(i) = self.lambdas.iter().rposition(|n| n == name) {
            return Ok(Var::Local(i as u32));
        }
        for (up, frame) in self.frames.iter().rev().enumerate() {
            if let Some(slot) = frame.find(name) {
                return Ok(Var::Slot { up: up as u32, slot });
            }
        }
        Err(internal(span, format!("`{name}` has no slot")))
    }

    fn builtin(&self, name: &ast::Ident) -> Lowered<flow_stdlib::BuiltinId> {
        self.analysis.builtin_at(name.span).ok_or_else(|| internal(name.span, "a call to no known builtin"))
    }

    fn exprs(&mut self, args: &[ast::Arg]) -> Lowered<Vec<Expr>> {
        args.iter().map(|a| self.expr(&a.value)).collect()
    }

    fn expr(&mut self, e: &ast::Expr) -> Lowered<Expr> {
        let ty =
            self.analysis.type_of_expr(e.span).cloned().ok_or_else(|| internal(e.span, "an expression has no type"))?;
        let kind = match &e.kind {
            A::Int(i) => ExprKind::Int(*i),
            A::Float(f) => ExprKind::Float(*f),
            A::Bool(b) => ExprKind::Bool(*b),
            A::Null => ExprKind::Null,
            A::Invalid => return Err(internal(e.span, "an invalid expression passed the checker")),
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
                    let mut lowered = Vec::with_capacity(parts.len());
                    for part in parts {
                        lowered.push(match part {
                            StrPart::Text(t) => constant_str(t),
                            StrPart::Interp(i) => self.expr(i)?,
                        });
                    }
                    ExprKind::Concat(lowered)
                }
            }
            A::List(items) => ExprKind::List(items.iter().map(|i| self.expr(i)).collect::<Lowered<_>>()?),
            A::Record(fields) => ExprKind::Record(
                fields
                    .iter()
                    .map(|f| Ok((Arc::from(f.key.name.as_str()), self.expr(&f.value)?)))
                    .collect::<Lowered<_>>()?,
            ),
            A::Name(n) => ExprKind::Var(self.var(n, e.span)?),
            A::Field { target, name, optional } => ExprKind::Field {
                target: Box::new(self.expr(target)?),
                name: Arc::from(name.name.as_str()),
                optional: *optional,
            },
            A::Index { target, index } => {
                ExprKind::Index { target: Box::new(self.expr(target)?), index: Box::new(self.expr(index)?) }
            }
            A::Call { callee, args } => ExprKind::Call { function: self.builtin(callee)?, args: self.exprs(args)? },
            A::Method { target, name, args, optional } => ExprKind::Method {
                target: Box::new(self.expr(target)?),
                method: self.builtin(name)?,
                args: self.exprs(args)?,
                optional: *optional,
            },
            A::Lambda { params, body } => {
                let first = self.lambdas.len() as u32;
                self.lambdas.extend(params.iter().map(|p| p.name.clone()));
                let body = self.expr(body);
                self.lambdas.truncate(first as usize);
                ExprKind::Lambda { first, arity: params.len() as u32, body: Box::new(body?) }
            }
            A::Unary { op, operand } => ExprKind::Unary { op: *op, operand: Box::new(self.expr(operand)?) },
            A::Binary { op, lhs, rhs } => {
                ExprKind::Binary { op: *op, lhs: Box::new(self.expr(lhs)?), rhs: Box::new(self.expr(rhs)?) }
            }
            A::If { condition, then, otherwise } => ExprKind::If {
                condition: Box::new(self.expr(condition)?),
                then: Box::new(self.expr(then)?),
                otherwise: Box::new(self.expr(otherwise)?),
            },
        };
        Ok(Expr::new(kind, ty))
    }
}

type DiGraph = petgraph::graph::DiGraph<Step, Edge>;
use petgraph::graph::NodeIndex;

fn constant_str(s: &str) -> Expr {
    Expr::new(ExprKind::Str(Arc::from(s)), Ty::String)
}

fn lower_retry(r: &ast::Retry) -> Retry {
    let backoff = match &r.backoff {
        Some((low, Some(high))) => Backoff::Exponential { low_ms: low.millis, high_ms: high.millis },
        Some((fixed, None)) => Backoff::Fixed { ms: fixed.millis },
        None => Backoff::DEFAULT,
    };
    let on = match &r.on {
        Some(kinds) => kinds.iter().filter_map(|k| ErrorKind::parse(&k.name)).collect(),
        None => ErrorKind::transients().collect(),
    };
    Retry { retries: u32::try_from(r.count).unwrap_or(u32::MAX), backoff, jitter: r.jitter, on }
}

/// An option's value, which the checker required to be a constant.
fn option_value(field: &ast::RecordField) -> Lowered<serde_json::Value> {
    constant(&field.value).ok_or_else(|| internal(field.value.span, "an option that is not a constant"))
}

fn float(field: &ast::RecordField) -> Lowered<f64> {
    option_value(field)?.as_f64().ok_or_else(|| internal(field.value.span, "an option that is not a number"))
}

fn count(field: &ast::RecordField) -> Lowered<u64> {
    option_value(field)?.as_u64().ok_or_else(|| internal(field.value.span, "an option that is not a count"))
}

fn text(field: &ast::RecordField) -> Lowered<String> {
    match option_value(field)? {
        serde_json::Value::String(s) => Ok(s),
        _ => Err(internal(field.value.span, "an option that is not a string")),
    }
}

fn model_options(fields: &[ast::RecordField]) -> Lowered<ModelOptions> {
    let mut o = ModelOptions::default();
    for field in fields {
        let key = ModelOption::parse(&field.key.name).ok_or_else(|| internal(field.key.span, "an unknown option"))?;
        match key {
            ModelOption::Temperature => o.temperature = Some(float(field)?),
            ModelOption::MaxTokens => o.max_tokens = Some(count(field)?),
            ModelOption::BaseUrl => o.base_url = Some(text(field)?),
            ModelOption::Concurrency => o.concurrency = Some(count(field)?),
            ModelOption::Rpm => o.rpm = Some(count(field)?),
            ModelOption::Tpm => o.tpm = Some(count(field)?),
            ModelOption::Timeout => o.timeout_ms = Some(count(field)?),
            ModelOption::Repair => o.repair = Some(count(field)?),
            ModelOption::Retry => o.retry = Some(count(field)?),
            ModelOption::ApiKeyEnv => o.api_key_env = Some(text(field)?),
            ModelOption::InputPrice => o.input_price = Some(float(field)?),
            ModelOption::OutputPrice => o.output_price = Some(float(field)?),
            ModelOption::Stream => {
                let value = option_value(field)?;
                o.stream = Some(value.as_bool().ok_or_else(|| internal(field.value.span, "not a bool"))?);
            }
            ModelOption::IdleTimeout => o.idle_timeout_ms = Some(count(field)?),
            ModelOption::Cache => {
                let value = option_value(field)?;
                o.cache = Some(value.as_bool().ok_or_else(|| internal(field.value.span, "not a bool"))?);
            }
            ModelOption::ToolCalling => {
                o.tool_calling = Some(match text(field)?.as_str() {
                    "json" => ToolCalling::Json,
                    "native" => ToolCalling::Native,
                    _ => return Err(internal(field.value.span, "an unknown way of calling tools")),
                })
            }
        }
    }
    Ok(o)
}

fn tool_impl(implementation: Option<&ast::ToolImpl>) -> Lowered<ToolImpl> {
    Ok(match implementation {
        None => ToolImpl::Host,
        Some(ast::ToolImpl::Http { method, url, options, .. }) => {
            let mut timeout_ms = None;
            let mut headers = Vec::new();
            for field in options {
                let key = HttpToolOption::parse(&field.key.name)
                    .ok_or_else(|| internal(field.key.span, "an unknown option"))?;
                match key {
                    HttpToolOption::Timeout => timeout_ms = Some(count(field)?),
                    HttpToolOption::Headers => match &field.value.kind {
                        ast::ExprKind::Record(fields) => {
                            for f in fields {
                                let value = match crate::constant::secret_name(&f.value) {
                                    Some(name) => Header::Secret(name.to_string()),
                                    None => Header::Text(text(f)?),
                                };
                                headers.push((f.key.name.clone(), value));
                            }
                        }
                        _ => return Err(internal(field.value.span, "headers that are not a record")),
                    },
                }
            }
            ToolImpl::Http { method: method.clone(), url: url.value.clone(), timeout_ms, headers }
        }
        Some(ast::ToolImpl::Command { argv, options, .. }) => {
            let argv = match constant(argv) {
                Some(serde_json::Value::Array(items)) => items
                    .into_iter()
                    .map(|v| v.as_str().map(str::to_string))
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| internal(argv.span, "a command that is not a list of strings"))?,
                _ => return Err(internal(argv.span, "a command that is not a constant list")),
            };
            let mut timeout_ms = None;
            for field in options {
                match CommandToolOption::parse(&field.key.name) {
                    Some(CommandToolOption::Timeout) => timeout_ms = Some(count(field)?),
                    None => return Err(internal(field.key.span, "an unknown option")),
                }
            }
            ToolImpl::Command { argv, timeout_ms }
        }
    })
}
