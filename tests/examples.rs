//! Every program in `examples/` checks clean, with no warnings.

use flow_tests::{check_rendered, examples, file_name, read};

#[test]
fn examples_check_clean() {
    let files = examples();
    assert!(files.len() >= 5, "the five programs of the design sketch live in examples/");
    let mut failures = Vec::new();
    for path in files {
        let source = read(&path);
        let checked = flow_compiler::check(&source);
        if !checked.diagnostics.is_empty() {
            failures.push(check_rendered(&file_name(&path), &source));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The language reference's examples are valid syntax (some are fragments
/// that use declarations shown elsewhere, so only syntax is required).
#[test]
fn reference_examples_parse() {
    let reference = read(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/language.md"));
    let blocks: Vec<&str> = reference.split("```flow\n").skip(1).filter_map(|b| b.split("```").next()).collect();
    assert!(blocks.len() >= 5, "docs/language.md shows its constructs in ```flow blocks");
    for block in blocks {
        let parsed = flow_grammar::parse(block);
        assert!(
            parsed.diagnostics.is_empty(),
            "a reference example does not parse:\n{block}\n{:?}",
            parsed.diagnostics
        );
    }
}
