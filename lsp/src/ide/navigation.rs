//! Go to definition, find references and rename: names through the
//! analysis's definitions and references, fields through the types.

use super::{field_access_at, field_decl, walk};
use crate::document::Document;
use flow_compiler::DefKind;
use flow_grammar::Span;
use flow_grammar::ast::ExprKind;

/// Where the name at `offset` is defined.
pub fn definition(doc: &Document, offset: usize) -> Option<Span> {
    if let Some(def) = doc.analysis.definition_at(offset) {
        return Some(def.span);
    }
    let (ty, name) = field_access_at(doc, offset)?;
    Some(field_decl(doc, &ty, &name.name)?.name.span)
}

/// Every place the name at `offset` is used, its definition first when asked.
pub fn references(doc: &Document, offset: usize, with_definition: bool) -> Vec<Span> {
    let analysis = &doc.analysis;
    let mut spans = Vec::new();
    if let Some(def) = analysis.definition_at(offset) {
        if with_definition {
            spans.push(def.span);
        }
        spans.extend(analysis.references_to(def).map(|r| r.span));
        return spans;
    }
    // A field: its declaration and every access through a value of its type.
    let Some(decl) = field_declaration_at(doc, offset) else { return spans };
    if with_definition {
        spans.push(decl.0);
    }
    for e in walk::syntax(&analysis.file).exprs {
        if let ExprKind::Field { target, name, .. } = &e.kind
            && name.name == decl.1
            && let Some(ty) = analysis.type_of_expr(target.span)
            && field_decl(doc, ty, &name.name).is_some_and(|d| d.name.span == decl.0)
        {
            spans.push(name.span);
        }
    }
    spans
}

/// The field declaration at `offset` or reached from the access there.
fn field_declaration_at(doc: &Document, offset: usize) -> Option<(Span, String)> {
    if let Some((ty, name)) = field_access_at(doc, offset) {
        let decl = field_decl(doc, &ty, &name.name)?;
        return Some((decl.name.span, decl.name.name.clone()));
    }
    walk::syntax(&doc.analysis.file)
        .fields
        .iter()
        .find(|f| f.name.span.start <= offset && offset <= f.name.span.end)
        .map(|f| (f.name.span, f.name.name.clone()))
}

/// Why a rename cannot be done.
#[derive(Debug, PartialEq, Eq)]
pub struct RenameRefused(pub String);

/// The name at `offset` that a rename would change, or why it cannot be.
pub fn prepare_rename(doc: &Document, offset: usize) -> Result<Span, RenameRefused> {
    let analysis = &doc.analysis;
    let def = analysis.definition_at(offset).ok_or_else(|| {
        let why = if field_declaration_at(doc, offset).is_some() {
            "fields cannot be renamed yet: the records written for them are not tracked"
        } else {
            "there is no name here to rename"
        };
        RenameRefused(why.into())
    })?;
    if def.kind == DefKind::TestOutput {
        return Err(RenameRefused("`output` is the name a test's expectation reads".into()));
    }
    let at = std::iter::once(def.span)
        .chain(analysis.references_to(def).map(|r| r.span))
        .find(|s| s.start <= offset && offset <= s.end)
        .unwrap_or(def.span);
    Ok(at)
}

/// The edits that rename the name at `offset` to `new_name`.
pub fn rename(doc: &Document, offset: usize, new_name: &str) -> Result<Vec<Span>, RenameRefused> {
    prepare_rename(doc, offset)?;
    let valid = new_name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && new_name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Err(RenameRefused(format!(
            "`{new_name}` is not a name: letters, digits and `_`, not starting with a digit"
        )));
    }
    if flow_grammar::keywords::is_keyword(new_name) {
        return Err(RenameRefused(format!("`{new_name}` is a reserved word")));
    }
    let analysis = &doc.analysis;
    let Some(def) = analysis.definition_at(offset) else { return Ok(Vec::new()) };
    // Another definition of that name visible where this one is would capture its uses.
    let clash = analysis.definitions().iter().any(|other| {
        other.name == new_name
            && other.span != def.span
            && (other.scope.start <= def.scope.end && def.scope.start <= other.scope.end)
    });
    if clash {
        return Err(RenameRefused(format!("`{new_name}` is already defined where `{}` is used", def.name)));
    }
    let mut spans = vec![def.span];
    spans.extend(analysis.references_to(def).map(|r| r.span));
    Ok(spans)
}
