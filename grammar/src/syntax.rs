//! Syntax errors in words a user knows: what was expected (never a pest rule
//! name), what was found, and a `help:` line where a likely fix is obvious.

use crate::codes::Code;
use crate::diagnostic::Diagnostic;
use crate::scan::MAX_NESTING;
use crate::span::{Span, floor_char_boundary};
use crate::suggest::did_you_mean;
use crate::{FlowParser, Rule};
use pest::Parser;
use pest::error::InputLocation;
use std::collections::BTreeSet;
use std::sync::Mutex;

use crate::keywords::is_keyword;

static ERROR_DETAIL: Mutex<()> = Mutex::new(());

const ITEM_HELP: &str = "a file is a list of items, each starting with `type`, `model`, `tool`, `flow` or `test`";

pub(crate) fn leading_junk(source: &str, junk: Span) -> Diagnostic {
    let found = token_at(source, junk.start);
    Diagnostic::new(
        Code::Syntax,
        found.span,
        format!("expected an item, found {}", found.describe()),
        "expected `type`, `model`, `tool`, `flow` or `test` here",
    )
    .with_help(ITEM_HELP)
}

pub(crate) fn unterminated_string(span: Span) -> Diagnostic {
    let head = Span::new(span.start, span.start + 1);
    Diagnostic::new(Code::UnterminatedString, head, "unterminated string", "this string is never closed")
        .with_note("a string in double quotes must end on the line it starts; use `\"\"\"` for text over several lines")
        .with_help("add the closing `\"`")
}

pub(crate) fn too_deep(source: &str, at: usize) -> Diagnostic {
    let found = token_at(source, at);
    Diagnostic::new(Code::TooDeep, found.span, "nesting too deep", format!("more than {MAX_NESTING} levels deep here"))
        .with_help("split the expression or type into named steps or types")
}

/// Describes why `text` (one item, starting at `offset` in `source`) does not parse.
pub(crate) fn describe_error(source: &str, offset: usize, text: &str) -> Diagnostic {
    describe_error_as(source, offset, text, Rule::item_only)
}

