//! Byte ranges into one source file, carried by every AST node and diagnostic.

use serde::Serialize;

/// A half-open byte range `start..end` into the source text.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Self {
        Span { start, end }
    }

    /// The smallest span covering both.
    pub fn to(self, other: Span) -> Span {
        Span::new(self.start.min(other.start), self.end.max(other.end))
    }

    pub fn len(self) -> usize {
        self.end - self.start
    }

    pub fn is_empty(self) -> bool {
        self.start == self.end
    }
}

/// Where each line of a file starts, so that an offset becomes a line and
/// column by a binary search and a count within one line, not a rescan of
/// the file (what an editor asks for on every keystroke).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LineIndex {
    /// Byte offset of the start of each line; the first is 0.
    starts: Vec<usize>,
}

impl LineIndex {
    pub fn new(source: &str) -> LineIndex {
        let mut starts = vec![0];
        starts.extend(source.bytes().enumerate().filter(|(_, b)| *b == b'\n').map(|(i, _)| i + 1));
        LineIndex { starts }
    }

    /// Line and column (both 1-based, the column in characters) of a byte
    /// offset into `source`, the text the index was built from.
    pub fn line_col(&self, source: &str, offset: usize) -> (usize, usize) {
        let offset = floor_char_boundary(source, offset);
        let line = self.starts.partition_point(|&s| s <= offset).max(1);
        let start = self.starts[line - 1].min(offset);
        // `get`: a source other than the indexed one must not panic.
        (line, source.get(start..offset).map_or(0, |text| text.chars().count()) + 1)
    }

    /// The byte offset of a 1-based line and character column, clamped to
    /// the line's end (what an editor's position maps to).
    pub fn offset(&self, source: &str, line: usize, column: usize) -> usize {
        let Some(&start) = self.starts.get(line.saturating_sub(1)) else { return source.len() };
        let end = self.starts.get(line).map_or(source.len(), |&next| next.saturating_sub(1));
        let text = &source[start.min(end)..end];
        start + text.char_indices().nth(column.saturating_sub(1)).map_or(text.len(), |(i, _)| i)
    }

    /// The 0-based line and UTF-16 column of a byte offset (an LSP
    /// position in its default encoding).
    pub fn position_utf16(&self, source: &str, offset: usize) -> (u32, u32) {
        let offset = floor_char_boundary(source, offset);
        let line = self.starts.partition_point(|&s| s <= offset).max(1) - 1;
        let start = self.starts[line].min(offset);
        let column: usize = source.get(start..offset).map_or(0, |t| t.chars().map(char::len_utf16).sum());
        (line as u32, column as u32)
    }

    /// The byte offset of a 0-based line and UTF-16 column, clamped to the
    /// line's end (and a column inside a surrogate pair to its character).
    pub fn offset_utf16(&self, source: &str, line: u32, column: u32) -> usize {
        let Some(&start) = self.starts.get(line as usize) else { return source.len() };
        let end = self.starts.get(line as usize + 1).map_or(source.len(), |&next| next.saturating_sub(1));
        let mut units = 0u32;
        for (i, c) in source[start.min(end)..end].char_indices() {
            if units >= column {
                return start + i;
            }
            units += c.len_utf16() as u32;
        }
        end
    }

    /// How many lines the file has.
    pub fn lines(&self) -> usize {
        self.starts.len()
    }
}

/// Line and column (both 1-based, column counted in characters) of a byte offset.
pub fn line_col(source: &str, offset: usize) -> (usize, usize) {
    let offset = floor_char_boundary(source, offset.min(source.len()));
    let before = &source[..offset];
    let line = before.bytes().filter(|&b| b == b'\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = source[line_start..offset].chars().count() + 1;
    (line, col)
}

/// The largest char boundary at or below `offset`.
pub fn floor_char_boundary(source: &str, mut offset: usize) -> usize {
    offset = offset.min(source.len());
    while offset > 0 && !source.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_index_agrees_with_a_scan() {
        let source = "flow f() -> int {\n  step é = 1\n\n  return é\n}";
        let index = LineIndex::new(source);
        for offset in 0..=source.len() + 2 {
            assert_eq!(index.line_col(source, offset), line_col(source, offset), "at {offset}");
        }
        assert_eq!(index.lines(), 5);
        assert_eq!(index.offset(source, 2, 8), source.find('é').unwrap_or(0));
        assert_eq!(index.offset(source, 3, 5), source.find("\n\n").unwrap_or(0) + 1);
        assert_eq!(index.offset(source, 99, 1), source.len());
    }

    #[test]
    fn utf16_positions_round_trip() {
        let source = "a𝄞b\nsé\n";
        let index = LineIndex::new(source);
        // 𝄞 is two UTF-16 units and four bytes.
        assert_eq!(index.position_utf16(source, source.find('b').unwrap_or(0)), (0, 3));
        assert_eq!(index.offset_utf16(source, 0, 3), source.find('b').unwrap_or(0));
        assert_eq!(index.position_utf16(source, source.find('é').unwrap_or(0) + 2), (1, 2));
        assert_eq!(index.offset_utf16(source, 1, 99), source.len() - 1);
        assert_eq!(index.offset_utf16(source, 9, 0), source.len());
    }
}
