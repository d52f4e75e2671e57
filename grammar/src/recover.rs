//! Recovery inside a flow. When a flow does not parse whole, its header and
//! each statement of its body (`step ...`, `return ...`) are parsed on their
//! own, so that a syntax error in one step does not hide the errors of the
//! others: the statements that parse are kept and checked, the broken ones
//! are reported and their step names kept (as defined, of unknown shape).
//!
//! Statements are found by a light scan like the item scan: the words `step`
//! and `return` at the body's own nesting depth start one, and so does either
//! word at the start of a line in the column of the body's first statement
//! (an unclosed bracket inside one step must not swallow the next).

use crate::ast::{Block, Broken, Ident, Item};
use crate::build::Builder;
use crate::diagnostic::Diagnostic;
use crate::scan::{first_code, skip_line, skip_string, utf8_len, word_end};
use crate::span::Span;
use crate::syntax::describe_error_as;
use crate::{Code, FlowParser, Rule};
use pest::Parser;

/// A flow rebuilt from what parsed, and what did not.
pub(crate) struct Recovered {
    pub item: Item,
    pub diagnostics: Vec<Diagnostic>,
}

/// Recovers the flow item in `chunk` of `source`; `None` when even its
/// header (`flow name(params) -> T {`) does not parse.
pub(crate) fn flow(source: &str, chunk: Span) -> Option<Recovered> {
    let text = &source[chunk.start..chunk.end];
    let (head, open) = header(text)?;
    let body_start = chunk.start + open;
    let mut scan = statements(source, body_start + 1, chunk.end);
    if scan.close.is_none() {
        // An unclosed bracket in the last statement took the body's `}`: a
        // `}` last in the flow, first on its line and in the flow's column, is it.
        scan.close = final_brace(source, chunk);
        scan.end = scan.close.unwrap_or(scan.end);
    }
    let mut diagnostics = Vec::new();
    let (mut steps, mut returns, mut broken) = (Vec::new(), Vec::new(), Broken::default());
    if let Some(junk) = first_code(source, body_start + 1, scan.starts.first().map_or(scan.end, |s| s.0)) {
        // Before the first statement: not a step (a misspelled one starts a statement).
        diagnostics.push(Diagnostic::new(
            Code::Syntax,
            token_span(source, junk),
            "expected `step` or `return`",
            "a flow's body holds steps and one `return`",
        ));
    }
    for (n, &(start, is_step)) in scan.starts.iter().enumerate() {
        let end = scan.starts.get(n + 1).map_or(scan.end, |s| s.0);
        let statement = trim_end(source, start, end);
        let rule = if is_step { Rule::step_only } else { Rule::return_only };
        match FlowParser::parse(rule, statement) {
            Ok(mut pairs) => {
                let builder = Builder::new(source, start);
                if let Some(pair) = pairs.next() {
                    match builder.statement(pair) {
                        Ok(step) => steps.push(step),
                        Err(value) => returns.push(value),
                    }
                }
                diagnostics.extend(builder.diagnostics.into_inner());
            }
            Err(_) => {
                diagnostics.push(in_statement(describe_error_as(source, start, statement, rule)));
                match step_name(source, start) {
                    Some(name) => broken.steps.push(name),
                    None => broken.returns |= !is_step,
                }
            }
        }
    }
    match scan.close {
        Some(close) => {
            if let Some(junk) = first_code(source, close + 1, chunk.end) {
                diagnostics.push(
                    Diagnostic::new(Code::Syntax, token_span(source, junk), "unexpected text after the flow", "here")
                        .with_label(Span::new(close, close + 1), "the flow ends here")
                        .with_help("remove it, or move it into the flow's body"),
                );
            }
        }
        None => {
            let mut d = Diagnostic::new(
                Code::Syntax,
                Span::new(body_start, body_start + 1),
                "this `{` is never closed",
                "opened here",
            )
            .with_help("close the flow's body with `}` after its `return`");
            if chunk.end < source.len() {
                d = d.with_label(token_span(source, chunk.end), "expected `}` before the next item");
            }
            diagnostics.push(d);
        }
    }
    let end = scan.close.map_or(scan.end, |c| c + 1);
    let body = Block { steps, returns, span: Span::new(body_start, end), broken };
    let builder = Builder::new(source, chunk.start);
    let item = builder.recovered_flow(head, body, Span::new(chunk.start, end));
    Some(Recovered { item, diagnostics })
}

