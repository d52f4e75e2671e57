//! From a value as written ([`Raw`]) to JSON of the target type, guided by
//! the type: each fix that had to be made (a number read from `"$1,200"`, a
//! key matched without case, a bare value wrapped in a list) costs a point,
//! so that among several readings of an answer the one that needed the
//! fewest fixes wins. The fixes are the ones `docs/language.md` lists; what
//! none of them makes fit is an error naming where.

use super::lenient::Raw;
use flow_compiler::types::{Ty, TypeTable};
use serde_json::Value as J;

/// A reading: the value and how many fixes it took.
pub type Fit = Result<(J, u32), String>;

/// How deep types may nest while reading (recursive types stop here).
const MAX_DEPTH: u32 = 64;

/// Reads `raw` as a value of `ty`.
pub fn coerce(raw: &Raw, ty: &Ty, types: &TypeTable) -> Fit {
    at(raw, ty, types, 0, "")
}

fn at(raw: &Raw, ty: &Ty, types: &TypeTable, depth: u32, path: &str) -> Fit {
    if depth > MAX_DEPTH {
        return Err(format!("{}: nested too deeply", place(path)));
    }
    match types.resolve(ty) {
        Ty::Optional(inner) => match raw {
            Raw::Bare(w) if is_null(w) => Ok((J::Null, 0)),
            _ => at(raw, inner, types, depth + 1, path),
        },
        Ty::Null => match raw {
            Raw::Bare(w) if is_null(w) => Ok((J::Null, 0)),
            _ => Err(format!("{}: expected null", place(path))),
        },
        Ty::String => string(raw, path),
        Ty::Int => int(raw, path),
        Ty::Float | Ty::Percent => float(raw, path),
        Ty::Bool => boolean(raw, path),
        Ty::Lit(member) => one_of(raw, std::slice::from_ref(&member.to_string()), types, path),
        Ty::Enum(members) => one_of(raw, members, types, path),
        Ty::List(item) => list(raw, item, types, depth, path),
        Ty::Map(item) => map(raw, item, types, depth, path),
        Ty::Record(record) => record_of(raw, &record.fields, types, depth, path),
        Ty::Duration => match raw {
            Raw::Bare(w) => w.parse::<u64>().map(|n| (J::from(n), 0)).map_err(|_| expected(path, "a duration")),
            _ => Err(expected(path, "a duration")),
        },
        Ty::Union(members) => union(raw, members, types, depth, path),
        Ty::Const(c) => constant(raw, *c, path),
        Ty::Unknown | Ty::Never | Ty::Named(_) => Ok((plain(raw), 0)),
    }
}

/// A number or bool literal type: read as its `int`, `float` or `bool`
/// (with the same fixes), then it must be that very value.
fn constant(raw: &Raw, c: flow_compiler::types::Const, path: &str) -> Fit {
    use flow_compiler::types::Const;
    let (value, cost) = match c {
        Const::Int(_) => int(raw, path)?,
        Const::Float(_) => float(raw, path)?,
        Const::Bool(_) => boolean(raw, path)?,
    };
    let same = match (c, &value) {
        (Const::Int(n), J::Number(v)) => v.as_i64() == Some(n),
        (Const::Float(x), J::Number(v)) => v.as_f64() == Some(x),
        (Const::Bool(b), J::Bool(v)) => *v == b,
        _ => false,
    };
    if same { Ok((c.json(), cost)) } else { Err(format!("{}: expected {c}, got {value}", place(path))) }
}

