//! `flowc spec`: the language reference, or (`--short`) a cheat sheet for
//! small context windows — a written skeleton of the syntax followed by the
//! tables the registries hold (builtins, options, error kinds, keywords), so
//! the sheet cannot fall behind the language.

use flow_stdlib::options::{
    AGENT_OPTIONS, ASK_OPTIONS, COMMAND_TOOL_OPTIONS, HTTP_TOOL_OPTIONS, LLM_OPTIONS, LOOP_OPTIONS, MAP_OPTIONS,
    MODEL_OPTIONS, OptionSpec,
};
use flow_stdlib::{BUILTINS, ErrorKind, Receiver};
use std::fmt::Write;

/// The language reference.
pub const REFERENCE: &str = include_str!("../../docs/language.md");

/// The syntax skeleton of the cheat sheet.
const SKELETON: &str = include_str!("../../docs/cheatsheet.md");

/// The cheat sheet: the skeleton, then the registries' tables.
pub fn short() -> String {
    let mut out = String::from(SKELETON);
    out.push_str("\nOptions (* required):\n");
    let tables: [(&str, &[OptionSpec]); 8] = [
        ("model", MODEL_OPTIONS),
        ("llm", LLM_OPTIONS),
        ("agent", AGENT_OPTIONS),
        ("ask", ASK_OPTIONS),
        ("map", MAP_OPTIONS),
        ("loop", LOOP_OPTIONS),
        ("http tool", HTTP_TOOL_OPTIONS),
        ("command tool", COMMAND_TOOL_OPTIONS),
    ];
    for (construct, table) in tables {
        let names: Vec<String> =
            table.iter().map(|o| format!("{}{}", o.name, if o.required { "*" } else { "" })).collect();
        let _ = writeln!(out, "- {construct}: {}", names.join(" "));
    }
    out.push_str("\nBuiltins:\n");
    for (receiver, title) in [
        (Receiver::None, "functions"),
        (Receiver::List, "lists"),
        (Receiver::String, "strings"),
        (Receiver::Map, "maps"),
    ] {
        let calls: Vec<String> = BUILTINS.iter().filter(|b| b.receiver == receiver).map(|b| b.signature()).collect();
        let _ = writeln!(out, "- {title}: {}", calls.join(" "));
    }
    let kinds: Vec<&str> = ErrorKind::names().collect();
    let _ = writeln!(out, "\nError kinds: {}.", kinds.join(" "));
    let reserved: Vec<&str> = flow_grammar::keywords::KEYWORDS
        .iter()
        .map(|k| k.word)
        .filter(|w| flow_grammar::keywords::is_keyword(w))
        .collect();
    let _ = writeln!(out, "Reserved words: {}.", reserved.join(" "));
    for (name, body, _) in flow_compiler::types::builtin_types() {
        let _ = writeln!(out, "Predeclared: `type {name} {body}`.");
    }
    out
}
