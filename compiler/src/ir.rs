//! The graph IR: what the interpreter runs. A checked program lowered to
//! flows whose bodies are petgraph graphs of steps (edges are data
//! dependencies and `after`), with expressions in a small typed tree that
//! refers to values by slot rather than by name.
//!
//! Every step, branch, catch fallback and map body has a [`NodeId`] derived
//! from where it is in the source (`flow/step/branch`), not from the order
//! it was lowered in, so ids survive unrelated edits: durable runs and
//! resumes will key on them.

use crate::types::{Ty, TypeTable};
use flow_grammar::Span;
use flow_stdlib::{BuiltinId, Provider};
use petgraph::graph::DiGraph;
use std::fmt;
use std::sync::Arc;

/// A lowered program: everything the interpreter needs, nothing it does not.
#[derive(Debug)]
pub struct Program {
    /// The source text it was compiled from (kept with durable runs, so
    /// that a run can be resumed by another process).
    pub source: Arc<str>,
    pub types: TypeTable,
    pub models: Vec<Model>,
    pub tools: Vec<Tool>,
    pub flows: Vec<Flow>,
    pub tests: Vec<Test>,
}

impl Program {
    pub fn flow(&self, name: &str) -> Option<usize> {
        self.flows.iter().position(|f| f.name == name)
    }

    pub fn tool(&self, name: &str) -> Option<usize> {
        self.tools.iter().position(|t| t.name == name)
    }

    pub fn model(&self, name: &str) -> Option<usize> {
        self.models.iter().position(|m| m.name == name)
    }
}

/// A stable id: the path to a node from its flow, e.g. `triage/reply/else`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub Arc<str>);

impl NodeId {
    pub fn root(flow: &str) -> NodeId {
        NodeId(Arc::from(flow))
    }

    pub fn child(&self, part: &str) -> NodeId {
        NodeId(Arc::from(format!("{}/{part}", self.0)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `model NAME = provider("id") { options }`.
#[derive(Debug)]
pub struct Model {
    pub name: String,
    pub provider: Provider,
    pub model_id: String,
    pub options: ModelOptions,
}

/// A model's options, as declared (`None`: not given; the runtime applies
/// its defaults). One field per entry of `flow_stdlib::options::MODEL_OPTIONS`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModelOptions {
    pub temperature: Option<f64>,
    pub max_tokens: Option<u64>,
    pub base_url: Option<String>,
    pub concurrency: Option<u64>,
    pub rpm: Option<u64>,
    pub tpm: Option<u64>,
    pub timeout_ms: Option<u64>,
    pub repair: Option<u64>,
    /// Sends of a call that failed transiently, when the step has no `retry`.
    pub retry: Option<u64>,
    pub api_key_env: Option<String>,
    /// USD per million tokens.
    pub input_price: Option<f64>,
    pub output_price: Option<f64>,
    pub stream: Option<bool>,
    pub idle_timeout_ms: Option<u64>,
    pub tool_calling: Option<ToolCalling>,
    pub cache: Option<bool>,
}

/// How an agent's tools reach the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToolCalling {
    /// The API's own tool calling.
    Native,
    /// A JSON answer per turn naming the tool (for models without it).
    Json,
}

#[derive(Debug)]
pub struct Tool {
    pub name: String,
    pub doc: Option<String>,
    pub params: Vec<(String, Ty)>,
    pub output: Ty,
    pub implementation: ToolImpl,
}

/// An http tool's header value: text written in the file, or a secret the
/// host grants (`secret("NAME")`), filled in only when the request is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Header {
    Text(String),
    Secret(String),
}

#[derive(Debug, Clone)]
pub enum ToolImpl {
    /// Supplied by the program embedding the interpreter.
    Host,
    Http {
        method: String,
        url: String,
        timeout_ms: Option<u64>,
        headers: Vec<(String, Header)>,
    },
    Command {
        argv: Vec<String>,
        timeout_ms: Option<u64>,
    },
}

#[derive(Debug)]
pub struct Flow {
    pub name: String,
    pub doc: Option<String>,
    pub params: Vec<Param>,
    pub output: Ty,
    pub body: Block,
}

#[derive(Debug)]
pub struct Param {
    pub name: String,
    pub ty: Ty,
    pub slot: u32,
}

/// The steps of a flow or map body. Each block execution has one frame of
/// `slots` values (parameters or the map item, steps, catch bindings).
#[derive(Debug)]
pub struct Block {
    pub id: NodeId,
    /// Edges point from a step to the steps that wait for it.
    pub graph: DiGraph<Step, Edge>,
    pub slots: u32,
    pub ret: Expr,
}

#[derive(Debug, Clone)]
pub enum Edge {
    /// The target reads the source's value, of this type.
    Data(Ty),
    /// `after`: the target waits without reading.
    After,
}

#[derive(Debug)]
pub struct Step {
    pub id: NodeId,
    pub name: String,
    pub slot: u32,
    pub ty: Ty,
    pub action: Action,
    pub retry: Option<Retry>,
    pub timeout_ms: Option<u64>,
    pub catches: Vec<Catch>,
    pub span: Span,
}

#[derive(Debug)]
pub enum Action {
    /// A pure expression.
    Expr(Expr),
    Call {
        callee: Callee,
        args: Vec<(Arc<str>, Expr)>,
    },
    Llm(Box<LlmCall>),
    Agent(Box<AgentCall>),
    /// Exactly one branch runs; the last has no condition (`else`).
    Route(Vec<Branch>),
    /// Runs the action when the condition holds, else gives `null`.
    When {
        id: NodeId,
        condition: Expr,
        action: Box<Action>,
    },
    Map(Box<MapAction>),
    /// Runs a body again and again, each time seeing the last value.
    Loop(Box<LoopAction>),
    /// Waits for a person's answer (`ask -> T { prompt: ... }`).
    Ask(Box<AskAction>),
}

/// `ask -> T { prompt: ... }`: the run waits, durably, until an answer of
/// type `output` is given (`flowc answer`, `Engine::answer`).
#[derive(Debug)]
pub struct AskAction {
    pub output: Ty,
    /// The question (a string).
    pub prompt: Expr,
    /// The JSON Schema of the answer, shown to whoever answers.
    pub schema: serde_json::Value,
}

impl Action {
    /// The block a `map` or `loop` runs per item or iteration.
    pub fn body(&self) -> Option<&Block> {
        match self {
            Action::Map(map) => Some(&map.body),
            Action::Loop(lp) => Some(&lp.body),
            _ => None,
        }
    }

