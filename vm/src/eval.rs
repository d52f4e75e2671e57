//! The tree-walking evaluator for IR expressions (builtins are in
//! `builtins.rs`). Evaluation is pure: it reads a frame and returns a value
//! or a `value` error message.

use crate::bounds::{Bounds, EvalError, UNBOUNDED};
use crate::compare::{as_bool, compare, equal, number};
use crate::value::{Fields, Value};
use flow_compiler::ast::{BinaryOp, UnaryOp};
use flow_compiler::ir::{Expr, ExprKind, Var};
use std::cmp::Ordering;
use std::sync::{Arc, OnceLock};

/// One execution of a block: a slot per parameter (or map item), step and
/// catch binding. Each slot is written once, so branches running at the same
/// time read it without locks; nested blocks see outer frames through `parent`.
#[derive(Debug)]
pub struct Frame {
    slots: Box<[OnceLock<Value>]>,
    parent: Option<Arc<Frame>>,
    /// The run's bounds, on a flow call's root frame.
    bounds: Option<Arc<Bounds>>,
}

impl Frame {
    /// A frame of `slots` empty slots, inside `parent` (for map bodies).
    pub fn new(slots: u32, parent: Option<Arc<Frame>>) -> Frame {
        Frame { slots: (0..slots).map(|_| OnceLock::new()).collect(), parent, bounds: None }
    }

    /// A flow call's frame, evaluated within the run's `bounds`.
    pub(crate) fn root(slots: u32, bounds: Arc<Bounds>) -> Frame {
        Frame { bounds: Some(bounds), ..Frame::new(slots, None) }
    }

    /// The bounds of the run this frame belongs to.
    pub(crate) fn bounds(&self) -> &Bounds {
        let mut frame = self;
        loop {
            match (&frame.bounds, &frame.parent) {
                (Some(bounds), _) => return bounds,
                (None, Some(parent)) => frame = parent,
                (None, None) => return &UNBOUNDED,
            }
        }
    }

    /// Sets a slot; a slot is set once (a second value is ignored).
    pub fn set(&self, slot: u32, value: Value) {
        if let Some(cell) = self.slots.get(slot as usize) {
            let _ = cell.set(value);
        }
    }

    /// The value in `slot` of the frame `up` levels out, once it is set.
    pub fn get(&self, up: u32, slot: u32) -> Option<&Value> {
        let mut frame = self;
        for _ in 0..up {
            frame = frame.parent.as_deref()?;
        }
        frame.slots.get(slot as usize)?.get()
    }
}

/// A value, or why there is none.
pub type EvalResult = Result<Value, EvalError>;

/// A way to take over the evaluation of some nodes (the JIT's compiled
/// code): asked at every node before the tree walker looks at it.
pub(crate) trait Hook {
    /// The node's value when the hook has it; `None` leaves it to the walker.
    fn eval(&self, e: &Expr, frame: &Frame, locals: &[Value]) -> Option<Value>;
}

/// No hook: the plain tree walker (compiled away).
struct Walker;

impl Hook for Walker {
    #[inline(always)]
    fn eval(&self, _: &Expr, _: &Frame, _: &[Value]) -> Option<Value> {
        None
    }
}

/// Evaluates `e` in `frame`; `locals` holds lambda parameters.
pub fn eval(e: &Expr, frame: &Frame, locals: &mut Vec<Value>) -> EvalResult {
    eval_with(e, frame, locals, &Walker)
}

