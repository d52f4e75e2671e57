//! The tree-walking evaluator for IR expressions and the builtin functions
//! and methods listed in `flow_stdlib`. Evaluation is pure: it reads a frame
//! and returns a value or a `value` error message.

use crate::value::{Fields, Value};
use flow_compiler::ast::{BinaryOp, UnaryOp};
use flow_compiler::ir::{Expr, ExprKind, Var};
use std::cmp::Ordering;
use std::sync::{Arc, OnceLock};

/// One execution of a block: a slot per parameter (or map item), step and
/// catch binding. Each slot is written once, so branches running at the same
/// time read it without locks; nested blocks see outer frames through `parent`.
pub struct Frame {
    slots: Box<[OnceLock<Value>]>,
    parent: Option<Arc<Frame>>,
}

impl Frame {
    pub fn new(slots: u32, parent: Option<Arc<Frame>>) -> Frame {
        Frame { slots: (0..slots).map(|_| OnceLock::new()).collect(), parent }
    }

    /// Sets a slot; a slot is set once (a second value is ignored).
    pub fn set(&self, slot: u32, value: Value) {
        if let Some(cell) = self.slots.get(slot as usize) {
            let _ = cell.set(value);
        }
    }

    fn get(&self, up: u32, slot: u32) -> Option<&Value> {
        let mut frame = self;
        for _ in 0..up {
            frame = frame.parent.as_deref()?;
        }
        frame.slots.get(slot as usize)?.get()
    }
}

pub type EvalResult = Result<Value, String>;

