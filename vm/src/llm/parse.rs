//! Reading a model's answer: find the JSON in it (code fences, surrounding
//! prose, JSON5-style slips), apply the few documented safe coercions,
//! then validate against the schema that was sent. What fails is described
//! in words a model can act on when it is asked to repair its answer.

use flow_compiler::schema::{OutputSchema, WRAP_FIELD};
use flow_compiler::types::{Ty, TypeTable};
use serde_json::Value as J;

/// The JSON in a model's text. Tries, in order: the whole text; the inside
/// of a ```json fence; the first balanced `{...}` or `[...]`; each of those
/// read as JSON5 (single quotes, trailing commas, unquoted keys, comments)
/// and with Python's `True`/`False`/`None`.
pub fn extract_json(text: &str) -> Result<J, String> {
    let text = text.trim();
    let first_error = match serde_json::from_str(text) {
        Ok(v) => return Ok(v),
        Err(e) => e.to_string(),
    };
    let mut candidates: Vec<&str> = Vec::new();
    if let Some(inner) = fenced(text) {
        candidates.push(inner);
    }
    for source in [text].into_iter().chain(fenced(text)) {
        if let Some(span) = balanced(source) {
            candidates.push(span);
        }
    }
    candidates.push(text);
    for candidate in &candidates {
        if let Ok(v) = serde_json::from_str(candidate) {
            return Ok(v);
        }
        if let Ok(v) = json5::from_str::<J>(candidate) {
            return Ok(v);
        }
        if let Ok(v) = json5::from_str::<J>(&pythonic(candidate)) {
            return Ok(v);
        }
    }
    if !text.contains(['{', '[']) {
        return Err("the answer contains no JSON object or list".to_string());
    }
    Err(format!("the answer is not valid JSON ({first_error})"))
}

/// The text inside the first code fence, without its language tag.
fn fenced(text: &str) -> Option<&str> {
    let start = text.find("```")?;
    let after = &text[start + 3..];
    let body_start = after.find('\n').map_or(0, |i| i + 1);
    let body = &after[body_start..];
    let end = body.find("```").unwrap_or(body.len());
    Some(body[..end].trim())
}

/// The first `{...}` or `[...]` whose brackets balance (strings skipped);
/// if the text ends first, everything from the opening bracket.
fn balanced(text: &str) -> Option<&str> {
    let start = text.find(['{', '['])?;
    let mut depth = 0i32;
    let mut strings = Strings::default();
    for (i, c) in text[start..].char_indices() {
        if strings.inside(c) {
            continue;
        }
        match c {
            '{' | '[' => depth += 1,
            '}' | ']' => {
                depth -= 1;
                if depth == 0 {
                    return Some(&text[start..start + i + 1]);
                }
            }
            _ => {}
        }
    }
    None
}

/// Tracks whether a scan is inside a quoted string (either quote, with
/// backslash escapes), one character at a time.
#[derive(Default)]
struct Strings {
    quote: Option<char>,
    escaped: bool,
}

impl Strings {
    /// Takes the next character; says whether it belongs to a string
    /// (opening and closing quotes included).
    fn inside(&mut self, c: char) -> bool {
        match self.quote {
            Some(q) => {
                if self.escaped {
                    self.escaped = false;
                } else if c == '\\' {
                    self.escaped = true;
                } else if c == q {
                    self.quote = None;
                }
                true
            }
            None if c == '"' || c == '\'' => {
                self.quote = Some(c);
                true
            }
            None => false,
        }
    }
}

/// Python literals outside strings, as JSON ones.
fn pythonic(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut strings = Strings::default();
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        out.push_str(match word.as_str() {
            "True" => "true",
            "False" => "false",
            "None" => "null",
            w => w,
        });
        word.clear();
    };
    for c in text.chars() {
        let was_inside = strings.quote.is_some();
        if strings.inside(c) {
            if !was_inside {
                flush(&mut word, &mut out);
            }
            out.push(c);
            continue;
        }
        if c.is_alphanumeric() || c == '_' {
            word.push(c);
            continue;
        }
        flush(&mut word, &mut out);
        out.push(c);
    }
    flush(&mut word, &mut out);
    out
}

/// Takes a wrapped answer (`{"value": ...}`) out of its wrapper; a model
/// that skipped the wrapper and answered with the bare value is accepted.
pub fn unwrap(value: J, schema: &OutputSchema) -> J {
    if !schema.wrapped {
        return value;
    }
    match value {
        J::Object(mut map) if map.len() == 1 && map.contains_key(WRAP_FIELD) => {
            map.remove(WRAP_FIELD).unwrap_or(J::Null)
        }
        other => other,
    }
}

/// The safe coercions, and only these (documented in the reference):
/// a float with no fractional part where an int is expected becomes that
/// int; an enum member written in another case or with spaces around it
/// becomes the member; a missing optional field becomes `null`. Nothing
/// else changes: a number in a string field stays an error.
pub fn coerce(value: &mut J, ty: &Ty, types: &TypeTable) {
    coerce_at(value, ty, types, 0);
}

