//! Runtime values (immutable, cheap to clone: strings, lists and records are
//! shared behind `Arc`), their JSON form, and checking JSON that comes from
//! outside (flow inputs, tool results, model answers) against a Flow type.

use flow_compiler::types::{Ty, TypeTable};
use indexmap::IndexMap;
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use std::fmt;
use std::sync::Arc;

/// A record or map: keys in the order they were written or declared.
pub type Fields = IndexMap<Arc<str>, Value>;

/// A runtime value.
#[derive(Clone, Debug, PartialEq, Default)]
pub enum Value {
    /// `null`; also what a missing optional field is.
    #[default]
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A 64-bit integer.
    Int(i64),
    /// A 64-bit float.
    Float(f64),
    /// A string.
    Str(Arc<str>),
    /// Milliseconds.
    Duration(u64),
    /// A list.
    List(Arc<Vec<Value>>),
    /// A record or a `map<string, T>`.
    Object(Arc<Fields>),
}

impl Value {
    /// A string value.
    pub fn str(s: &str) -> Value {
        Value::Str(Arc::from(s))
    }

    /// A list value.
    pub fn list(items: Vec<Value>) -> Value {
        Value::List(Arc::new(items))
    }

    /// A record or map value.
    pub fn object(fields: Fields) -> Value {
        Value::Object(Arc::new(fields))
    }

    /// Whether the value is `null`.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// What kind of value this is, for messages.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::Str(_) => "string",
            Value::Duration(_) => "duration",
            Value::List(_) => "list",
            Value::Object(_) => "record",
        }
    }

    /// The value as JSON (durations become milliseconds).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => J::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
            Value::Str(s) => J::String(s.to_string()),
            Value::Duration(ms) => J::from(*ms),
            Value::List(items) => J::Array(items.iter().map(Value::to_json).collect()),
            Value::Object(fields) => J::Object(fields.iter().map(|(k, v)| (k.to_string(), v.to_json())).collect()),
        }
    }

    /// JSON as a value, without a type to check it against (for constants
    /// the compiler already checked).
    pub fn from_json(json: &serde_json::Value) -> Value {
        use serde_json::Value as J;
        match json {
            J::Null => Value::Null,
            J::Bool(b) => Value::Bool(*b),
            J::Number(n) => n.as_i64().map_or_else(|| Value::Float(n.as_f64().unwrap_or(f64::NAN)), Value::Int),
            J::String(s) => Value::str(s),
            J::Array(items) => Value::list(items.iter().map(Value::from_json).collect()),
            J::Object(map) => {
                Value::object(map.iter().map(|(k, v)| (Arc::from(k.as_str()), Value::from_json(v))).collect())
            }
        }
    }

    /// How many bytes the value's JSON text takes.
    pub fn json_len(&self) -> usize {
        struct Count(usize);
        impl std::io::Write for Count {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0 += buf.len();
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let mut count = Count(0);
        let _ = serde_json::to_writer(&mut count, self);
        count.0
    }
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Null => s.serialize_unit(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Int(i) => s.serialize_i64(*i),
            Value::Float(f) if f.is_finite() => s.serialize_f64(*f),
            Value::Float(_) => s.serialize_unit(),
            Value::Str(t) => s.serialize_str(t),
            Value::Duration(ms) => s.serialize_u64(*ms),
            Value::List(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items.iter() {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Value::Object(fields) => {
                let mut map = s.serialize_map(Some(fields.len()))?;
                for (k, v) in fields.iter() {
                    map.serialize_entry(&**k, v)?;
                }
                map.end()
            }
        }
    }
}

/// The text a value shows as inside `"${...}"` and `str(...)`: strings as
/// they are, everything else as JSON.
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Str(s) => f.write_str(s),
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) if x.is_finite() => f.write_str(&human_float(*x)),
            Value::Duration(ms) => write!(f, "{ms}ms"),
            other => match serde_json::to_string(other) {
                Ok(text) => f.write_str(&text),
                Err(_) => Err(fmt::Error),
            },
        }
    }
}

