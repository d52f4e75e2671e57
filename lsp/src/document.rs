//! One open file: its text, the editor's version of it, and the analysis of
//! that text. Edits arrive as LSP ranges (UTF-16 positions) and are applied
//! in order; every edit is analysed again at once (a whole check of a
//! 2,000-line file takes a few milliseconds, see BENCHMARKS.md).

use flow_compiler::Analysis;
use flow_grammar::{LineIndex, Span};
use std::sync::Arc;
use tower_lsp_server::ls_types::{Position, Range, TextDocumentContentChangeEvent};

pub struct Document {
    pub text: String,
    pub version: i32,
    pub analysis: Arc<Analysis>,
}

impl Document {
    pub fn new(text: String, version: i32) -> Self {
        let analysis = Arc::new(flow_compiler::check(&text));
        Document { text, version, analysis }
    }

    /// Applies the edits of one `didChange`, in order, and analyses the result.
    pub fn change(&mut self, version: i32, changes: Vec<TextDocumentContentChangeEvent>) {
        for change in changes {
            match change.range {
                Some(range) => {
                    // Each edit's positions refer to the text after the previous edit.
                    let lines = LineIndex::new(&self.text);
                    let start = offset(&lines, &self.text, range.start);
                    let end = offset(&lines, &self.text, range.end).max(start);
                    self.text.replace_range(start..end, &change.text);
                }
                None => self.text = change.text,
            }
        }
        self.version = version;
        self.analysis = Arc::new(flow_compiler::check(&self.text));
    }

    pub fn offset(&self, position: Position) -> usize {
        offset(&self.analysis.line_index, &self.text, position)
    }

    pub fn position(&self, offset: usize) -> Position {
        let (line, character) = self.analysis.line_index.position_utf16(&self.text, offset);
        Position { line, character }
    }

    pub fn range(&self, span: Span) -> Range {
        Range { start: self.position(span.start), end: self.position(span.end) }
    }

    /// The text of a span (empty if it is not one of this text's).
    pub fn slice(&self, span: Span) -> &str {
        self.text.get(span.start..span.end).unwrap_or("")
    }
}

fn offset(lines: &LineIndex, text: &str, position: Position) -> usize {
    lines.offset_utf16(text, position.line, position.character)
}