/// The flow's header, parsed, and the offset of its body's `{` in `text`:
/// the first brace at depth zero after which the text before it is a whole
/// header (a record result type has braces of its own).
fn header(text: &str) -> Option<(pest::iterators::Pair<'_, Rule>, usize)> {
    let bytes = text.as_bytes();
    let (mut i, mut depth) = (0, 0usize);
    while i < bytes.len() {
        if let Some(next) = past_string_or_comment(bytes, i) {
            i = next;
            continue;
        }
        match bytes[i] {
            b'{' if depth == 0 => {
                if let Ok(mut pairs) = FlowParser::parse(Rule::flow_head_only, &text[..i]) {
                    return pairs.next().map(|p| (p, i));
                }
                depth += 1;
            }
            b'{' | b'(' | b'[' => depth += 1,
            b'}' | b')' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += utf8_len(bytes[i]);
    }
    None
}

/// Just past the string or `//` comment starting at `i`, if one does.
fn past_string_or_comment(bytes: &[u8], i: usize) -> Option<usize> {
    match bytes[i] {
        b'"' => Some(skip_string(bytes, i, 0).0),
        b'/' if bytes.get(i + 1) == Some(&b'/') => Some(skip_line(bytes, i)),
        _ => None,
    }
}

/// Where a body's statements start, and where it ends.
struct Statements {
    /// Each statement's offset, and whether it is a `step` (or looks like
    /// one with a misspelled keyword, `stpe name = ...`), else a `return`.
    starts: Vec<(usize, bool)>,
    /// The body's closing `}`, if it has one.
    close: Option<usize>,
    /// Where the last statement ends: the closing brace, or the chunk's end.
    end: usize,
}

/// Scans the body from `from` (just after its `{`) to `to`.
fn statements(source: &str, from: usize, to: usize) -> Statements {
    let bytes = &source.as_bytes()[..to];
    let (mut starts, mut depth, mut column) = (Vec::new(), 0usize, None);
    let mut i = from;
    while i < bytes.len() {
        if let Some(next) = past_string_or_comment(bytes, i) {
            i = next;
            continue;
        }
        match bytes[i] {
            b'{' | b'(' | b'[' => depth += 1,
            b'}' if depth == 0 => return Statements { starts, close: Some(i), end: i },
            b'}' | b')' | b']' => depth = depth.saturating_sub(1),
            b if b.is_ascii_alphabetic() || b == b'_' => {
                let end = word_end(bytes, i);
                let word = &source[i..end];
                let line_start = source[..i].rfind('\n').map_or(0, |n| n + 1);
                let first_on_line = source[line_start..i].trim().is_empty();
                let at_column = first_on_line && column == Some(i - line_start);
                let keyword = matches!(word, "step" | "return") && (depth == 0 || at_column);
                // `stpe name = ...` where a statement starts: a step with a misspelled keyword.
                let misspelled = first_on_line && (depth == 0 || at_column) && !keyword && named_step(source, end);
                if keyword || misspelled {
                    depth = 0;
                    column.get_or_insert(i - line_start);
                    starts.push((i, word != "return"));
                }
                i = end;
                continue;
            }
            _ => {}
        }
        i += utf8_len(bytes[i]);
    }
    Statements { starts, close: None, end: to }
}

/// The `}` that ends `chunk`, when it is its last code and stands first on
/// its line, in the column where the flow starts.
fn final_brace(source: &str, chunk: Span) -> Option<usize> {
    let text = trim_end(source, chunk.start, chunk.end);
    if !text.ends_with('}') {
        return None;
    }
    let at = chunk.start + text.len() - 1;
    let line_start = source[..at].rfind('\n').map_or(0, |n| n + 1);
    let flow_column = chunk.start - source[..chunk.start].rfind('\n').map_or(0, |n| n + 1);
    let alone = source[line_start..at].trim().is_empty() && at - line_start == flow_column;
    alone.then_some(at)
}

/// `source[start..end]` without trailing whitespace and comments.
fn trim_end(source: &str, start: usize, end: usize) -> &str {
    let mut text = source[start..end].trim_end();
    // A comment on the statement's last line is trivia, not part of it.
    loop {
        let last_line = text.rfind('\n').map_or(0, |n| n + 1);
        match text[last_line..].trim_start().starts_with("//") {
            true if last_line > 0 => text = text[..last_line].trim_end(),
            _ => return text,
        }
    }
}

/// Whether ` NAME =` follows `after` (the end of a first word).
fn named_step(source: &str, after: usize) -> bool {
    let rest = source[after..].trim_start_matches([' ', '\t']);
    let name_end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len());
    // `=`, but not `==` (a comparison) or `=>` (`catch e => ...` on a line of its own).
    let after = rest[name_end..].trim_start_matches([' ', '\t']);
    name_end > 0 && after.starts_with('=') && !after.starts_with("==") && !after.starts_with("=>")
}

/// The name of the step starting at `start` (`step NAME = ...`, or with the
/// keyword misspelled), if readable.
fn step_name(source: &str, start: usize) -> Option<Ident> {
    let keyword_end = word_end(source.as_bytes(), start);
    let rest = &source[keyword_end..];
    if source[start..keyword_end] == *"return" {
        return None;
    }
    let skipped = rest.len() - rest.trim_start().len();
    let name_start = keyword_end + skipped;
    let name_end = word_end(source.as_bytes(), name_start);
    let name = &source[name_start..name_end];
    let valid = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') && !crate::keywords::is_keyword(name);
    valid.then(|| Ident { name: name.to_string(), span: Span::new(name_start, name_end) })
}

/// The word or character at `at`.
fn token_span(source: &str, at: usize) -> Span {
    let end = word_end(source.as_bytes(), at);
    let end = if end > at { end } else { at + source[at..].chars().next().map_or(1, char::len_utf8) };
    Span::new(at, end)
}

/// A statement parsed alone ends where the next one starts, not at the end
/// of the file: say so.
fn in_statement(mut d: Diagnostic) -> Diagnostic {
    let fix = |s: &mut String| *s = s.replace("the end of the file", "the next `step` or `return`");
    fix(&mut d.message);
    for label in &mut d.labels {
        fix(&mut label.message);
    }
    d
}
