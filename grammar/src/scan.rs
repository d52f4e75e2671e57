//! A light pre-scan of the source that finds where top-level items start, so
//! a syntax error in one item does not hide the errors in the others (pest
//! stops at its first error), and that bounds nesting depth before pest's
//! recursive descent sees the text (so deep input cannot overflow the stack).
//!
//! It understands just enough of the lexical structure to do that: `//`
//! comments, plain and triple-quoted strings with `${}` interpolation, and
//! brackets. It never fails; it only reports what it saw.

use crate::span::Span;

/// Nesting deeper than this (brackets, braces, interpolations) is rejected
/// before parsing. Real programs stay well under ten.
pub const MAX_NESTING: usize = 64;

/// A comment or a blank line: what the parser skips, kept so that a
/// formatter can put it back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Trivia {
    pub kind: TriviaKind,
    /// A comment's text from `//` to the end of the line (without the line
    /// break); a blank line from its start to its line break.
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TriviaKind {
    /// `// ...`
    Comment,
    /// `/// ...`, attached to the next item, field, parameter or step.
    DocComment,
    /// A line with nothing but whitespace.
    BlankLine,
}

/// One top-level item's text, as found by the scan.
#[derive(Clone, Debug, PartialEq)]
pub struct Chunk {
    pub span: Span,
    /// The item keyword and name, when they could be read (`flow`, `triage`).
    pub keyword: Option<String>,
    pub name: Option<String>,
    /// Where nesting first went past `MAX_NESTING`, if it did.
    pub too_deep: Option<usize>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Scan {
    pub chunks: Vec<Chunk>,
    /// Text before the first item that is not whitespace or comments.
    pub leading_junk: Option<Span>,
    /// Strings opened at these offsets are never closed.
    pub unterminated_strings: Vec<Span>,
    /// Comments and blank lines outside strings, in source order.
    pub trivia: Vec<Trivia>,
}

/// Scans `source` into top-level item chunks.
pub fn scan(source: &str) -> Scan {
    let bytes = source.as_bytes();
    let mut starts: Vec<usize> = Vec::new();
    let mut depth = 0usize;
    let mut unterminated = Vec::new();
    let mut deep_at: Vec<usize> = Vec::new();
    let mut line_start = true;
    let mut trivia = Vec::new();
    // The start of the current line while it holds only whitespace.
    let mut blank_from = Some(0);
    let mut i = 0;

    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'\n' => {
                if let Some(from) = blank_from {
                    trivia.push(Trivia { kind: TriviaKind::BlankLine, span: Span::new(from, i) });
                }
                blank_from = Some(i + 1);
                line_start = true;
                i += 1;
                continue;
            }
            b' ' | b'\t' | b'\r' => {
                i += 1;
                continue;
            }
            _ => {}
        }
        let at_line_start = line_start;
        line_start = false;
        blank_from = None;

        if b == b'/' && bytes.get(i + 1) == Some(&b'/') {
            let end = skip_line(bytes, i);
            let doc = bytes.get(i + 2) == Some(&b'/') && bytes.get(i + 3) != Some(&b'/');
            let kind = if doc { TriviaKind::DocComment } else { TriviaKind::Comment };
            let text_end = if end > i && bytes[end - 1] == b'\r' { end - 1 } else { end };
            trivia.push(Trivia { kind, span: Span::new(i, text_end) });
            i = end;
            line_start = true;
            continue;
        }
        if at_line_start && b.is_ascii_alphabetic() {
            let word_end = word_end(bytes, i);
            let word = &source[i..word_end];
            let column_zero = i == 0 || bytes[i - 1] == b'\n';
            if crate::keywords::is_item_keyword(word) && (depth == 0 || column_zero) {
                // An item keyword at the start of a line at depth zero, or in
                // column zero whatever the depth (an unclosed brace above must
                // not swallow the rest of the file).
                depth = 0;
                starts.push(i);
            }
            i = word_end;
            continue;
        }
        match b {
            b'"' => {
                let (end, closed, deepest) = skip_string(bytes, i, depth);
                if !closed {
                    unterminated.push(Span::new(i, end));
                }
                if let Some(at) = deepest {
                    deep_at.push(at);
                }
                i = end;
                continue;
            }
            b'{' | b'[' | b'(' => {
                depth += 1;
                if depth > MAX_NESTING {
                    deep_at.push(i);
                }
            }
            b'}' | b']' | b')' => {
                depth = depth.saturating_sub(1);
            }
            _ => {}
        }
        i += if b.is_ascii_alphanumeric() || b == b'_' { word_end(bytes, i) - i } else { utf8_len(b) };
    }

    let mut chunks = Vec::new();
    for (n, &start) in starts.iter().enumerate() {
        let end = starts.get(n + 1).copied().unwrap_or(source.len());
        let text = &source[start..end];
        let mut words = text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).filter(|w| !w.is_empty());
        let keyword = words.next().map(str::to_string);
        let name = words.next().map(str::to_string);
        let too_deep = deep_at.iter().copied().find(|&at| at >= start && at < end);
        chunks.push(Chunk { span: Span::new(start, end), keyword, name, too_deep });
    }
    let first = starts.first().copied().unwrap_or(source.len());
    let leading_junk = first_code(source, 0, first).map(|s| Span::new(s, first));
    Scan { chunks, leading_junk, unterminated_strings: unterminated, trivia }
}

