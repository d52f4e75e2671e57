//! The language reference's examples parse, and there are the examples the
//! design sketch names. (Each example is checked, lowered and run in
//! `cases.rs`.)

use flow_tests::{examples, read};

#[test]
fn the_design_sketch_programs_are_examples() {
    assert!(examples().len() >= 5, "the five programs of the design sketch live in examples/");
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
