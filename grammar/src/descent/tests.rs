//! The fast parser against pest: on every `.flow` file of the repository
//! (and the `flow` blocks of its Markdown), and on thousands of mutated
//! copies of them, whatever the fast parser accepts pest accepts, without a
//! diagnostic, into the same AST with the same spans.

use super::parse_file;
use crate::parse_whole_with_pest;
use std::path::{Path, PathBuf};

fn collect(dir: &Path, out: &mut Vec<(PathBuf, String)>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if path.is_dir() {
            if !matches!(name.as_str(), "target" | ".git" | "node_modules") {
                collect(&path, out);
            }
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&path) else { continue };
        if name.ends_with(".flow") || name.ends_with(".in") {
            out.push((path, text));
        } else if name.ends_with(".md") {
            for (i, block) in text.split("```flow\n").skip(1).enumerate() {
                let code = block.split("```").next().unwrap_or_default();
                out.push((path.with_extension(format!("md.{i}")), code.to_string()));
            }
        }
    }
}

fn corpus() -> Vec<(PathBuf, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    collect(&root, &mut files);
    files.sort();
    assert!(files.len() > 150, "the corpus was not found under {}", root.display());
    files
}

/// What the fast parser gave is what pest gives, or it gave nothing.
/// Returns whether pest built the file without a diagnostic.
fn agree(name: &str, source: &str) -> (bool, bool) {
    let fast = parse_file(source);
    let pest = parse_whole_with_pest(source);
    let pest_clean = matches!(&pest, Some((_, d)) if d.is_empty());
    if let Some(fast) = &fast {
        let Some((expected, diagnostics)) = &pest else {
            panic!("{name}: the fast parser accepted what pest rejects:\n{source}")
        };
        assert!(diagnostics.is_empty(), "{name}: the fast parser accepted what the builder reports: {diagnostics:?}");
        let (fast, expected) = (format!("{fast:#?}"), format!("{expected:#?}"));
        if fast != expected {
            let line = fast.lines().zip(expected.lines()).position(|(a, b)| a != b).unwrap_or(0);
            let around = |t: &str| t.lines().skip(line.saturating_sub(8)).take(12).collect::<Vec<_>>().join("\n");
            panic!(
                "{name}: the ASTs differ at line {line}\nfast:\n{}\npest:\n{}\nsource:\n{source}",
                around(&fast),
                around(&expected)
            );
        }
    }
    (fast.is_some(), pest_clean)
}

#[test]
fn every_file_of_the_repository_parses_the_same() {
    let mut gave_up = Vec::new();
    for (path, source) in corpus() {
        let name = path.display().to_string();
        let (fast, pest_clean) = agree(&name, &source);
        if pest_clean && !fast {
            gave_up.push(name);
        }
    }
    // The fast path is only fast if it takes the files people write.
    assert!(gave_up.is_empty(), "the fast parser gave up on valid files: {gave_up:#?}");
}

/// A tiny deterministic generator (xorshift), so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Text that exercises the places the two parsers could part: brackets,
/// operators, string pieces, keywords, comments where spans end.
const PIECES: &[&str] = &[
    "{",
    "}",
    "(",
    ")",
    "[",
    "]",
    "\"",
    "${",
    "\\",
    ".",
    "?.",
    "?",
    ",",
    ":",
    "|",
    "!",
    "-",
    "->",
    "=>",
    "=",
    "==",
    "<",
    ">",
    "+",
    "*",
    "/",
    "??",
    "&&",
    "||",
    " ",
    "\n",
    "// note\n",
    "/// doc\n",
    "step ",
    "return ",
    "when ",
    "else ",
    "if ",
    "map ",
    "in ",
    "retry 2 ",
    "timeout 5s ",
    "catch => 0 ",
    "after a ",
    "as \"X\" ",
    "1",
    "1.5",
    "2s",
    "50%",
    "1e3",
    "1_000",
    "x",
    "true",
    "null",
    "(concurrency: 2)",
    "\"\"\"",
    "x => x",
    "(a, b) => a",
    "llm m -> string { prompt: \"p\" }",
    "ask -> bool { prompt: \"ok?\" }",
    "loop ",
    "until ",
    "\u{FEFF}",
];

