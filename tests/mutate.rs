//! Mutations of Flow programs for the fuzz tests: bytes deleted, Flow
//! tokens inserted, characters swapped, the text truncated.

use proptest::prelude::*;

/// Pieces of Flow worth splicing into a program: they reach deeper into
/// the grammar than random bytes.
pub const TOKENS: &[&str] = &[
    "step ",
    "return ",
    "{",
    "}",
    "(",
    ")",
    "[",
    "]",
    "\"",
    "\"\"\"",
    "${",
    "=>",
    "->",
    "?.",
    "??",
    ",",
    ":",
    "=",
    "map x in ",
    "route {",
    "when ",
    "else =>",
    "llm fast -> ",
    "catch e when ",
    "retry 3 ",
    "timeout 0s",
    "//",
    "///",
    "5%",
    "1.5s",
    "\\u{ffffff}",
    "é",
    "\u{0}",
    "\n",
    "-",
    "!",
    "99999999999999999999999",
];

#[derive(Debug, Clone)]
pub enum Edit {
    Delete(usize, usize),
    Insert(usize, usize),
    Swap(usize, usize),
    Truncate(usize),
}

pub fn apply(source: &str, edits: &[Edit]) -> String {
    let mut chars: Vec<char> = source.chars().collect();
    for edit in edits {
        let n = chars.len().max(1);
        match *edit {
            Edit::Delete(at, len) => {
                let at = at % n;
                let end = (at + len % 16).min(chars.len());
                if at < end {
                    chars.drain(at..end);
                }
            }
            Edit::Insert(at, token) => {
                let at = (at % n).min(chars.len());
                let token: Vec<char> = TOKENS[token % TOKENS.len()].chars().collect();
                chars.splice(at..at, token);
            }
            Edit::Swap(a, b) => {
                if !chars.is_empty() {
                    let (a, b) = (a % chars.len(), b % chars.len());
                    chars.swap(a, b);
                }
            }
            Edit::Truncate(at) => chars.truncate(at % n),
        }
    }
    chars.into_iter().collect()
}

pub fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), any::<usize>()).prop_map(|(a, l)| Edit::Delete(a, l)),
        (any::<usize>(), any::<usize>()).prop_map(|(a, t)| Edit::Insert(a, t)),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Edit::Swap(a, b)),
        any::<usize>().prop_map(Edit::Truncate),
    ]
}
