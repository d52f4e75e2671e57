//! Literals: numbers (tried as pest tries them: duration, percent, float,
//! int), strings with their escapes and interpolations, and the plain
//! strings of model ids, URLs and keys.

use super::{Bail, Parser, R};
use crate::ast::*;
use crate::build::{dedent, string_text, unescape};
use crate::literal::{DurationError, duration_millis};
use crate::span::Span;

impl<'s> Parser<'s> {
    // ------------------------------------------------------------ numbers

    /// The end of `digits` (a digit, then digits and `_`) starting at `at`.
    pub(super) fn digits_from(&self, at: usize) -> Option<usize> {
        if !self.b.get(at)?.is_ascii_digit() {
            return None;
        }
        let mut end = at + 1;
        while matches!(self.b.get(end), Some(c) if c.is_ascii_digit() || *c == b'_') {
            end += 1;
        }
        Some(end)
    }

    /// `duration | percent | float | int`, tried in that order.
    pub(super) fn number(&mut self) -> R<Expr> {
        let start = self.pos;
        let int_end = self.digits_from(start).ok_or(Bail)?;
        let fraction_end = match self.b.get(int_end) {
            Some(b'.') => self.digits_from(int_end + 1),
            _ => None,
        };
        let number_end = fraction_end.unwrap_or(int_end);
        if let Some(end) = self.duration_end(number_end) {
            self.pos = end;
            let kind = match duration_millis(&self.src[start..end]) {
                Ok(millis) => ExprKind::Duration(millis),
                Err(DurationError::TooLong) => return Err(Bail),
                Err(DurationError::Malformed) => ExprKind::Invalid,
            };
            return Ok(Expr { kind, span: Span::new(start, end) });
        }
        if self.b.get(number_end) == Some(&b'%') {
            self.pos = number_end + 1;
            let value = finite(&self.src[start..number_end]).ok_or(Bail)?;
            return Ok(Expr { kind: ExprKind::Percent(value), span: Span::new(start, self.pos) });
        }
        if let Some(mut end) = fraction_end {
            if matches!(self.b.get(end), Some(b'e' | b'E')) {
                let sign = usize::from(matches!(self.b.get(end + 1), Some(b'+' | b'-')));
                if let Some(exponent_end) = self.digits_from(end + 1 + sign) {
                    end = exponent_end;
                }
            }
            if self.ends_word(end) {
                self.pos = end;
                let value = finite(&self.src[start..end]).ok_or(Bail)?;
                return Ok(Expr { kind: ExprKind::Float(value), span: Span::new(start, end) });
            }
        }
        let dot_digit = self.b.get(int_end) == Some(&b'.') && self.b.get(int_end + 1).is_some_and(u8::is_ascii_digit);
        if !self.ends_word(int_end) || dot_digit {
            return Err(Bail);
        }
        self.pos = int_end;
        let value = int_value(&self.src[start..int_end]).ok_or(Bail)?;
        Ok(Expr { kind: ExprKind::Int(value), span: Span::new(start, int_end) })
    }

    /// Where a duration's unit (`ms`, `s`, `m`, `h`, tried in that order)
    /// ends, if one follows `at` and ends the word.
    fn duration_end(&self, at: usize) -> Option<usize> {
        let end = match self.b.get(at)? {
            b'm' if self.b.get(at + 1) == Some(&b's') => at + 2,
            b's' | b'm' | b'h' => at + 1,
            _ => return None,
        };
        self.ends_word(end).then_some(end)
    }

    /// An `int` token (a retry count).
    pub(super) fn int_literal(&mut self) -> R<i64> {
        let end = self.digits_from(self.pos).ok_or(Bail)?;
        let dot_digit = self.b.get(end) == Some(&b'.') && self.b.get(end + 1).is_some_and(u8::is_ascii_digit);
        if !self.ends_word(end) || dot_digit {
            return Err(Bail);
        }
        let value = int_value(&self.src[self.pos..end]).ok_or(Bail)?;
        self.pos = end;
        Ok(value)
    }