fn mutate(source: &str, rng: &mut Rng) -> String {
    let mut text = source.to_string();
    for _ in 0..1 + rng.below(3) {
        let mut at = rng.below(text.len() + 1);
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        match rng.below(3) {
            0 => text.insert_str(at, PIECES[rng.below(PIECES.len())]),
            1 => {
                let mut end = (at + 1 + rng.below(8)).min(text.len());
                while !text.is_char_boundary(end) {
                    end += 1;
                }
                text.replace_range(at..end, "");
            }
            _ => {
                // Repeat a slice of the file somewhere else.
                let mut from = rng.below(text.len() + 1);
                while !text.is_char_boundary(from) {
                    from -= 1;
                }
                let mut to = (from + rng.below(40)).min(text.len());
                while !text.is_char_boundary(to) {
                    to += 1;
                }
                let slice = text[from..to].to_string();
                text.insert_str(at, &slice);
            }
        }
    }
    text
}

#[test]
fn mutated_files_parse_the_same_or_go_to_pest() {
    let (mut cases, mut accepted, mut left) = (0, 0, Vec::<String>::new());
    for (index, (path, source)) in corpus().into_iter().enumerate() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (index as u64 + 1).wrapping_mul(0x2545_F491_4F6C_DD1D));
        for round in 0..40 {
            let mutated = mutate(&source, &mut rng);
            let name = format!("{} (mutation {round})", path.display());
            let (fast, pest_clean) = agree(&name, &mutated);
            if pest_clean && !fast {
                left.push(mutated);
            }
            cases += 1;
            accepted += usize::from(fast);
        }
    }
    // The fast parser takes every mutant pest takes without a diagnostic.
    assert!(left.is_empty(), "the fast parser gave up on {} valid mutants, e.g.:\n{}", left.len(), left[0]);
    // Both outcomes must be well represented for the test to mean anything.
    assert!(accepted > cases / 10 && accepted < cases * 9 / 10, "{accepted} of {cases} mutants were accepted");
}

#[test]
fn deep_and_long_expressions_agree_at_the_depth_limit() {
    let mut accepted = 0;
    for n in [1, 127, 128, 129, 255, 256, 257] {
        let sources = [
            format!("flow f() -> int {{ return 1{} }}", " + 1".repeat(n)),
            format!("flow f() -> bool {{ return {}true }}", "!".repeat(n)),
            format!("flow f(r: R) -> int {{ return r{} }}", ".a".repeat(n)),
            format!("flow f(x: [int]) -> int {{ return len(x.filter(a => a > 0{})) }}", " && true".repeat(n)),
            format!("flow f(c: bool) -> int {{ return if c {{ 0 }}{} else {{ 1 }} }}", " else if c { 0 }".repeat(n)),
            format!("flow f() -> string {{ return \"{}\" }}", "${\"a\" + \"b\"}".repeat(n)),
        ];
        for source in sources {
            accepted += usize::from(agree(&format!("{n} deep"), &source).0);
        }
    }
    assert!(accepted > 20, "only {accepted} were taken by the fast parser");
}

/// pest keeps the comments it skipped before an absent optional part in a
/// rule's span: a comment at the end of every line reaches each such place.
#[test]
fn comments_at_every_line_end_parse_the_same() {
    let mut checked = 0;
    for (path, source) in corpus() {
        let commented: String = source.lines().map(|line| format!("{line} // c\n")).collect();
        let (fast, pest_clean) = agree(&format!("{} with comments", path.display()), &commented);
        assert!(fast || !pest_clean, "{}: the fast parser gave up on it with comments", path.display());
        checked += usize::from(fast);
    }
    assert!(checked > 150, "only {checked} files were taken");
}

/// Endings the corpus rarely has before a comment: a union whose last
/// member is optional, retry's parts each followed by one.
#[test]
fn comments_after_rare_endings_parse_the_same() {
    let sources = [
        "type T = int | string? // c\n",
        "type R { a: \"x\" | \"y\"? // c\n b: int? ? // c\n }\n",
        "flow f(a: int | string? // c\n) -> int | null? // c\n{ return 1 }\n",
        "tool t(x: int) -> int\nflow f() -> int {\n step a = t(x: 1) retry 2 // c\n backoff 1s // c\n jitter // c\n on [timeout] // c\n step b = a\n return b\n}\n",
    ];
    for source in sources {
        let (fast, pest_clean) = agree("a rare ending", source);
        assert!(fast && pest_clean, "both parsers take:\n{source}");
    }
}
