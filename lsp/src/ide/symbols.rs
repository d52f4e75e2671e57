//! The outline: items, with a flow's steps (map and loop bodies nested) and
//! a type's fields beneath them.

use crate::document::Document;
use flow_grammar::ast::{Block, FormKind, Item, TypeExprKind};
use tower_lsp_server::ls_types::{DocumentSymbol, SymbolKind};

pub fn outline(doc: &Document) -> Vec<DocumentSymbol> {
    doc.analysis.file.items.iter().map(|item| item_symbol(doc, item)).collect()
}

fn item_symbol(doc: &Document, item: &Item) -> DocumentSymbol {
    let (kind, children, detail) = match item {
        Item::Type(t) => {
            let fields = match &t.ty.kind {
                TypeExprKind::Record(fields) => fields
                    .iter()
                    .map(|f| {
                        symbol(
                            doc,
                            &f.name.name,
                            SymbolKind::FIELD,
                            f.span,
                            f.name.span,
                            Some(doc.slice(f.ty.span).to_string()),
                            Vec::new(),
                        )
                    })
                    .collect(),
                _ => Vec::new(),
            };
            (SymbolKind::STRUCT, fields, None)
        }
        Item::Model(m) => {
            (SymbolKind::OBJECT, Vec::new(), Some(format!("{}({})", m.provider.name, doc.slice(m.model_id.span))))
        }
        Item::Tool(t) => (SymbolKind::FUNCTION, Vec::new(), Some(format!("-> {}", doc.slice(t.output.span)))),
        Item::Flow(f) => (SymbolKind::FUNCTION, steps(doc, &f.body), Some(format!("-> {}", doc.slice(f.output.span)))),
        Item::Test(_) => (SymbolKind::EVENT, Vec::new(), Some("test".into())),
    };
    symbol(doc, &item.name().name, kind, item.span(), item.name().span, detail, children)
}

fn steps(doc: &Document, block: &Block) -> Vec<DocumentSymbol> {
    block
        .steps
        .iter()
        .map(|s| {
            let children = match &s.form.kind {
                FormKind::Map(m) => steps(doc, &m.body),
                FormKind::Loop(l) => steps(doc, &l.body),
                _ => Vec::new(),
            };
            let detail = doc.analysis.type_of_step(s.name.span).map(|t| t.to_string());
            symbol(doc, &s.name.name, SymbolKind::VARIABLE, s.span, s.name.span, detail, children)
        })
        .collect()
}

fn symbol(
    doc: &Document,
    name: &str,
    kind: SymbolKind,
    span: flow_grammar::Span,
    name_span: flow_grammar::Span,
    detail: Option<String>,
    children: Vec<DocumentSymbol>,
) -> DocumentSymbol {
    #[allow(deprecated)] // `deprecated` is a required field of the struct
    DocumentSymbol {
        name: name.to_string(),
        detail,
        kind,
        tags: None,
        deprecated: None,
        range: doc.range(span),
        selection_range: doc.range(name_span),
        children: (!children.is_empty()).then_some(children),
    }
}
