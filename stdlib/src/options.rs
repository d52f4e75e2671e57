//! The options of each construct that takes `key: value` options: models,
//! `llm` and `agent` steps, `map`, and http and command tools. Each table
//! gives the option's name, the kind of value it takes, whether it is
//! required, and a line of documentation. The checker validates against the
//! table; lowering matches on the typed key (e.g. [`ModelOption`]) to build
//! the IR's typed options; the docs test checks each is documented.

/// What an option's value must be.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum OptionKind {
    Str,
    Bool,
    /// An int of at least 1.
    Positive,
    /// An int of at least 0.
    NonNegative,
    /// A float within the bounds (`f64::MAX`: no upper bound).
    FloatRange(f64, f64),
    /// A duration longer than zero.
    Duration,
    /// A record of strings (HTTP headers).
    StrMap,
    /// One of a few fixed strings.
    OneOf(&'static [&'static str]),
    /// A percentage or a count of items (`map`'s `tolerate`).
    Tolerate,
    /// A list of tool and flow names (`agent`'s `tools`).
    Callables,
    /// A conversation: a list of `Message` records.
    Messages,
}

/// One option of one construct.
#[derive(Clone, Copy, Debug)]
pub struct OptionSpec {
    pub name: &'static str,
    pub kind: OptionKind,
    /// The construct is incomplete without it (`llm`'s `prompt`).
    pub required: bool,
    pub doc: &'static str,
}

macro_rules! options {
    ($(#[$meta:meta])* $key:ident, $table:ident {
        $($variant:ident $name:literal $kind:expr, $required:literal, $doc:literal;)*
    }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $key { $($variant),* }

        /// The table of options, in the order the docs list them.
        pub const $table: &[OptionSpec] = &[
            $(OptionSpec { name: $name, kind: $kind, required: $required, doc: $doc }),*
        ];

        impl $key {
            pub const ALL: &[$key] = &[$($key::$variant),*];

            pub fn parse(name: &str) -> Option<$key> {
                $key::ALL.iter().copied().find(|k| k.spec().name == name)
            }

            pub fn spec(self) -> &'static OptionSpec {
                // Variants are in table order.
                &$table[self as usize]
            }

            pub fn name(self) -> &'static str {
                self.spec().name
            }
        }
    };
}

use OptionKind::*;

/// The two ways an agent's tools reach the model.
pub const TOOL_CALLING: &[&str] = &["native", "json"];

options! {
    /// `model m = provider("id") { ... }`.
    ModelOption, MODEL_OPTIONS {
        Temperature "temperature" FloatRange(0.0, 2.0), false, "sampling temperature, 0 to 2";
        MaxTokens "max_tokens" Positive, false, "the most tokens an answer may use";
        BaseUrl "base_url" Str, false, "the server's URL, for any compatible server";
        Concurrency "concurrency" Positive, false, "requests in flight at once";
        Rpm "rpm" Positive, false, "requests per minute";
        Tpm "tpm" Positive, false, "tokens per minute";
        Timeout "timeout" Duration, false, "how long one request may take (default 2m)";
        Repair "repair" NonNegative, false, "how many times an answer that does not fit is sent back (default 1)";
        Retry "retry" NonNegative, false, "how many times a call failing with rate_limited, provider or timeout is sent again when the step has no retry clause (default 2)";
        ApiKeyEnv "api_key_env" Str, false, "the environment variable holding the key";
        InputPrice "input_price" FloatRange(0.0, f64::MAX), false, "USD per million input tokens";
        OutputPrice "output_price" FloatRange(0.0, f64::MAX), false, "USD per million output tokens";
        Stream "stream" Bool, false, "stream answers (default true)";
        IdleTimeout "idle_timeout" Duration, false, "how long a stream may stay silent (default 30s)";
        ToolCalling "tool_calling" OneOf(TOOL_CALLING), false, "how an agent's tools are offered: native or json";
        Cache "cache" Bool, false, "answer identical requests from the run store's cache, across runs";
    }
}

