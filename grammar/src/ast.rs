//! The abstract syntax tree: what a `.flow` file says, with a span on every
//! node, independent of pest's types.

use crate::span::Span;

/// A name as written, with where it was written.
#[derive(Clone, Debug, PartialEq)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct File {
    pub items: Vec<Item>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Item {
    Type(TypeDef),
    Model(ModelDef),
    Tool(ToolDef),
    Flow(FlowDef),
    Test(TestDef),
}

impl Item {
    pub fn name(&self) -> &Ident {
        match self {
            Item::Type(t) => &t.name,
            Item::Model(m) => &m.name,
            Item::Tool(t) => &t.name,
            Item::Flow(f) => &f.name,
            Item::Test(t) => &t.name,
        }
    }

    pub fn span(&self) -> Span {
        match self {
            Item::Type(t) => t.span,
            Item::Model(m) => m.span,
            Item::Tool(t) => t.span,
            Item::Flow(f) => f.span,
            Item::Test(t) => t.span,
        }
    }
}

/// `type Name { field: T ... }` or `type Name = T`.
#[derive(Clone, Debug, PartialEq)]
pub struct TypeDef {
    pub name: Ident,
    pub doc: Option<String>,
    pub ty: TypeExpr,
    pub span: Span,
}

/// `model NAME = provider("model-id") { option: value ... }`.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelDef {
    pub name: Ident,
    pub doc: Option<String>,
    pub provider: Ident,
    pub model_id: StrLit,
    pub options: Vec<RecordField>,
    pub span: Span,
}

/// `tool NAME(params) -> T` with an optional implementation.
#[derive(Clone, Debug, PartialEq)]
pub struct ToolDef {
    pub name: Ident,
    pub doc: Option<String>,
    pub params: Vec<Param>,
    pub output: TypeExpr,
    pub implementation: Option<ToolImpl>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ToolImpl {
    /// Supplied by the embedding program.
    Http { method: String, url: StrLit, options: Vec<RecordField>, span: Span },
    /// `= command ["prog", "arg"]`: JSON on stdin, JSON on stdout.
    Command { argv: Expr, options: Vec<RecordField>, span: Span },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    pub name: Ident,
    pub doc: Option<String>,
    pub ty: TypeExpr,
    pub span: Span,
}

/// `flow NAME(params) -> T { steps  return expr }`.
#[derive(Clone, Debug, PartialEq)]
pub struct FlowDef {
    pub name: Ident,
    pub doc: Option<String>,
    pub params: Vec<Param>,
    pub output: TypeExpr,
    pub body: Block,
    pub span: Span,
}

/// The steps and return of a flow or `map` body, in source order.
#[derive(Clone, Debug, PartialEq)]
pub struct Block {
    pub steps: Vec<Step>,
    pub returns: Vec<Expr>,
    pub span: Span,
    /// Statements that did not parse (the rest of the block did).
    pub broken: Broken,
}

/// What a block lost to syntax errors: later phases treat the names of
/// broken steps as defined (of unknown type) and do not report a missing
/// `return` when one did not parse.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Broken {
    pub steps: Vec<Ident>,
    pub returns: bool,
}

impl Broken {
    pub fn any(&self) -> bool {
        !self.steps.is_empty() || self.returns
    }
}

