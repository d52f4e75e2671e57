//! What a run's pure evaluation stays within: its stop token (cancel and
//! the run deadline), checked every so often inside long loops so that
//! CPU-bound work is pre-empted, and the size limits on the strings and
//! lists an expression builds (checked before a large one is allocated
//! where the size is known in advance, else right after).

use crate::stop::Stop;
use crate::value::Value;
use flow_compiler::ir::ErrorKind;
use std::cell::Cell;
use std::sync::Arc;

/// Why an expression has no value: a `value` error (a failed expression),
/// a `limit` error (it built something larger than the engine allows), or
/// `cancelled` (the run stopped while it evaluated: cancelled, or past its
/// deadline).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct EvalError {
    /// `value`, `limit` or `cancelled`.
    pub kind: ErrorKind,
    /// What went wrong, for people.
    pub message: String,
}

impl EvalError {
    /// A `value` error.
    pub fn value(message: impl Into<String>) -> EvalError {
        EvalError { kind: ErrorKind::Value, message: message.into() }
    }

    fn limit(message: String) -> EvalError {
        EvalError { kind: ErrorKind::Limit, message }
    }

    /// The error of the step (or block) `at` that evaluated it.
    pub(crate) fn at(self, at: &str) -> crate::events::StepError {
        crate::events::StepError::new(self.kind, at, self.message)
    }
}

impl From<String> for EvalError {
    fn from(message: String) -> EvalError {
        EvalError::value(message)
    }
}

impl From<&str> for EvalError {
    fn from(message: &str) -> EvalError {
        EvalError::value(message)
    }
}

impl std::fmt::Display for EvalError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// A run's bounds on evaluation, held by the root frame of each flow call.
#[derive(Debug)]
pub struct Bounds {
    stop: Option<Arc<Stop>>,
    max_value_bytes: usize,
    max_list_items: usize,
}

/// For frames outside a run (tests, tools): the default sizes, never stopped.
pub(crate) static UNBOUNDED: Bounds =
    Bounds { stop: None, max_value_bytes: DEFAULT_VALUE_BYTES, max_list_items: DEFAULT_LIST_ITEMS };

/// [`Limits`](crate::Limits)' defaults, for frames outside a run.
pub(crate) const DEFAULT_VALUE_BYTES: usize = 16 << 20;
pub(crate) const DEFAULT_LIST_ITEMS: usize = 1_000_000;

/// How many loop turns pass between two looks at the stop token: often
/// enough to stop within about a millisecond, rarely enough to cost nothing.
const TICKS_PER_CHECK: u32 = 1024;

thread_local! {
    static TICKS: Cell<u32> = const { Cell::new(0) };
}

impl Bounds {
    /// Bounds with these sizes, under `stop` (the run's limits' values).
    pub(crate) fn new(max_value_bytes: usize, max_list_items: usize, stop: Arc<Stop>) -> Bounds {
        Bounds { stop: Some(stop), max_value_bytes, max_list_items }
    }

    /// Counts one turn of a loop (a lambda call); every so often, fails if
    /// the run was stopped or its deadline passed.
    #[inline]
    pub(crate) fn tick(&self) -> Result<(), EvalError> {
        let n = TICKS.with(|t| {
            let n = t.get().wrapping_add(1);
            t.set(n);
            n
        });
        if n.is_multiple_of(TICKS_PER_CHECK) { self.check_stop() } else { Ok(()) }
    }

    #[cold]
    fn check_stop(&self) -> Result<(), EvalError> {
        match &self.stop {
            Some(stop) if stop.expired() => {
                Err(EvalError { kind: ErrorKind::Cancelled, message: "the run stopped while this evaluated".into() })
            }
            _ => Ok(()),
        }
    }

    /// Fails if a string of `len` bytes would be larger than a value may be.
    #[inline]
    pub(crate) fn text(&self, len: usize) -> Result<(), EvalError> {
        if len > self.max_value_bytes {
            return Err(EvalError::limit(format!(
                "this would build a string of {} bytes, more than the value limit of {} (max_value_bytes)",
                len,
                crate::fmt_bytes(self.max_value_bytes)
            )));
        }
        Ok(())
    }

    /// Fails if a list of `n` items would be longer than a list may be.
    #[inline]
    pub(crate) fn items(&self, n: usize) -> Result<(), EvalError> {
        if n > self.max_list_items {
            return Err(EvalError::limit(format!(
                "this would build a list of {n} items, more than the limit of {} (max_list_items)",
                self.max_list_items
            )));
        }
        Ok(())
    }

    /// Checks a value just built: a string's bytes, a list's items.
    #[inline]
    pub(crate) fn built(&self, value: Value) -> Result<Value, EvalError> {
        match &value {
            Value::Str(s) => self.text(s.len())?,
            Value::List(items) => self.items(items.len())?,
            _ => {}
        }
        Ok(value)
    }

