//! Reading a model's answer as a value of the step's type, the way BAML's
//! "schema-aligned parsing" does: gather every plausible reading of the
//! text (the whole answer as JSON, each code fence, each `{...}`/`[...]`
//! in the prose, several objects in a row, the text itself, a lone word or
//! number in it), read each leniently ([`lenient`]) and then as the type
//! ([`coerce`]), and keep the one that needed the fewest fixes; the
//! earliest wins a tie. The order and the fixes are listed in
//! `docs/language.md`. An answer none of them makes fit fails, with the
//! problem of the reading that came closest, naming its span.

mod coerce;
mod lenient;

use coerce::{fold, strip_decoration};
use flow_compiler::types::{Ty, TypeTable};
use lenient::{Raw, read_at};
use serde_json::Value as J;

/// The field a non-record answer is wrapped in (as the schema asks).
const WRAP: &str = flow_compiler::schema::WRAP_FIELD;

/// At most this many `{`/`[` spans are tried (a long answer full of code).
const MAX_SPANS: usize = 24;

/// One way of reading the answer, with the fixes it took to find it.
struct Candidate {
    raw: Raw,
    /// What it is, for an error: "the answer", "the JSON at 12–48", ...
    what: String,
    cost: u32,
}

/// The value of type `ty` in a model's answer `text`; `wrapped` when the
/// schema asked for `{"value": ...}`. The error names what was tried.
pub fn read(text: &str, ty: &Ty, types: &TypeTable, wrapped: bool) -> Result<J, String> {
    let candidates = candidates(text, types.resolve(ty), types);
    let mut best: Option<(J, u32)> = None;
    let mut first_error: Option<String> = None;
    for c in &candidates {
        let readings = unwrapped(&c.raw, wrapped);
        for (raw, extra) in readings {
            match coerce::coerce(raw, ty, types) {
                Ok((value, cost)) => {
                    let cost = cost + c.cost + extra;
                    if best.as_ref().is_none_or(|(_, b)| cost < *b) {
                        best = Some((value, cost));
                    }
                }
                Err(e) if first_error.is_none() && !matches!(c.raw, Raw::Bare(_)) => {
                    first_error = Some(match e.strip_prefix("the answer") {
                        Some(rest) => format!("{}{rest}", c.what),
                        None => format!("{}, {e}", c.what),
                    });
                }
                Err(_) => {}
            }
        }
    }
    match best {
        Some((value, _)) => Ok(value),
        None => Err(first_error.unwrap_or_else(|| nothing_fits(text, types.resolve(ty)))),
    }
}

/// The readings of one candidate: itself, and for a wrapped answer the
/// inside of `{"value": ...}` (free) — a model may or may not wrap.
fn unwrapped(raw: &Raw, wrapped: bool) -> Vec<(&Raw, u32)> {
    if wrapped
        && let Raw::Object(fields) = raw
        && let [(key, inner)] = fields.as_slice()
        && fold(key) == WRAP
    {
        return vec![(inner, 0), (raw, 1)];
    }
    vec![(raw, if wrapped { 1 } else { 0 })]
}

fn nothing_fits(text: &str, ty: &Ty) -> String {
    let what = match ty {
        Ty::Record(_) | Ty::Map(_) => "JSON object",
        Ty::List(_) => "JSON list",
        _ => "value of the expected type",
    };
    if text.trim().is_empty() {
        return "the answer is empty".into();
    }
    format!("the answer contains no {what}")
}

/// Every reading worth trying, cheapest first.
fn candidates(text: &str, target: &Ty, types: &TypeTable) -> Vec<Candidate> {
    let mut out = Vec::new();
    let trimmed = text.trim();
    if let Ok(value) = serde_json::from_str::<J>(trimmed) {
        // An answer that is JSON is read as JSON only: `null` is not the text "null".
        out.push(Candidate { raw: from_json(&value), what: "the answer".into(), cost: 0 });
        return out;
    }
    let outside = without_thinking(text);
    for (start, body) in fences(&outside) {
        spans(body, start, 0, &mut out);
    }
    let first_span = out.len();
    spans(&outside, 0, 1, &mut out);
    // Several objects in a row, where a list is wanted.
    if matches!(target, Ty::List(_)) {
        let items: Vec<Raw> =
            out[first_span..].iter().filter(|c| matches!(c.raw, Raw::Object(_))).map(|c| c.raw.clone()).collect();
        if items.len() > 1 {
            out.push(Candidate { raw: Raw::Array(items), what: "the objects in the answer".into(), cost: 1 });
        }
    }
    words(&outside, target, types, &mut out);
    out
}

/// `text` without `<thinking>`/`<think>`/`<reasoning>` blocks, whose
/// braces are the model's scratch work, not its answer (spaces keep the
/// positions).
fn without_thinking(text: &str) -> String {
    let mut out = text.to_string();
    for tag in ["thinking", "think", "reasoning", "scratchpad"] {
        let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
        let mut from = 0;
        while let Some(start) = out[from..].find(&open).map(|i| i + from) {
            let end = out[start..].find(&close).map_or(out.len(), |i| start + i + close.len());
            // As many bytes as it hides, so every later position stays where it was.
            let blank: String = out[start..end]
                .chars()
                .map(|c| if c == '\n' { "\n".to_string() } else { " ".repeat(c.len_utf8()) })
                .collect();
            out.replace_range(start..end, &blank);
            from = start + blank.len();
        }
    }
    out
}

