//! Comparing values: equality (an int equals a float of the same value),
//! ordering, and the bool a condition needs. Shared by the evaluator and
//! the builtins.

use crate::value::Value;
use std::cmp::Ordering;

pub(crate) fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Int(i) => Some(*i as f64),
        Value::Float(f) => Some(*f),
        _ => None,
    }
}

pub(crate) fn as_bool(v: Value) -> Result<bool, String> {
    match v {
        Value::Bool(b) => Ok(b),
        other => Err(format!("expected a bool, got {}", other.kind_name())),
    }
}

/// Deep equality; an int equals a float of the same value.
pub fn equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Int(x), Value::Float(y)) | (Value::Float(y), Value::Int(x)) => (*x as f64) == *y,
        // The same value shared (cheap to hold many times, long to compare).
        (Value::Str(x), Value::Str(y)) if std::sync::Arc::ptr_eq(x, y) => true,
        (Value::List(x), Value::List(y)) if std::sync::Arc::ptr_eq(x, y) && !has_float(x) => true,
        (Value::Object(x), Value::Object(y)) if std::sync::Arc::ptr_eq(x, y) && !x.values().any(is_float) => true,
        (Value::List(x), Value::List(y)) => x.len() == y.len() && x.iter().zip(y.iter()).all(|(a, b)| equal(a, b)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| equal(v, w)))
        }
        _ => a == b,
    }
}

/// A NaN is not equal to itself: shared values holding floats are compared item by item.
fn is_float(v: &Value) -> bool {
    matches!(v, Value::Float(_) | Value::List(_) | Value::Object(_))
}

fn has_float(items: &[Value]) -> bool {
    items.iter().any(is_float)
}

pub(crate) fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Str(x), Value::Str(y)) if std::sync::Arc::ptr_eq(x, y) => Some(Ordering::Equal),
        (Value::Int(x), Value::Int(y)) => Some(x.cmp(y)),
        (Value::Str(x), Value::Str(y)) => Some(x.cmp(y)),
        (Value::Duration(x), Value::Duration(y)) => Some(x.cmp(y)),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        _ => number(a)?.partial_cmp(&number(b)?),
    }
}
