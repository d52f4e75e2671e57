//! A forgiving reader of JSON as models write it: quotes of any kind
//! (`"`, `'`, backticks, `"""`), unquoted keys and values, comments,
//! trailing commas, Python's `True`/`False`/`None`, raw newlines and
//! unescaped quotes inside strings, and text cut off before it ends (what
//! is open is closed). It never fails on a `{` or `[`; what it reads is a
//! [`Raw`] tree that remembers which scalars were quoted, so the
//! type-directed step can tell `"12"` from `12` and `yes` from `"yes"`.

/// A value as written.
#[derive(Clone, Debug, PartialEq)]
pub enum Raw {
    Object(Vec<(String, Raw)>),
    Array(Vec<Raw>),
    /// A quoted string.
    Str(String),
    /// An unquoted scalar (a number, `true`, `null`, or a bare word), as written.
    Bare(String),
}

/// A value read from `text` starting at `start` (a `{` or `[`), and where
/// it ended; `closed` says whether its brackets balanced before the text ended.
pub struct Read {
    pub value: Raw,
    pub end: usize,
    pub closed: bool,
}

/// The characters of a text with their byte offsets: made once per
/// answer, shared by every span read from it.
pub type Chars = [(usize, char)];

/// Reads the object or list that starts at character `index` of `chars`
/// (a text of `len` bytes).
pub fn read_at(chars: &Chars, index: usize, len: usize) -> Read {
    let mut parser = Parser { chars, at: index, cut: false };
    let value = parser.value(0);
    let end = chars.get(parser.at).map_or(len, |&(i, _)| i);
    Read { value, end, closed: !parser.cut }
}

/// How deep a value may nest before the rest is read as text.
const MAX_DEPTH: u32 = 128;

struct Parser<'c> {
    chars: &'c Chars,
    at: usize,
    /// The text ended inside the value.
    cut: bool,
}

