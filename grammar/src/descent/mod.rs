//! A hand-written recursive-descent parser for the common case, a file that
//! parses whole: about eight times faster than pest, it builds the very AST
//! `build.rs` builds from pest's tree, spans included.
//!
//! It is a fast path, not a second grammar of its own. It accepts a subset of
//! what `flow.pest` accepts and gives up ([`Bail`]) on anything else — a
//! syntax error, a literal the builder would report, nesting past the
//! builder's depth limit — so that pest parses the file again and reports it.
//! The differential tests (`tests/descent.rs`) hold the two to each other on
//! every `.flow` file of the repository and on mutated copies of them.
//!
//! Spans come out equal because the cursor moves exactly as pest's does: pest
//! skips whitespace and comments between the parts of a rule, and keeps what it
//! skipped before an optional or repeated part that turned out absent (the
//! builder then trims trailing whitespace, not comments). So every `skip()`
//! here stands where pest's implicit whitespace does, and a repetition that
//! stops puts the cursor back before the skip that preceded its failed try.

mod exprs;
mod items;
mod literals;
mod steps;

use crate::ast::{File, Ident};
use crate::build::MAX_EXPR_DEPTH;
use crate::keywords::is_keyword;
use crate::span::Span;

/// The parser gave up: the pest path will parse and report the file.
#[derive(Debug)]
pub(crate) struct Bail;

pub(crate) type R<T> = Result<T, Bail>;

/// How deep the parser's own recursion may go (`else if` chains, forms in
/// forms) before it leaves the file to pest; brackets are bounded before,
/// by the scan.
const MAX_RECURSION: usize = 200;

pub(crate) struct Parser<'s> {
    src: &'s str,
    b: &'s [u8],
    pos: usize,
    /// The deepest nesting of `expr` rules seen inside the expression being
    /// parsed, counted as the builder counts it (its parts, summed down).
    child_need: usize,
    recursion: usize,
}

/// Parses a whole file, or gives up if it is not one pest would build
/// without diagnostics.
pub(crate) fn parse_file(source: &str) -> Option<File> {
    let mut p = Parser { src: source, b: source.as_bytes(), pos: 0, child_need: 0, recursion: 0 };
    p.file().ok()
}

impl<'s> Parser<'s> {
    fn file(&mut self) -> R<File> {
        let mut file = File::default();
        self.skip();
        while self.pos < self.b.len() {
            file.items.push(self.item()?);
            self.skip();
        }
        Ok(file)
    }

    // ------------------------------------------------------------ cursor

    fn peek(&self) -> u8 {
        self.b.get(self.pos).copied().unwrap_or(0)
    }

    fn peek_at(&self, offset: usize) -> u8 {
        self.b.get(self.pos + offset).copied().unwrap_or(0)
    }

    /// Whitespace and `//` comments: pest's implicit `WHITESPACE | COMMENT`.
    fn skip(&mut self) {
        loop {
            match self.peek() {
                b' ' | b'\t' | b'\r' | b'\n' => self.pos += 1,
                0xEF if self.b[self.pos..].starts_with("\u{FEFF}".as_bytes()) => self.pos += 3,
                b'/' if self.peek_at(1) == b'/' => {
                    while self.pos < self.b.len() && self.b[self.pos] != b'\n' {
                        self.pos += 1;
                    }
                }
                _ => return,
            }
        }
    }

    fn at(&self, text: &str) -> bool {
        self.b[self.pos..].starts_with(text.as_bytes())
    }

    fn eat(&mut self, text: &str) -> bool {
        let found = self.at(text);
        if found {
            self.pos += text.len();
        }
        found
    }

    fn expect(&mut self, text: &str) -> R<()> {
        if self.eat(text) { Ok(()) } else { Err(Bail) }
    }

    /// `text`, then the whitespace and comments after it.
    fn punct(&mut self, text: &str) -> R<()> {
        self.expect(text)?;
        self.skip();
        Ok(())
    }

    /// From `start` to the cursor, without trailing whitespace (as
    /// `Builder::span` trims pest's spans).
    fn span(&self, start: usize) -> Span {
        let mut end = self.pos;
        while end > start && matches!(self.b[end - 1], b' ' | b'\t' | b'\r' | b'\n') {
            end -= 1;
        }
        Span::new(start, end)
    }

    /// Runs a rule that may recurse into itself, bounded.
    fn nested<T>(&mut self, rule: impl FnOnce(&mut Self) -> R<T>) -> R<T> {
        self.recursion += 1;
        if self.recursion > MAX_RECURSION {
            return Err(Bail);
        }
        let result = rule(self);
        self.recursion -= 1;
        result
    }

    /// Records an expression's depth as the builder counts it: `parts` of
    /// its own above the deepest expression inside it.
    fn enter_expr(&mut self) -> usize {
        std::mem::take(&mut self.child_need)
    }

    fn leave_expr(&mut self, outer: usize, parts: usize) -> R<()> {
        let need = parts + self.child_need;
        if need > MAX_EXPR_DEPTH {
            return Err(Bail);
        }
        self.child_need = outer.max(need);
        Ok(())
    }

    // ------------------------------------------------------------ words

    fn word_end(&self) -> usize {
        let mut end = self.pos;
        if matches!(self.b.get(end), Some(c) if c.is_ascii_alphabetic() || *c == b'_') {
            end += 1;
            while matches!(self.b.get(end), Some(c) if c.is_ascii_alphanumeric() || *c == b'_') {
                end += 1;
            }
        }
        end
    }

    /// The word at the cursor, if any, without moving.
    fn peek_word(&self) -> Option<&'s str> {
        let end = self.word_end();
        (end > self.pos).then(|| &self.src[self.pos..end])
    }

    /// `word` as a keyword (not followed by a name character).
    fn at_keyword(&self, word: &str) -> bool {
        self.peek_word() == Some(word)
    }

    fn keyword(&mut self, word: &str) -> R<Span> {
        if !self.at_keyword(word) {
            return Err(Bail);
        }
        let start = self.pos;
        self.pos += word.len();
        Ok(Span::new(start, self.pos))
    }

    /// `keyword name`, each followed by its skip: the head of most rules.
    fn named(&mut self, keyword: &str) -> R<Ident> {
        self.keyword(keyword)?;
        self.skip();
        let name = self.ident()?;
        self.skip();
        Ok(name)
    }

    /// A name that is bound or referred to: never a reserved keyword.
    fn ident(&mut self) -> R<Ident> {
        match self.peek_word() {
            Some(w) if !is_keyword(w) => Ok(self.take_word(w)),
            _ => Err(Bail),
        }
    }

    /// A field name or record key: keywords allowed.
    fn name(&mut self) -> R<Ident> {
        match self.peek_word() {
            Some(w) => Ok(self.take_word(w)),
            None => Err(Bail),
        }
    }

    fn take_word(&mut self, word: &str) -> Ident {
        let start = self.pos;
        self.pos += word.len();
        Ident { name: word.to_string(), span: Span::new(start, self.pos) }
    }

    /// Whether a name (not a reserved keyword) starts at the cursor.
    fn at_ident(&self) -> bool {
        matches!(self.peek_word(), Some(w) if !is_keyword(w))
    }

    /// pest's `!ident_char` after a token ending at `end`.
    fn ends_word(&self, end: usize) -> bool {
        !matches!(self.b.get(end), Some(c) if c.is_ascii_alphanumeric() || *c == b'_')
    }
}

#[cfg(test)]
mod tests;
