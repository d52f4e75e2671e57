//! Parser recovery: an error in one item does not hide or cascade into the
//! others. (The per-file cases of `tests/parse/` are in `cases.rs`.)

use flow_tests::codes;

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
