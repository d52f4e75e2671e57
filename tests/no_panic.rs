//! Whatever the input, parsing and checking never panic: random text and
//! mutations of every test program (bytes deleted, inserted, swapped,
//! truncated) go through `check` and its renderers.

use proptest::prelude::*;
use std::sync::LazyLock;

static CORPUS: LazyLock<Vec<String>> = LazyLock::new(|| {
    let mut files = flow_tests::examples();
    for folder in ["check", "ok", "parse"] {
        files.extend(flow_tests::cases(folder));
    }
    files.iter().map(|p| flow_tests::read(p)).collect()
});

/// Pieces of Flow worth splicing into a program: they reach deeper into
/// the grammar than random bytes.
const TOKENS: &[&str] = &[
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

fn run(source: &str) {
    let checked = flow_compiler::check(source);
    let _ = flow_compiler::render::human("fuzz.flow", source, &checked.diagnostics, false);
    let _ = flow_compiler::render::json("fuzz.flow", source, &checked.diagnostics);
}

#[derive(Debug, Clone)]
enum Edit {
    Delete(usize, usize),
    Insert(usize, usize),
    Swap(usize, usize),
    Truncate(usize),
}

fn apply(source: &str, edits: &[Edit]) -> String {
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

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), any::<usize>()).prop_map(|(a, l)| Edit::Delete(a, l)),
        (any::<usize>(), any::<usize>()).prop_map(|(a, t)| Edit::Insert(a, t)),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Edit::Swap(a, b)),
        any::<usize>().prop_map(Edit::Truncate),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn mutated_programs_never_panic(file in any::<usize>(), edits in proptest::collection::vec(edit(), 1..8)) {
        let source = &CORPUS[file % CORPUS.len()];
        run(&apply(source, &edits));
    }

    #[test]
    fn random_text_never_panics(text in "\\PC{0,200}") {
        run(&text);
    }

    #[test]
    fn random_token_soup_never_panics(tokens in proptest::collection::vec(0..TOKENS.len(), 0..60)) {
        let text: String = tokens.iter().map(|&t| TOKENS[t]).collect::<Vec<_>>().join(" ");
        run(&text);
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    for (open, close) in [("(", ")"), ("[", "]"), ("{ a: ", " }"), ("\"${", "}\"")] {
        let depth = 5_000;
        let source = format!("flow f() -> int {{ return {}1{} }}", open.repeat(depth), close.repeat(depth));
        let checked = flow_compiler::check(&source);
        assert!(checked.has_errors());
    }
    let long_chain = format!("flow f() -> int {{ return 1{} }}", " + 1".repeat(50_000));
    assert!(flow_compiler::check(&long_chain).has_errors());
    let prefixes = format!("flow f() -> bool {{ return {}true }}", "!".repeat(50_000));
    assert!(flow_compiler::check(&prefixes).has_errors());
    let types = format!("type T = {}string{}", "[".repeat(5_000), "]".repeat(5_000));
    assert!(flow_compiler::check(&types).has_errors());
}
