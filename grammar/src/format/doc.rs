//! A small Wadler-style document algebra and its printer: the formatter
//! describes a layout with groups that are printed flat when they fit the
//! width and broken (every line break taken) when they do not.

/// A layout.
#[derive(Clone, Debug)]
pub enum Doc {
    /// Text without line breaks.
    Text(String),
    /// A triple-quoted string as written: its continuation lines are moved
    /// with the line it starts on (`old_indent` is that line's indentation in
    /// the source) when `shift` allows; it never fits on one line.
    Verbatim {
        text: String,
        old_indent: usize,
        shift: bool,
    },
    /// A space when flat, a line break when broken.
    Line,
    /// Nothing when flat, a line break when broken.
    SoftLine,
    /// Always a line break; a group holding one never prints flat.
    HardLine,
    /// A line break without indentation (a blank line's first half).
    Blank,
    /// Makes every enclosing group break (a `//` comment ends its line).
    BreakParent,
    /// Indents the line breaks inside by one level.
    Nest(Box<Doc>),
    /// Flat if it fits in the rest of the line, broken otherwise.
    Group(Box<Doc>),
    /// The first when the enclosing group is broken, the second when flat.
    IfBreak(Box<Doc>, Box<Doc>),
    Concat(Vec<Doc>),
}

/// One level of indentation.
pub const INDENT: usize = 2;

pub fn text(s: impl Into<String>) -> Doc {
    Doc::Text(s.into())
}

pub fn nest(d: Doc) -> Doc {
    Doc::Nest(Box::new(d))
}

pub fn group(d: Doc) -> Doc {
    Doc::Group(Box::new(d))
}

pub fn concat(parts: Vec<Doc>) -> Doc {
    Doc::Concat(parts)
}

/// `,` between items when flat, a trailing `,` too when broken.
pub fn trailing_comma() -> Doc {
    Doc::IfBreak(Box::new(text(",")), Box::new(text("")))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Flat,
    Break,
}

/// Prints a document at `width` columns.
pub fn print(doc: &Doc, width: usize) -> String {
    let mut out = String::new();
    let mut column = 0usize;
    // The indentation of the line being written (a verbatim string's
    // continuation lines move with it).
    let mut line_indent = 0usize;
    let mut stack: Vec<(usize, Mode, &Doc)> = vec![(0, Mode::Break, doc)];
    while let Some((indent, mode, doc)) = stack.pop() {
        match doc {
            Doc::Text(s) => {
                out.push_str(s);
                column += s.chars().count();
            }
            Doc::Verbatim { text, old_indent, shift } => {
                let written = if *shift { reindent(text, *old_indent, line_indent) } else { text.clone() };
                out.push_str(&written);
                column = match written.rfind('\n') {
                    Some(i) => written[i + 1..].chars().count(),
                    None => column + written.chars().count(),
                };
            }
            Doc::Line | Doc::SoftLine | Doc::HardLine if mode == Mode::Break || matches!(doc, Doc::HardLine) => {
                newline(&mut out, indent);
                column = indent;
                line_indent = indent;
            }
            Doc::Line => {
                out.push(' ');
                column += 1;
            }
            Doc::SoftLine | Doc::HardLine | Doc::BreakParent => {}
            Doc::Blank => {
                trim_trailing_spaces(&mut out);
                out.push('\n');
            }
            Doc::Nest(inner) => stack.push((indent + INDENT, mode, inner)),
            Doc::Group(inner) => {
                let flat = mode == Mode::Flat || fits(inner, width.saturating_sub(column));
                stack.push((indent, if flat { Mode::Flat } else { Mode::Break }, inner));
            }
            Doc::IfBreak(broken, flat) => stack.push((indent, mode, if mode == Mode::Break { broken } else { flat })),
            Doc::Concat(parts) => stack.extend(parts.iter().rev().map(|p| (indent, mode, p))),
        }
    }
    trim_trailing_spaces(&mut out);
    out.push('\n');
    out
}

fn newline(out: &mut String, indent: usize) {
    trim_trailing_spaces(out);
    out.push('\n');
    out.extend(std::iter::repeat_n(' ', indent));
}

fn trim_trailing_spaces(out: &mut String) {
    let kept = out.trim_end_matches(' ').len();
    out.truncate(kept);
}

/// Whether `doc` printed flat takes at most `room` columns.
fn fits(doc: &Doc, room: usize) -> bool {
    let mut used = 0usize;
    let mut stack = vec![doc];
    while let Some(doc) = stack.pop() {
        match doc {
            Doc::Text(s) => used += s.chars().count(),
            Doc::Line => used += 1,
            Doc::SoftLine => {}
            Doc::HardLine | Doc::Blank | Doc::BreakParent | Doc::Verbatim { .. } => return false,
            Doc::Nest(inner) | Doc::Group(inner) => stack.push(inner),
            Doc::IfBreak(_, flat) => stack.push(flat),
            Doc::Concat(parts) => stack.extend(parts.iter().rev()),
        }
        if used > room {
            return false;
        }
    }
    true
}

/// Moves a triple-quoted string's continuation lines by the change in
/// indentation of the line it starts on, when that keeps its value: the
/// string opens with a line break (so its first line does not count in the
/// indentation it loses), has no tabs, carriage returns or multi-line
/// interpolations, and every text line has the room to move left. Otherwise
/// it is written as it was.
fn reindent(text: &str, old_indent: usize, new_indent: usize) -> String {
    let body = match text.strip_prefix("\"\"\"\n") {
        Some(body) if old_indent != new_indent && !text.contains(['\t', '\r']) => body,
        _ => return text.to_string(),
    };
    let lines: Vec<&str> = body.split('\n').collect();
    let last = lines.len() - 1;
    // The last line's text stops at the closing quotes.
    let content = |i: usize, line: &str| -> bool {
        let text = if i == last { line.strip_suffix("\"\"\"").unwrap_or(line) } else { line };
        text.trim().is_empty()
    };
    let leading = |line: &str| line.len() - line.trim_start_matches(' ').len();
    // The indentation the string's value drops: the least of its text lines.
    let Some(dropped) = lines.iter().enumerate().filter(|(i, l)| !content(*i, l)).map(|(_, l)| leading(l)).min() else {
        return text.to_string();
    };
    let left = old_indent.saturating_sub(new_indent);
    if left > dropped || interpolation_spans_lines(body) {
        return text.to_string();
    }
    let moved = |n: usize| (n + new_indent).saturating_sub(old_indent);
    let mut out = String::from("\"\"\"");
    for (i, line) in lines.iter().enumerate() {
        out.push('\n');
        let blank = content(i, line);
        let n = leading(line);
        let kept = if blank && i != last && n <= dropped { 0 } else { moved(n) };
        out.extend(std::iter::repeat_n(' ', kept));
        out.push_str(&line[n..]);
    }
    out
}

/// Whether a `${...}` inside the string's text runs over a line break.
fn interpolation_spans_lines(body: &str) -> bool {
    let mut depth = 0usize;
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '$' if depth == 0 && chars.peek() == Some(&'{') => {
                chars.next();
                depth = 1;
            }
            '{' if depth > 0 => depth += 1,
            '}' if depth > 0 => depth -= 1,
            '\n' if depth > 0 => return true,
            _ => {}
        }
    }
    false
}