/// The member the answer fits with the fewest fixes (the first written on
/// a tie): a record union is told apart by its literal fields, an
/// undiscriminated one by which fields fit.
fn union(raw: &Raw, members: &[Ty], types: &TypeTable, depth: u32, path: &str) -> Fit {
    let mut best: Option<(J, u32)> = None;
    let mut first_error = None;
    for m in members {
        match at(raw, m, types, depth + 1, path) {
            Ok((value, cost)) if best.as_ref().is_none_or(|(_, b)| cost < *b) => best = Some((value, cost)),
            Ok(_) => {}
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    best.ok_or_else(|| first_error.unwrap_or_else(|| expected(path, "one of the union's members")))
}

fn place(path: &str) -> String {
    if path.is_empty() { "the answer".into() } else { format!("at {path}") }
}

fn expected(path: &str, what: &str) -> String {
    format!("{}: expected {what}", place(path))
}

fn is_null(word: &str) -> bool {
    matches!(word, "null" | "None" | "NULL" | "nil" | "undefined")
}

/// The value as plain JSON, no type in mind.
pub fn plain(raw: &Raw) -> J {
    match raw {
        Raw::Object(fields) => J::Object(fields.iter().map(|(k, v)| (k.clone(), plain(v))).collect()),
        Raw::Array(items) => J::Array(items.iter().map(plain).collect()),
        Raw::Str(s) => J::String(s.clone()),
        Raw::Bare(w) => match w.as_str() {
            "true" | "True" => J::Bool(true),
            "false" | "False" => J::Bool(false),
            w if is_null(w) => J::Null,
            w => serde_json::from_str::<serde_json::Number>(w).map(J::Number).unwrap_or_else(|_| J::String(w.into())),
        },
    }
}

fn string(raw: &Raw, path: &str) -> Fit {
    match raw {
        Raw::Str(s) => Ok((J::String(s.clone()), 0)),
        // An unquoted word or number where text is wanted is that text.
        Raw::Bare(w) if is_null(w) => Err(expected(path, "a string, not null")),
        Raw::Bare(w) => Ok((J::String(w.clone()), 1)),
        _ => Err(expected(path, "a string")),
    }
}

fn int(raw: &Raw, path: &str) -> Fit {
    let (n, cost) = number(raw).ok_or_else(|| expected(path, "an int"))?;
    if n.fract() != 0.0 || n.abs() >= 9.0e15 {
        return Err(format!("{}: expected an int, got {n}", place(path)));
    }
    Ok((J::from(n as i64), cost + u32::from(raw_is_fractional(raw))))
}

fn raw_is_fractional(raw: &Raw) -> bool {
    matches!(raw, Raw::Bare(w) | Raw::Str(w) if w.contains('.'))
}

fn float(raw: &Raw, path: &str) -> Fit {
    let (n, cost) = number(raw).ok_or_else(|| expected(path, "a number"))?;
    let value = serde_json::Number::from_f64(n).map(J::Number).ok_or_else(|| expected(path, "a finite number"))?;
    Ok((value, cost))
}

/// A number as written: plain JSON (free), or with thousands separators, a
/// currency sign or a percent sign, or in quotes (one fix each).
fn number(raw: &Raw) -> Option<(f64, u32)> {
    let (text, quoted) = match raw {
        Raw::Bare(w) => (w.as_str(), 0),
        Raw::Str(s) => (s.trim(), 1),
        _ => return None,
    };
    if let Ok(n) = text.parse::<f64>()
        && n.is_finite()
        && !text.starts_with('+')
        && !text.eq_ignore_ascii_case("nan")
        && !text.to_ascii_lowercase().contains("inf")
    {
        return Some((n, quoted));
    }
    let (negative, rest) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let rest = rest.trim_start_matches(['$', '€', '£', '¥']).trim_end_matches('%').trim();
    // Thousands separators only between groups of three digits.
    let (whole, fraction) = rest.split_once('.').unwrap_or((rest, ""));
    let groups: Vec<&str> = whole.split(',').collect();
    let grouped = groups.len() == 1
        || (!groups[0].is_empty() && groups[0].len() <= 3 && groups[1..].iter().all(|g| g.len() == 3));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !grouped || !groups.iter().all(|g| digits(g)) || !(fraction.is_empty() || digits(fraction)) {
        return None;
    }
    let n: f64 = format!("{}{}.{}", if negative { "-" } else { "" }, groups.concat(), fraction.trim_end_matches('.'))
        .trim_end_matches('.')
        .parse()
        .ok()?;
    Some((n, quoted + 1))
}

fn boolean(raw: &Raw, path: &str) -> Fit {
    let (text, quoted) = match raw {
        Raw::Bare(w) => (w.as_str(), 0),
        Raw::Str(s) => (s.as_str(), 1),
        _ => return Err(expected(path, "true or false")),
    };
    match strip_decoration(text).to_ascii_lowercase().as_str() {
        "true" => Ok((J::Bool(true), quoted + u32::from(text != "true"))),
        "false" => Ok((J::Bool(false), quoted + u32::from(text != "false"))),
        _ => Err(format!("{}: expected true or false, got {}", place(path), shown(text))),
    }
}

/// Text without markdown emphasis, quotes and trailing punctuation around it.
pub fn strip_decoration(text: &str) -> &str {
    text.trim().trim_matches(|c: char| matches!(c, '*' | '_' | '`' | '"' | '\'')).trim_end_matches(['.', '!']).trim()
}

fn shown(text: &str) -> String {
    let short: String = text.chars().take(40).collect();
    format!("\"{short}\"")
}

/// A member of a literal union: exact (free); or after folding case,
/// accents and the decoration around it, or as the first word of a
/// "MEMBER: description" (one fix).
fn one_of(raw: &Raw, members: &[String], types: &TypeTable, path: &str) -> Fit {
    let text = match raw {
        Raw::Str(s) | Raw::Bare(s) => s.as_str(),
        _ => return Err(expected(path, &members_list(members))),
    };
    // A member by the name the model was shown (`as`) or by its own.
    let names = |m: &String| [types.shown_member(m).to_string(), m.clone()];
    if let Some(m) = members.iter().find(|m| names(m).iter().any(|n| n == text)) {
        return Ok((J::String(m.clone()), 0));
    }
    let folded = fold(strip_decoration(text));
    if let Some(m) = members.iter().find(|m| names(m).iter().any(|n| fold(n) == folded)) {
        return Ok((J::String(m.clone()), 1));
    }
    // "ONE: the first option", "ONE - because ...", "ONE (the first)"
    let plain = strip_decoration(text);
    let cut = [": ", " - ", " — ", " (", ", ", ":\n"].iter().filter_map(|sep| plain.find(sep)).min();
    let head = fold(strip_decoration(cut.map_or("", |at| &plain[..at])));
    match members.iter().find(|m| names(m).iter().any(|n| fold(n) == head)) {
        Some(m) if !head.is_empty() => Ok((J::String(m.clone()), 2)),
        _ => Err(format!("{}: expected {}, got {}", place(path), members_list(members), shown(text))),
    }
}

fn members_list(members: &[String]) -> String {
    let shown: Vec<String> = members.iter().take(8).map(|m| format!("\"{m}\"")).collect();
    format!("one of {}", shown.join(", "))
}

/// Lowercase, without accents, with runs of spaces, dashes and underscores
/// as one `_`: `Café  Au-Lait` and `cafe_au_lait` fold alike.
/// A lowercase letter followed by a capital (`firstName`, `TotalCount`)
/// is a word boundary too.
pub fn fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut gap = false;
    let mut prev_lower = false;
    for c in text.trim().chars() {
        if c.is_whitespace() || c == '-' || c == '_' {
            gap = !out.is_empty();
            prev_lower = false;
            continue;
        }
        if (gap || (prev_lower && c.is_uppercase())) && !out.is_empty() {
            out.push('_');
        }
        gap = false;
        prev_lower = c.is_lowercase() || c.is_ascii_digit();
        out.extend(c.to_lowercase().map(unaccent));
    }
    out
}

/// The base letter of a Latin letter with a diacritic.
fn unaccent(c: char) -> char {
    match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' => 'a',
        'ç' => 'c',
        'è' | 'é' | 'ê' | 'ë' => 'e',
        'ì' | 'í' | 'î' | 'ï' => 'i',
        'ñ' => 'n',
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' => 'o',
        'ù' | 'ú' | 'û' | 'ü' => 'u',
        'ý' | 'ÿ' => 'y',
        other => other,
    }
}

