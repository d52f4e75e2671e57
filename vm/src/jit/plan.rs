//! Which expressions compile, and into what: a typed tree over scalars
//! (int, float, bool) and the numeric builtins (`abs`, `min`, `max`,
//! `round`, `int`, `float`), whose inputs ("leaves") are read before the
//! call: a variable followed by field reads and list indexes (by a
//! constant or a variable) ending in a scalar, or `len(...)` of one.
//! Anything else stays with the tree walker.
//!
//! Kinds are exact: a leaf typed `float` must hold a float when it is read
//! (an int there makes the call give way to the tree walker), so compiled
//! arithmetic picks the same operation the tree walker would.

use flow_compiler::ast::{BinaryOp, UnaryOp};
use flow_compiler::ir::{Expr, ExprKind, Var};
use flow_compiler::types::{Const, Ty};
use flow_stdlib::BuiltinId;
use std::sync::Arc;

/// The most leaves one compiled expression reads.
pub const MAX_LEAVES: usize = 16;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Int,
    Float,
    Bool,
}

/// One read on the way from a leaf's variable to its value.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// `.name` (or `?.name` when optional; `["name"]` reads the same way).
    Field(Arc<str>, bool),
    /// `[3]`: an item of a list.
    Index(i64),
    /// `[i]`: an item of a list, at the int a variable holds.
    IndexBy(Var),
}

/// An input of a compiled expression.
#[derive(Clone, Debug)]
pub struct Leaf {
    pub var: Var,
    /// The reads after the variable.
    pub path: Vec<Step>,
    pub kind: Kind,
    /// `len(...)` of the value instead of the value.
    pub len: bool,
    /// The value may be null (the left side of `??`).
    pub nullable: bool,
}

#[derive(Clone, Debug)]
pub enum Node {
    Int(i64),
    Float(f64),
    Bool(bool),
    Leaf(usize),
    /// `a ?? b` where `a` is a nullable leaf.
    Coalesce(usize, Box<Node>),
    Unary(UnaryOp, Box<Node>),
    Binary(BinaryOp, Box<Node>, Box<Node>),
    If(Box<Node>, Box<Node>, Box<Node>),
    /// A numeric builtin (`abs`, `min`, `max`, `round`, `int`, `float`).
    Call(BuiltinId, Vec<Node>),
}

/// A compilable expression.
#[derive(Clone, Debug)]
pub struct Plan {
    pub root: Node,
    pub leaves: Vec<Leaf>,
    pub kind: Kind,
}

impl Plan {
    /// The kind of a node (a plan is only built when they are consistent).
    pub fn kind_of(&self, node: &Node) -> Kind {
        kind(node, &self.leaves)
    }
}

fn kind(node: &Node, leaves: &[Leaf]) -> Kind {
    match node {
        Node::Int(_) => Kind::Int,
        Node::Float(_) => Kind::Float,
        Node::Bool(_) => Kind::Bool,
        Node::Leaf(i) | Node::Coalesce(i, _) => leaves[*i].kind,
        Node::Unary(UnaryOp::Not, _) => Kind::Bool,
        Node::Unary(UnaryOp::Neg, x) => kind(x, leaves),
        Node::Binary(op, l, r) => match op {
            BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul => {
                if kind(l, leaves) == Kind::Int && kind(r, leaves) == Kind::Int { Kind::Int } else { Kind::Float }
            }
            BinaryOp::Div => Kind::Float,
            _ => Kind::Bool,
        },
        Node::If(_, then, _) => kind(then, leaves),
        Node::Call(BuiltinId::Round | BuiltinId::Int, _) => Kind::Int,
        Node::Call(BuiltinId::Float, _) => Kind::Float,
        Node::Call(_, args) => args.first().map_or(Kind::Int, |a| kind(a, leaves)),
    }
}

fn scalar(ty: &Ty) -> Option<Kind> {
    match ty {
        Ty::Int | Ty::Const(Const::Int(_)) => Some(Kind::Int),
        Ty::Float | Ty::Const(Const::Float(_)) => Some(Kind::Float),
        Ty::Bool | Ty::Const(Const::Bool(_)) => Some(Kind::Bool),
        _ => None,
    }
}

/// Operations an expression must hold to be worth compiling: reading its
/// inputs and handing back a `Value` cost about as much as the tree walker
/// spends on one or two operations (`a > b` runs no faster compiled).
pub const MIN_OPERATIONS: usize = 3;

/// Whether an expression of this kind can have a plan: only these are
/// looked at by the JIT's hook (a leaf alone is not worth a call).
#[inline]
pub fn may_plan(kind: &ExprKind) -> bool {
    matches!(kind, ExprKind::Binary { .. } | ExprKind::Unary { .. } | ExprKind::If { .. } | ExprKind::Call { .. })
}

/// The plan of `e`, when all of it compiles and it does enough to repay the call.
pub fn plan(e: &Expr) -> Option<Plan> {
    if !may_plan(&e.kind) {
        return None;
    }
    let mut leaves = Vec::new();
    let root = node(e, &mut leaves)?;
    let kind = kind(&root, &leaves);
    let worth = operations(&root) >= MIN_OPERATIONS;
    (worth && scalar(&e.ty) == Some(kind) && leaves.len() <= MAX_LEAVES).then_some(Plan { root, leaves, kind })
}

