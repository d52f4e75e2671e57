//! The Flow compiler's front end: name resolution and type checking of a
//! parsed file, collecting every error rather than stopping at the first,
//! and rendering diagnostics for people (codespan) or programs (JSON).
//!
//! [`check`] is the one entry point the CLI, the engine, the tests and the
//! language server share: it returns an [`Analysis`]. [`compile`] lowers a
//! clean analysis to the graph IR ([`ir`]). The compiler does no I/O.

mod analysis;
mod builtins;
mod checker;
mod constant;
mod exprs;
mod flows;
pub mod graph;
pub mod ir;
mod loops;
mod lower;
mod pipeline;
pub mod render;
pub mod schema;
mod test_blocks;
pub mod types;
mod words;

pub use analysis::{Analysis, DefId, DefKind, Definition, Reference};
pub use constant::constant;
pub use flow_grammar::{Code, Diagnostic, Label, Replacement, Severity, Span, ast, literal, parse, suggest};
pub use flow_stdlib::{ErrorKind, Provider};
pub use flows::MAX_RETRIES;
pub use loops::{MAX_ITERATIONS, loop_result};

/// Parses and checks one file's source text: its diagnostics and
/// everything the checker learned (see [`Analysis`]). The one entry point
/// of the CLI, the engine, the language server and the tests.
pub fn check(source: &str) -> Analysis {
    let parsed = flow_grammar::parse(source);
    let mut checker = checker::Checker::new(source);
    checker.declare(&parsed.file, &parsed.broken_items);
    for item in &parsed.file.items {
        match item {
            ast::Item::Model(m) => checker.check_model(m),
            ast::Item::Tool(t) => checker.check_tool(t),
            ast::Item::Flow(f) => checker.check_flow(f),
            ast::Item::Test(t) => checker.check_test(t),
            ast::Item::Type(_) => {}
        }
    }
    let mut diagnostics = parsed.diagnostics;
    diagnostics.append(&mut checker.diagnostics);
    // Stable: diagnostics at the same place keep the order they were found in.
    diagnostics.sort_by_key(|d| d.primary_span().start);
    Analysis {
        file: parsed.file,
        diagnostics,
        types: checker.types,
        line_index: flow_grammar::LineIndex::new(source),
        trivia: parsed.trivia,
        facts: checker.facts,
    }
}

/// Checks one file and, when it has no errors, lowers it to the graph IR the
/// interpreter runs. Warnings do not stop compilation. A lowering failure is
/// an internal error (E0900), returned with the analysis like any other.
pub fn compile(source: &str) -> Result<(ir::Program, Analysis), Box<Analysis>> {
    let mut analysis = check(source);
    if analysis.has_errors() {
        return Err(Box::new(analysis));
    }
    match lower::lower(&analysis, source) {
        Ok(program) => Ok((program, analysis)),
        Err(internal) => {
            analysis.diagnostics.push(*internal);
            Err(Box::new(analysis))
        }
    }
}