    /// A `duration` token's milliseconds.
    pub(super) fn duration(&mut self) -> R<u64> {
        let start = self.pos;
        let int_end = self.digits_from(start).ok_or(Bail)?;
        let number_end = match self.b.get(int_end) {
            Some(b'.') => self.digits_from(int_end + 1).unwrap_or(int_end),
            _ => int_end,
        };
        let end = self.duration_end(number_end).ok_or(Bail)?;
        self.pos = end;
        match duration_millis(&self.src[start..end]) {
            Ok(millis) => Ok(millis),
            // The builder reports a duration too long; a malformed one keeps
            // the longest (never reached: the grammar lets only good ones in).
            Err(DurationError::TooLong) => Err(Bail),
            Err(DurationError::Malformed) => Ok(u64::MAX / 2),
        }
    }

    // ------------------------------------------------------------ strings

    pub(super) fn string(&mut self) -> R<Expr> {
        let start = self.pos;
        let parts = self.string_parts(self.at("\"\"\""))?;
        Ok(Expr { kind: ExprKind::Str(parts), span: Span::new(start, self.pos) })
    }

    /// A plain (not triple-quoted) string, interpolations rendered as written.
    pub(super) fn str_lit(&mut self) -> R<StrLit> {
        self.plain_string(false)
    }

    /// An http tool's URL: a plain string, interpolations kept as `${...}`.
    pub(super) fn template_lit(&mut self) -> R<StrLit> {
        self.plain_string(true)
    }

    fn plain_string(&mut self, keep_placeholders: bool) -> R<StrLit> {
        let start = self.pos;
        if self.peek() != b'"' || self.at("\"\"\"") {
            return Err(Bail);
        }
        let parts = self.string_parts(false)?;
        Ok(StrLit { value: string_text(self.src, parts, keep_placeholders), span: Span::new(start, self.pos) })
    }

    fn string_parts(&mut self, triple: bool) -> R<Vec<StrPart>> {
        self.pos += if triple { 3 } else { 1 };
        let mut parts = Vec::new();
        let mut text = String::new();
        loop {
            match self.peek() {
                _ if self.pos >= self.b.len() => return Err(Bail),
                b'"' if !triple => {
                    self.pos += 1;
                    break;
                }
                b'"' if self.at("\"\"\"") => {
                    self.pos += 3;
                    break;
                }
                b'\\' => text.push(self.escape()?),
                b'$' if self.peek_at(1) == b'{' => {
                    self.pos += 2;
                    self.skip();
                    let expr = self.expr()?;
                    self.skip();
                    self.expect("}")?;
                    if !text.is_empty() {
                        parts.push(StrPart::Text(std::mem::take(&mut text)));
                    }
                    parts.push(StrPart::Interp(expr));
                }
                b'\n' if !triple => return Err(Bail),
                _ => {
                    let run = self.pos;
                    self.pos += 1;
                    while let Some(&c) = self.b.get(self.pos) {
                        let stop = match c {
                            b'"' | b'\\' => true,
                            b'$' => self.peek_at(1) == b'{',
                            b'\n' => !triple,
                            _ => false,
                        };
                        if stop {
                            break;
                        }
                        self.pos += 1;
                    }
                    text.push_str(&self.src[run..self.pos]);
                }
            }
        }
        if !text.is_empty() {
            parts.push(StrPart::Text(text));
        }
        if triple {
            dedent(&mut parts);
        }
        Ok(parts)
    }

    /// `\"`, `\\`, `\n`, `\t`, `\r`, `\$` or `\u{1-6 hex digits}`.
    fn escape(&mut self) -> R<char> {
        let start = self.pos;
        let len = match self.peek_at(1) {
            b'"' | b'\\' | b'n' | b't' | b'r' | b'$' => 2,
            b'u' if self.peek_at(2) == b'{' => {
                let digits = self.b[start + 3..].iter().take_while(|c| c.is_ascii_hexdigit()).take(6).count();
                if digits == 0 || self.b.get(start + 3 + digits) != Some(&b'}') {
                    return Err(Bail);
                }
                4 + digits
            }
            _ => return Err(Bail),
        };
        self.pos += len;
        Ok(unescape(&self.src[start..self.pos]))
    }
}

fn int_value(text: &str) -> Option<i64> {
    match text.contains('_') {
        true => text.replace('_', "").parse().ok(),
        false => text.parse().ok(),
    }
}

/// A float literal's (or a percentage's) value, if finite.
fn finite(text: &str) -> Option<f64> {
    let value: f64 = match text.contains('_') {
        true => text.replace('_', "").parse().ok()?,
        false => text.parse().ok()?,
    };
    value.is_finite().then_some(value)
}