/// [`describe_error`] for `text` parsed as `rule`.
pub(crate) fn describe_error_as(source: &str, offset: usize, text: &str, rule: Rule) -> Diagnostic {
    // Parse again with pest's error detail on: slower, but it records the
    // literal tokens expected at the failure point, not just rule names.
    // The switch is process-wide: hold a lock so that two threads
    // describing errors at once cannot turn it off under each other.
    let result = {
        let _guard = ERROR_DETAIL.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        pest::set_error_detail(true);
        let result = FlowParser::parse(rule, text);
        pest::set_error_detail(false);
        result
    };
    let error = match result {
        Err(e) => e,
        Ok(_) => {
            // Cannot happen (the first parse failed); say something true anyway.
            return Diagnostic::new(Code::Syntax, Span::new(offset, offset + text.len()), "syntax error", "here");
        }
    };
    if error.variant.message().contains("limit reached") {
        let found = token_at(source, offset);
        return Diagnostic::new(Code::TooDeep, found.span, "item too complex to parse", "here")
            .with_help("split it into smaller items or steps");
    }
    let pos_reported = match error.location {
        InputLocation::Pos(p) => p,
        InputLocation::Span((s, _)) => s,
    };
    let mut pos = pos_reported;
    // The furthest point any attempt reached is where the text went wrong
    // (pest reports where the failing rule started).
    if let Some(attempts) = error.parse_attempts() {
        pos = pos.max(attempts.max_position.min(text.len()));
    }
    let reported_at = offset + pos_reported;
    let mut at = offset + pos;
    // Inside a word (`5min`: the attempt got as far as `5m`), show the whole word.
    let glued = |i: usize| source[..i].chars().next_back().is_some_and(|c| c.is_alphanumeric() || c == '_');
    if at > offset
        && at < source.len()
        && glued(at)
        && source[at..].starts_with(|c: char| c.is_alphanumeric() || c == '_')
    {
        while at > offset && glued(at) {
            at -= source[..at].chars().next_back().map_or(1, char::len_utf8);
        }
    }
    let found = token_at(source, at);
    let reported = token_at(source, reported_at);

    let mut expected: BTreeSet<Expectation> = BTreeSet::new();
    if let pest::error::ErrorVariant::ParsingError { positives, .. } = &error.variant {
        for rule in positives {
            if let Some(e) = describe_rule(*rule) {
                expected.insert(e);
            }
        }
    }
    if let Some(attempts) = error.parse_attempts() {
        for token in attempts.expected_tokens() {
            // `ParsingToken` is not exported; its display is the token itself.
            if let Some(e) = describe_token(&token.to_string()) {
                expected.insert(e);
            }
        }
    }
    // Prune what is implied or noise: an expression includes names and
    // literals; after a complete expression, postfix punctuation is noise.
    if expected.contains(&Expectation::Expression) {
        expected.retain(|e| {
            !matches!(
                e,
                Expectation::Name
                    | Expectation::Duration
                    | Expectation::Number
                    | Expectation::Punct("\"" | "(" | "[" | "{")
            )
        });
    }
    // A statement parsed alone (recovery inside a flow): past its first
    // word, the keyword that could start it is not what was wanted.
    if rule != Rule::item_only && pos > 0 {
        expected.retain(|e| !matches!(e, Expectation::Keyword("step" | "return")));
    }
    // After a complete expression (an operator or a clause could follow),
    // postfix and operator punctuation is noise.
    let after_expression =
        [Expectation::Operator, Expectation::Keyword("retry"), Expectation::Punct("|"), Expectation::Punct("?")]
            .iter()
            .any(|e| expected.contains(e));
    if after_expression {
        expected
            .retain(|e| !matches!(e, Expectation::Operator | Expectation::Punct("(" | "." | "[" | "?" | "|" | "=")));
    }
    let wants_name = expected.contains(&Expectation::Name);
    // `x +` at the end of a step: what follows is the next step's keyword.
    let found = if expected.contains(&Expectation::Expression) && is_keyword(&reported.text) {
        reported.clone()
    } else {
        found
    };
    let list = phrase_list(&expected);

    let message = if list.is_empty() {
        format!("unexpected {}", found.describe())
    } else {
        format!("expected {list}, found {}", found.describe())
    };
    let label = if list.is_empty() { "unexpected here".to_string() } else { format!("expected {list}") };

    let wants_expression = expected.contains(&Expectation::Expression);
    // `reply.` left unfinished above the next statement: the dot wants a field name.
    if let Some(dot) = unfinished_member(source, &[&reported, &found]) {
        return Diagnostic::new(Code::Syntax, dot, "expected a field name after `.`", "nothing follows this `.`")
            .with_help("write the field (`reply.text`), or remove the `.`");
    }
    // A keyword where a name goes: pest stops at the keyword itself.
    let keyword = [&reported, &found].into_iter().find(|t| t.kind == TokenKind::Word && is_keyword(&t.text));
    if let (true, false, Some(found)) = (wants_name, wants_expression, keyword) {
        return Diagnostic::new(
            Code::ReservedWord,
            found.span,
            format!("`{}` is a reserved word", found.text),
            "a keyword cannot be used as a name",
        )
        .with_help(format!("choose another name, such as `{}_`", found.text))
        .with_replacement(found.span, format!("{}_", found.text));
    }

    let mut d = Diagnostic::new(Code::Syntax, found.span, message, label);
    if found.kind == TokenKind::Word {
        let keywords: Vec<&str> = expected.iter().filter_map(|e| e.keyword()).collect();
        if let Some(kw) = did_you_mean(&found.text, keywords.iter().copied()) {
            return d.did_you_mean(found.span, kw);
        }
        if found.text.chars().all(|c| c.is_ascii_alphanumeric()) && found.text.starts_with(|c: char| c.is_ascii_digit())
        {
            return d.with_help("durations are written with `ms`, `s`, `m` or `h`, e.g. `500ms`, `30s`, `5m`");
        }
    }
    match found.text.as_str() {
        "'" => d = d.with_help("strings use double quotes: \"like this\""),
        "=" if expected.contains(&Expectation::Punct(":")) => {
            d = d.with_help("fields are written `name: value`").with_replacement(found.span, ":")
        }
        ";" => d = d.with_help("Flow needs no semicolons: remove it").with_replacement(found.span, ""),
        "%" => d = d.with_help("there is no `%` operator; `5%` (no space) is a percentage"),
        _ if expected.contains(&Expectation::Punct("}")) && found.kind == TokenKind::End => {
            d = d.with_help("a `{` above is never closed");
        }
        "step" | "return" | "}" if wants_expression => {
            d = d.with_help("the expression before this is incomplete");
        }
        _ => {}
    }
    if d.help.is_none() && expected.iter().any(|e| matches!(e, Expectation::Item)) {
        d = d.with_help(ITEM_HELP);
    }
    d
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Expectation {
    Item,
    Keyword(&'static str),
    Name,
    Type,
    Expression,
    Duration,
    Number,
    Operator,
    Punct(&'static str),
    Other(&'static str),
}

impl Expectation {
    fn keyword(&self) -> Option<&'static str> {
        match self {
            Expectation::Keyword(k) => Some(k),
            _ => None,
        }
    }

    fn phrase(&self) -> String {
        match self {
            Expectation::Item => "an item".into(),
            Expectation::Keyword(k) | Expectation::Punct(k) => format!("`{k}`"),
            Expectation::Name => "a name".into(),
            Expectation::Type => "a type".into(),
            Expectation::Expression => "an expression".into(),
            Expectation::Duration => "a duration such as `30s`".into(),
            Expectation::Number => "a whole number".into(),
            Expectation::Operator => "an operator".into(),
            Expectation::Other(s) => (*s).into(),
        }
    }
}

fn phrase_list(expected: &BTreeSet<Expectation>) -> String {
    // Operators are possible after almost any expression; naming them adds
    // noise unless nothing else fits.
    let mut items: Vec<&Expectation> = expected.iter().filter(|e| **e != Expectation::Operator).collect();
    if items.is_empty() {
        items = expected.iter().collect();
    }
    let mut phrases: Vec<String> = items.iter().map(|e| e.phrase()).collect();
    phrases.dedup();
    const MOST: usize = 8;
    if phrases.len() > MOST {
        phrases.truncate(MOST);
        phrases.push("…".to_string());
    }
    match phrases.len() {
        0 => String::new(),
        1 => phrases.remove(0),
        n => {
            let last = phrases.remove(n - 1);
            format!("{} or {last}", phrases.join(", "))
        }
    }
}

fn describe_rule(rule: Rule) -> Option<Expectation> {
    use Expectation as E;
    Some(match rule {
        Rule::type_def
        | Rule::model_def
        | Rule::tool_def
        | Rule::flow_def
        | Rule::test_def
        | Rule::item_only
        | Rule::file => E::Item,
        Rule::ident | Rule::word | Rule::name | Rule::catch_binding | Rule::lambda_params => E::Name,
        Rule::type_expr
        | Rule::type_postfix
        | Rule::named_type
        | Rule::list_type
        | Rule::map_type
        | Rule::record_type
        | Rule::literal_type => E::Type,
        Rule::expr
        | Rule::paren
        | Rule::float
        | Rule::percent
        | Rule::string
        | Rule::plain_string
        | Rule::triple_string
        | Rule::boolean
        | Rule::null
        | Rule::list_lit
        | Rule::record_lit
        | Rule::map_source
        | Rule::arg
        | Rule::lambda
        | Rule::named_arg
        | Rule::not
        | Rule::neg => E::Expression,
        Rule::int => E::Number,
        Rule::duration => E::Duration,
        Rule::coalesce
        | Rule::or
        | Rule::and
        | Rule::eq
        | Rule::ne
        | Rule::le
        | Rule::ge
        | Rule::lt
        | Rule::gt
        | Rule::add
        | Rule::sub
        | Rule::mul
        | Rule::div => E::Operator,
        Rule::kw_type => E::Keyword("type"),
        Rule::kw_model => E::Keyword("model"),
        Rule::kw_tool => E::Keyword("tool"),
        Rule::kw_flow => E::Keyword("flow"),
        Rule::kw_test => E::Keyword("test"),
        Rule::kw_step | Rule::step => E::Keyword("step"),
        Rule::kw_return | Rule::return_stmt => E::Keyword("return"),
        Rule::kw_llm | Rule::llm_form => E::Keyword("llm"),
        Rule::kw_agent | Rule::agent_form => E::Keyword("agent"),
        Rule::kw_ask | Rule::ask_form => E::Keyword("ask"),
        Rule::kw_as | Rule::field_alias | Rule::member_alias => E::Keyword("as"),
        Rule::kw_if | Rule::if_expr => E::Expression,
        Rule::kw_route | Rule::route_form => E::Keyword("route"),
        Rule::kw_when | Rule::when_form | Rule::route_arm | Rule::catch_guard => E::Keyword("when"),
        Rule::kw_else | Rule::else_arm => E::Keyword("else"),
        Rule::kw_map | Rule::map_form => E::Keyword("map"),
        Rule::kw_in => E::Keyword("in"),
        Rule::kw_loop | Rule::loop_form => E::Keyword("loop"),
        Rule::kw_until | Rule::until_clause => E::Keyword("until"),
        Rule::kw_retry | Rule::retry_clause => E::Keyword("retry"),
        Rule::kw_backoff | Rule::backoff => E::Keyword("backoff"),
        Rule::jitter => E::Keyword("jitter"),
        Rule::kw_on | Rule::retry_on => E::Keyword("on"),
        Rule::kw_timeout | Rule::timeout_clause => E::Keyword("timeout"),
        Rule::kw_catch | Rule::catch_clause => E::Keyword("catch"),
        Rule::kw_after | Rule::after_clause => E::Keyword("after"),
        Rule::kw_mock | Rule::test_mock => E::Keyword("mock"),
        Rule::kw_http | Rule::http_impl => E::Keyword("http"),
        Rule::kw_command | Rule::command_impl => E::Keyword("command"),
        Rule::http_method => E::Other("an HTTP method (`GET`, `POST`, `PUT`, `PATCH`, `DELETE`)"),
        Rule::param => E::Other("a parameter"),
        Rule::params => E::Punct("("),
        Rule::field_decl | Rule::record_field | Rule::test_field => E::Other("a field"),
        Rule::option => E::Other("an option"),
        Rule::map_options => E::Other("map options `(concurrency: N, tolerate: P%)`"),
        Rule::loop_options => E::Other("loop options `(max: N)`"),
        Rule::escape => E::Other("an escape (`\\n`, `\\t`, `\\\"`, `\\\\`, `\\$`, `\\u{...}`)"),
        Rule::block => E::Punct("{"),
        Rule::call_args => E::Punct("("),
        Rule::member => E::Punct("."),
        Rule::index => E::Punct("["),
        Rule::EOI => E::Other("the end of the file"),
        _ => return None,
    })
}

fn describe_token(token: &str) -> Option<Expectation> {
    const PUNCT: [&str; 15] = ["{", "}", "(", ")", "[", "]", ",", ":", "=", "->", "=>", "..", "|", "?", "\""];
    PUNCT.iter().find(|p| **p == token).map(|p| Expectation::Punct(p))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TokenKind {
    Word,
    Number,
    Str,
    Punct,
    End,
}

#[derive(Clone)]
struct Token {
    text: String,
    kind: TokenKind,
    span: Span,
}

impl Token {
    fn describe(&self) -> String {
        match self.kind {
            TokenKind::End => "the end of the file".into(),
            TokenKind::Str => "a string".into(),
            TokenKind::Number => format!("`{}`", self.text),
            TokenKind::Word if is_keyword(&self.text) => {
                format!("keyword `{}`", self.text)
            }
            _ => format!("`{}`", self.text),
        }
    }
}

/// The token starting at (or after whitespace from) `at`.
fn token_at(source: &str, at: usize) -> Token {
    let mut start = floor_char_boundary(source, at);
    let rest = &source[start..];
    let trimmed = rest.trim_start();
    start += rest.len() - trimmed.len();
    let Some(first) = trimmed.chars().next() else {
        return Token { text: String::new(), kind: TokenKind::End, span: Span::new(source.len(), source.len()) };
    };
    let (len, kind) = if first.is_alphabetic() || first == '_' {
        (trimmed.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(trimmed.len()), TokenKind::Word)
    } else if first.is_ascii_digit() {
        let len = trimmed.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.')).unwrap_or(trimmed.len());
        let kind = if trimmed[..len].chars().all(|c| c.is_ascii_digit() || c == '_' || c == '.') {
            TokenKind::Number
        } else {
            TokenKind::Word
        };
        (len, kind)
    } else if first == '"' {
        (trimmed.find('\n').unwrap_or(trimmed.len()).min(first.len_utf8().max(1)), TokenKind::Str)
    } else {
        const TWO: [&str; 10] = ["->", "=>", "==", "!=", "<=", ">=", "&&", "||", "??", "?."];
        let len = if TWO.iter().any(|t| trimmed.starts_with(t)) { 2 } else { first.len_utf8() };
        (len, TokenKind::Punct)
    };
    let text = trimmed[..len].to_string();
    let kind =
        if kind == TokenKind::Word && text.starts_with(|c: char| c.is_ascii_digit()) { TokenKind::Word } else { kind };
    Token { text, kind, span: Span::new(start, start + len) }
}

/// The `.` (or `?.`) at the end of a line when one of `tokens` is the
/// `step` or `return` that starts the next line.
fn unfinished_member(source: &str, tokens: &[&Token]) -> Option<Span> {
    let next = tokens.iter().find(|t| t.kind == TokenKind::Word && matches!(t.text.as_str(), "step" | "return"))?;
    let before = &source[..next.span.start];
    let line_start = before.rfind('\n')?;
    if !before[line_start..].trim().is_empty() {
        return None;
    }
    let code = before[..line_start].trim_end();
    let dot = code.strip_suffix('.')?;
    let start = if dot.ends_with('?') { dot.len() - 1 } else { dot.len() };
    Some(Span::new(start, code.len()))
}
