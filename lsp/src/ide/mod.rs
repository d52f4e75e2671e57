//! The editor features, each a pure function of an open [`Document`] (and
//! a position): the server module only moves them over the protocol, and
//! the tests and the latency bench call them the same way.

pub mod actions;
pub mod completion;
pub mod diagnostics;
pub mod hover;
pub mod navigation;
pub mod symbols;
pub mod tokens;
pub mod walk;

use crate::document::Document;
use flow_compiler::types::Ty;
use flow_grammar::ast::{Expr, ExprKind, FieldDecl, Ident, Item, TypeExprKind};

/// The declaration of field `name` of `ty`, when `ty` is a declared record
/// type (through `?`).
pub fn field_decl<'a>(doc: &'a Document, ty: &Ty, name: &str) -> Option<&'a FieldDecl> {
    let type_name = match ty {
        Ty::Named(n) => n.clone(),
        Ty::Optional(inner) => return field_decl(doc, inner, name),
        _ => return None,
    };
    doc.analysis.file.items.iter().find_map(|item| match item {
        Item::Type(t) if *t.name.name == *type_name => match &t.ty.kind {
            TypeExprKind::Record(fields) => fields.iter().find(|f| f.name.name == name),
            _ => None,
        },
        _ => None,
    })
}

/// The field access (`x.name`, `x?.name`) whose name holds `offset`: the
/// type of its target and its name.
pub fn field_access_at(doc: &Document, offset: usize) -> Option<(Ty, &Ident)> {
    let syntax = walk::syntax(&doc.analysis.file);
    let (target, name) = syntax.exprs.iter().find_map(|e| field_of(e, offset))?;
    Some((doc.analysis.type_of_expr(target.span)?.clone(), name))
}

fn field_of(e: &Expr, offset: usize) -> Option<(&Expr, &Ident)> {
    match &e.kind {
        ExprKind::Field { target, name, .. } if name.span.start <= offset && offset <= name.span.end => {
            Some((target, name))
        }
        _ => None,
    }
}
