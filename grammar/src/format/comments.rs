//! Puts comments and blank lines back: the grammar skips them, the scan kept
//! them as trivia, and the formatter hands them out in source order at the
//! places where a line may break (between items, statements, fields,
//! arguments), so none is ever lost and none ever ends a line early.

use super::doc::{Doc, text};
use crate::scan::{Trivia, TriviaKind};
use crate::span::Span;

/// The comments not yet written, and where the blank lines were.
pub struct Comments<'s> {
    source: &'s str,
    comments: Vec<Span>,
    /// Start offsets of blank lines, ascending.
    blanks: Vec<usize>,
    next: usize,
}

impl<'s> Comments<'s> {
    pub fn new(source: &'s str, trivia: &[Trivia]) -> Self {
        let mut comments = Vec::new();
        let mut blanks = Vec::new();
        for t in trivia {
            match t.kind {
                TriviaKind::Comment | TriviaKind::DocComment => comments.push(t.span),
                TriviaKind::BlankLine => blanks.push(t.span.start),
            }
        }
        Comments { source, comments, blanks, next: 0 }
    }

    /// Whether a blank line lies between the offsets.
    pub fn blank_between(&self, from: usize, to: usize) -> bool {
        let i = self.blanks.partition_point(|&b| b < from);
        self.blanks.get(i).is_some_and(|&b| b < to)
    }

    /// Where the code of a node ending at `end` ends: some nodes' spans run
    /// over the whitespace and comments after them (an optional part that
    /// was not there).
    pub fn code_end(&self, mut end: usize) -> usize {
        loop {
            end = self.source[..end].trim_end().len();
            let i = self.comments.partition_point(|c| c.end < end);
            match self.comments.get(i) {
                Some(c) if c.end == end || (c.start < end && end <= c.end) => end = c.start,
                _ => return end,
            }
        }
    }

    /// Where the next element's own lines start: its first unwritten
    /// comment before `start`, or `start`.
    pub fn first_line_of(&self, start: usize) -> usize {
        self.comments.get(self.next).map_or(start, |c| c.start.min(start))
    }

    /// The comments before `before`, each on its own line (each followed by
    /// a line break), with the blank lines between them kept.
    pub fn leading(&mut self, before: usize) -> Vec<Doc> {
        let mut out = Vec::new();
        while let Some(&c) = self.comments.get(self.next).filter(|c| c.start < before) {
            self.next += 1;
            out.push(text(self.text(c)));
            let following = self.comments.get(self.next).map_or(before, |n| n.start.min(before));
            if self.blank_between(c.end, following) {
                out.push(Doc::Blank);
            }
            out.push(Doc::HardLine);
        }
        out
    }

    /// The comments left inside an element that ended at `end` (they had no
    /// line of their own in the layout) and one that follows it on the same
    /// line before `limit` (the next element or the closing bracket): written
    /// after it, the first on its line, the others below.
    pub fn trailing(&mut self, end: usize, limit: usize) -> Vec<Doc> {
        let mut out = Vec::new();
        while let Some(&c) = self.comments.get(self.next) {
            let same_line = c.start >= end && c.start < limit && !self.source[end..c.start].contains('\n');
            if c.start >= end && !same_line {
                break;
            }
            self.next += 1;
            let comment = self.text(c);
            if out.is_empty() {
                out.push(text(format!(" {comment}")));
            } else {
                out.push(Doc::HardLine);
                out.push(text(comment));
            }
            if same_line && c.start >= end {
                break;
            }
        }
        if !out.is_empty() {
            out.push(Doc::BreakParent);
        }
        out
    }

    /// Every comment not yet written, for the end of the file.
    pub fn rest(&mut self) -> Vec<Doc> {
        self.leading(usize::MAX)
    }

    fn text(&self, c: Span) -> String {
        self.source[c.start..c.end].trim_end().to_string()
    }
}