/// Evaluates `e` in `frame`; `locals` holds lambda parameters.
pub fn eval(e: &Expr, frame: &Frame, locals: &mut Vec<Value>) -> EvalResult {
    match &e.kind {
        ExprKind::Null => Ok(Value::Null),
        ExprKind::Bool(b) => Ok(Value::Bool(*b)),
        ExprKind::Int(i) => Ok(Value::Int(*i)),
        ExprKind::Float(f) => Ok(Value::Float(*f)),
        ExprKind::Str(s) => Ok(Value::Str(s.clone())),
        ExprKind::Duration(ms) => Ok(Value::Duration(*ms)),
        ExprKind::Percent(p) => Ok(Value::Float(*p)),
        ExprKind::Concat(parts) => {
            let mut text = String::new();
            for part in parts {
                use std::fmt::Write;
                let v = eval(part, frame, locals)?;
                let _ = write!(text, "{v}");
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
            locals.get(*i as usize).cloned().ok_or_else(|| "internal: a lambda parameter is not bound".to_string())
        }
        ExprKind::Var(Var::Slot { up, slot }) => frame
            .get(*up, *slot)
            .cloned()
            .ok_or_else(|| "internal: a value was read before the step producing it finished".to_string()),
        ExprKind::Field { target, name, optional } => {
            let t = eval(target, frame, locals)?;
            match t {
                Value::Null if *optional => Ok(Value::Null),
                // An optional field left out of a record reads as null.
                Value::Object(fields) => Ok(fields.get(&**name).cloned().unwrap_or(Value::Null)),
                other => Err(format!("cannot read field `{name}` of {}", other.kind_name())),
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
                    .ok_or_else(|| format!("index {n} is out of range for a list of {} items", items.len())),
                (Value::Object(fields), Value::Str(k)) => Ok(fields.get(&**k).cloned().unwrap_or(Value::Null)),
                _ => Err(format!("cannot index {} with {}", t.kind_name(), i.kind_name())),
            }
        }
        ExprKind::Call { function, args } => {
            let args = args.iter().map(|a| eval(a, frame, locals)).collect::<Result<Vec<_>, _>>()?;
            call_function(function, &args)
        }
        ExprKind::Method { target, method, args, optional } => {
            let t = eval(target, frame, locals)?;
            if t.is_null() && *optional {
                return Ok(Value::Null);
            }
            call_method(&t, method, args, frame, locals)
        }
        ExprKind::Lambda { .. } => Err("a lambda is not a value".into()),
        ExprKind::Unary { op, operand } => match (op, eval(operand, frame, locals)?) {
            (UnaryOp::Not, Value::Bool(b)) => Ok(Value::Bool(!b)),
            (UnaryOp::Neg, Value::Int(i)) => i.checked_neg().map(Value::Int).ok_or_else(|| "integer overflow".into()),
            (UnaryOp::Neg, Value::Float(f)) => Ok(Value::Float(-f)),
            (op, v) => Err(format!("`{}` cannot be applied to {}", op.symbol(), v.kind_name())),
        },
        ExprKind::Binary { op, lhs, rhs } => binary(*op, lhs, rhs, frame, locals),
    }
}

fn binary(op: BinaryOp, lhs: &Expr, rhs: &Expr, frame: &Frame, locals: &mut Vec<Value>) -> EvalResult {
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
    let overflow = || "integer overflow".to_string();
    match op {
        BinaryOp::Eq => Ok(Value::Bool(equal(&l, &r))),
        BinaryOp::Ne => Ok(Value::Bool(!equal(&l, &r))),
        BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge => {
            let ord =
                compare(&l, &r).ok_or_else(|| format!("cannot compare {} with {}", l.kind_name(), r.kind_name()))?;
            Ok(Value::Bool(match op {
                BinaryOp::Lt => ord == Ordering::Less,
                BinaryOp::Le => ord != Ordering::Greater,
                BinaryOp::Gt => ord == Ordering::Greater,
                _ => ord != Ordering::Less,
            }))
        }
        BinaryOp::Add => match (&l, &r) {
            (Value::Int(a), Value::Int(b)) => a.checked_add(*b).map(Value::Int).ok_or_else(overflow),
            (Value::Str(a), Value::Str(b)) => Ok(Value::str(&format!("{a}{b}"))),
            (Value::List(a), Value::List(b)) => Ok(Value::list(a.iter().chain(b.iter()).cloned().collect())),
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
        _ => Err(format!("`{}` cannot be applied to {} and {}", op.symbol(), l.kind_name(), r.kind_name())),
    }
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Int(i) => Some(*i as f64),
        Value::Float(f) => Some(*f),
        _ => None,
    }
}

fn as_bool(v: Value) -> Result<bool, String> {
    match v {
        Value::Bool(b) => Ok(b),
        other => Err(format!("expected a bool, got {}", other.kind_name())),
    }
}

/// Deep equality; an int equals a float of the same value.
pub fn equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Int(x), Value::Float(y)) | (Value::Float(y), Value::Int(x)) => (*x as f64) == *y,
        (Value::List(x), Value::List(y)) => x.len() == y.len() && x.iter().zip(y.iter()).all(|(a, b)| equal(a, b)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| equal(v, w)))
        }
        _ => a == b,
    }
}

fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => Some(x.cmp(y)),
        (Value::Str(x), Value::Str(y)) => Some(x.cmp(y)),
        (Value::Duration(x), Value::Duration(y)) => Some(x.cmp(y)),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        _ => number(a)?.partial_cmp(&number(b)?),
    }
}

