//! The implementations of the builtin functions and methods of
//! `flow_stdlib::BUILTINS`, one arm per [`BuiltinId`]. The matches are
//! exhaustive: a builtin added to the registry does not compile until it is
//! implemented here (and typed in the checker).

use crate::bounds::{Bounds, EvalError};
use crate::compare::{as_bool, compare, equal, number};
use crate::value::Value;
use flow_compiler::ir::{Expr, ExprKind};
use flow_stdlib::BuiltinId as B;
use std::cmp::Ordering;
use std::sync::Arc;

/// A value, or a `value` error's message.
type EvalResult = Result<Value, EvalError>;

/// Evaluates an argument (or a lambda's body, with its parameter bound in
/// the locals): the evaluator lends itself to the builtins this way.
pub(crate) type Eval<'a> = dyn FnMut(&Expr, &mut Vec<Value>) -> EvalResult + 'a;

/// The builtins by how they are called, named once: each match below lists
/// the groups it does not implement with these, and stays exhaustive (a new
/// builtin is a compile error until it is placed in a group and implemented).
macro_rules! functions {
    () => {
        B::Len
            | B::Str
            | B::Int
            | B::Float
            | B::Round
            | B::Abs
            | B::Min
            | B::Max
            | B::Sum
            | B::Keys
            | B::Entries
            | B::Range
            | B::Values
            | B::Json
            | B::Format
    };
}
macro_rules! value_methods {
    () => {
        B::ListFirst
            | B::ListLast
            | B::ListContains
            | B::ListJoin
            | B::ListFlatten
            | B::ListTake
            | B::ListSkip
            | B::ListUnique
            | B::ListSort
            | B::ListMax
            | B::ListMin
            | B::ListReverse
            | B::ListSlice
            | B::ListEnumerate
            | B::StrSlice
            | B::StrLower
            | B::StrUpper
            | B::StrTrim
            | B::StrContains
            | B::StrStartsWith
            | B::StrEndsWith
            | B::StrSplit
            | B::StrReplace
            | B::MapGet
    };
}
macro_rules! lambda_methods {
    () => {
        B::ListMap
            | B::ListFilter
            | B::ListAny
            | B::ListAll
            | B::ListFind
            | B::ListCount
            | B::ListSortBy
            | B::ListSumBy
            | B::ListGroupBy
            | B::ListMaxBy
            | B::ListMinBy
            | B::ListReduce
            | B::ListUniqueBy
    };
}

/// Calls a free function with its evaluated arguments.
pub(crate) fn function(id: B, args: &[Value], bounds: &Bounds) -> EvalResult {
    apply(id, None, args, bounds)
}

/// Calls a method: lambda methods evaluate their lambda per item; the
/// others take their arguments' values.
pub(crate) fn method(
    target: &Value,
    id: B,
    args: &[Expr],
    eval: &mut Eval<'_>,
    locals: &mut Vec<Value>,
    bounds: &Bounds,
) -> EvalResult {
    if let (Value::List(items), Some(Expr { kind: ExprKind::Lambda { first, body, .. }, .. })) = (target, args.first())
    {
        return lambda_method(items, id, *first, body, eval, locals, bounds);
    }
    if let (Value::List(items), [start, Expr { kind: ExprKind::Lambda { first, body, .. }, .. }]) = (target, args) {
        let start = eval(start, locals)?;
        return fold(items, start, *first as usize, body, eval, locals, bounds);
    }
    let args = args.iter().map(|a| eval(a, locals)).collect::<Result<Vec<_>, _>>()?;
    apply(id, Some(target), &args, bounds)
}

fn text(v: Value) -> Result<Arc<str>, String> {
    match v {
        Value::Str(s) => Ok(s),
        other => Err(format!("expected a string, got {}", other.kind_name())),
    }
}

