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
