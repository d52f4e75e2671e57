//! Rendering diagnostics at the edge: for people with codespan-reporting
//! (rustc-like, with or without colour) and for programs as JSON (editors,
//! and LLMs repairing what they wrote).

use codespan_reporting::diagnostic as cs;
use codespan_reporting::files::SimpleFile;
use codespan_reporting::term::{self, termcolor};
use flow_grammar::LineIndex;
use flow_grammar::span::line_col;
use flow_grammar::{Diagnostic, Severity, Span};
use serde::Serialize;

/// Renders diagnostics as text, as a terminal would show them.
pub fn human(file_name: &str, source: &str, diagnostics: &[Diagnostic], color: bool) -> String {
    let file = SimpleFile::new(file_name, source);
    let mut buffer = if color { termcolor::Buffer::ansi() } else { termcolor::Buffer::no_color() };
    let config = term::Config::default();
    for d in diagnostics {
        let severity = match d.severity {
            Severity::Error => cs::Severity::Error,
            Severity::Warning => cs::Severity::Warning,
        };
        let labels = d
            .labels
            .iter()
            .map(|l| {
                let range = clamp(source, l.span);
                let label = if l.primary { cs::Label::primary((), range) } else { cs::Label::secondary((), range) };
                label.with_message(&l.message)
            })
            .collect();
        let mut notes: Vec<String> = d.notes.iter().map(|n| format!("note: {n}")).collect();
        if let Some(help) = &d.help {
            notes.push(format!("help: {help}"));
        }
        let diagnostic = cs::Diagnostic::new(severity)
            .with_code(d.code.as_str())
            .with_message(&d.message)
            .with_labels(labels)
            .with_notes(notes);
        // Writing into an in-memory buffer only fails on a malformed span,
        // which `clamp` rules out; fall back to a plain line rather than panic.
        if term::emit_to_write_style(&mut buffer, &config, &file, &diagnostic).is_err() {
            let (line, col) = line_col(source, d.primary_span().start);
            buffer_plain(
                &mut buffer,
                &format!("{}[{}]: {} at {file_name}:{line}:{col}\n", severity_word(d.severity), d.code, d.message),
            );
        }
    }
    String::from_utf8_lossy(buffer.as_slice()).into_owned()
}

fn buffer_plain(buffer: &mut termcolor::Buffer, text: &str) {
    use std::io::Write;
    let _ = buffer.write_all(text.as_bytes());
}

fn severity_word(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

/// A span made safe for the renderer: inside the text, on char boundaries.
fn clamp(source: &str, span: Span) -> std::ops::Range<usize> {
    let start = flow_grammar::span::floor_char_boundary(source, span.start);
    let end = flow_grammar::span::floor_char_boundary(source, span.end.max(start));
    start..end
}

/// One position, both as a byte offset and as line and column (1-based,
/// columns in characters).
#[derive(Serialize, Debug, PartialEq)]
pub struct Position {
    pub offset: usize,
    pub line: usize,
    pub column: usize,
}

#[derive(Serialize, Debug, PartialEq)]
pub struct JsonRange {
    pub start: Position,
    pub end: Position,
}

#[derive(Serialize, Debug, PartialEq)]
pub struct JsonLabel {
    pub range: JsonRange,
    pub message: String,
    pub primary: bool,
}

#[derive(Serialize, Debug, PartialEq)]
pub struct JsonReplacement {
    pub range: JsonRange,
    pub text: String,
}

/// A diagnostic as `flowc check --format json` prints it.
#[derive(Serialize, Debug, PartialEq)]
pub struct JsonDiagnostic {
    pub file: String,
    pub code: String,
    pub severity: Severity,
    pub message: String,
    /// The primary label's range.
    pub range: JsonRange,
    pub labels: Vec<JsonLabel>,
    pub notes: Vec<String>,
    pub help: Option<String>,
    /// Applying this edit as is fixes the problem.
    pub replacement: Option<JsonReplacement>,
}

fn range(source: &str, index: &LineIndex, span: Span) -> JsonRange {
    let r = clamp(source, span);
    let pos = |offset: usize| {
        let (line, column) = index.line_col(source, offset);
        Position { offset, line, column }
    };
    JsonRange { start: pos(r.start), end: pos(r.end) }
}

/// Diagnostics in their JSON form.
pub fn json(file_name: &str, source: &str, diagnostics: &[Diagnostic]) -> Vec<JsonDiagnostic> {
    // One index for the file: each position is then a binary search, not a rescan.
    let index = LineIndex::new(source);
    let range = |span: Span| range(source, &index, span);
    diagnostics
        .iter()
        .map(|d| JsonDiagnostic {
            file: file_name.to_string(),
            code: d.code.as_str().to_string(),
            severity: d.severity,
            message: d.message.clone(),
            range: range(d.primary_span()),
            labels: d
                .labels
                .iter()
                .map(|l| JsonLabel { range: range(l.span), message: l.message.clone(), primary: l.primary })
                .collect(),
            notes: d.notes.clone(),
            help: d.help.clone(),
            replacement: d.replacement.as_ref().map(|r| JsonReplacement { range: range(r.span), text: r.text.clone() }),
        })
        .collect()
}
