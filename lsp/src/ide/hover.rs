//! Hover: what the name, builtin or expression under the cursor is, in a
//! Flow code block, with its `///` comment.

use super::{field_access_at, field_decl};
use crate::document::Document;
use flow_compiler::{DefKind, Definition};
use flow_grammar::Span;
use flow_grammar::ast::{Block, FormKind, Item, Step};

/// Markdown for what is at `offset`, and the span it describes.
pub fn hover(doc: &Document, offset: usize) -> Option<(String, Span)> {
    let analysis = &doc.analysis;
    if let Some((span, id)) = analysis.builtin_name_at(offset) {
        let b = id.builtin();
        let text = format!("{}\n\n{}\n\n`{}` gives `{}`", code(&b.signature()), b.summary, b.example, b.result);
        return Some((text, span));
    }
    if let Some(def) = analysis.definition_at(offset) {
        let mut text = code(&describe(doc, def));
        if let Some(comment) = doc_comment(doc, def.span) {
            text.push_str("\n\n");
            text.push_str(&comment);
        }
        let at = analysis.references().iter().map(|r| r.span).find(|s| s.start <= offset && offset <= s.end);
        return Some((text, at.unwrap_or(def.span)));
    }
    if let Some((ty, name)) = field_access_at(doc, offset)
        && let Some(decl) = field_decl(doc, &ty, &name.name)
    {
        let field_ty = analysis.resolved_type(decl.ty.span).map(|t| t.to_string()).unwrap_or_default();
        let mut text = code(&format!("{}: {field_ty}", decl.name.name));
        if let Some(comment) = &decl.doc {
            text.push_str("\n\n");
            text.push_str(comment);
        }
        return Some((text, name.span));
    }
    let (span, ty) = analysis.expr_at(offset)?;
    Some((code(&ty.to_string()), span))
}

fn code(text: &str) -> String {
    format!("```flow\n{text}\n```")
}

/// A definition as a line of Flow.
fn describe(doc: &Document, def: &Definition) -> String {
    let item = doc.analysis.file.items.iter().find(|i| i.name().span == def.span);
    match (def.kind, item) {
        (DefKind::Type, _) => {
            let body = doc.analysis.types.bodies.get(&def.name).map(|t| t.to_string()).unwrap_or_default();
            format!("type {} = {body}", def.name)
        }
        (DefKind::Model, Some(Item::Model(m))) => {
            let options: Vec<String> =
                m.options.iter().map(|o| format!("  {}: {}", o.key.name, doc.slice(o.value.span))).collect();
            let mut text = format!("model {} = {}({})", m.name.name, m.provider.name, doc.slice(m.model_id.span));
            if !options.is_empty() {
                text.push_str(&format!(" {{\n{}\n}}", options.join("\n")));
            }
            text
        }
        (DefKind::Tool | DefKind::Flow, Some(Item::Tool(_) | Item::Flow(_))) => {
            let keyword = if def.kind == DefKind::Tool { "tool" } else { "flow" };
            let params = match item {
                Some(Item::Tool(t)) => &t.params,
                Some(Item::Flow(f)) => &f.params,
                _ => return String::new(),
            };
            let params: Vec<String> = params
                .iter()
                .map(|p| {
                    let ty = doc
                        .analysis
                        .resolved_type(p.ty.span)
                        .map_or_else(|| doc.slice(p.ty.span).to_string(), |t| t.to_string());
                    format!("{}: {ty}", p.name.name)
                })
                .collect();
            format!("{keyword} {}({}) -> {}", def.name, params.join(", "), def.ty)
        }
        (DefKind::Test, _) => format!("test {}", def.name),
        (DefKind::Step, _) => format!("step {}: {}", def.name, def.ty),
        (DefKind::Param, _) => format!("{}: {} (parameter)", def.name, def.ty),
        _ => format!("{}: {}", def.name, def.ty),
    }
}

/// The `///` comment of the item, parameter, step or field named at `name`.
pub fn doc_comment(doc: &Document, name: Span) -> Option<String> {
    for item in &doc.analysis.file.items {
        let (item_doc, params, body) = match item {
            Item::Type(t) => (&t.doc, None, None),
            Item::Model(m) => (&m.doc, None, None),
            Item::Tool(t) => (&t.doc, Some(&t.params), None),
            Item::Flow(f) => (&f.doc, Some(&f.params), Some(&f.body)),
            Item::Test(t) => (&t.doc, None, None),
        };
        if item.name().span == name {
            return item_doc.clone();
        }
        if let Some(p) = params.into_iter().flatten().find(|p| p.name.span == name) {
            return p.doc.clone();
        }
        if let Some(step) = body.and_then(|b| step_named(b, name)) {
            return step.doc.clone();
        }
    }
    None
}

fn step_named(block: &Block, name: Span) -> Option<&Step> {
    if !(block.span.start <= name.start && name.end <= block.span.end) {
        return None;
    }
    block.steps.iter().find_map(|s| {
        if s.name.span == name {
            return Some(s);
        }
        match &s.form.kind {
            FormKind::Map(m) => step_named(&m.body, name),
            FormKind::Loop(l) => step_named(&l.body, name),
            _ => None,
        }
    })
}