fn count(v: Value) -> Result<usize, String> {
    match v {
        Value::Int(n) => Ok(usize::try_from(n).unwrap_or(0)),
        other => Err(format!("expected an int, got {}", other.kind_name())),
    }
}

/// Every builtin that does not take a lambda. `target` is the receiver of
/// a method (`None` for a free function).
fn apply(id: B, target: Option<&Value>, args: &[Value], bounds: &Bounds) -> EvalResult {
    match target {
        None => function_value(id, args, bounds),
        Some(target) => method_value(id, target, args, bounds),
    }
}

/// A free function.
fn function_value(id: B, args: &[Value], bounds: &Bounds) -> EvalResult {
    let arg = |i: usize| args.get(i).cloned().unwrap_or(Value::Null);
    let wrong = |v: &Value| Err(format!("`{}` cannot be applied to {}", id.name(), v.kind_name()).into());
    match id {
        B::Len => match arg(0) {
            Value::Str(s) => Ok(Value::Int(s.chars().count() as i64)),
            Value::List(items) => Ok(Value::Int(items.len() as i64)),
            Value::Object(fields) => Ok(Value::Int(fields.len() as i64)),
            v => wrong(&v),
        },
        B::Str => {
            let mut text = String::new();
            bounds.render(&arg(0), &mut text)?;
            Ok(Value::str(&text))
        }
        B::Int => match arg(0) {
            Value::Int(i) => Ok(Value::Int(i)),
            Value::Float(f) if f.is_finite() && f.abs() < 9.2e18 => Ok(Value::Int(f.trunc() as i64)),
            Value::Str(s) => {
                s.trim().parse::<i64>().map(Value::Int).map_err(|_| format!("{:?} is not a whole number", &*s).into())
            }
            v => wrong(&v),
        },
        B::Float => match arg(0) {
            Value::Int(i) => Ok(Value::Float(i as f64)),
            Value::Float(f) => Ok(Value::Float(f)),
            Value::Str(s) => {
                s.trim().parse::<f64>().map(Value::Float).map_err(|_| format!("{:?} is not a number", &*s).into())
            }
            v => wrong(&v),
        },
        B::Round => match arg(0) {
            Value::Int(i) => Ok(Value::Int(i)),
            Value::Float(f) if f.is_finite() && f.abs() < 9.2e18 => Ok(Value::Int(f.round() as i64)),
            v => wrong(&v),
        },
        B::Abs => match arg(0) {
            Value::Int(i) => i.checked_abs().map(Value::Int).ok_or_else(|| "integer overflow".into()),
            Value::Float(f) => Ok(Value::Float(f.abs())),
            v => wrong(&v),
        },
        B::Min | B::Max => {
            let (a, b) = (arg(0), arg(1));
            let ord =
                compare(&a, &b).ok_or_else(|| format!("cannot compare {} with {}", a.kind_name(), b.kind_name()))?;
            let first = (id == B::Min) == (ord != Ordering::Greater);
            Ok(if first { a } else { b })
        }
        B::Sum => match arg(0) {
            Value::List(items) => sum(&items),
            v => wrong(&v),
        },
        B::Keys => match arg(0) {
            Value::Object(fields) => {
                let mut keys: Vec<&Arc<str>> = fields.keys().collect();
                keys.sort();
                Ok(Value::list(keys.into_iter().map(|k| Value::Str(k.clone())).collect()))
            }
            v => wrong(&v),
        },
        B::Entries => match arg(0) {
            Value::Object(fields) => {
                let mut entries: Vec<(&Arc<str>, &Value)> = fields.iter().collect();
                entries.sort_by(|a, b| a.0.cmp(b.0));
                let entry = |(k, v): (&Arc<str>, &Value)| {
                    let mut e = crate::value::Fields::with_capacity(2);
                    e.insert(Arc::from("key"), Value::Str(k.clone()));
                    e.insert(Arc::from("value"), v.clone());
                    Value::object(e)
                };
                Ok(Value::list(entries.into_iter().map(entry).collect()))
            }
            v => wrong(&v),
        },
        B::Range => match arg(0) {
            Value::Int(n) => {
                let n = usize::try_from(n).unwrap_or(0);
                bounds.items(n)?;
                Ok(Value::list((0..n as i64).map(Value::Int).collect()))
            }
            v => wrong(&v),
        },
        B::Values => match arg(0) {
            Value::Object(fields) => {
                let mut entries: Vec<(&Arc<str>, &Value)> = fields.iter().collect();
                entries.sort_by(|a, b| a.0.cmp(b.0));
                Ok(Value::list(entries.into_iter().map(|(_, v)| v.clone()).collect()))
            }
            v => wrong(&v),
        },
        B::Json => bounds.json(&arg(0)).map(|s| Value::str(&s)),
        B::Format => match (number(&arg(0)), arg(1)) {
            (Some(x), Value::Int(d)) => Ok(Value::str(&format_number(x, d.clamp(0, 20) as usize))),
            (None, v) | (_, v) => wrong(&v),
        },
        // Methods are never called as functions: the checker resolves them on a receiver.
        value_methods!() | lambda_methods!() => {
            Err(format!("`.{}()` is a method, called on a value", id.name()).into())
        }
    }
}