    /// Fails if `value`, as JSON text, would be larger than a value may be
    /// (counted with an early stop, so a huge value costs no more than the
    /// limit to measure).
    pub(crate) fn whole(&self, value: &Value) -> Result<(), EvalError> {
        // Scalars (most steps' values) are within any limit.
        if !matches!(value, Value::Str(_) | Value::List(_) | Value::Object(_)) {
            return Ok(());
        }
        let mut left = self.max_value_bytes;
        if measure(value, &mut left).is_none() {
            return Err(EvalError::limit(format!(
                "the value is larger than the value limit of {} (max_value_bytes)",
                crate::fmt_bytes(self.max_value_bytes)
            )));
        }
        match value {
            Value::Str(s) => self.text(s.len()),
            Value::List(items) => self.items(items.len()),
            _ => Ok(()),
        }
    }
}

impl Bounds {
    /// Appends `value` as text (a string as itself, a list or record as
    /// JSON, as interpolation and `str` show it) to `out`, failing as soon
    /// as `out` would pass the value limit: nothing larger is ever built.
    pub(crate) fn render(&self, value: &Value, out: &mut String) -> Result<(), EvalError> {
        match value {
            Value::Str(s) => {
                self.text(out.len() + s.len())?;
                out.push_str(s);
            }
            Value::List(_) | Value::Object(_) => {
                let mut json = Limited { bytes: Vec::new(), left: self.max_value_bytes.saturating_sub(out.len()) };
                if serde_json::to_writer(&mut json, value).is_err() {
                    return Err(self.too_long());
                }
                out.push_str(&String::from_utf8_lossy(&json.bytes));
            }
            scalar => {
                use std::fmt::Write;
                let _ = write!(out, "{scalar}");
                self.text(out.len())?;
            }
        }
        Ok(())
    }

    /// `value` as JSON text, within the value limit.
    pub(crate) fn json(&self, value: &Value) -> Result<String, EvalError> {
        let mut json = Limited { bytes: Vec::new(), left: self.max_value_bytes };
        serde_json::to_writer(&mut json, value).map_err(|_| self.too_long())?;
        Ok(String::from_utf8_lossy(&json.bytes).into_owned())
    }

    #[cold]
    fn too_long(&self) -> EvalError {
        EvalError::limit(format!(
            "the text would be longer than the value limit of {} (max_value_bytes)",
            crate::fmt_bytes(self.max_value_bytes)
        ))
    }

    /// Counts work on `bytes` of text (a string builtin): large work looks
    /// at the stop at once, so a loop of big string operations cannot run
    /// 1,024 of them between two looks.
    #[inline]
    pub(crate) fn work(&self, bytes: usize) -> Result<(), EvalError> {
        if bytes >= 1 << 16 { self.check_stop() } else { Ok(()) }
    }

    /// Takes `value`'s size from `left` (the bytes a list being built may
    /// still hold), failing once it runs out: a `map` whose results are
    /// each under the limit cannot together be over it.
    pub(crate) fn spend(&self, value: &Value, left: &mut usize) -> Result<(), EvalError> {
        match measure(value, left) {
            Some(()) => Ok(()),
            None => Err(EvalError::limit(format!(
                "the list being built is larger than the value limit of {} (max_value_bytes)",
                crate::fmt_bytes(self.max_value_bytes)
            ))),
        }
    }

    /// The bytes a value being built may hold.
    pub(crate) fn budget(&self) -> usize {
        self.max_value_bytes
    }
}

/// A writer that fails once more than `left` bytes are written.
struct Limited {
    bytes: Vec<u8>,
    left: usize,
}

impl std::io::Write for Limited {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.left = self.left.checked_sub(buf.len()).ok_or_else(|| std::io::Error::other("over the limit"))?;
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Takes `value`'s approximate JSON size from `left`; `None` once it runs out.
fn measure(value: &Value, left: &mut usize) -> Option<()> {
    let size = match value {
        // A number's text is at most 24 bytes; most are shorter.
        Value::Null | Value::Bool(_) | Value::Duration(_) => 5,
        Value::Int(_) | Value::Float(_) => 24,
        Value::Str(s) => s.len() + 2,
        Value::List(items) => {
            *left = left.checked_sub(2)?;
            for item in items.iter() {
                measure(item, left)?;
            }
            items.len()
        }
        Value::Object(fields) => {
            *left = left.checked_sub(2)?;
            for (k, v) in fields.iter() {
                *left = left.checked_sub(k.len() + 4)?;
                measure(v, left)?;
            }
            0
        }
    };
    *left = left.checked_sub(size)?;
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_measured_with_an_early_stop() {
        let bounds = Bounds::new(100, 1_000, Arc::new(Stop::default()));
        let small = Value::list(vec![Value::str("a"); 5]);
        assert!(bounds.whole(&small).is_ok());
        let big = Value::list(vec![Value::str(&"x".repeat(30)); 5]);
        assert_eq!(bounds.whole(&big).map_err(|e| e.kind), Err(ErrorKind::Limit));
        assert_eq!(bounds.text(101).map_err(|e| e.kind), Err(ErrorKind::Limit));
    }
}
