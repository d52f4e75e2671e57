//! Code actions: every diagnostic with a replacement (a misspelt name, a
//! missing `?? value`) becomes a quick fix that applies it.

use super::diagnostics::diagnostics;
use crate::document::Document;
use std::collections::HashMap;
use tower_lsp_server::ls_types::{CodeAction, CodeActionKind, Range, TextEdit, Uri, WorkspaceEdit};

pub fn quick_fixes(doc: &Document, uri: &Uri, range: Range) -> Vec<CodeAction> {
    let protocol = diagnostics(doc, uri);
    doc.analysis
        .diagnostics
        .iter()
        .zip(protocol)
        .filter(|(_, p)| p.range.start <= range.end && range.start <= p.range.end)
        .filter_map(|(d, p)| {
            let fix = d.replacement.as_ref()?;
            let title = match &d.help {
                Some(help) => format!("{} ({})", capitalised(help), d.code.as_str()),
                None => format!("Replace with `{}` ({})", fix.text, d.code.as_str()),
            };
            let edit = TextEdit { range: doc.range(fix.span), new_text: fix.text.clone() };
            Some(CodeAction {
                title,
                kind: Some(CodeActionKind::QUICKFIX),
                diagnostics: Some(vec![p]),
                edit: Some(WorkspaceEdit {
                    changes: Some(HashMap::from([(uri.clone(), vec![edit])])),
                    ..WorkspaceEdit::default()
                }),
                is_preferred: Some(true),
                ..CodeAction::default()
            })
        })
        .collect()
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}