/// A method that takes values (not a lambda), on its receiver.
fn method_value(id: B, target: &Value, args: &[Value], bounds: &Bounds) -> EvalResult {
    let arg = |i: usize| args.get(i).cloned().unwrap_or(Value::Null);
    match (id, target) {
        (B::ListFirst, Value::List(items)) => Ok(items.first().cloned().unwrap_or(Value::Null)),
        (B::ListLast, Value::List(items)) => Ok(items.last().cloned().unwrap_or(Value::Null)),
        (B::ListContains, Value::List(items)) => Ok(Value::Bool(items.iter().any(|i| equal(i, &arg(0))))),
        (B::ListJoin, Value::List(items)) => {
            let sep = text(arg(0))?;
            let mut out = String::new();
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(&sep);
                }
                bounds.render(item, &mut out)?;
            }
            Ok(Value::str(&out))
        }
        (B::ListFlatten, Value::List(items)) => {
            let total = items.iter().map(|i| if let Value::List(inner) = i { inner.len() } else { 1 }).sum();
            bounds.items(total)?;
            let mut out = Vec::with_capacity(total);
            for item in items.iter() {
                match item {
                    Value::List(inner) => out.extend(inner.iter().cloned()),
                    other => out.push(other.clone()),
                }
            }
            Ok(Value::list(out))
        }
        (B::ListUnique, Value::List(items)) => {
            // Repeats by value (their JSON text): linear, whatever the list's length.
            let mut seen = std::collections::HashSet::new();
            Ok(Value::list(items.iter().filter(|i| seen.insert(i.to_json().to_string())).cloned().collect()))
        }
        (B::ListMax | B::ListMin, Value::List(items)) => {
            let want = if id == B::ListMax { Ordering::Greater } else { Ordering::Less };
            let mut best: Option<&Value> = None;
            for item in items.iter() {
                best = match best {
                    None => Some(item),
                    Some(b) => match compare(item, b) {
                        Some(o) if o == want => Some(item),
                        Some(_) => Some(b),
                        None => {
                            let names = (item.kind_name(), b.kind_name());
                            return Err(format!("cannot compare {} with {}", names.0, names.1).into());
                        }
                    },
                };
            }
            Ok(best.cloned().unwrap_or(Value::Null))
        }
        (B::ListSort, Value::List(items)) => {
            let mut sorted: Vec<Value> = items.to_vec();
            let mut failed = None;
            sorted.sort_by(|a, b| {
                compare(a, b).unwrap_or_else(|| {
                    failed.get_or_insert_with(|| format!("cannot compare {} with {}", a.kind_name(), b.kind_name()));
                    Ordering::Equal
                })
            });
            match failed {
                Some(e) => Err(e.into()),
                None => Ok(Value::list(sorted)),
            }
        }
        (B::ListReverse, Value::List(items)) => Ok(Value::list(items.iter().rev().cloned().collect())),
        (B::ListSlice, Value::List(items)) => {
            let (from, to) = range(&arg(0), &arg(1), items.len())?;
            Ok(Value::list(items[from..to].to_vec()))
        }
        (B::ListEnumerate, Value::List(items)) => Ok(Value::list(
            items
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    let mut fields = crate::value::Fields::with_capacity(2);
                    fields.insert(Arc::from("index"), Value::Int(i as i64));
                    fields.insert(Arc::from("value"), v.clone());
                    Value::object(fields)
                })
                .collect(),
        )),
        (B::StrSlice, Value::Str(s)) => {
            bounds.work(s.len())?;
            let chars = s.chars().count();
            let (from, to) = range(&arg(0), &arg(1), chars)?;
            Ok(Value::str(&s.chars().skip(from).take(to - from).collect::<String>()))
        }
        (B::ListTake, Value::List(items)) => Ok(Value::list(items.iter().take(count(arg(0))?).cloned().collect())),
        (B::ListSkip, Value::List(items)) => Ok(Value::list(items.iter().skip(count(arg(0))?).cloned().collect())),
        (B::StrLower, Value::Str(s)) => {
            bounds.work(s.len())?;
            // Lowercasing can lengthen a string (at most threefold).
            bounds.text(s.len().saturating_mul(3).min(s.len() + bounds.budget()))?;
            Ok(Value::str(&s.to_lowercase()))
        }
        (B::StrUpper, Value::Str(s)) => {
            bounds.work(s.len())?;
            bounds.text(s.len().saturating_mul(3).min(s.len() + bounds.budget()))?;
            Ok(Value::str(&s.to_uppercase()))
        }
        (B::StrTrim, Value::Str(s)) => Ok(Value::str(s.trim())),
        (B::StrContains, Value::Str(s)) => Ok(Value::Bool(s.contains(&*text(arg(0))?))),
        (B::StrStartsWith, Value::Str(s)) => Ok(Value::Bool(s.starts_with(&*text(arg(0))?))),
        (B::StrEndsWith, Value::Str(s)) => Ok(Value::Bool(s.ends_with(&*text(arg(0))?))),
        (B::StrSplit, Value::Str(s)) => {
            let sep = text(arg(0))?;
            bounds.work(s.len())?;
            // Counted before the pieces are made: a long string of separators is many pieces.
            bounds.items(if sep.is_empty() { s.chars().count() } else { s.matches(&*sep).count() + 1 })?;
            if sep.is_empty() {
                return Ok(Value::list(s.chars().map(|c| Value::str(&c.to_string())).collect()));
            }
            Ok(Value::list(s.split(&*sep).map(Value::str).collect()))
        }
        (B::StrReplace, Value::Str(s)) => {
            let from = text(arg(0))?;
            if from.is_empty() {
                return Ok(Value::Str(s.clone()));
            }
            let to = text(arg(1))?;
            bounds.work(s.len())?;
            if to.len() > from.len() {
                bounds.text(s.len() + s.matches(&*from).count() * (to.len() - from.len()))?;
            }
            Ok(Value::str(&s.replace(&*from, &to)))
        }
        (B::MapGet, Value::Object(fields)) => Ok(fields.get(&*text(arg(0))?).cloned().unwrap_or(Value::Null)),
        // A method on the wrong receiver, a function called as a method, or a lambda method
        // without its lambda: `.{name}()` does not apply to this value.
        (value_methods!() | functions!() | lambda_methods!(), target) => {
            Err(format!("`.{}()` cannot be called on {}", id.name(), target.kind_name()).into())
        }
    }
}

