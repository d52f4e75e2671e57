//! `flowc fmt`: one canonical layout for a `.flow` file.
//!
//! The layout, in short (docs/editors.md has the whole of it):
//!
//! - two spaces per level; lines up to [`WIDTH`] columns;
//! - a group (a record, a list, arguments, parameters, a step's clauses, a
//!   union) stays on one line when it fits and is broken one element per
//!   line when it does not; a record or list written with a line break after
//!   its opening bracket stays broken;
//! - blocks, `route`s and tests are always one statement per line; blank
//!   lines between elements are kept, several collapsed into one;
//! - every comment is kept, on its own line or at the end of the line it
//!   followed;
//! - literals (strings, numbers, durations) are written as they were;
//!   triple-quoted strings move with their line when that keeps their value.
//!
//! Formatting never changes meaning: the result is parsed again and must
//! give the same syntax tree, spans aside, or the file is left alone.

mod comments;
mod doc;
mod exprs;
mod items;

use crate::ast::File;
use crate::{Diagnostic, parse};
use comments::Comments;

/// The width lines are kept to, where the layout allows.
pub const WIDTH: usize = 100;

/// Why a file was not formatted.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum FormatError {
    /// The file has syntax errors: only what parses whole is formatted.
    Syntax(Vec<Diagnostic>),
    /// The formatted text would not mean the same (a formatter bug: the file
    /// is left as it was).
    Changed,
}

impl std::fmt::Display for FormatError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FormatError::Syntax(d) => write!(f, "the file has {} syntax error(s); fix them first", d.len()),
            FormatError::Changed => write!(f, "formatting would change what the file means (a formatter bug)"),
        }
    }
}

impl std::error::Error for FormatError {}

/// Formats a whole file.
///
/// ```
/// let formatted = flow_grammar::format::format("flow f( x:int )->int{return x*2}").unwrap();
/// assert_eq!(formatted, "flow f(x: int) -> int {\n  return x * 2\n}\n");
/// ```
pub fn format(source: &str) -> Result<String, FormatError> {
    let parsed = parse(source);
    let errors: Vec<Diagnostic> = parsed.diagnostics.iter().filter(|d| d.is_error()).cloned().collect();
    if !errors.is_empty() || !parsed.broken_items.is_empty() {
        return Err(FormatError::Syntax(errors));
    }
    let formatted = layout(source, &parsed.file, &parsed.trivia);
    let again = parse(&formatted);
    if again.diagnostics.iter().any(Diagnostic::is_error) || !same_tree(&parsed.file, &again.file) {
        return Err(FormatError::Changed);
    }
    Ok(formatted)
}

#[doc(hidden)]
pub fn debug_layout(source: &str) -> String {
    let parsed = parse(source);
    layout(source, &parsed.file, &parsed.trivia)
}

/// Whether two files are the same syntax tree, spans aside.
pub fn same_tree(a: &File, b: &File) -> bool {
    without_spans(&format!("{a:?}")) == without_spans(&format!("{b:?}"))
}

fn layout(source: &str, file: &File, trivia: &[crate::Trivia]) -> String {
    let mut f = items::Fmt { source, comments: Comments::new(source, trivia) };
    let doc = f.file(file);
    let mut out = doc::print(&doc, WIDTH);
    if out.trim().is_empty() {
        out.clear();
    }
    out
}

/// A tree's debug text with every `Span { start: N, end: M }` dropped.
fn without_spans(debug: &str) -> String {
    const OPEN: &str = "Span { start: ";
    let mut out = String::with_capacity(debug.len());
    let mut rest = debug;
    while let Some(at) = rest.find(OPEN) {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        match rest.find('}') {
            Some(end) => rest = &rest[end + 1..],
            None => break,
        }
    }
    out.push_str(rest);
    out
}
