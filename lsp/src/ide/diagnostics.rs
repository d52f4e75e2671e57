//! The checker's diagnostics as the protocol's: the primary label's range,
//! the stable code, the message with its label and `help:` line, and the
//! other labels as related information.

use crate::document::Document;
use flow_grammar::Severity;
use tower_lsp_server::ls_types::{
    Diagnostic, DiagnosticRelatedInformation, DiagnosticSeverity, Location, NumberOrString, Uri,
};

pub fn diagnostics(doc: &Document, uri: &Uri) -> Vec<Diagnostic> {
    doc.analysis.diagnostics.iter().map(|d| diagnostic(doc, uri, d)).collect()
}

fn diagnostic(doc: &Document, uri: &Uri, d: &flow_grammar::Diagnostic) -> Diagnostic {
    let primary = d.labels.iter().find(|l| l.primary).or(d.labels.first());
    let range = primary.map(|l| doc.range(l.span)).unwrap_or_default();
    let mut message = d.message.clone();
    if let Some(label) = primary.filter(|l| !l.message.is_empty()) {
        message.push_str(&format!(": {}", label.message));
    }
    for note in &d.notes {
        message.push_str(&format!("\nnote: {note}"));
    }
    if let Some(help) = &d.help {
        message.push_str(&format!("\nhelp: {help}"));
    }
    let related: Vec<DiagnosticRelatedInformation> = d
        .labels
        .iter()
        .filter(|l| !l.primary)
        .map(|l| DiagnosticRelatedInformation {
            location: Location { uri: uri.clone(), range: doc.range(l.span) },
            message: l.message.clone(),
        })
        .collect();
    Diagnostic {
        range,
        severity: Some(match d.severity {
            Severity::Error => DiagnosticSeverity::ERROR,
            _ => DiagnosticSeverity::WARNING,
        }),
        code: Some(NumberOrString::String(d.code.as_str().to_string())),
        source: Some("flowc".into()),
        message,
        related_information: (!related.is_empty()).then_some(related),
        ..Diagnostic::default()
    }
}