/// Evaluates `e`, letting `hook` take over any node it can.
pub(crate) fn eval_with<H: Hook>(e: &Expr, frame: &Frame, locals: &mut Vec<Value>, hook: &H) -> EvalResult {
    if let Some(value) = hook.eval(e, frame, locals) {
        return Ok(value);
    }
    let eval = |e: &Expr, frame: &Frame, locals: &mut Vec<Value>| eval_with(e, frame, locals, hook);
    match &e.kind {
        ExprKind::Null => Ok(Value::Null),
        ExprKind::Bool(b) => Ok(Value::Bool(*b)),
        ExprKind::Int(i) => Ok(Value::Int(*i)),
        ExprKind::Float(f) => Ok(Value::Float(*f)),
        ExprKind::Str(s) => Ok(Value::Str(s.clone())),
        ExprKind::Duration(ms) => Ok(Value::Duration(*ms)),
        ExprKind::Percent(p) => Ok(Value::Float(*p)),
        ExprKind::Concat(parts) => {
            let bounds = frame.bounds();
            let mut text = String::new();
            for part in parts {
                let v = eval(part, frame, locals)?;
                bounds.render(&v, &mut text)?;
            }
            Ok(Value::str(&text))
        }
        ExprKind::List(items) => {
            Ok(Value::list(items.iter().map(|i| eval(i, frame, locals)).collect::<Result<_, _>>()?))
        }
        ExprKind::Record(fields) => {
            let mut out = Fields::with_capacity(fields.len());
            for (k, v) in fields {
                out.insert(k.clone(), eval(v, frame, locals)?);
            }
            Ok(Value::object(out))
        }
        ExprKind::Var(Var::Local(i)) => {
            locals.get(*i as usize).cloned().ok_or_else(|| "internal: a lambda parameter is not bound".into())
        }
        ExprKind::Var(Var::Slot { up, slot }) => frame
            .get(*up, *slot)
            .cloned()
            .ok_or_else(|| "internal: a value was read before the step producing it finished".into()),
        ExprKind::Field { target, name, optional } => {
            let t = eval(target, frame, locals)?;
            match t {
                Value::Null if *optional => Ok(Value::Null),
                // An optional field left out of a record reads as null.
                Value::Object(fields) => Ok(fields.get(&**name).cloned().unwrap_or(Value::Null)),
                other => Err(format!("cannot read field `{name}` of {}", other.kind_name()).into()),
            }
        }
        ExprKind::Index { target, index } => {
            let t = eval(target, frame, locals)?;
            let i = eval(index, frame, locals)?;
            match (&t, &i) {
                (Value::List(items), Value::Int(n)) => usize::try_from(*n)
                    .ok()
                    .and_then(|n| items.get(n))
                    .cloned()
                    .ok_or_else(|| format!("index {n} is out of range for a list of {} items", items.len()).into()),
                (Value::Object(fields), Value::Str(k)) => Ok(fields.get(&**k).cloned().unwrap_or(Value::Null)),
                _ => Err(format!("cannot index {} with {}", t.kind_name(), i.kind_name()).into()),
            }
        }
        ExprKind::Call { function, args } => {
            let args = args.iter().map(|a| eval(a, frame, locals)).collect::<Result<Vec<_>, _>>()?;
            let bounds = frame.bounds();
            bounds.built(crate::builtins::function(*function, &args, bounds)?)
        }
        ExprKind::Method { target, method, args, optional } => {
            let t = eval(target, frame, locals)?;
            if t.is_null() && *optional {
                return Ok(Value::Null);
            }
            let mut eval_here = |e: &Expr, locals: &mut Vec<Value>| eval_with(e, frame, locals, hook);
            let bounds = frame.bounds();
            bounds.built(crate::builtins::method(&t, *method, args, &mut eval_here, locals, bounds)?)
        }
        ExprKind::Lambda { .. } => Err("a lambda is not a value".into()),
        ExprKind::Unary { op, operand } => match (op, eval(operand, frame, locals)?) {
            (UnaryOp::Not, Value::Bool(b)) => Ok(Value::Bool(!b)),
            (UnaryOp::Neg, Value::Int(i)) => i.checked_neg().map(Value::Int).ok_or_else(|| "integer overflow".into()),
            (UnaryOp::Neg, Value::Float(f)) => Ok(Value::Float(-f)),
            (op, v) => Err(format!("`{}` cannot be applied to {}", op.symbol(), v.kind_name()).into()),
        },
        ExprKind::Binary { op, lhs, rhs } => binary(*op, lhs, rhs, frame, locals, hook),
        ExprKind::If { condition, then, otherwise } => {
            let taken = if as_bool(eval(condition, frame, locals)?)? { then } else { otherwise };
            eval(taken, frame, locals)
        }
    }
}