impl Parser<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.at).map(|&(_, c)| c)
    }

    fn peek_at(&self, n: usize) -> Option<char> {
        self.chars.get(self.at + n).map(|&(_, c)| c)
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek();
        self.at += 1;
        c
    }

    /// Skips whitespace and comments (`//`, `#` and `/* */`).
    fn skip(&mut self) {
        loop {
            match (self.peek(), self.peek_at(1)) {
                (Some(c), _) if c.is_whitespace() => self.at += 1,
                (Some('/'), Some('/')) | (Some('#'), _) => {
                    while self.peek().is_some_and(|c| c != '\n') {
                        self.at += 1;
                    }
                }
                (Some('/'), Some('*')) => {
                    self.at += 2;
                    while self.peek().is_some() && !(self.peek() == Some('*') && self.peek_at(1) == Some('/')) {
                        self.at += 1;
                    }
                    self.at += 2;
                }
                _ => return,
            }
        }
    }

    fn value(&mut self, depth: u32) -> Raw {
        self.skip();
        match self.peek() {
            Some('{') if depth < MAX_DEPTH => self.object(depth),
            Some('[') if depth < MAX_DEPTH => self.array(depth),
            Some(q @ ('"' | '\'' | '`')) => Raw::Str(self.string(q)),
            None => {
                self.cut = true;
                Raw::Bare(String::new())
            }
            _ => Raw::Bare(self.bare(&[',', '}', ']'])),
        }
    }

    fn object(&mut self, depth: u32) -> Raw {
        self.bump();
        let mut fields = Vec::new();
        loop {
            self.skip();
            match self.peek() {
                None => {
                    self.cut = true;
                    return Raw::Object(fields);
                }
                Some('}') => {
                    self.bump();
                    return Raw::Object(fields);
                }
                Some(',') => {
                    self.bump();
                    continue;
                }
                _ => {}
            }
            let key = match self.peek() {
                Some(q @ ('"' | '\'' | '`')) => self.string(q),
                _ => self.bare(&[':', ',', '}']),
            };
            self.skip();
            if self.peek() != Some(':') {
                // A key without a value: cut off, or a stray word.
                if self.peek().is_none() {
                    self.cut = true;
                    return Raw::Object(fields);
                }
                continue;
            }
            self.bump();
            self.skip();
            if self.peek().is_none() {
                // Cut off after the colon: the field has no value yet.
                self.cut = true;
                return Raw::Object(fields);
            }
            let value = self.value(depth + 1);
            fields.push((key, value));
        }
    }

    fn array(&mut self, depth: u32) -> Raw {
        self.bump();
        let mut items = Vec::new();
        loop {
            self.skip();
            match self.peek() {
                None => {
                    self.cut = true;
                    return Raw::Array(items);
                }
                Some(']') => {
                    self.bump();
                    return Raw::Array(items);
                }
                Some(',') => {
                    self.bump();
                    continue;
                }
                _ => {}
            }
            let before = self.at;
            let item = self.value(depth + 1);
            // A character no rule consumes (a stray `}`) is skipped, so reading always advances.
            if self.at == before {
                self.at += 1;
                continue;
            }
            items.push(item);
        }
    }

    /// A quoted string: `"`, `'`, a backtick, or three of either. Backslash
    /// escapes as JSON's; a raw newline is kept; a quote is taken as the
    /// closing one only when what follows could follow a value (so `"he
    /// said "no" and left"` keeps its inner quotes).
    fn string(&mut self, quote: char) -> String {
        let triple = self.peek_at(1) == Some(quote) && self.peek_at(2) == Some(quote);
        self.at += if triple { 3 } else { 1 };
        let mut out = String::new();
        loop {
            let Some(c) = self.bump() else {
                self.cut = true;
                return out;
            };
            if c == '\\' {
                self.escape(&mut out);
                continue;
            }
            if c == quote {
                if triple {
                    // In a run of quotes, the last three close the string.
                    let mut run = 1;
                    while self.peek_at(run - 1) == Some(quote) {
                        run += 1;
                    }
                    if run >= 3 {
                        out.extend(std::iter::repeat_n(quote, run - 3));
                        self.at += run - 1;
                        return out;
                    }
                } else if self.ends_value() {
                    return out;
                }
            }
            out.push(c);
        }
    }

    /// Whether what follows the current position may follow a value: a
    /// separator, a closing bracket, a colon (after a key) or the end.
    fn ends_value(&self) -> bool {
        let mut n = 0;
        while self.peek_at(n).is_some_and(|c| c == ' ' || c == '\t' || c == '\r') {
            n += 1;
        }
        match self.peek_at(n) {
            None | Some(',' | '}' | ']' | ':' | '\n') => true,
            // A comment after the value.
            Some('/') => matches!(self.peek_at(n + 1), Some('/' | '*')),
            _ => false,
        }
    }

    fn escape(&mut self, out: &mut String) {
        match self.bump() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('b') => out.push('\u{8}'),
            Some('f') => out.push('\u{c}'),
            Some('u') => {
                let hex: String = (0..4).filter_map(|_| self.bump()).collect();
                match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                    Some(c) => out.push(c),
                    None => out.push('\u{fffd}'),
                }
            }
            Some(c) => out.push(c),
            None => self.cut = true,
        }
    }

    /// An unquoted word or phrase, up to one of `stops` (outside brackets)
    /// or a line end; trimmed.
    fn bare(&mut self, stops: &[char]) -> String {
        let mut out = String::new();
        while let Some(c) = self.peek() {
            if stops.contains(&c) || c == '\n' || (c == '/' && self.peek_at(1) == Some('/')) {
                break;
            }
            out.push(c);
            self.at += 1;
        }
        out.trim().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> (Raw, bool) {
        let chars: Vec<(usize, char)> = text.char_indices().collect();
        let r = read_at(&chars, 0, text.len());
        (r.value, r.closed)
    }

    fn obj(fields: &[(&str, Raw)]) -> Raw {
        Raw::Object(fields.iter().map(|(k, v)| (k.to_string(), v.clone())).collect())
    }

    #[test]
    fn reads_what_models_write() {
        let s = |t: &str| Raw::Str(t.into());
        let b = |t: &str| Raw::Bare(t.into());
        assert_eq!(read(r#"{"a": 1, "b": "x"}"#), (obj(&[("a", b("1")), ("b", s("x"))]), true));
        assert_eq!(read("{ type: page, name: Home Page, tags: [A, B] }").0, {
            obj(&[("type", b("page")), ("name", b("Home Page")), ("tags", Raw::Array(vec![b("A"), b("B")]))])
        });
        assert_eq!(read("{\"code\": `print(\"hi\")`}").0, obj(&[("code", s("print(\"hi\")"))]));
        assert_eq!(read("{\"q\": \"he said \"no\" and left\"}").0, obj(&[("q", s("he said \"no\" and left"))]));
        assert_eq!(read("{\"t\": \"\"\"two\nlines\"\"\"}").0, obj(&[("t", s("two\nlines"))]));
        assert_eq!(read("{\"key\": [1, 2, 3"), (obj(&[("key", Raw::Array(vec![b("1"), b("2"), b("3")]))]), false));
        assert_eq!(read("{'a': 1, // one\n 'b': [2,],}").0, obj(&[("a", b("1")), ("b", Raw::Array(vec![b("2")]))]));
        assert_eq!(read("{\"a\": \"cut off").0, obj(&[("a", s("cut off"))]));
        assert_eq!(read("{\"a\": 1, \"b\":").0, obj(&[("a", b("1"))]));
    }

    #[test]
    fn never_loops_or_panics_on_junk() {
        for text in ["[}", "{,,,}", "[[[[", "{\"a\" \"b\"}", "[1 2 3]", "{:}", "{\"a\":\\", "[\"\\u12"] {
            let _ = read(text);
        }
        let deep = "[".repeat(10_000);
        let _ = read(&deep);
    }
}