/// Where the string (with its interpolations) or `//` comment starting at
/// byte `i` of `source` ends, or `None` when none starts there: for the
/// light scans of other tools (the formatter, the language server) that
/// must not read brackets inside strings and comments.
pub fn skip_string_or_comment(source: &str, i: usize) -> Option<usize> {
    let bytes = source.as_bytes();
    match bytes.get(i)? {
        b'"' => Some(skip_string(bytes, i, 0).0),
        b'/' if bytes.get(i + 1) == Some(&b'/') => Some(skip_line(bytes, i)),
        _ => None,
    }
}

pub(crate) fn skip_line(bytes: &[u8], mut i: usize) -> usize {
    while i < bytes.len() && bytes[i] != b'\n' {
        i += 1;
    }
    i
}

pub(crate) fn word_end(bytes: &[u8], mut i: usize) -> usize {
    while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
        i += 1;
    }
    i
}

pub(crate) fn utf8_len(first: u8) -> usize {
    match first {
        0x00..=0x7f => 1,
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xff => 4,
        _ => 1,
    }
}

/// Skips a string starting at `start` (at its opening quote), including any
/// interpolations inside it. Returns the end offset, whether it was closed,
/// and where nesting first went too deep inside it.
pub(crate) fn skip_string(bytes: &[u8], start: usize, depth: usize) -> (usize, bool, Option<usize>) {
    if depth > MAX_NESTING {
        // Too deep to be a real program: give up on the rest of the file
        // rather than recurse further.
        return (bytes.len(), true, Some(start));
    }
    let triple = bytes[start..].starts_with(b"\"\"\"");
    let mut i = start + if triple { 3 } else { 1 };
    let mut deepest = None;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'\n' if !triple => return (i, false, deepest),
            b'"' if !triple => return (i + 1, true, deepest),
            b'"' if bytes[i..].starts_with(b"\"\"\"") => return (i + 3, true, deepest),
            b'$' if bytes.get(i + 1) == Some(&b'{') => {
                if depth + 1 > MAX_NESTING {
                    deepest.get_or_insert(i);
                }
                let (end, closed, deep) = skip_interpolation(bytes, i + 2, depth + 1);
                deepest = deepest.or(deep);
                if !closed {
                    return (end, false, deepest);
                }
                i = end;
            }
            _ => i += 1,
        }
    }
    (bytes.len().min(i), false, deepest)
}

/// Skips the code inside `${ ... }` up to and including its closing brace.
fn skip_interpolation(bytes: &[u8], mut i: usize, depth: usize) -> (usize, bool, Option<usize>) {
    let mut nesting = 0usize;
    let mut deepest = None;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                let (end, closed, deep) = skip_string(bytes, i, depth + nesting);
                deepest = deepest.or(deep);
                if !closed {
                    return (end, false, deepest);
                }
                i = end;
                continue;
            }
            b'{' | b'[' | b'(' => {
                nesting += 1;
                if depth + nesting > MAX_NESTING {
                    deepest.get_or_insert(i);
                }
            }
            b'}' if nesting == 0 => return (i + 1, true, deepest),
            b'}' | b']' | b')' => nesting = nesting.saturating_sub(1),
            b'\n' if depth > MAX_NESTING => return (i, false, deepest),
            _ => {}
        }
        i += 1;
    }
    (bytes.len(), false, deepest)
}

/// The offset of the first byte in `start..end` that is not whitespace or a comment.
pub(crate) fn first_code(source: &str, start: usize, end: usize) -> Option<usize> {
    let bytes = source.as_bytes();
    let mut i = start;
    while i < end {
        match bytes[i] {
            b' ' | b'\t' | b'\r' | b'\n' => i += 1,
            b'/' if bytes.get(i + 1) == Some(&b'/') => i = skip_line(bytes, i),
            _ if source[i..].starts_with('\u{FEFF}') => i += 3,
            _ => return Some(i),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_items_and_survives_unclosed_braces() {
        let src = "type A { x: int }\nflow f() -> int {\n  step a = {\nflow g() -> int { return 1 }\n";
        let s = scan(src);
        let names: Vec<_> = s.chunks.iter().map(|c| c.name.clone().unwrap_or_default()).collect();
        assert_eq!(names, ["A", "f", "g"]);
    }

    #[test]
    fn keywords_inside_strings_are_not_items() {
        let src = "flow f() -> string {\n  return \"\"\"\nflow inside\n\"\"\"\n}\n";
        assert_eq!(scan(src).chunks.len(), 1);
    }

    #[test]
    fn deep_nesting_is_flagged() {
        let src = format!("flow f() -> int {{ return {}1{} }}", "(".repeat(100), ")".repeat(100));
        assert!(scan(&src).chunks[0].too_deep.is_some());
    }

    #[test]
    fn unterminated_plain_string_stops_at_line_end() {
        let s = scan("flow f() -> string { return \"abc\n}\n");
        assert_eq!(s.unterminated_strings.len(), 1);
    }
}
