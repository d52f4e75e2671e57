//! Whatever the input, parsing and checking never panic: random text and
//! mutations of every test program (bytes deleted, inserted, swapped,
//! truncated) go through `check` and its renderers.

mod mutate;

use mutate::{TOKENS, apply, edit};
use proptest::prelude::*;
use std::sync::LazyLock;

static CORPUS: LazyLock<Vec<String>> = LazyLock::new(|| {
    let mut files = flow_tests::examples();
    for folder in ["check", "ok", "parse"] {
        files.extend(flow_tests::cases(folder));
    }
    files.iter().map(|p| flow_tests::read(p)).collect()
});

fn run(source: &str) {
    let checked = flow_compiler::check(source);
    let _ = flow_compiler::render::human("fuzz.flow", source, &checked.diagnostics, false);
    let _ = flow_compiler::render::json("fuzz.flow", source, &checked.diagnostics);
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
