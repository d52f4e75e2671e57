//! The formatter's cases: `tests/format/` holds unformatted programs whose
//! formatted text is snapshotted; every other case file and example must be
//! formatted already. Both are held to the formatter's properties: it is
//! idempotent, keeps the syntax tree (spans aside) and every comment, and
//! gives the same text whatever the horizontal whitespace was.

use crate::snapshot;
use flow_grammar::format::{format, same_tree};
use flow_grammar::{TriviaKind, parse};
use flow_tests::{read, stem};
use std::path::Path;

pub fn format_case(path: &Path) -> Result<(), String> {
    let source = read(path);
    let formatted = format(&source).map_err(|e| e.to_string())?;
    snapshot(&format!("format__{}", stem(path)), &formatted);
    properties(&source, &formatted)
}

pub fn formatted_case(path: &Path) -> Result<(), String> {
    let source = read(path);
    let formatted = format(&source).map_err(|e| e.to_string())?;
    properties(&source, &formatted)?;
    if formatted != source {
        return Err(format!(
            "not formatted (run `flowc fmt {}`):\n{}",
            path.display(),
            first_difference(&source, &formatted)
        ));
    }
    for seed in 1..=8 {
        let shuffled = shuffle_spaces(&source, seed);
        let again = format(&shuffled).map_err(|e| format!("with its spaces shuffled (seed {seed}): {e}"))?;
        if again != formatted {
            return Err(format!("with its spaces shuffled (seed {seed}):\n{}", first_difference(&formatted, &again)));
        }
    }
    Ok(())
}

fn properties(source: &str, formatted: &str) -> Result<(), String> {
    let again = format(formatted).map_err(|e| format!("the formatted text does not format: {e}"))?;
    if again != formatted {
        return Err(format!("not idempotent:\n{}", first_difference(formatted, &again)));
    }
    if !same_tree(&parse(source).file, &parse(formatted).file) {
        return Err("the formatted text parses to another syntax tree".into());
    }
    if comments(source) != comments(formatted) {
        return Err(format!("comments changed: {:?} became {:?}", comments(source), comments(formatted)));
    }
    Ok(())
}

fn comments(source: &str) -> Vec<String> {
    parse(source)
        .trivia
        .iter()
        .filter(|t| matches!(t.kind, TriviaKind::Comment | TriviaKind::DocComment))
        .map(|t| source[t.span.start..t.span.end].trim_end().to_string())
        .collect()
}

fn first_difference(expected: &str, actual: &str) -> String {
    let line = expected.lines().zip(actual.lines()).position(|(a, b)| a != b).unwrap_or(0);
    let show = |s: &str| s.lines().skip(line).take(4).collect::<Vec<_>>().join("\n");
    format!("line {}:\n--- expected\n{}\n--- got\n{}", line + 1, show(expected), show(actual))
}

/// The source with every run of spaces between tokens replaced by one to
/// three spaces and every line's indentation by zero to eight, outside
/// strings and comments (a line opening a triple-quoted string keeps its
/// indentation: the string's lines move with it) (a deterministic shuffle per seed).
fn shuffle_spaces(source: &str, seed: u64) -> String {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut random = |n: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % n
    };
    let bytes = source.as_bytes();
    let mut out = String::with_capacity(source.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b' ' | b'\t' => {
                let end = i + bytes[i..].iter().take_while(|b| matches!(b, b' ' | b'\t')).count();
                let line_start = i == 0 || bytes[i - 1] == b'\n';
                let at_line_end = matches!(bytes.get(end), None | Some(b'\n'));
                // A triple-quoted string moves with its first line's indentation: kept.
                let line = source[i..].lines().next().unwrap_or("");
                let n = if line_start && line.contains("\"\"\"") {
                    (end - i) as u64
                } else if line_start {
                    random(9)
                } else if at_line_end {
                    0
                } else {
                    1 + random(3)
                };
                out.extend(std::iter::repeat_n(' ', n as usize));
                i = end;
            }
            b'/' | b'"' if flow_grammar::skip_string_or_comment(source, i).is_some() => {
                let end = flow_grammar::skip_string_or_comment(source, i).unwrap_or(bytes.len());
                out.push_str(&source[i..end]);
                i = end;
            }
            _ => {
                let len = source[i..].chars().next().map_or(1, char::len_utf8);
                out.push_str(&source[i..i + len]);
                i += len;
            }
        }
    }
    out
}
