//! The one diagnostic type every phase reports: a stable code, a severity, a
//! short title, labelled spans, notes, one `help:` line and, where there is
//! an obvious fix, a machine-applicable replacement.
//!
//! Diagnostics are plain data. Rendering (for people, as JSON, for an editor)
//! happens at the edge, in `flow_compiler::render`.

use crate::codes::Code;
pub use crate::codes::Severity;
use crate::span::Span;
use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Label {
    pub span: Span,
    pub message: String,
    /// The primary label is where the problem is; secondary ones give context.
    pub primary: bool,
}

/// A replacement that fixes the problem when applied as is.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Replacement {
    pub span: Span,
    pub text: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Diagnostic {
    pub code: Code,
    pub severity: Severity,
    /// A short title, lower case, no trailing period.
    pub message: String,
    pub labels: Vec<Label>,
    pub notes: Vec<String>,
    pub help: Option<String>,
    pub replacement: Option<Replacement>,
}

impl Diagnostic {
    /// A diagnostic with the code's own severity and a primary label.
    pub fn new(code: Code, span: Span, message: impl Into<String>, label: impl Into<String>) -> Self {
        Diagnostic {
            code,
            severity: code.severity(),
            message: message.into(),
            labels: vec![Label { span, message: label.into(), primary: true }],
            notes: Vec::new(),
            help: None,
            replacement: None,
        }
    }

    /// Adds a secondary label giving context.
    pub fn with_label(mut self, span: Span, message: impl Into<String>) -> Self {
        self.labels.push(Label { span, message: message.into(), primary: false });
        self
    }

    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn with_replacement(mut self, span: Span, text: impl Into<String>) -> Self {
        self.replacement = Some(Replacement { span, text: text.into() });
        self
    }

    /// Suggests `name` for what is at `span`: a `did you mean` help line
    /// and the replacement that applies it.
    pub fn did_you_mean(self, span: Span, name: impl Into<String>) -> Self {
        let name = name.into();
        self.with_help(format!("did you mean `{name}`?")).with_replacement(span, name)
    }

    /// The span of the primary label (the first label when none is primary).
    pub fn primary_span(&self) -> Span {
        self.labels.iter().find(|l| l.primary).or(self.labels.first()).map_or(Span::default(), |l| l.span)
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}
