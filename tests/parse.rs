//! The parser's data-driven tests: every file in `tests/parse/` has a syntax
//! error; its rendered diagnostics are snapshotted and its name starts with
//! the code it must report.

use flow_tests::{cases, check_rendered, codes, expected_code, file_name, read};

#[test]
fn syntax_errors_are_described() {
    let mut failures = Vec::new();
    for path in cases("parse") {
        let source = read(&path);
        let name = file_name(&path);
        let rendered = check_rendered(&name, &source);
        insta::assert_snapshot!(name.trim_end_matches(".flow").to_string(), rendered);
        let found = codes(&source);
        if let Some(code) = expected_code(&path)
            && !found.contains(&code)
        {
            failures.push(format!("{name}: expected {code}, got {found:?}"));
        }
        let rendered_lower = rendered.to_lowercase();
        for internal in ["rule::", "expr", "ident", "soi", "eoi", "item_only"] {
            if rendered_lower.contains(&format!("`{internal}`")) || rendered_lower.contains(&format!(" {internal} ")) {
                failures.push(format!("{name}: mentions grammar internals ({internal})"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn an_error_in_one_item_does_not_hide_the_others() {
    let source =
        "flow a() -> int {\n  step x = \n}\n\nflow b() -> int {\n  return y\n}\n\ntype T { a: int b string }\n";
    let found = codes(source);
    assert_eq!(found.iter().filter(|c| *c == "E0001").count(), 2, "{found:?}");
    assert!(found.contains(&"E0101".to_string()), "the checker still runs on `b`: {found:?}");
}

#[test]
fn a_broken_item_does_not_cascade_into_unknown_names() {
    let source = "tool lookup(id: string -> string\n\nflow f(id: string) -> string {\n  step r = lookup(id: id)\n  return r\n}\n";
    let found = codes(source);
    assert_eq!(found, ["E0001"]);
}