/// `start..end` of a list or string of `len`, clamped to it (an end before
/// the start is an empty range).
fn range(start: &Value, end: &Value, len: usize) -> Result<(usize, usize), EvalError> {
    let at = |v: &Value| match v {
        Value::Int(n) => Ok(usize::try_from(*n).unwrap_or(0).min(len)),
        other => Err(EvalError::value(format!("expected an int, got {}", other.kind_name()))),
    };
    let (from, to) = (at(start)?, at(end)?);
    Ok((from, to.max(from)))
}

/// `format(x, d)`: `d` decimals, thousands separated by commas.
fn format_number(x: f64, decimals: usize) -> String {
    let text = format!("{:.decimals$}", x.abs());
    let (whole, fraction) = text.split_once('.').map_or((text.as_str(), None), |(w, f)| (w, Some(f)));
    let mut grouped = String::new();
    for (i, digit) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    let sign = if x < 0.0 && !text.trim_matches(['0', '.']).is_empty() { "-" } else { "" };
    match fraction {
        Some(f) => format!("{sign}{grouped}.{f}"),
        None => format!("{sign}{grouped}"),
    }
}

/// `sum`: an int while every item is an int (overflow is an error), else a float.
fn sum(items: &[Value]) -> EvalResult {
    let mut int_sum: Option<i64> = Some(0);
    let mut float_sum = 0.0;
    for item in items {
        match item {
            Value::Int(i) => {
                int_sum = int_sum.and_then(|s| s.checked_add(*i));
                float_sum += *i as f64;
            }
            Value::Float(f) => {
                int_sum = None;
                float_sum += f;
            }
            other => return Err(format!("sum needs numbers, found {}", other.kind_name()).into()),
        }
    }
    let all_ints = items.iter().all(|i| matches!(i, Value::Int(_)));
    match (all_ints, int_sum) {
        (true, Some(s)) => Ok(Value::Int(s)),
        (true, None) => Err("integer overflow".into()),
        _ => Ok(Value::Float(float_sum)),
    }
}

