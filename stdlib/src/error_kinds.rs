//! Error kinds: the `kind` of the error value a `catch` binds, what
//! `retry ... on [...]` names, and what the runtime fails a step with.

use std::fmt;

/// What can raise an error: the places a step's work happens.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Source {
    /// A pure expression.
    Expression,
    /// A tool call (host, HTTP or command). An agent's tool failures go
    /// back to the model and do not fail its step.
    ToolCall,
    /// A request to a model.
    ModelCall,
    /// An agent's loop of model calls and tool calls.
    AgentLoop,
}

macro_rules! error_kinds {
    ($($kind:ident $name:literal transient: $transient:literal, retryable: $retryable:literal,
        raised_by: [$($source:ident),*], $doc:literal;)*) => {
        /// What went wrong in a step.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum ErrorKind { $(#[doc = $doc] $kind),* }

        impl ErrorKind {
            /// Every kind, in the order the docs list them.
            pub const ALL: &[ErrorKind] = &[$(ErrorKind::$kind),*];

            /// The kind as programs write it: `rate_limited`.
            pub fn as_str(self) -> &'static str {
                match self { $(ErrorKind::$kind => $name),* }
            }

            /// Whether `retry` without `on [...]` retries it.
            pub fn transient(self) -> bool {
                match self { $(ErrorKind::$kind => $transient),* }
            }

            /// Whether a `retry` clause may retry this kind at all.
            pub fn retryable(self) -> bool {
                match self { $(ErrorKind::$kind => $retryable),* }
            }

            /// One line on what raises it.
            pub fn doc(self) -> &'static str {
                match self { $(ErrorKind::$kind => $doc),* }
            }

            /// Where it can come from (none: the engine stops the run).
            pub fn sources(self) -> &'static [Source] {
                match self { $(ErrorKind::$kind => &[$(Source::$source),*]),* }
            }
        }
    };
}

error_kinds! {
    Timeout "timeout" transient: true, retryable: true,
        raised_by: [ToolCall, ModelCall], "a call or step took longer than its timeout";
    RateLimited "rate_limited" transient: true, retryable: true,
        raised_by: [ToolCall, ModelCall], "a provider or service answered 429";
    Provider "provider" transient: true, retryable: true,
        raised_by: [ModelCall], "a model provider failed or answered garbage";
    Schema "schema" transient: false, retryable: true,
        raised_by: [ModelCall], "a model's answer does not fit the output type";
    Tool "tool" transient: true, retryable: true,
        raised_by: [ToolCall], "a tool failed or returned a value that does not fit";
    Value "value" transient: false, retryable: true,
        raised_by: [Expression], "a pure expression failed";
    MaxTurns "max_turns" transient: false, retryable: true,
        raised_by: [AgentLoop], "an agent ran out of turns";
    Cancelled "cancelled" transient: false, retryable: false,
        raised_by: [], "the run was cancelled";
    Limit "limit" transient: false, retryable: false,
        raised_by: [], "the run went over one of the engine's limits";
    Store "store" transient: false, retryable: false,
        raised_by: [], "the run store (journal database) failed";
}

impl ErrorKind {
    /// The kinds a place can raise.
    pub fn raised_by(source: Source) -> impl Iterator<Item = ErrorKind> + Clone {
        ErrorKind::ALL.iter().copied().filter(move |k| k.sources().contains(&source))
    }

    /// The kinds `retry` covers when it names none.
    pub fn transients() -> impl Iterator<Item = ErrorKind> {
        ErrorKind::ALL.iter().copied().filter(|k| k.transient())
    }

    pub fn parse(s: &str) -> Option<ErrorKind> {
        ErrorKind::ALL.iter().copied().find(|k| k.as_str() == s)
    }

    /// Every kind's name.
    pub fn names() -> impl Iterator<Item = &'static str> + Clone {
        ErrorKind::ALL.iter().map(|k| k.as_str())
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