fn call_function(name: &str, args: &[Value]) -> EvalResult {
    let arg = |i: usize| args.get(i).cloned().unwrap_or(Value::Null);
    match (name, arg(0)) {
        ("len", Value::Str(s)) => Ok(Value::Int(s.chars().count() as i64)),
        ("len", Value::List(items)) => Ok(Value::Int(items.len() as i64)),
        ("len", Value::Object(fields)) => Ok(Value::Int(fields.len() as i64)),
        ("str", v) => Ok(Value::str(&v.to_string())),
        ("int", Value::Int(i)) => Ok(Value::Int(i)),
        ("int", Value::Float(f)) if f.is_finite() && f.abs() < 9.2e18 => Ok(Value::Int(f.trunc() as i64)),
        ("int", Value::Str(s)) => {
            s.trim().parse::<i64>().map(Value::Int).map_err(|_| format!("{:?} is not a whole number", &*s))
        }
        ("float", Value::Int(i)) => Ok(Value::Float(i as f64)),
        ("float", Value::Float(f)) => Ok(Value::Float(f)),
        ("float", Value::Str(s)) => {
            s.trim().parse::<f64>().map(Value::Float).map_err(|_| format!("{:?} is not a number", &*s))
        }
        ("round", Value::Int(i)) => Ok(Value::Int(i)),
        ("round", Value::Float(f)) if f.is_finite() && f.abs() < 9.2e18 => Ok(Value::Int(f.round() as i64)),
        ("abs", Value::Int(i)) => i.checked_abs().map(Value::Int).ok_or_else(|| "integer overflow".into()),
        ("abs", Value::Float(f)) => Ok(Value::Float(f.abs())),
        ("min" | "max", a) => {
            let b = arg(1);
            let ord =
                compare(&a, &b).ok_or_else(|| format!("cannot compare {} with {}", a.kind_name(), b.kind_name()))?;
            let first = (name == "min") == (ord != Ordering::Greater);
            Ok(if first { a } else { b })
        }
        ("sum", Value::List(items)) => {
            let mut int_sum: Option<i64> = Some(0);
            let mut float_sum = 0.0;
            for item in items.iter() {
                match item {
                    Value::Int(i) => {
                        int_sum = int_sum.and_then(|s| s.checked_add(*i));
                        float_sum += *i as f64;
                    }
                    Value::Float(f) => {
                        int_sum = None;
                        float_sum += f;
                    }
                    other => return Err(format!("sum needs numbers, found {}", other.kind_name())),
                }
            }
            let all_ints = items.iter().all(|i| matches!(i, Value::Int(_)));
            match (all_ints, int_sum) {
                (true, Some(s)) => Ok(Value::Int(s)),
                (true, None) => Err("integer overflow".into()),
                _ => Ok(Value::Float(float_sum)),
            }
        }
        ("keys", Value::Object(fields)) => {
            let mut keys: Vec<&Arc<str>> = fields.keys().collect();
            keys.sort();
            Ok(Value::list(keys.into_iter().map(|k| Value::Str(k.clone())).collect()))
        }
        ("values", Value::Object(fields)) => {
            let mut entries: Vec<(&Arc<str>, &Value)> = fields.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            Ok(Value::list(entries.into_iter().map(|(_, v)| v.clone()).collect()))
        }
        ("json", v) => serde_json::to_string(&v).map(|s| Value::str(&s)).map_err(|e| e.to_string()),
        (_, v) => Err(format!("`{name}` cannot be applied to {}", v.kind_name())),
    }
}