    /// Whether the action waits for a person somewhere (then its step's
    /// `timeout` is a durable deadline, not a timer of one process).
    pub fn asks(&self) -> bool {
        match self {
            Action::Ask(_) => true,
            Action::When { action, .. } => action.asks(),
            Action::Route(branches) => branches.iter().any(|b| b.action.asks()),
            _ => false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Callee {
    Tool(usize),
    Flow(usize),
}

#[derive(Debug)]
pub struct Branch {
    pub id: NodeId,
    pub condition: Option<Expr>,
    pub action: Action,
}

#[derive(Debug)]
pub struct LlmCall {
    pub model: usize,
    pub output: Ty,
    /// The question; `null` when only `messages` are given.
    pub prompt: Expr,
    pub system: Option<Expr>,
    /// The conversation so far (a list of `Message`), sent before `prompt`.
    pub messages: Option<Expr>,
    pub temperature: Option<Expr>,
    pub max_tokens: Option<Expr>,
    pub repair: Option<Expr>,
}

#[derive(Debug)]
pub struct AgentCall {
    pub model: usize,
    pub output: Ty,
    /// The task; `null` when only `messages` are given.
    pub goal: Expr,
    pub tools: Vec<Callee>,
    pub system: Option<Expr>,
    /// The conversation so far (a list of `Message`), sent before `goal`.
    pub messages: Option<Expr>,
    pub max_turns: Option<Expr>,
    pub temperature: Option<Expr>,
    pub max_tokens: Option<Expr>,
}

#[derive(Debug)]
pub struct MapAction {
    pub id: NodeId,
    /// The item's slot in the body's frame.
    pub item_slot: u32,
    pub list: Expr,
    pub concurrency: Option<Expr>,
    pub tolerate: Option<Tolerate>,
    pub body: Block,
}

/// `loop prev (max: N) { ... } until cond`: the body runs once per
/// iteration, one at a time, until `until` holds or `max` have run. An
/// iteration is journaled as `{"value": V, "until": bool}` at its index.
#[derive(Debug)]
pub struct LoopAction {
    pub id: NodeId,
    /// The previous iteration's value's slot in the body's frame, if named.
    pub previous_slot: Option<u32>,
    /// The most iterations (an int expression).
    pub max: Expr,
    /// Evaluated in the body's frame after each iteration.
    pub until: Option<Expr>,
    pub body: Block,
}

#[derive(Debug)]
pub enum Tolerate {
    /// A share of the items, in percent.
    Percent(f64),
    Count(Expr),
}

#[derive(Debug, Clone)]
pub struct Retry {
    /// Retries after the first attempt.
    pub retries: u32,
    pub backoff: Backoff,
    pub jitter: bool,
    /// The kinds retried; the transient kinds when the clause names none.
    pub on: Vec<ErrorKind>,
}

/// The wait before retry `n` (1-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backoff {
    /// `backoff D`: the same wait every time.
    Fixed { ms: u64 },
    /// `backoff LOW..HIGH` (and the default): `LOW * 2^(n-1)`, at most `HIGH`.
    Exponential { low_ms: u64, high_ms: u64 },
}

impl Backoff {
    /// The default when `retry` gives no `backoff`.
    pub const DEFAULT: Backoff = Backoff::Exponential { low_ms: 1_000, high_ms: 30_000 };

    /// The wait before retry `n` (1-based), before jitter.
    pub fn delay_ms(self, n: u32) -> u64 {
        match self {
            Backoff::Fixed { ms } => ms,
            Backoff::Exponential { low_ms, high_ms } => {
                let factor = 1u64.checked_shl(n.saturating_sub(1)).unwrap_or(u64::MAX);
                low_ms.saturating_mul(factor).min(high_ms)
            }
        }
    }
}

#[derive(Debug)]
pub struct Catch {
    pub id: NodeId,
    /// The slot holding the error value, for `catch e => ...`.
    pub binding: Option<u32>,
    pub guard: Option<Expr>,
    pub action: Action,
}

/// What went wrong in a step: the `kind` of the error value `catch` binds.
pub use flow_stdlib::ErrorKind;

/// The key of a mock answer that is a failure: `error("kind", "message")`
/// in a test's `mock` is `{"$error": {"kind": ..., "message": ...}}`.
pub const MOCK_ERROR: &str = "$error";

/// `test NAME { ... }`, lowered: mocks are constants, expectations are
/// expressions over `output` (slot 0 of a one-slot frame).
#[derive(Debug)]
pub struct Test {
    pub name: String,
    pub flow: usize,
    pub input: serde_json::Value,
    pub mocks: Vec<(String, serde_json::Value)>,
    pub expects: Vec<(String, Expr)>,
}

// ------------------------------------------------------------ expressions

/// A typed expression.
#[derive(Debug, Clone)]
pub struct Expr {
    pub kind: ExprKind,
    pub ty: Ty,
    /// What an evaluator learned about this expression (empty when lowered).
    pub cache: EvalCache,
}

impl Expr {
    pub fn new(kind: ExprKind, ty: Ty) -> Expr {
        Expr { kind, ty, cache: EvalCache::default() }
    }
}

/// A place on an expression where an evaluator keeps what it learned about
/// it: the VM's JIT keeps its plan, its run count and its compiled code
/// there, so they live and die with the program, and finding them costs one
/// load. Set at most once; a clone of the expression starts empty.
#[derive(Default)]
pub struct EvalCache(std::sync::OnceLock<Box<dyn std::any::Any + Send + Sync>>);

impl EvalCache {
    /// The value kept here, made by `make` if there is none yet; `None` when
    /// another evaluator keeps a value of another type here.
    pub fn get_or_init<T: std::any::Any + Send + Sync>(&self, make: impl FnOnce() -> T) -> Option<&T> {
        self.0.get_or_init(|| Box::new(make())).downcast_ref()
    }
}

impl Clone for EvalCache {
    fn clone(&self) -> Self {
        EvalCache::default()
    }
}

impl fmt::Debug for EvalCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EvalCache")
    }
}

#[derive(Debug, Clone)]
pub enum ExprKind {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Arc<str>),
    Duration(u64),
    Percent(f64),
    /// String interpolation: the parts' texts joined.
    Concat(Vec<Expr>),
    List(Vec<Expr>),
    Record(Vec<(Arc<str>, Expr)>),
    Var(Var),
    Field {
        target: Box<Expr>,
        name: Arc<str>,
        optional: bool,
    },
    Index {
        target: Box<Expr>,
        index: Box<Expr>,
    },
    /// A builtin function of `flow_stdlib::BUILTINS`.
    Call {
        function: BuiltinId,
        args: Vec<Expr>,
    },
    /// A builtin method of `flow_stdlib::BUILTINS`.
    Method {
        target: Box<Expr>,
        method: BuiltinId,
        args: Vec<Expr>,
        optional: bool,
    },
    /// `if condition { then } else { otherwise }`: only the branch taken is evaluated.
    If {
        condition: Box<Expr>,
        then: Box<Expr>,
        otherwise: Box<Expr>,
    },
    /// Binds its parameters to lambda-local slots `first..first + arity`.
    Lambda {
        first: u32,
        arity: u32,
        body: Box<Expr>,
    },
    Unary {
        op: flow_grammar::ast::UnaryOp,
        operand: Box<Expr>,
    },
    Binary {
        op: flow_grammar::ast::BinaryOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
}

/// Where a name's value lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Var {
    /// A slot in the frame `up` levels out (0: the current block).
    Slot { up: u32, slot: u32 },
    /// A lambda parameter.
    Local(u32),
}