/// `.reduce(start, (acc, x) => value)`: the lambda's parameters are the
/// slots `first` (the value so far) and `first + 1` (the item).
fn fold(
    items: &[Value],
    start: Value,
    first: usize,
    body: &Expr,
    eval: &mut Eval<'_>,
    locals: &mut Vec<Value>,
    bounds: &Bounds,
) -> EvalResult {
    let saved = locals.len();
    if locals.len() < first + 2 {
        locals.resize(first + 2, Value::Null);
    }
    // Growth (`acc + [x]`) is bounded by the operators themselves.
    let mut folded = |mut acc: Value, locals: &mut Vec<Value>| -> EvalResult {
        for item in items {
            bounds.tick()?;
            locals[first] = acc;
            locals[first + 1] = item.clone();
            acc = eval(body, locals)?;
        }
        Ok(acc)
    };
    let result = folded(start, locals);
    locals.truncate(saved);
    result
}

fn lambda_method(
    items: &[Value],
    id: B,
    first: u32,
    body: &Expr,
    eval: &mut Eval<'_>,
    locals: &mut Vec<Value>,
    bounds: &Bounds,
) -> EvalResult {
    let slot = first as usize;
    let mut apply = |item: &Value, locals: &mut Vec<Value>| -> EvalResult {
        // Lambdas are where pure work loops: the run's deadline is looked at here.
        bounds.tick()?;
        if locals.len() <= slot {
            locals.resize(slot + 1, Value::Null);
        }
        locals[slot] = item.clone();
        eval(body, locals)
    };
    let saved = locals.len();
    let result = match id {
        B::ListMap => {
            let (mut out, mut left) = (Vec::with_capacity(items.len()), bounds.budget());
            for item in items {
                let value = apply(item, locals)?;
                bounds.spend(&value, &mut left)?;
                out.push(value);
            }
            Ok(Value::list(out))
        }
        B::ListFilter => {
            let mut out = Vec::new();
            for item in items {
                if as_bool(apply(item, locals)?)? {
                    out.push(item.clone());
                }
            }
            Ok(Value::list(out))
        }
        B::ListAny | B::ListAll => {
            let want = id == B::ListAny;
            let mut all = Ok(Value::Bool(!want));
            for item in items {
                if as_bool(apply(item, locals)?)? == want {
                    all = Ok(Value::Bool(want));
                    break;
                }
            }
            all
        }
        B::ListFind => {
            let mut found = Ok(Value::Null);
            for item in items {
                if as_bool(apply(item, locals)?)? {
                    found = Ok(item.clone());
                    break;
                }
            }
            found
        }
        B::ListSumBy => {
            let mut values = Vec::with_capacity(items.len());
            for item in items {
                values.push(apply(item, locals)?);
            }
            sum(&values)
        }
        B::ListGroupBy => {
            let mut groups: indexmap::IndexMap<Arc<str>, Vec<Value>> = indexmap::IndexMap::new();
            for item in items {
                let key = match apply(item, locals)? {
                    Value::Str(s) => s,
                    other => return Err(format!("`group_by` needs a string key, got {}", other.kind_name()).into()),
                };
                groups.entry(key).or_default().push(item.clone());
            }
            let mut fields = crate::value::Fields::with_capacity(groups.len());
            for (k, v) in groups {
                fields.insert(k, Value::list(v));
            }
            Ok(Value::object(fields))
        }
        B::ListMaxBy | B::ListMinBy => {
            let want = if id == B::ListMaxBy { Ordering::Greater } else { Ordering::Less };
            let mut best: Option<(Value, &Value)> = None;
            for item in items {
                let key = apply(item, locals)?;
                let better = match &best {
                    None => true,
                    Some((k, _)) => {
                        let order = compare(&key, k)
                            .ok_or_else(|| format!("cannot compare {} with {}", key.kind_name(), k.kind_name()))?;
                        order == want
                    }
                };
                if better {
                    best = Some((key, item));
                }
            }
            Ok(best.map_or(Value::Null, |(_, item)| item.clone()))
        }
        B::ListUniqueBy => {
            let mut seen = std::collections::HashSet::new();
            let mut out = Vec::new();
            for item in items {
                let key = apply(item, locals)?;
                if seen.insert(key.to_json().to_string()) {
                    out.push(item.clone());
                }
            }
            Ok(Value::list(out))
        }
        B::ListReduce => Err("`.reduce()` takes a start value and a lambda".to_string().into()),
        B::ListCount => {
            let mut n = 0;
            for item in items {
                n += i64::from(as_bool(apply(item, locals)?)?);
            }
            Ok(Value::Int(n))
        }
        B::ListSortBy => {
            let (mut keyed, mut left) = (Vec::with_capacity(items.len()), bounds.budget());
            for item in items {
                let key = apply(item, locals)?;
                bounds.spend(&key, &mut left)?;
                keyed.push((key, item.clone()));
            }
            let mut failed: Option<EvalError> = None;
            keyed.sort_by(|a, b| {
                if failed.is_some() {
                    return Ordering::Equal;
                }
                // The sort looks at the deadline too (a stop ends it: every comparison is then equal).
                if let Err(e) = bounds.tick() {
                    failed = Some(e);
                    return Ordering::Equal;
                }
                compare(&a.0, &b.0).unwrap_or_else(|| {
                    failed = Some(format!("cannot compare {} with {}", a.0.kind_name(), b.0.kind_name()).into());
                    Ordering::Equal
                })
            });
            match failed {
                Some(e) => Err(e),
                None => Ok(Value::list(keyed.into_iter().map(|(_, v)| v).collect())),
            }
        }
        value_methods!() | functions!() => Err(format!("`.{}()` does not take a lambda", id.name()).into()),
    };
    locals.truncate(saved);
    result
}
