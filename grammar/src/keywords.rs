//! The language's keywords, defined once. The pest grammar spells each one
//! out (a rule cannot read a Rust table); the tests below hold the two to
//! each other, so a keyword added to one and not the other fails the build.

/// What a keyword starts or means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeywordKind {
    /// Starts a top-level item: `type`, `model`, `tool`, `flow`, `test`.
    Item,
    /// Inside a flow body: `step`, `return`, `llm`, `map`, ...
    Body,
    /// Starts a step clause: `retry`, `timeout`, `catch`, `after`.
    Clause,
    /// A literal value: `true`, `false`, `null`.
    Literal,
    /// Meaningful in one place only (`retry 3 backoff 1s`, `= http GET`),
    /// and not reserved: still usable as a name.
    Contextual,
}

/// One keyword.
#[derive(Clone, Copy, Debug)]
pub struct Keyword {
    pub word: &'static str,
    pub kind: KeywordKind,
}

const fn kw(word: &'static str, kind: KeywordKind) -> Keyword {
    Keyword { word, kind }
}

use KeywordKind::*;

/// Every keyword. All but the contextual ones are reserved.
pub const KEYWORDS: &[Keyword] = &[
    kw("type", Item),
    kw("model", Item),
    kw("tool", Item),
    kw("flow", Item),
    kw("test", Item),
    kw("step", Body),
    kw("return", Body),
    kw("llm", Body),
    kw("agent", Body),
    kw("route", Body),
    kw("when", Body),
    kw("else", Body),
    kw("if", Body),
    kw("map", Body),
    kw("in", Body),
    kw("loop", Body),
    kw("retry", Clause),
    kw("timeout", Clause),
    kw("catch", Clause),
    kw("after", Clause),
    kw("true", Literal),
    kw("false", Literal),
    kw("null", Literal),
    kw("backoff", Contextual),
    kw("jitter", Contextual),
    kw("on", Contextual),
    kw("mock", Contextual),
    kw("http", Contextual),
    kw("command", Contextual),
    kw("ask", Contextual),
    kw("as", Contextual),
    kw("until", Contextual),
];

/// Whether `word` is reserved: no step, parameter or item may be called it.
pub fn is_keyword(word: &str) -> bool {
    KEYWORDS.iter().any(|k| k.kind != Contextual && k.word == word)
}

pub fn is_item_keyword(word: &str) -> bool {
    KEYWORDS.iter().any(|k| k.kind == Item && k.word == word)
}

/// The item keywords, in the order the docs list them.
pub fn item_keywords() -> impl Iterator<Item = &'static str> {
    KEYWORDS.iter().filter(|k| k.kind == Item).map(|k| k.word)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{FlowParser, Rule};
    use pest::Parser;

    fn is_whole(rule: Rule, text: &str) -> bool {
        FlowParser::parse(rule, text).is_ok_and(|mut p| p.next().is_some_and(|p| p.as_str() == text))
    }

    #[test]
    fn the_grammar_reserves_exactly_these_words() {
        for k in KEYWORDS {
            let reserved = k.kind != Contextual;
            assert_eq!(is_whole(Rule::keyword, k.word), reserved, "the grammar's `keyword` rule and `{}`", k.word);
            assert_eq!(is_whole(Rule::ident, k.word), !reserved, "whether `{}` is usable as a name", k.word);
        }
        // Every `kw_*` rule of the grammar is in the table.
        let grammar = include_str!("flow.pest");
        for line in grammar.lines() {
            if let Some(rest) = line.strip_prefix("kw_") {
                let word = rest.split_whitespace().next().unwrap_or("");
                assert!(KEYWORDS.iter().any(|k| k.word == word), "flow.pest has `kw_{word}`, which KEYWORDS lacks");
            }
        }
        // Words near keywords are names.
        for word in ["types", "flows", "steps", "mapping", "inner", "nullable", "truth", "tools"] {
            assert!(is_whole(Rule::ident, word), "`{word}` should be a name");
        }
    }
}