fn call_method(target: &Value, name: &str, args: &[Expr], frame: &Frame, locals: &mut Vec<Value>) -> EvalResult {
    // Lambda methods evaluate their argument per item; the others take values.
    if let (Value::List(items), Some(Expr { kind: ExprKind::Lambda { first, body, .. }, .. })) = (target, args.first())
    {
        return lambda_method(items, name, *first, body, frame, locals);
    }
    let args = args.iter().map(|a| eval(a, frame, locals)).collect::<Result<Vec<_>, _>>()?;
    let arg = |i: usize| args.get(i).cloned().unwrap_or(Value::Null);
    let text = |v: Value| match v {
        Value::Str(s) => Ok(s),
        other => Err(format!("expected a string, got {}", other.kind_name())),
    };
    let count = |v: Value| match v {
        Value::Int(n) => Ok(usize::try_from(n).unwrap_or(0)),
        other => Err(format!("expected an int, got {}", other.kind_name())),
    };
    match (target, name) {
        (Value::List(items), "first") => Ok(items.first().cloned().unwrap_or(Value::Null)),
        (Value::List(items), "last") => Ok(items.last().cloned().unwrap_or(Value::Null)),
        (Value::List(items), "contains") => Ok(Value::Bool(items.iter().any(|i| equal(i, &arg(0))))),
        (Value::List(items), "join") => {
            let sep = text(arg(0))?;
            let parts: Vec<String> = items.iter().map(|i| i.to_string()).collect();
            Ok(Value::str(&parts.join(&sep)))
        }
        (Value::List(items), "flatten") => {
            let mut out = Vec::new();
            for item in items.iter() {
                match item {
                    Value::List(inner) => out.extend(inner.iter().cloned()),
                    other => out.push(other.clone()),
                }
            }
            Ok(Value::list(out))
        }
        (Value::List(items), "take") => Ok(Value::list(items.iter().take(count(arg(0))?).cloned().collect())),
        (Value::List(items), "skip") => Ok(Value::list(items.iter().skip(count(arg(0))?).cloned().collect())),
        (Value::Str(s), "lower") => Ok(Value::str(&s.to_lowercase())),
        (Value::Str(s), "upper") => Ok(Value::str(&s.to_uppercase())),
        (Value::Str(s), "trim") => Ok(Value::str(s.trim())),
        (Value::Str(s), "contains") => Ok(Value::Bool(s.contains(&*text(arg(0))?))),
        (Value::Str(s), "starts_with") => Ok(Value::Bool(s.starts_with(&*text(arg(0))?))),
        (Value::Str(s), "ends_with") => Ok(Value::Bool(s.ends_with(&*text(arg(0))?))),
        (Value::Str(s), "split") => {
            let sep = text(arg(0))?;
            if sep.is_empty() {
                return Ok(Value::list(s.chars().map(|c| Value::str(&c.to_string())).collect()));
            }
            Ok(Value::list(s.split(&*sep).map(Value::str).collect()))
        }
        (Value::Str(s), "replace") => {
            let from = text(arg(0))?;
            if from.is_empty() {
                return Ok(Value::Str(s.clone()));
            }
            Ok(Value::str(&s.replace(&*from, &text(arg(1))?)))
        }
        (Value::Object(fields), "get") => Ok(fields.get(&*text(arg(0))?).cloned().unwrap_or(Value::Null)),
        (other, _) => Err(format!("`.{name}()` cannot be called on {}", other.kind_name())),
    }
}

fn lambda_method(
    items: &[Value],
    name: &str,
    first: u32,
    body: &Expr,
    frame: &Frame,
    locals: &mut Vec<Value>,
) -> EvalResult {
    let slot = first as usize;
    let apply = |item: &Value, locals: &mut Vec<Value>| -> EvalResult {
        if locals.len() <= slot {
            locals.resize(slot + 1, Value::Null);
        }
        locals[slot] = item.clone();
        eval(body, frame, locals)
    };
    let test = |item: &Value, locals: &mut Vec<Value>| -> Result<bool, String> { as_bool(apply(item, locals)?) };
    let saved = locals.len();
    let result = match name {
        "map" => {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                out.push(apply(item, locals)?);
            }
            Ok(Value::list(out))
        }
        "filter" => {
            let mut out = Vec::new();
            for item in items {
                if test(item, locals)? {
                    out.push(item.clone());
                }
            }
            Ok(Value::list(out))
        }
        "any" | "all" => {
            let want = name == "any";
            for item in items {
                if test(item, locals)? == want {
                    return Ok(Value::Bool(want));
                }
            }
            Ok(Value::Bool(!want))
        }
        "find" => {
            for item in items {
                if test(item, locals)? {
                    return Ok(item.clone());
                }
            }
            Ok(Value::Null)
        }
        "count" => {
            let mut n = 0;
            for item in items {
                n += i64::from(test(item, locals)?);
            }
            Ok(Value::Int(n))
        }
        "sort_by" => {
            let mut keyed = Vec::with_capacity(items.len());
            for item in items {
                keyed.push((apply(item, locals)?, item.clone()));
            }
            let mut failed = None;
            keyed.sort_by(|a, b| {
                compare(&a.0, &b.0).unwrap_or_else(|| {
                    failed = Some(format!("cannot compare {} with {}", a.0.kind_name(), b.0.kind_name()));
                    Ordering::Equal
                })
            });
            match failed {
                Some(e) => Err(e),
                None => Ok(Value::list(keyed.into_iter().map(|(_, v)| v).collect())),
            }
        }
        _ => Err(format!("`.{name}()` does not take a lambda")),
    };
    locals.truncate(saved);
    result
}