fn coerce_at(value: &mut J, ty: &Ty, types: &TypeTable, depth: u32) {
    if depth > 64 {
        return;
    }
    match (types.resolve(ty), value) {
        (Ty::Int, value @ J::Number(_)) => {
            if let Some(f) = value.as_f64().filter(|f| !value.is_i64() && f.fract() == 0.0 && f.abs() < 9.0e15) {
                *value = J::from(f as i64);
            }
        }
        (Ty::Enum(members), J::String(s)) if !members.iter().any(|m| m == s) => {
            let wanted = s.trim().to_lowercase();
            if let Some(m) = members.iter().find(|m| m.to_lowercase() == wanted) {
                *s = m.clone();
            }
        }
        (Ty::Lit(lit), J::String(s)) if **s != **lit && s.trim().eq_ignore_ascii_case(lit) => {
            *s = lit.to_string();
        }
        (Ty::Optional(inner), value) if !value.is_null() => coerce_at(value, inner, types, depth + 1),
        (Ty::List(item), J::Array(items)) => {
            for v in items {
                coerce_at(v, item, types, depth + 1);
            }
        }
        (Ty::Map(item), J::Object(map)) => {
            for v in map.values_mut() {
                coerce_at(v, item, types, depth + 1);
            }
        }
        (Ty::Record(record), J::Object(map)) => {
            for field in &record.fields {
                match map.get_mut(&field.name) {
                    Some(v) => coerce_at(v, &field.ty, types, depth + 1),
                    None if matches!(types.resolve(&field.ty), Ty::Optional(_)) => {
                        map.insert(field.name.clone(), J::Null);
                    }
                    None => {}
                }
            }
        }
        _ => {}
    }
}

/// Validates an (unwrapped, coerced) answer against the step's schema.
/// Each problem is a line naming where in the answer it is.
pub fn validate(validator: &jsonschema::Validator, value: &J, schema: &OutputSchema) -> Vec<String> {
    let wrapped;
    let instance = if schema.wrapped {
        wrapped = serde_json::json!({ WRAP_FIELD: value });
        &wrapped
    } else {
        value
    };
    let mut problems: Vec<String> = validator
        .iter_errors(instance)
        .map(|e| {
            let path = e.instance_path().as_str().to_string();
            let path = if schema.wrapped { path.strip_prefix("/value").unwrap_or(&path).to_string() } else { path };
            let at = if path.is_empty() { "the answer".to_string() } else { format!("at {path}") };
            format!("{at}: {e}")
        })
        .collect();
    problems.dedup();
    problems.truncate(12);
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_json_in_common_model_output() {
        let cases = [
            (r#"{"a": 1}"#, json!({"a": 1})),
            ("```json\n{\"a\": 1}\n```", json!({"a": 1})),
            ("Sure! Here it is:\n```\n{\"a\": [1, 2]}\n```\nAnything else?", json!({"a": [1, 2]})),
            ("The answer is {\"a\": \"x}\"} as asked.", json!({"a": "x}"})),
            ("{'a': 'single', 'b': [1, 2,],}", json!({"a": "single", "b": [1, 2]})),
            ("{a: 1, // the count\n b: 'two'}", json!({"a": 1, "b": "two"})),
            ("{\"ok\": True, \"none\": None, \"s\": \"True\"}", json!({"ok": true, "none": null, "s": "True"})),
            ("[1, 2, 3]", json!([1, 2, 3])),
            ("  42  ", json!(42)),
        ];
        for (text, expected) in cases {
            assert_eq!(extract_json(text).as_ref(), Ok(&expected), "{text}");
        }
    }

    #[test]
    fn says_why_text_is_not_json() {
        assert_eq!(extract_json("I cannot help with that.").unwrap_err(), "the answer contains no JSON object or list");
        let truncated = extract_json("{\"a\": \"never closed").unwrap_err();
        assert!(truncated.starts_with("the answer is not valid JSON"), "{truncated}");
    }

    #[test]
    fn coerces_only_what_is_safe() {
        let types = TypeTable::default();
        let ty = Ty::record(vec![
            ("n", Ty::Int),
            ("level", Ty::Enum(vec!["low".to_string(), "high".to_string()].into())),
            ("note", Ty::String.optional()),
            ("name", Ty::String),
        ]);
        let mut v = json!({"n": 3.0, "level": " High ", "name": 7});
        coerce(&mut v, &ty, &types);
        assert_eq!(v, json!({"n": 3, "level": "high", "name": 7, "note": null}));
        let mut fractional = json!({"n": 3.5});
        coerce(&mut fractional, &ty, &types);
        assert_eq!(fractional["n"], json!(3.5));
    }
}
