//! Semantic tokens: a light lexer finds comments, strings, numbers and
//! words; the analysis says what each name is (a step, a parameter, a tool,
//! a type...) and the syntax what fields, record keys and methods are.

use super::walk;
use crate::document::Document;
use flow_compiler::DefKind;
use flow_grammar::ast::ExprKind;
use flow_grammar::keywords::KEYWORDS;
use std::collections::HashMap;
use tower_lsp_server::ls_types::{SemanticToken, SemanticTokenModifier, SemanticTokenType, SemanticTokensLegend};

/// Token types, in legend order.
const TYPES: &[SemanticTokenType] = &[
    SemanticTokenType::KEYWORD,
    SemanticTokenType::TYPE,
    SemanticTokenType::FUNCTION,
    SemanticTokenType::METHOD,
    SemanticTokenType::PARAMETER,
    SemanticTokenType::VARIABLE,
    SemanticTokenType::PROPERTY,
    SemanticTokenType::STRING,
    SemanticTokenType::NUMBER,
    SemanticTokenType::COMMENT,
];
const KEYWORD: u32 = 0;
const TYPE: u32 = 1;
const FUNCTION: u32 = 2;
const METHOD: u32 = 3;
const PARAMETER: u32 = 4;
const VARIABLE: u32 = 5;
const PROPERTY: u32 = 6;
const STRING: u32 = 7;
const NUMBER: u32 = 8;
const COMMENT: u32 = 9;

/// Modifiers, as bits in legend order.
const MODIFIERS: &[SemanticTokenModifier] = &[
    SemanticTokenModifier::DECLARATION,
    SemanticTokenModifier::DOCUMENTATION,
    SemanticTokenModifier::DEFAULT_LIBRARY,
    SemanticTokenModifier::READONLY,
];
const DECLARATION: u32 = 1;
const DOCUMENTATION: u32 = 2;
const DEFAULT_LIBRARY: u32 = 4;
const READONLY: u32 = 8;

/// The names and order of the token types and modifiers.
pub fn legend() -> SemanticTokensLegend {
    SemanticTokensLegend { token_types: TYPES.to_vec(), token_modifiers: MODIFIERS.to_vec() }
}

/// A token: byte range, type and modifiers.
type Raw = (usize, usize, u32, u32);

/// The whole file's tokens, encoded as the protocol wants (relative positions, UTF-16).
pub fn tokens(doc: &Document) -> Vec<SemanticToken> {
    let names = classify_names(doc);
    let mut raw = Vec::new();
    let bytes = doc.text.as_bytes();
    lex(&doc.text, bytes, 0, false, &names, &mut raw);
    encode(doc, &raw)
}

/// What each name in the file is, by its start offset.
fn classify_names(doc: &Document) -> HashMap<usize, (u32, u32)> {
    let analysis = &doc.analysis;
    let kind = |k: DefKind| match k {
        DefKind::Type => (TYPE, 0),
        DefKind::Model => (VARIABLE, READONLY),
        DefKind::Tool | DefKind::Flow | DefKind::Test => (FUNCTION, 0),
        DefKind::Step => (VARIABLE, 0),
        _ => (PARAMETER, 0),
    };
    let mut names = HashMap::new();
    for d in analysis.definitions() {
        let (t, m) = kind(d.kind);
        names.insert(d.span.start, (t, m | DECLARATION));
    }
    for r in analysis.references() {
        if let Some(d) = analysis.definition(r.definition) {
            names.insert(r.span.start, kind(d.kind));
        }
    }
    for (span, _) in analysis.builtin_names() {
        let method = doc.text[..span.start].trim_end().ends_with('.');
        names.insert(span.start, (if method { METHOD } else { FUNCTION }, DEFAULT_LIBRARY));
    }
    let syntax = walk::syntax(&analysis.file);
    for f in &syntax.fields {
        names.insert(f.name.span.start, (PROPERTY, DECLARATION));
    }
    for k in &syntax.keys {
        names.entry(k.span.start).or_insert((PROPERTY, 0));
    }
    for e in &syntax.exprs {
        match &e.kind {
            ExprKind::Field { name, .. } => {
                names.entry(name.span.start).or_insert((PROPERTY, 0));
            }
            ExprKind::Method { name, .. } => {
                names.entry(name.span.start).or_insert((METHOD, DEFAULT_LIBRARY));
            }
            _ => {}
        }
    }
    names
}