fn operations(node: &Node) -> usize {
    match node {
        Node::Int(_) | Node::Float(_) | Node::Bool(_) | Node::Leaf(_) => 0,
        Node::Coalesce(_, x) | Node::Unary(_, x) => 1 + operations(x),
        Node::Binary(_, l, r) => 1 + operations(l) + operations(r),
        Node::If(c, t, o) => 1 + operations(c) + operations(t) + operations(o),
        Node::Call(_, args) => 1 + args.iter().map(operations).sum::<usize>(),
    }
}

fn node(e: &Expr, leaves: &mut Vec<Leaf>) -> Option<Node> {
    let n = match &e.kind {
        ExprKind::Int(i) => Node::Int(*i),
        ExprKind::Float(f) => Node::Float(*f),
        ExprKind::Bool(b) => Node::Bool(*b),
        ExprKind::Var(_) | ExprKind::Field { .. } | ExprKind::Index { .. } => {
            Node::Leaf(leaf(e, scalar(&e.ty)?, false, false, leaves)?)
        }
        ExprKind::Call { function: BuiltinId::Len, args } if args.len() == 1 && scalar(&e.ty) == Some(Kind::Int) => {
            Node::Leaf(leaf(&args[0], Kind::Int, true, false, leaves)?)
        }
        ExprKind::Call { function, args } => call(*function, args, leaves)?,
        ExprKind::Unary { op, operand } => {
            let x = node(operand, leaves)?;
            let ok = match op {
                UnaryOp::Not => kind(&x, leaves) == Kind::Bool,
                UnaryOp::Neg => kind(&x, leaves) != Kind::Bool,
            };
            ok.then_some(Node::Unary(*op, Box::new(x)))?
        }
        ExprKind::Binary { op: BinaryOp::Coalesce, lhs, rhs } => {
            // Only a nullable leaf on the left: its kind is the value's, without `?`.
            let inner = match &lhs.ty {
                Ty::Optional(inner) => scalar(inner)?,
                _ => return None,
            };
            let l = leaf(lhs, inner, false, true, leaves)?;
            let r = node(rhs, leaves)?;
            (kind(&r, leaves) == inner).then_some(Node::Coalesce(l, Box::new(r)))?
        }
        ExprKind::Binary { op, lhs, rhs } => {
            let l = node(lhs, leaves)?;
            let r = node(rhs, leaves)?;
            let (kl, kr) = (kind(&l, leaves), kind(&r, leaves));
            let numbers = kl != Kind::Bool && kr != Kind::Bool;
            let ok = match op {
                BinaryOp::And | BinaryOp::Or => kl == Kind::Bool && kr == Kind::Bool,
                BinaryOp::Eq | BinaryOp::Ne | BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge => {
                    numbers || (kl == Kind::Bool && kr == Kind::Bool)
                }
                _ => numbers,
            };
            ok.then_some(Node::Binary(*op, Box::new(l), Box::new(r)))?
        }
        ExprKind::If { condition, then, otherwise } => {
            let c = node(condition, leaves)?;
            let t = node(then, leaves)?;
            let o = node(otherwise, leaves)?;
            let same = kind(&t, leaves) == kind(&o, leaves);
            (kind(&c, leaves) == Kind::Bool && same).then_some(Node::If(Box::new(c), Box::new(t), Box::new(o)))?
        }
        _ => return None,
    };
    Some(n)
}

/// A numeric builtin whose arguments all compile, with the kinds it takes
/// exactly (`min(1, 2.5)` mixes kinds and stays with the tree walker).
fn call(function: BuiltinId, args: &[Expr], leaves: &mut Vec<Leaf>) -> Option<Node> {
    let args = args.iter().map(|a| node(a, leaves)).collect::<Option<Vec<_>>>()?;
    let kinds: Vec<Kind> = args.iter().map(|a| kind(a, leaves)).collect();
    let ok = match (function, kinds.as_slice()) {
        (BuiltinId::Abs | BuiltinId::Round | BuiltinId::Int | BuiltinId::Float, [k]) => *k != Kind::Bool,
        (BuiltinId::Min | BuiltinId::Max, [a, b]) => a == b && *a != Kind::Bool,
        _ => false,
    };
    ok.then_some(Node::Call(function, args))
}

/// A variable, then field reads and list indexes, as a leaf (the same
/// leaf read twice is one input).
fn leaf(e: &Expr, kind: Kind, len: bool, nullable: bool, leaves: &mut Vec<Leaf>) -> Option<usize> {
    let mut path = Vec::new();
    let mut at = e;
    let var = loop {
        match &at.kind {
            ExprKind::Var(v) => break *v,
            ExprKind::Field { target, name, optional } => {
                path.push(Step::Field(name.clone(), *optional));
                at = target;
            }
            ExprKind::Index { target, index } => {
                path.push(match &index.kind {
                    ExprKind::Int(i) => Step::Index(*i),
                    ExprKind::Var(v) => Step::IndexBy(*v),
                    // A record's field by a constant name reads as `.name` does.
                    ExprKind::Str(name) => Step::Field(name.clone(), false),
                    _ => return None,
                });
                at = target;
            }
            _ => return None,
        }
    };
    path.reverse();
    let found = leaves
        .iter()
        .position(|l| l.var == var && l.path == path && l.kind == kind && l.len == len && l.nullable == nullable);
    Some(found.unwrap_or_else(|| {
        leaves.push(Leaf { var, path, kind, len, nullable });
        leaves.len() - 1
    }))
}