/// The bodies of the code fences in `text`, with where each starts.
fn fences(text: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(open) = text[from..].find("```").map(|i| i + from) {
        let body_start = text[open + 3..].find('\n').map_or(text.len(), |i| open + 3 + i + 1);
        let body_end = text[body_start..].find("```").map_or(text.len(), |i| body_start + i);
        out.push((body_start, &text[body_start..body_end]));
        from = (body_end + 3).min(text.len());
        if body_end >= text.len() {
            break;
        }
    }
    out
}

/// Each `{...}` or `[...]` in `text` (at `offset` in the answer), read
/// leniently; one that the text cuts off costs more.
fn spans(text: &str, offset: usize, cost: u32, out: &mut Vec<Candidate>) {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut index = 0;
    let mut found = 0;
    while let Some(start) = chars[index..].iter().position(|&(_, c)| c == '{' || c == '[').map(|i| i + index) {
        if found >= MAX_SPANS {
            break;
        }
        let read = read_at(&chars, start, text.len());
        found += 1;
        let at = chars[start].0;
        let what = format!("the JSON at characters {}–{}", offset + at, offset + read.end);
        let cost = cost + if read.closed { 0 } else { 3 };
        out.push(Candidate { raw: read.value, what, cost });
        // A cut-off span runs to the end: what follows is a part of it, not another reading.
        if !read.closed {
            break;
        }
        let next = chars.partition_point(|&(i, _)| i < read.end);
        index = next.max(start + 1);
    }
}

/// Readings of the text itself for a scalar type: the whole text (a string,
/// a word, a number), or the one member, boolean or number named in it.
fn words(text: &str, target: &Ty, types: &TypeTable, out: &mut Vec<Candidate>) {
    let whole = text.trim();
    let target = match target {
        Ty::Optional(inner) => types.resolve(inner),
        other => other,
    };
    match target {
        // Each member's readings (a union of scalars: `int | string`).
        Ty::Union(members) => {
            for m in members.iter() {
                words(text, types.resolve(m), types, out);
            }
        }
        Ty::Const(c) => words(text, &c.base(), types, out),
        Ty::String => out.push(Candidate { raw: Raw::Str(unfenced(whole)), what: "the text".into(), cost: 3 }),
        Ty::Int | Ty::Float | Ty::Percent => {
            out.push(Candidate { raw: Raw::Bare(strip_decoration(whole).into()), what: "the text".into(), cost: 3 });
            if let [one] = numbers(whole).as_slice() {
                out.push(Candidate { raw: Raw::Bare(one.clone()), what: "the number in the text".into(), cost: 5 });
            }
        }
        Ty::Bool => named(whole, &["true".into(), "false".into()], types, out),
        Ty::Enum(members) => named(whole, members, types, out),
        Ty::Lit(member) => named(whole, &[member.to_string()], types, out),
        _ => {}
    }
}

/// The text of a one-fence answer without its fence.
fn unfenced(text: &str) -> String {
    match fences(text).as_slice() {
        [(_, body)] if text.starts_with("```") && text.ends_with("```") => body.trim().to_string(),
        _ => text.to_string(),
    }
}

/// The whole text as a member (`**True**`, `Positive.`), or the only member
/// named in it as a word, however often ("The answer is One").
fn named(text: &str, members: &[String], types: &TypeTable, out: &mut Vec<Candidate>) {
    out.push(Candidate { raw: Raw::Bare(text.to_string()), what: "the text".into(), cost: 3 });
    let folded = fold(text);
    let seen: Vec<&String> = members
        .iter()
        .filter(|m| contains_word(&folded, &fold(m)) || contains_word(&folded, &fold(types.shown_member(m))))
        .collect();
    if let [one] = seen.as_slice() {
        out.push(Candidate { raw: Raw::Bare((*one).clone()), what: "the word in the text".into(), cost: 5 });
    }
}

/// Whether `word` stands in `text` as a whole word (both folded).
fn contains_word(text: &str, word: &str) -> bool {
    if word.is_empty() {
        return false;
    }
    let boundary = |c: Option<char>| c.is_none_or(|c| !c.is_alphanumeric());
    text.match_indices(word)
        .any(|(i, _)| boundary(text[..i].chars().next_back()) && boundary(text[i + word.len()..].chars().next()))
}

/// The number-like tokens of a text (`42`, `-3.5`, `$1,200`, `12%`).
fn numbers(text: &str) -> Vec<String> {
    text.split(|c: char| c.is_whitespace() || matches!(c, '(' | ')' | ':' | ';' | '='))
        .map(|t| {
            t.trim_matches(|c: char| matches!(c, '*' | '_' | '`' | '"' | '\'')).trim_end_matches(['.', ',', '!', '?'])
        })
        .filter(|t| t.chars().any(|c| c.is_ascii_digit()))
        .filter(|t| t.chars().all(|c| c.is_ascii_digit() || matches!(c, '.' | ',' | '-' | '$' | '€' | '£' | '%')))
        .map(str::to_string)
        .collect()
}

/// A parsed JSON value as a [`Raw`] tree.
fn from_json(value: &J) -> Raw {
    match value {
        J::Object(map) => Raw::Object(map.iter().map(|(k, v)| (k.clone(), from_json(v))).collect()),
        J::Array(items) => Raw::Array(items.iter().map(from_json).collect()),
        J::String(s) => Raw::Str(s.clone()),
        other => Raw::Bare(other.to_string()),
    }
}