fn list(raw: &Raw, item: &Ty, types: &TypeTable, depth: u32, path: &str) -> Fit {
    match raw {
        Raw::Array(items) => {
            let each = || -> Fit {
                let mut out = Vec::with_capacity(items.len());
                let mut cost = 0;
                for (i, v) in items.iter().enumerate() {
                    let (value, c) = at(v, item, types, depth + 1, &format!("{path}[{i}]"))?;
                    out.push(value);
                    cost += c;
                }
                Ok((J::Array(out), cost))
            };
            // A list where a list of lists is wanted may be its one item.
            if !matches!(types.resolve(item), Ty::List(_)) {
                return each();
            }
            let whole = at(raw, item, types, depth + 1, &format!("{path}[0]")).map(|(v, c)| (J::Array(vec![v]), c + 2));
            match (each(), whole) {
                (Ok(a), Ok(b)) => Ok(if b.1 < a.1 { b } else { a }),
                (Ok(a), Err(_)) | (Err(_), Ok(a)) => Ok(a),
                (Err(e), Err(_)) => Err(e),
            }
        }
        // One value where a list is wanted is a list of one (not null).
        Raw::Bare(w) if is_null(w) => Err(expected(path, "a list")),
        single => {
            let (value, cost) = at(single, item, types, depth + 1, &format!("{path}[0]"))?;
            Ok((J::Array(vec![value]), cost + 2))
        }
    }
}