options! {
    /// `llm m -> T { ... }`.
    LlmOption, LLM_OPTIONS {
        Prompt "prompt" Str, true, "what the model is asked (unless `messages` is given)";
        System "system" Str, false, "the system message";
        Messages "messages" Messages, false, "the conversation so far, sent before `prompt`";
        Temperature "temperature" FloatRange(0.0, 2.0), false, "overrides the model's";
        MaxTokens "max_tokens" Positive, false, "overrides the model's";
        Repair "repair" NonNegative, false, "overrides the model's";
    }
}

options! {
    /// `agent m -> T { ... }`.
    AgentOption, AGENT_OPTIONS {
        Goal "goal" Str, true, "what the agent must achieve (unless `messages` is given)";
        System "system" Str, false, "the system message";
        Messages "messages" Messages, false, "the conversation so far, sent before `goal`";
        MaxTurns "max_turns" Positive, false, "the most model calls it may make (default 8)";
        Temperature "temperature" FloatRange(0.0, 2.0), false, "overrides the model's";
        MaxTokens "max_tokens" Positive, false, "overrides the model's";
        Tools "tools" Callables, true, "the tools and flows it may call";
    }
}

options! {
    /// `ask -> T { ... }`.
    AskOption, ASK_OPTIONS {
        Prompt "prompt" Str, true, "what the person is asked";
    }
}

options! {
    /// `map x in xs (...) { ... }`.
    MapOption, MAP_OPTIONS {
        Concurrency "concurrency" Positive, false, "items in flight at once (default 32)";
        Tolerate "tolerate" Tolerate, false, "how many items may fail: a count or a percentage";
    }
}

options! {
    /// `loop prev (...) { ... } until cond`.
    LoopOption, LOOP_OPTIONS {
        Max "max" Positive, true, "the most iterations (at most 10000)";
    }
}

options! {
    /// `tool t(...) -> T = http METHOD "url" { ... }`.
    HttpToolOption, HTTP_TOOL_OPTIONS {
        Timeout "timeout" Duration, false, "how long a call may take (default 30s)";
        Headers "headers" StrMap, false, "request headers";
    }
}

options! {
    /// `tool t(...) -> T = command [...] { ... }`.
    CommandToolOption, COMMAND_TOOL_OPTIONS {
        Timeout "timeout" Duration, false, "how long the program may run (default 30s)";
    }
}

/// Headers an http tool may not set: the engine and the HTTP client own
/// them, and a program choosing them could redirect a request (`Host`,
/// `Forwarded`) or split it (`Content-Length`, `Transfer-Encoding`).
/// Compared without case; `X-Forwarded-` and `Proxy-` cover their families.
pub const RESERVED_HEADERS: &[&str] = &[
    "host",
    "forwarded",
    "x-forwarded-",
    "x-real-ip",
    "connection",
    "keep-alive",
    "transfer-encoding",
    "content-length",
    "te",
    "trailer",
    "upgrade",
    "proxy-",
];

/// Whether an http tool may not set the header `name`.
pub fn reserved_header(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    RESERVED_HEADERS.iter().any(|r| if r.ends_with('-') { name.starts_with(r) } else { name == *r })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_index_their_tables() {
        for k in ModelOption::ALL {
            assert_eq!(ModelOption::parse(k.name()), Some(*k));
        }
        for k in LlmOption::ALL {
            assert_eq!(LlmOption::parse(k.name()), Some(*k));
        }
        for k in AgentOption::ALL {
            assert_eq!(AgentOption::parse(k.name()), Some(*k));
        }
        assert_eq!(MapOption::ALL.len(), MAP_OPTIONS.len());
        assert_eq!(LoopOption::ALL.len(), LOOP_OPTIONS.len());
        assert_eq!(AskOption::ALL.len(), ASK_OPTIONS.len());
        assert_eq!(HttpToolOption::ALL.len(), HTTP_TOOL_OPTIONS.len());
        assert_eq!(CommandToolOption::ALL.len(), COMMAND_TOOL_OPTIONS.len());
    }
}
