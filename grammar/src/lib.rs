//! The Flow language's front door: the pest grammar (`flow.pest`), the AST it
//! is turned into, and the diagnostic type every later phase reports with.
//!
//! [`parse`] never panics and never stops at the first syntax error: a file is
//! parsed item by item when it does not parse whole, so an error in one
//! `type`, `model`, `tool`, `flow` or `test` does not hide the others, and a
//! flow statement by statement, so an error in one step does not hide the rest.

pub mod ast;
mod build;
pub mod codes;
mod descent;
pub mod diagnostic;
pub mod format;
pub mod keywords;
pub mod literal;
mod recover;
mod scan;
pub mod span;
pub mod suggest;
mod syntax;

pub use codes::Code;
pub use diagnostic::{Diagnostic, Label, Replacement, Severity};
pub use scan::{Trivia, TriviaKind, skip_string_or_comment};
pub use span::{LineIndex, Span};

use pest::Parser;

#[derive(pest_derive::Parser)]
#[grammar = "flow.pest"]
pub(crate) struct FlowParser;

/// The outcome of parsing one file.
#[derive(Clone, Debug, Default)]
pub struct Parsed {
    /// Every item that parsed, in source order.
    pub file: ast::File,
    pub diagnostics: Vec<Diagnostic>,
    /// Items that failed to parse. Later phases treat their names as
    /// declared (of unknown shape), so one typo does not cascade.
    pub broken_items: Vec<BrokenItem>,
    /// Comments and blank lines, in source order (for a formatter).
    pub trivia: Vec<Trivia>,
}

/// A top-level item that did not parse, known only by its keyword and name.
#[derive(Clone, Debug, PartialEq)]
pub struct BrokenItem {
    pub keyword: String,
    pub name: String,
    pub span: Span,
}

/// The whole file parsed by pest in one go, if it parses, with what the
/// builder reported (literals out of range, expressions too deep).
fn parse_whole_with_pest(source: &str) -> Option<(ast::File, Vec<Diagnostic>)> {
    let mut pairs = FlowParser::parse(Rule::file, source).ok()?;
    let builder = build::Builder::new(source, 0);
    let mut file = ast::File::default();
    if let Some(pair) = pairs.next() {
        for pair in pair.into_inner() {
            if pair.as_rule() != Rule::EOI {
                file.items.push(builder.item(pair));
            }
        }
    }
    Some((file, builder.diagnostics.into_inner()))
}

/// Parses a whole file, recovering at item boundaries.
pub fn parse(source: &str) -> Parsed {
    let mut scan = scan::scan(source);
    let mut parsed = Parsed { trivia: std::mem::take(&mut scan.trivia), ..Parsed::default() };

    let too_deep = scan.chunks.iter().any(|c| c.too_deep.is_some());
    if !too_deep && scan.unterminated_strings.is_empty() {
        // The common case: the whole file parses in one go, by the fast
        // parser; pest parses what it gives up on, and reports it.
        if let Some(file) = descent::parse_file(source) {
            parsed.file = file;
            return parsed;
        }
        if let Some((file, diagnostics)) = parse_whole_with_pest(source) {
            parsed.file = file;
            parsed.diagnostics = diagnostics;
            return parsed;
        }
    }

    if let Some(junk) = scan.leading_junk {
        parsed.diagnostics.push(syntax::leading_junk(source, junk));
    }
    for span in &scan.unterminated_strings {
        parsed.diagnostics.push(syntax::unterminated_string(*span));
    }
    for chunk in &scan.chunks {
        let broken = |parsed: &mut Parsed| {
            if let (Some(keyword), Some(name)) = (&chunk.keyword, &chunk.name) {
                parsed.broken_items.push(BrokenItem { keyword: keyword.clone(), name: name.clone(), span: chunk.span });
            }
        };
        if let Some(at) = chunk.too_deep {
            parsed.diagnostics.push(syntax::too_deep(source, at));
            broken(&mut parsed);
            continue;
        }
        let text = &source[chunk.span.start..chunk.span.end];
        match FlowParser::parse(Rule::item_only, text) {
            Ok(mut pairs) => {
                let builder = build::Builder::new(source, chunk.span.start);
                if let Some(item) = pairs.next().and_then(|p| p.into_inner().next()) {
                    parsed.file.items.push(builder.item(item));
                }
                parsed.diagnostics.extend(builder.diagnostics.into_inner());
            }
            Err(_) => {
                let in_bad_string =
                    scan.unterminated_strings.iter().any(|s| chunk.span.start <= s.start && s.start < chunk.span.end);
                // A flow is recovered statement by statement: its other steps are still checked.
                if !in_bad_string
                    && chunk.keyword.as_deref() == Some("flow")
                    && let Some(recovered) = recover::flow(source, chunk.span)
                {
                    parsed.file.items.push(recovered.item);
                    parsed.diagnostics.extend(recovered.diagnostics);
                    continue;
                }
                if !in_bad_string {
                    parsed.diagnostics.push(syntax::describe_error(source, chunk.span.start, text));
                }
                broken(&mut parsed);
            }
        }
    }
    parsed
}