fn map(raw: &Raw, item: &Ty, types: &TypeTable, depth: u32, path: &str) -> Fit {
    let Raw::Object(fields) = raw else { return Err(expected(path, "an object")) };
    let mut out = serde_json::Map::new();
    let mut cost = 0;
    for (k, v) in fields {
        let (value, c) = at(v, item, types, depth + 1, &format!("{path}.{k}"))?;
        out.insert(k.clone(), value);
        cost += c;
    }
    Ok((J::Object(out), cost))
}

fn record_of(raw: &Raw, fields: &[flow_compiler::types::FieldTy], types: &TypeTable, depth: u32, path: &str) -> Fit {
    let Raw::Object(given) = raw else {
        // A bare value where a record of one field is wanted is that field.
        return match fields {
            [only] if !matches!(raw, Raw::Bare(w) if is_null(w)) => {
                let (value, cost) = at(raw, &only.ty, types, depth + 1, &format!("{path}.{}", only.name))?;
                Ok((J::Object([(only.name.clone(), value)].into_iter().collect()), cost + 2))
            }
            _ => Err(expected(path, "an object")),
        };
    };
    let mut out = serde_json::Map::new();
    let mut cost = 0;
    for field in fields {
        let here = format!("{path}.{}", field.name);
        // The name the model was shown (its alias), the field's own, then either folded.
        let shown = field.alias.as_deref().unwrap_or(&field.name);
        let exact = given.iter().find(|(k, _)| k == shown || *k == field.name);
        let (found, key_cost) = match exact {
            Some((_, v)) => (Some(v), 0),
            None => {
                let near = |k: &String| fold(k) == fold(shown) || fold(k) == fold(&field.name);
                (given.iter().find(|(k, _)| near(k)).map(|(_, v)| v), 1)
            }
        };
        match found {
            Some(v) => {
                let (value, c) = at(v, &field.ty, types, depth + 1, &here)?;
                out.insert(field.name.clone(), value);
                cost += c + key_cost;
            }
            None if matches!(types.resolve(&field.ty), Ty::Optional(_)) => {
                out.insert(field.name.clone(), J::Null);
            }
            None => return Err(format!("{}: the field `{}` is missing", place(path), field.name)),
        }
    }
    Ok((J::Object(out), cost))
}