/// A float as a person reads it in text (interpolation, `str`, `join`):
/// at most 15 significant digits, so `0.1 + 0.2` shows `0.3`; no exponent
/// from 1e-7 up to 1e21, and none of a float's `.0` (`2.0` shows `2`);
/// `1e21`, `1.5e-8` beyond. JSON output keeps every digit.
pub fn human_float(x: f64) -> String {
    if x == 0.0 {
        return "0".into();
    }
    let magnitude = x.abs();
    if !(1e-7..1e21).contains(&magnitude) {
        let text = format!("{x:.14e}");
        let (mantissa, exponent) = text.split_once('e').unwrap_or((&text, "0"));
        let mantissa = mantissa.trim_end_matches('0').trim_end_matches('.');
        return format!("{mantissa}e{exponent}");
    }
    // 15 significant digits, then the trailing zeros dropped.
    let decimals = (14 - magnitude.log10().floor() as i32).clamp(0, 22) as usize;
    let text = format!("{x:.decimals$}");
    if text.contains('.') { text.trim_end_matches('0').trim_end_matches('.').to_string() } else { text }
}

/// Why a JSON value does not fit a type: where (a path like `.items[2].name`)
/// and what was expected.
#[derive(Clone, Debug, PartialEq)]
pub struct Mismatch {
    /// Where, as a path like `.items[2].name` (empty for the value itself).
    pub path: String,
    /// What the type wants, e.g. `an int`.
    pub expected: String,
    /// What the JSON is instead, e.g. `the string "x"`.
    pub found: String,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = if self.path.is_empty() { "the value".to_string() } else { format!("`{}`", self.path) };
        write!(f, "{at} should be {}, but is {}", self.expected, self.found)
    }
}

fn describe(json: &serde_json::Value) -> String {
    use serde_json::Value as J;
    let text = json.to_string();
    let short =
        if text.chars().count() > 40 { format!("{}…", text.chars().take(40).collect::<String>()) } else { text };
    match json {
        J::Null => "null".to_string(),
        J::Bool(_) => format!("the bool {short}"),
        J::Number(_) => format!("the number {short}"),
        J::String(_) => format!("the string {short}"),
        J::Array(_) => format!("a list ({short})"),
        J::Object(_) => format!("an object ({short})"),
    }
}

/// Converts JSON from outside into a value of type `ty`, or says where it
/// does not fit. Record fields the type does not declare are dropped (APIs
/// often return more than a flow needs); a missing optional field is `null`.
pub fn from_json_typed(json: &serde_json::Value, ty: &Ty, types: &TypeTable) -> Result<Value, Mismatch> {
    let mut path = String::new();
    convert(json, ty, types, &mut path, 0)
}

