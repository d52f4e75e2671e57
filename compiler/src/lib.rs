//! The Flow compiler's front end: name resolution and type checking of a
//! parsed file, collecting every error rather than stopping at the first,
//! and rendering diagnostics for people (codespan) or programs (JSON).
//!
//! [`check`] is the one entry point the CLI, the tests and (later) the
//! language server share. The compiler does no I/O.

mod checker;
mod exprs;
mod flows;
pub mod graph;
pub mod ir;
mod lower;
pub mod render;
pub mod schema;
mod test_blocks;
pub mod types;

pub use flow_grammar::{Code, Diagnostic, Label, Replacement, Severity, Span, ast, parse, suggest};
pub use flows::{ERROR_KINDS, MAX_RETRIES, TRANSIENT_KINDS};

/// The result of checking one file.
#[derive(Debug)]
pub struct Checked {
    /// What parsed (items that did not parse are missing from it).
    pub file: ast::File,
    /// Every problem found, errors and warnings, in source order.
    pub diagnostics: Vec<Diagnostic>,
}

impl Checked {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }

    pub fn error_count(&self) -> usize {
        self.diagnostics.iter().filter(|d| d.is_error()).count()
    }

    pub fn warning_count(&self) -> usize {
        self.diagnostics.len() - self.error_count()
    }
}

/// Parses and checks one file's source text.
pub fn check(source: &str) -> Checked {
    run_checker(source, false).0
}

/// Checks one file and, when it has no errors, lowers it to the graph IR the
/// interpreter runs. Warnings do not stop compilation.
pub fn compile(source: &str) -> Result<(ir::Program, Checked), Checked> {
    let (checked, checker) = run_checker(source, true);
    if checked.has_errors() {
        return Err(checked);
    }
    let mut checker = checker;
    let program = lower::lower(&checked.file, &mut checker);
    Ok((program, checked))
}

fn run_checker(source: &str, record: bool) -> (Checked, checker::Checker<'_>) {
    let parsed = flow_grammar::parse(source);
    let mut checker = checker::Checker::new(source);
    if record {
        checker.recorded = Some(checker::Recorded::default());
    }
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
    (Checked { file: parsed.file, diagnostics }, checker)
}
