//! The editor features on one program, at marked places: `/*@name*/` marks
//! a position (the marker is removed before analysis). Each answer is
//! snapshotted, so a change in what an editor shows is reviewed.

use flow_lsp::Document;
use flow_lsp::ide::{actions, completion, hover, navigation, symbols, tokens};
use std::fmt::Write;
use tower_lsp_server::ls_types::{Position, Range, Uri};

const PROGRAM: &str = r#"/// A support ticket.
type Ticket {
  /// what the customer wrote
  body: string
  priority: "low" | "high"
}

model fast = openai("gpt-4o-mini") { temperature: 0.2 }

/// Looks a customer up.
tool lookup(id: string) -> { name: string, tier: int }

flow triage(t: Ticket, id: string) -> string {
  /// who wrote it
  step who = lookup(id: i/*@param_use*/d)
  step label = llm f/*@model_use*/ast -> Ticket { prompt: "Classify ${t.bo/*@field_use*/dy}" }
  step n = len(who.name)
  step shout = w/*@step_use*/ho.name.up/*@builtin*/per()
  step x = lbl/*@typo*/.priority
  return who./*@dot*/name
}
"#;

fn marked(source: &str) -> (String, Vec<(String, usize)>) {
    let mut text = String::new();
    let mut marks = Vec::new();
    let mut rest = source;
    while let Some(at) = rest.find("/*@") {
        text.push_str(&rest[..at]);
        let end = rest[at..].find("*/").map(|e| at + e).expect("closed marker");
        marks.push((rest[at + 3..end].to_string(), text.len()));
        rest = &rest[end + 2..];
    }
    text.push_str(rest);
    (text, marks)
}

fn fixture() -> (Document, Vec<(String, usize)>) {
    let (text, marks) = marked(PROGRAM);
    (Document::new(text, 1), marks)
}

fn at(marks: &[(String, usize)], name: &str) -> usize {
    marks.iter().find(|(n, _)| n == name).map(|(_, o)| *o).expect("marker")
}

fn show(doc: &Document, span: flow_grammar::Span) -> String {
    let (line, col) = doc.analysis.line_col(&doc.text, span.start);
    format!("{line}:{col} `{}`", doc.slice(span))
}

#[test]
fn hover_definition_references() {
    let (doc, marks) = fixture();
    let mut out = String::new();
    for mark in ["param_use", "model_use", "field_use", "builtin", "step_use"] {
        let offset = at(&marks, mark);
        let _ = writeln!(out, "== {mark}");
        if let Some((text, span)) = hover::hover(&doc, offset) {
            let _ = writeln!(out, "hover over {}:\n{text}", show(&doc, span));
        }
        if let Some(def) = navigation::definition(&doc, offset) {
            let _ = writeln!(out, "definition: {}", show(&doc, def));
        }
        let refs: Vec<String> = navigation::references(&doc, offset, true).into_iter().map(|s| show(&doc, s)).collect();
        let _ = writeln!(out, "references: {}", refs.join(", "));
    }
    insta::assert_snapshot!(out);
}

#[test]
fn completion_after_a_dot_and_in_options_and_at_the_top() {
    let (doc, marks) = fixture();
    let labels =
        |offset: usize| -> Vec<String> { completion::complete(&doc, offset).into_iter().map(|c| c.label).collect() };
    let dot = labels(at(&marks, "dot"));
    assert_eq!(dot[..2], ["name".to_string(), "tier".to_string()], "the record's fields first: {dot:?}");
    assert!(!dot.contains(&"upper".to_string()), "no string methods on a record: {dot:?}");

    // Inside an llm's options: the options not yet written.
    let (text, marks) = marked(
        "model m = mock(\"m\")\nflow f() -> string {\n  step a = llm m -> string {\n    prompt: \"x\"\n    /*@opt*/\n  }\n  return a\n}\n",
    );
    let doc = Document::new(text, 1);
    let options: Vec<String> = completion::complete(&doc, at(&marks, "opt")).into_iter().map(|c| c.label).collect();
    assert!(options.contains(&"system".to_string()) && !options.contains(&"prompt".to_string()), "{options:?}");

    // A string's methods, while the line does not parse.
    let (text, marks) = marked("flow f(s: string) -> string {\n  step a = s./*@m*/\n  return s\n}\n");
    let doc = Document::new(text, 1);
    assert!(doc.analysis.has_errors());
    let methods: Vec<String> = completion::complete(&doc, at(&marks, "m")).into_iter().map(|c| c.label).collect();
    assert!(methods.contains(&"upper".to_string()) && methods.contains(&"split".to_string()), "{methods:?}");

    // Top level: the item keywords.
    let doc = Document::new("\n".into(), 1);
    let top: Vec<String> = completion::complete(&doc, 0).into_iter().map(|c| c.label).collect();
    assert_eq!(top, ["type", "model", "tool", "flow", "test"]);
}

#[test]
fn rename_checks_the_new_name_and_renames_every_use() {
    let (doc, marks) = fixture();
    let offset = at(&marks, "step_use");
    let spans = navigation::rename(&doc, offset, "author").expect("renamed");
    let shown: Vec<String> = spans.iter().map(|s| show(&doc, *s)).collect();
    assert_eq!(shown, ["15:8 `who`", "17:16 `who`", "18:16 `who`", "20:10 `who`"]);
    assert!(navigation::rename(&doc, offset, "step").is_err(), "a reserved word");
    assert!(navigation::rename(&doc, offset, "2x").is_err(), "not a name");
    assert!(navigation::rename(&doc, offset, "label").is_err(), "captured by another step");
    assert!(navigation::prepare_rename(&doc, at(&marks, "field_use")).is_err(), "fields are refused, with why");
}

#[test]
fn quick_fix_symbols_and_tokens() {
    let (doc, marks) = fixture();
    let uri: Uri = "file:///t.flow".parse().expect("uri");
    let typo = doc.position(at(&marks, "typo"));
    let fixes = actions::quick_fixes(&doc, &uri, Range { start: typo, end: typo });
    assert_eq!(fixes.len(), 1, "{fixes:?}");
    insta::assert_snapshot!("quick_fix_title", fixes[0].title);

    let outline: Vec<String> = symbols::outline(&doc)
        .iter()
        .map(|s| {
            let children: Vec<&str> = s.children.iter().flatten().map(|c| c.name.as_str()).collect();
            format!("{} {:?} [{}]", s.name, s.kind, children.join(", "))
        })
        .collect();
    insta::assert_snapshot!("outline", outline.join("\n"));

    // Every token is on one line and in order.
    let data = tokens::tokens(&doc);
    assert!(data.len() > 50, "{}", data.len());
    assert!(data.iter().all(|t| t.length > 0));
    let first = Position { line: data[0].delta_line, character: data[0].delta_start };
    assert_eq!(first, Position::new(0, 0), "the doc comment opens the file");
}
