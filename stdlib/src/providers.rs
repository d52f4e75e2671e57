//! Model providers a `model` declaration may name.

use std::fmt;

/// `model m = PROVIDER("id")`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Provider {
    /// Any OpenAI-compatible chat completions server.
    OpenAi,
    /// Anthropic's Messages API.
    Anthropic,
    /// Ollama's native `/api/chat`.
    Ollama,
    /// Answers from the output type; no network.
    Mock,
}

impl Provider {
    pub const ALL: &[Provider] = &[Provider::OpenAi, Provider::Anthropic, Provider::Ollama, Provider::Mock];

    /// The name programs write.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::OpenAi => "openai",
            Provider::Anthropic => "anthropic",
            Provider::Ollama => "ollama",
            Provider::Mock => "mock",
        }
    }

    pub fn parse(name: &str) -> Option<Provider> {
        Provider::ALL.iter().copied().find(|p| p.as_str() == name)
    }

    pub fn names() -> impl Iterator<Item = &'static str> + Clone {
        Provider::ALL.iter().map(|p| p.as_str())
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
