//! The public semantic model: what `flow_compiler::check` knows about a
//! file besides its diagnostics — definitions and references, scopes, the
//! type of every expression and step, trivia and positions.

use flow_compiler::{Analysis, DefKind, Span};
use flow_grammar::TriviaKind;

const SOURCE: &str = r#"// Scores items.
/// A scored item.
type Scored { name: string, score: float }

model fast = openai("gpt-4o-mini")
tool lookup(id: string) -> { name: string }

flow score(ids: [string]) -> [Scored] {
  step all = map id in ids {
    step found = lookup(id: id)
      catch e => { name: e.message }

    step s = llm fast -> float { prompt: "Score ${found.name}" }
    return { name: found.name, score: s }
  }
  step kept = all.filter(x => x.score > 0.5)
  return kept
}

flow best() -> Scored {
  return { name: "a", score: 1.0 }
}
"#;

fn analysis() -> Analysis {
    let analysis = flow_compiler::check(SOURCE);
    assert!(!analysis.has_errors(), "{:?}", analysis.diagnostics);
    analysis
}

/// The offset of the `n`th occurrence (0-based) of `text`.
fn at(text: &str, n: usize) -> usize {
    SOURCE.match_indices(text).nth(n).map(|(i, _)| i).unwrap_or_else(|| panic!("no {text} #{n}"))
}

#[test]
fn names_lead_to_their_definitions() {
    let a = analysis();
    let cases = [
        (at("ids {", 0), "ids", DefKind::Param, "[string]"),
        (at("id: id)", 0) + 4, "id", DefKind::MapItem, "string"),
        (at("found.name", 0), "found", DefKind::Step, "{ name: string }"),
        (at("e.message", 0), "e", DefKind::CatchBinding, ""),
        (at("x.score", 0), "x", DefKind::LambdaParam, "{ name: string, score: float }"),
        (at("fast ->", 0), "fast", DefKind::Model, ""),
        (at("lookup(id: id)", 0), "lookup", DefKind::Tool, "{ name: string }"),
        (at("Scored]", 0), "Scored", DefKind::Type, ""),
        (at("kept\n}", 0), "kept", DefKind::Step, "[{ name: string, score: float }]"),
    ];
    for (offset, name, kind, ty) in cases {
        let def = a.definition_at(offset).unwrap_or_else(|| panic!("nothing at {offset} ({name})"));
        assert_eq!((def.name.as_str(), def.kind), (name, kind), "at {offset}");
        if !ty.is_empty() {
            assert_eq!(def.ty.to_string(), ty, "{name}");
        }
    }
}

#[test]
fn references_are_found_from_the_definition() {
    let a = analysis();
    let found = a.definition_at(at("step found", 0) + 5).expect("the step's own name");
    assert_eq!(found.kind, DefKind::Step);
    let uses: Vec<Span> = a.references_to(found).map(|r| r.span).collect();
    assert_eq!(uses.len(), 2, "{uses:?}");
    assert!(uses.iter().all(|s| &SOURCE[s.start..s.end] == "found"));
}

#[test]
fn scopes_say_which_names_are_visible_where() {
    let a = analysis();
    let inside_map = at("return { name", 0);
    let names: Vec<&str> = a.names_in_scope(inside_map).iter().map(|d| d.name.as_str()).collect();
    for visible in ["found", "s", "id", "all", "kept", "ids", "lookup", "fast", "Scored"] {
        assert!(names.contains(&visible), "{visible} should be visible: {names:?}");
    }
    assert!(!names.contains(&"x"), "a lambda's parameter is not visible outside it");
    // Innermost first: the map body's names come before the flow's.
    let first_outer = names.iter().position(|n| *n == "ids").unwrap_or(usize::MAX);
    assert!(names.iter().position(|n| *n == "found").unwrap_or(usize::MAX) < first_outer);
    let outside = at("return kept", 0);
    let names: Vec<&str> = a.names_in_scope(outside).iter().map(|d| d.name.as_str()).collect();
    assert!(!names.contains(&"found"), "map body names end with the body: {names:?}");
}

#[test]
fn every_expression_and_step_has_a_type() {
    let a = analysis();
    // A record literal checked against an expected type has that type.
    let record = at("{ name: \"a\", score: 1.0 }", 0);
    let span = Span::new(record, record + "{ name: \"a\", score: 1.0 }".len());
    assert_eq!(a.type_of_expr(span).map(ToString::to_string).as_deref(), Some("Scored"));
    // Without one, it has its own record type.
    let record = at("{ name: found.name, score: s }", 0);
    let span = Span::new(record, record + "{ name: found.name, score: s }".len());
    let own = a.type_of_expr(span).map(ToString::to_string);
    assert_eq!(own.as_deref(), Some("{ name: string, score: float }"));
    let s = at("step s =", 0) + 5;
    assert_eq!(a.type_of_step(Span::new(s, s + 1)).map(ToString::to_string).as_deref(), Some("float"));
    let annotation = at("[Scored] {", 0);
    assert_eq!(
        a.resolved_type(Span::new(annotation, annotation + 8)).map(ToString::to_string).as_deref(),
        Some("[Scored]")
    );
    let filter = at("filter", 0);
    assert_eq!(a.builtin_at(Span::new(filter, filter + 6)), Some(flow_stdlib::BuiltinId::ListFilter));
}

#[test]
fn trivia_keeps_comments_and_blank_lines() {
    let a = analysis();
    let kinds: Vec<(TriviaKind, &str)> = a.trivia.iter().map(|t| (t.kind, &SOURCE[t.span.start..t.span.end])).collect();
    assert_eq!(kinds[0], (TriviaKind::Comment, "// Scores items."));
    assert_eq!(kinds[1], (TriviaKind::DocComment, "/// A scored item."));
    let blank = kinds.iter().filter(|(k, _)| *k == TriviaKind::BlankLine).count();
    assert_eq!(blank, 4, "{kinds:?}"); // after the type, the tool, the catch and the first flow
    // Text inside strings is never trivia.
    let with_slashes = flow_compiler::check("flow f() -> string {\n  return \"a // b\"\n}\n");
    assert!(with_slashes.trivia.is_empty(), "{:?}", with_slashes.trivia);
}

#[test]
fn positions_come_from_the_line_index() {
    let a = analysis();
    let offset = at("step kept", 0);
    assert_eq!(a.line_col(SOURCE, offset), (16, 3));
    assert_eq!(a.line_index.offset(SOURCE, 16, 3), offset);
}

#[test]
fn a_tests_output_and_mocks_are_names_too() {
    let source = "tool lookup(id: string) -> string\nflow f(id: string) -> string {\n  step r = lookup(id: id)\n  return r\n}\ntest t {\n  flow: f\n  input: { id: \"7\" }\n  mock lookup: \"x\"\n  expect: output == \"x\"\n}\n";
    let a = flow_compiler::check(source);
    assert!(!a.has_errors(), "{:?}", a.diagnostics);
    let output = source.rfind("output").unwrap_or(0);
    let def = a.definition_at(output).expect("`output` is defined");
    assert_eq!((def.name.as_str(), def.kind), ("output", DefKind::TestOutput));
    assert_eq!(def.ty.to_string(), "string");
    let mock = source.find("mock lookup").unwrap_or(0) + "mock ".len();
    let tool = a.definition_at(mock).expect("a mock's target is a reference");
    assert_eq!(tool.kind, DefKind::Tool);
    assert_eq!(a.references_to(tool).count(), 2, "the call and the mock");
}