/// Lexes from `i`; inside an interpolation (`nested`), up to its closing
/// brace, whose offset it returns.
fn lex(
    text: &str,
    bytes: &[u8],
    mut i: usize,
    nested: bool,
    names: &HashMap<usize, (u32, u32)>,
    out: &mut Vec<Raw>,
) -> usize {
    let mut depth = 0usize;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                let end = i + bytes[i..].iter().position(|&c| c == b'\n').unwrap_or(bytes.len() - i);
                let doc = bytes.get(i + 2) == Some(&b'/') && bytes.get(i + 3) != Some(&b'/');
                out.push((i, end, COMMENT, if doc { DOCUMENTATION } else { 0 }));
                i = end;
            }
            b'"' => i = string(text, bytes, i, names, out),
            b'0'..=b'9' => {
                let end = i + bytes[i..]
                    .iter()
                    .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'%'))
                    .count();
                // `1..5` is two numbers.
                let end = text[i..end].find("..").map_or(end, |d| i + d);
                out.push((i, end, NUMBER, 0));
                i = end;
            }
            b'a'..=b'z' | b'A'..=b'Z' | b'_' => {
                let end = i + bytes[i..].iter().take_while(|c| c.is_ascii_alphanumeric() || **c == b'_').count();
                let word = &text[i..end];
                if let Some(&(t, m)) = names.get(&i) {
                    out.push((i, end, t, m));
                } else if KEYWORDS.iter().any(|k| k.word == word) {
                    out.push((i, end, KEYWORD, 0));
                } else if matches!(word, "string" | "int" | "float" | "bool" | "duration" | "percent" | "Message") {
                    out.push((i, end, TYPE, DEFAULT_LIBRARY));
                }
                i = end;
            }
            b'{' => {
                depth += 1;
                i += 1;
            }
            b'}' if nested && depth == 0 => return i,
            b'}' => {
                depth = depth.saturating_sub(1);
                i += 1;
            }
            _ => i += text[i..].chars().next().map_or(1, char::len_utf8),
        }
    }
    i
}

/// A string from its opening quote: its text as string tokens, its
/// interpolations lexed as code. Returns the offset after it.
fn string(text: &str, bytes: &[u8], start: usize, names: &HashMap<usize, (u32, u32)>, out: &mut Vec<Raw>) -> usize {
    let triple = bytes[start..].starts_with(b"\"\"\"");
    let quote = if triple { 3 } else { 1 };
    let mut piece = start;
    let mut i = start + quote;
    while i < bytes.len() {
        if bytes[i] == b'\\' {
            i += 2;
        } else if (triple && bytes[i..].starts_with(b"\"\"\"")) || (!triple && bytes[i] == b'"') {
            out.push((piece, i + quote, STRING, 0));
            return i + quote;
        } else if !triple && bytes[i] == b'\n' {
            break;
        } else if bytes[i] == b'$' && bytes.get(i + 1) == Some(&b'{') {
            out.push((piece, i + 2, STRING, 0));
            let close = lex(text, bytes, i + 2, true, names, out);
            piece = close;
            i = close + 1;
        } else {
            i += 1;
        }
    }
    let end = i.min(bytes.len());
    out.push((piece, end, STRING, 0));
    end
}

/// Relative, per-line, UTF-16 encoding; a token over several lines (a
/// triple-quoted string) becomes one per line.
fn encode(doc: &Document, raw: &[Raw]) -> Vec<SemanticToken> {
    let mut out = Vec::with_capacity(raw.len());
    let (mut last_line, mut last_col) = (0u32, 0u32);
    for &(start, end, token_type, modifiers) in raw {
        let mut from = start;
        while from < end {
            let line_end = doc.text[from..end].find('\n').map_or(end, |n| from + n);
            if line_end > from {
                let p = doc.position(from);
                let length: usize = doc.text[from..line_end].chars().map(char::len_utf16).sum();
                let delta_line = p.line - last_line;
                let delta_start = if delta_line == 0 { p.character - last_col } else { p.character };
                out.push(SemanticToken {
                    delta_line,
                    delta_start,
                    length: length as u32,
                    token_type,
                    token_modifiers_bitset: modifiers,
                });
                (last_line, last_col) = (p.line, p.character);
            }
            from = line_end + 1;
        }
    }
    out
}