fn convert(
    json: &serde_json::Value,
    ty: &Ty,
    types: &TypeTable,
    path: &mut String,
    depth: u32,
) -> Result<Value, Mismatch> {
    use serde_json::Value as J;
    let mismatch = |path: &String, expected: String| Mismatch { path: path.clone(), expected, found: describe(json) };
    if depth > 128 {
        return Err(mismatch(path, "a value nested at most 128 deep".into()));
    }
    let resolved = types.resolve(ty);
    match (resolved, json) {
        (Ty::Unknown | Ty::Never, _) => Ok(Value::from_json(json)),
        (Ty::Optional(_) | Ty::Null, J::Null) => Ok(Value::Null),
        (Ty::Optional(inner), _) => convert(json, inner, types, path, depth + 1),
        (Ty::Const(c), _)
            if c.json() == *json
                || matches!((c, json), (flow_compiler::types::Const::Float(x), J::Number(n)) if n.as_f64() == Some(*x)) =>
        {
            Ok(Value::from_json(json))
        }
        (Ty::Const(c), _) => Err(mismatch(path, format!("`{c}`"))),
        // The first member the value fits (members are tried in the order written).
        (Ty::Union(members), _) => {
            let mut first_error = None;
            let at = path.len();
            for m in members.iter() {
                // A member that failed deep inside leaves no trace in the path.
                path.truncate(at);
                match convert(json, m, types, path, depth + 1) {
                    Ok(v) => return Ok(v),
                    Err(e) => {
                        first_error.get_or_insert(e);
                    }
                }
            }
            // A union of scalars is named whole (`1 | 2 | 3`); for records, the first member's problem says where.
            let scalars = members.iter().all(|m| !matches!(types.resolve(m), Ty::Record(_) | Ty::List(_) | Ty::Map(_)));
            match first_error {
                Some(e) if !scalars => Err(e),
                _ => Err(mismatch(path, format!("`{resolved}`"))),
            }
        }
        (Ty::Bool, J::Bool(b)) => Ok(Value::Bool(*b)),
        (Ty::Int, J::Number(n)) => match n.as_i64() {
            Some(i) => Ok(Value::Int(i)),
            // 3.0 is a whole number: accept it; 3.5 is not an int.
            None => match n.as_f64() {
                Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(Value::Int(f as i64)),
                _ => Err(mismatch(path, "an int".into())),
            },
        },
        (Ty::Float, J::Number(n)) => Ok(Value::Float(n.as_f64().unwrap_or(f64::NAN))),
        (Ty::Duration, J::Number(n)) if n.as_u64().is_some() => Ok(Value::Duration(n.as_u64().unwrap_or(0))),
        (Ty::String, J::String(s)) => Ok(Value::str(s)),
        (Ty::Lit(lit), J::String(s)) if **lit == *s => Ok(Value::str(s)),
        (Ty::Enum(members), J::String(s)) if members.iter().any(|m| m == s) => Ok(Value::str(s)),
        (Ty::Enum(members), _) => {
            let options: Vec<String> = members.iter().map(|m| format!("{m:?}")).collect();
            Err(mismatch(path, format!("one of {}", options.join(", "))))
        }
        (Ty::List(elem), J::Array(items)) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                out.push(convert(item, elem, types, path, depth + 1)?);
                path.truncate(len);
            }
            Ok(Value::list(out))
        }
        (Ty::Map(elem), J::Object(map)) => {
            let mut out = Fields::with_capacity(map.len());
            for (k, v) in map {
                let len = path.len();
                path.push_str(&format!("[{k:?}]"));
                out.insert(Arc::from(k.as_str()), convert(v, elem, types, path, depth + 1)?);
                path.truncate(len);
            }
            Ok(Value::object(out))
        }
        (Ty::Record(record), J::Object(map)) => {
            let mut out = Fields::with_capacity(record.fields.len());
            for field in &record.fields {
                let len = path.len();
                path.push('.');
                path.push_str(&field.name);
                let value = match map.get(&field.name) {
                    Some(v) => convert(v, &field.ty, types, path, depth + 1)?,
                    None if matches!(types.resolve(&field.ty), Ty::Optional(_)) => Value::Null,
                    None => {
                        return Err(Mismatch {
                            path: path.clone(),
                            expected: format!("present (a {})", field.ty),
                            found: "missing".into(),
                        });
                    }
                };
                path.truncate(len);
                out.insert(Arc::from(field.name.as_str()), value);
            }
            Ok(Value::object(out))
        }
        (expected, _) => Err(mismatch(path, article(expected))),
    }
}

fn article(ty: &Ty) -> String {
    match ty {
        Ty::Int => "an int".into(),
        Ty::Record(_) => format!("a record `{ty}`"),
        Ty::List(_) => format!("a list `{ty}`"),
        Ty::Map(_) => format!("a map `{ty}`"),
        Ty::Lit(s) => format!("the string {s:?}"),
        other => format!("a {other}"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn floats_read_as_a_person_expects() {
        for (x, shown) in [
            (0.1 + 0.2, "0.3"),
            (2.0, "2"),
            (1500.0, "1500"),
            (0.5, "0.5"),
            (-3.25, "-3.25"),
            (1e21, "1e21"),
            (1.5e-8, "1.5e-8"),
            (0.000001, "0.000001"),
            (123456789.123, "123456789.123"),
            (1.0 / 3.0, "0.333333333333333"),
            (-0.0, "0"),
        ] {
            assert_eq!(super::human_float(x), shown, "{x}");
        }
    }
}