fn binary<H: Hook>(
    op: BinaryOp,
    lhs: &Expr,
    rhs: &Expr,
    frame: &Frame,
    locals: &mut Vec<Value>,
    hook: &H,
) -> EvalResult {
    let eval = |e: &Expr, frame: &Frame, locals: &mut Vec<Value>| eval_with(e, frame, locals, hook);
    // Short-circuiting operators evaluate the right side only when needed.
    match op {
        BinaryOp::Coalesce => {
            let l = eval(lhs, frame, locals)?;
            return if l.is_null() { eval(rhs, frame, locals) } else { Ok(l) };
        }
        BinaryOp::And | BinaryOp::Or => {
            let l = as_bool(eval(lhs, frame, locals)?)?;
            if (op == BinaryOp::And) != l {
                return Ok(Value::Bool(l));
            }
            return Ok(Value::Bool(as_bool(eval(rhs, frame, locals)?)?));
        }
        _ => {}
    }
    let l = eval(lhs, frame, locals)?;
    let r = eval(rhs, frame, locals)?;
    let overflow = || EvalError::value("integer overflow");
    match op {
        BinaryOp::Eq => Ok(Value::Bool(equal(&l, &r))),
        BinaryOp::Ne => Ok(Value::Bool(!equal(&l, &r))),
        BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge => {
            let ord = compare(&l, &r)
                .ok_or_else(|| EvalError::value(format!("cannot compare {} with {}", l.kind_name(), r.kind_name())))?;
            Ok(Value::Bool(match op {
                BinaryOp::Lt => ord == Ordering::Less,
                BinaryOp::Le => ord != Ordering::Greater,
                BinaryOp::Gt => ord == Ordering::Greater,
                _ => ord != Ordering::Less,
            }))
        }
        BinaryOp::Add => match (&l, &r) {
            (Value::Int(a), Value::Int(b)) => a.checked_add(*b).map(Value::Int).ok_or_else(overflow),
            (Value::Str(a), Value::Str(b)) => {
                frame.bounds().text(a.len() + b.len())?;
                Ok(Value::str(&format!("{a}{b}")))
            }
            (Value::List(a), Value::List(b)) => {
                frame.bounds().items(a.len() + b.len())?;
                Ok(Value::list(a.iter().chain(b.iter()).cloned().collect()))
            }
            (Value::Duration(a), Value::Duration(b)) => Ok(Value::Duration(a.saturating_add(*b))),
            _ => float_op(&l, &r, op, |a, b| a + b),
        },
        BinaryOp::Sub => match (&l, &r) {
            (Value::Int(a), Value::Int(b)) => a.checked_sub(*b).map(Value::Int).ok_or_else(overflow),
            _ => float_op(&l, &r, op, |a, b| a - b),
        },
        BinaryOp::Mul => match (&l, &r) {
            (Value::Int(a), Value::Int(b)) => a.checked_mul(*b).map(Value::Int).ok_or_else(overflow),
            _ => float_op(&l, &r, op, |a, b| a * b),
        },
        BinaryOp::Div => {
            if matches!(r, Value::Int(0)) || matches!(r, Value::Float(f) if f == 0.0) {
                return Err("division by zero".into());
            }
            float_op(&l, &r, op, |a, b| a / b)
        }
        BinaryOp::Coalesce | BinaryOp::And | BinaryOp::Or => unreachable!("handled above"),
    }
}

fn float_op(l: &Value, r: &Value, op: BinaryOp, f: impl Fn(f64, f64) -> f64) -> EvalResult {
    match (number(l), number(r)) {
        (Some(a), Some(b)) => Ok(Value::Float(f(a, b))),
        _ => Err(format!("`{}` cannot be applied to {} and {}", op.symbol(), l.kind_name(), r.kind_name()).into()),
    }
}