/// `test NAME { flow: f  input: {...}  mock m: ...  expect: cond }`.
#[derive(Clone, Debug, PartialEq)]
pub struct TestDef {
    pub name: Ident,
    pub doc: Option<String>,
    pub entries: Vec<TestEntry>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum TestEntry {
    /// `key: value`, e.g. `flow: triage`, `input: {...}`, `expect: ...`.
    Field { key: Ident, value: Expr },
    /// `mock NAME: value`.
    Mock { target: Ident, value: Expr },
}

// ------------------------------------------------------------------ types

#[derive(Clone, Debug, PartialEq)]
pub struct TypeExpr {
    pub kind: TypeExprKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum TypeExprKind {
    /// `string`, `int`, or a declared type's name.
    Named(Ident),
    List(Box<TypeExpr>),
    Optional(Box<TypeExpr>),
    Map(Box<TypeExpr>, Box<TypeExpr>),
    Record(Vec<FieldDecl>),
    /// A string literal type, e.g. `"high"`, the name a model sees for it
    /// (`"k1" as "Refund"`) and its `///` doc comment.
    Literal(String, Option<String>, Option<String>),
    /// A number or bool literal type, e.g. `3`, `0.5`, `true`.
    Value(LiteralValue),
    /// `A | B | ...`: string literals, or any types (`Circle | Square`, `int | null`).
    Union(Vec<TypeExpr>),
}

/// The value of a number or bool literal type.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LiteralValue {
    Int(i64),
    Float(f64),
    Bool(bool),
}

#[derive(Clone, Debug, PartialEq)]
pub struct FieldDecl {
    pub name: Ident,
    pub doc: Option<String>,
    pub ty: TypeExpr,
    /// The name a model sees instead (`as "First Name"`).
    pub alias: Option<String>,
    pub span: Span,
}

// ------------------------------------------------------------------ steps

/// `step NAME = FORM CLAUSE*`.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    pub name: Ident,
    pub doc: Option<String>,
    pub form: Form,
    pub clauses: Vec<Clause>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Form {
    pub kind: FormKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum FormKind {
    /// A pure expression, or a tool or flow call (an `Expr` whose top is a call).
    Expr(Expr),
    /// `llm MODEL -> T { prompt: ... }`.
    Llm(LlmCall),
    /// `agent MODEL -> T { goal: ..., tools: [...] }`.
    Agent(LlmCall),
    /// `ask -> T { prompt: ... }`: waits for a person's answer.
    Ask(AskForm),
    /// `route { when c => FORM ... else => FORM }`.
    Route(Route),
    /// `when c { FORM }`.
    When { condition: Expr, body: Box<Form> },
    /// `map x in list (options) { steps return expr }`.
    Map(MapForm),
    /// `loop prev (max: N) { steps return expr } until cond`.
    Loop(LoopForm),
}

#[derive(Clone, Debug, PartialEq)]
pub struct LlmCall {
    pub model: Ident,
    pub output: TypeExpr,
    pub options: Vec<RecordField>,
    /// The span of the `{ ... }` holding the options.
    pub options_span: Span,
}

/// `ask -> T { prompt: ... }`.
#[derive(Clone, Debug, PartialEq)]
pub struct AskForm {
    pub output: TypeExpr,
    pub options: Vec<RecordField>,
    /// The span of the `{ ... }` holding the options.
    pub options_span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Route {
    pub arms: Vec<RouteArm>,
    pub otherwise: Option<Box<Form>>,
    /// The `else` keyword, for diagnostics about branch order.
    pub else_span: Option<Span>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct RouteArm {
    pub condition: Expr,
    pub form: Form,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct MapForm {
    pub item: Ident,
    pub source: Expr,
    pub options: Vec<RecordField>,
    pub body: Block,
}

/// `loop prev (max: N) { steps return expr } until cond`.
#[derive(Clone, Debug, PartialEq)]
pub struct LoopForm {
    /// The name of the previous iteration's value, if the body needs it.
    pub previous: Option<Ident>,
    pub options: Vec<RecordField>,
    /// The span of the `(...)` holding the options (the keyword's when absent).
    pub options_span: Span,
    pub body: Block,
    pub until: Option<Expr>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Clause {
    Retry(Retry),
    Timeout { duration: DurationLit, span: Span },
    Catch(Catch),
    After { steps: Vec<Ident>, span: Span },
}

impl Clause {
    pub fn span(&self) -> Span {
        match self {
            Clause::Retry(r) => r.span,
            Clause::Timeout { span, .. } | Clause::After { span, .. } => *span,
            Clause::Catch(c) => c.span,
        }
    }
}

/// `retry N backoff a..b jitter on [kinds]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Retry {
    pub count: u64,
    pub count_span: Span,
    pub backoff: Option<(DurationLit, Option<DurationLit>)>,
    pub jitter: bool,
    pub on: Option<Vec<Ident>>,
    pub span: Span,
}

/// `catch => FORM`, `catch e => FORM` or `catch e when cond => FORM`.
#[derive(Clone, Debug, PartialEq)]
pub struct Catch {
    pub binding: Option<Ident>,
    pub guard: Option<Expr>,
    pub form: Box<Form>,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DurationLit {
    pub millis: u64,
    pub span: Span,
}

// ------------------------------------------------------------ expressions

#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    Int(i64),
    Float(f64),
    Bool(bool),
    Null,
    Str(Vec<StrPart>),
    /// A duration in milliseconds (`500ms`, `30s`, `5m`, `1h`).
    Duration(u64),
    /// A percentage, e.g. `5%` is `5.0`.
    Percent(f64),
    List(Vec<Expr>),
    Record(Vec<RecordField>),
    Name(String),
    /// `target.name` or, when `optional`, `target?.name`.
    Field {
        target: Box<Expr>,
        name: Ident,
        optional: bool,
    },
    /// `target[index]`.
    Index {
        target: Box<Expr>,
        index: Box<Expr>,
    },
    /// `callee(args)`: a builtin function, tool or flow.
    Call {
        callee: Ident,
        args: Vec<Arg>,
    },
    /// `target.name(args)` or `target?.name(args)`.
    Method {
        target: Box<Expr>,
        name: Ident,
        args: Vec<Arg>,
        optional: bool,
    },
    Unary {
        op: UnaryOp,
        operand: Box<Expr>,
    },
    Binary {
        op: BinaryOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    /// `if condition { then } else { otherwise }`.
    If {
        condition: Box<Expr>,
        then: Box<Expr>,
        otherwise: Box<Expr>,
    },
    /// `x => body` or `(a, b) => body`; only as a call argument.
    Lambda {
        params: Vec<Ident>,
        body: Box<Expr>,
    },
    /// Something that did not parse as a valid expression; already reported.
    Invalid,
}

#[derive(Clone, Debug, PartialEq)]
pub enum StrPart {
    Text(String),
    Interp(Expr),
}

#[derive(Clone, Debug, PartialEq)]
pub struct StrLit {
    pub value: String,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Arg {
    pub name: Option<Ident>,
    pub value: Expr,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct RecordField {
    pub key: Ident,
    pub value: Expr,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnaryOp {
    Not,
    Neg,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryOp {
    Coalesce,
    Or,
    And,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Add,
    Sub,
    Mul,
    Div,
}

impl BinaryOp {
    /// How tightly the operator binds (higher binds tighter); every binary
    /// operator is left-associative. The grammar's table, for the fast
    /// parser and the formatter (pest's Pratt table in `build.rs` is held to
    /// it by the fast parser's differential tests).
    pub fn precedence(self) -> u8 {
        match self {
            BinaryOp::Coalesce => 1,
            BinaryOp::Or => 2,
            BinaryOp::And => 3,
            BinaryOp::Eq | BinaryOp::Ne => 4,
            BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge => 5,
            BinaryOp::Add | BinaryOp::Sub => 6,
            BinaryOp::Mul | BinaryOp::Div => 7,
        }
    }

    pub fn symbol(self) -> &'static str {
        match self {
            BinaryOp::Coalesce => "??",
            BinaryOp::Or => "||",
            BinaryOp::And => "&&",
            BinaryOp::Eq => "==",
            BinaryOp::Ne => "!=",
            BinaryOp::Lt => "<",
            BinaryOp::Le => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::Ge => ">=",
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
        }
    }
}

impl UnaryOp {
    pub fn symbol(self) -> &'static str {
        match self {
            UnaryOp::Not => "!",
            UnaryOp::Neg => "-",
        }
    }
}
