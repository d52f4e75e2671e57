//! The error a call outside the engine returns: a host tool, an HTTP or
//! command tool, or a model provider. Its kind decides what `retry` and
//! `catch` do with it.

use flow_compiler::ir::ErrorKind;
use std::time::Duration;

/// A tool or provider call that did not work. The kind is `tool` unless
/// the caller says otherwise (e.g. `rate_limited` for an upstream 429), so `retry` and
/// `catch` can tell failures apart.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct ToolError {
    /// What kind of failure it is (`tool`, `rate_limited`, `timeout`, ...).
    pub kind: ErrorKind,
    /// What went wrong, in words a person (or a model) can act on.
    pub message: String,
    /// How long the other side asked us to wait before trying again
    /// (`Retry-After`); a `retry` waits at least this long.
    pub retry_after: Option<Duration>,
    /// The other side said that sending the same request again cannot
    /// help (a 4xx other than 408, 409 and 429; an answer that is not the
    /// API's): a model's default `retry` does not send it again (a step's
    /// `retry` clause still may).
    pub permanent: bool,
}

impl ToolError {
    /// A `tool` error.
    pub fn new(message: impl Into<String>) -> ToolError {
        ToolError { kind: ErrorKind::Tool, message: message.into(), retry_after: None, permanent: false }
    }

    /// An error of another kind (e.g. `rate_limited` for an upstream 429).
    pub fn with_kind(kind: ErrorKind, message: impl Into<String>) -> ToolError {
        ToolError { kind, message: message.into(), retry_after: None, permanent: false }
    }

    /// Marks the failure as one a model's default `retry` does not send again.
    pub fn permanent(mut self) -> ToolError {
        self.permanent = true;
        self
    }

    /// Says how long the other side asked to wait before trying again.
    pub fn retry_after(mut self, wait: Option<Duration>) -> ToolError {
        self.retry_after = wait;
        self
    }
}

impl std::fmt::Display for ToolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.kind)
    }
}

impl std::error::Error for ToolError {}

/// What a model provider returns when a call fails: the same type as a
/// tool's, so `retry` and `catch` treat both alike.
pub type ProviderError = ToolError;

/// A `Retry-After` value: whole or fractional seconds. (The HTTP-date form
/// is rare from APIs and is ignored: the retry clause's own backoff applies.)
pub(crate) fn parse_retry_after(value: &str) -> Option<Duration> {
    let secs: f64 = value.trim().parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(3600.0)))
}

/// The start of a long text, for error messages.
pub(crate) fn snippet(text: &str) -> String {
    let text = text.trim();
    if text.chars().count() > 200 {
        format!("{}…", text.chars().take(200).collect::<String>())
    } else {
        text.to_string()
    }
}
