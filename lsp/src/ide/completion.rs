//! Completion. The context comes from the text before the cursor, so it
//! works while the line being typed does not parse; what is offered comes
//! from the analysis (names in scope and their types) and the language's
//! tables (builtins, options, keywords).

use crate::document::Document;
use flow_compiler::types::Ty;
use flow_compiler::{DefKind, Definition};
use flow_grammar::keywords::{KEYWORDS, KeywordKind};
use flow_stdlib::builtins::{BUILTINS, Receiver};
use flow_stdlib::options::{AGENT_OPTIONS, ASK_OPTIONS, LLM_OPTIONS, MODEL_OPTIONS, OptionSpec};
use std::collections::HashSet;
use tower_lsp_server::ls_types::{CompletionItem, CompletionItemKind, Documentation};

pub fn complete(doc: &Document, offset: usize) -> Vec<CompletionItem> {
    let offset = flow_grammar::span::floor_char_boundary(&doc.text, offset);
    let before = &doc.text[..offset];
    let word_len = before.bytes().rev().take_while(|b| b.is_ascii_alphanumeric() || *b == b'_').count();
    let pre = &before[..offset - word_len];
    let line = &pre[pre.rfind('\n').map_or(0, |i| i + 1)..];
    let scope = Scope::of(pre);

    if let Some(dot) = pre.strip_suffix('.') {
        return members(doc, dot, offset);
    }
    if let Some(options) = scope.options.filter(|_| at_key(pre)) {
        return option_items(options, &doc.text[scope.open.unwrap_or(0)..offset]);
    }
    let trimmed = pre.trim_end();
    if trimmed.ends_with("->") || (in_type(doc, trimmed, offset) && trimmed.ends_with([':', '|', '[', '<', ','])) {
        return type_items(doc);
    }
    if trimmed.ends_with("llm") || trimmed.ends_with("agent") {
        return definitions(doc, offset).filter(|d| d.kind == DefKind::Model).map(definition_item).collect();
    }
    if scope.depth == 0 {
        return keywords(KeywordKind::Item);
    }
    if line.trim().is_empty() {
        // The start of a statement, or a clause continuing the step above.
        let mut items = keywords(KeywordKind::Clause);
        items.extend(["step", "return"].map(keyword));
        if scope.in_test {
            items.extend(["flow", "input", "expect", "mock"].map(keyword));
        }
        return items;
    }
    let mut items = expression_items(doc, offset);
    if is_step_start(trimmed) {
        items.extend(
            keywords(KeywordKind::Body)
                .into_iter()
                .filter(|k| !matches!(k.label.as_str(), "step" | "return" | "else" | "in")),
        );
    }
    items
}

/// Where the cursor is among braces.
struct Scope {
    depth: usize,
    /// The innermost unclosed `{`.
    open: Option<usize>,
    /// The options a record opened there takes (`llm m -> T {`).
    options: Option<&'static [OptionSpec]>,
    in_test: bool,
}

impl Scope {
    fn of(pre: &str) -> Scope {
        let mut opens: Vec<usize> = Vec::new();
        let bytes = pre.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            if let Some(end) = flow_grammar::skip_string_or_comment(pre, i) {
                i = end;
                continue;
            }
            match bytes[i] {
                b'{' => opens.push(i),
                b'}' => {
                    opens.pop();
                }
                b'\n'
                    if !opens.is_empty()
                        && pre[i + 1..].split_whitespace().next().is_some_and(|w| {
                            flow_grammar::keywords::is_item_keyword(w)
                                && bytes.get(i + 1).is_some_and(|b| b.is_ascii_alphabetic())
                        }) =>
                {
                    // An item keyword in column zero: an unclosed brace above does not reach here.
                    opens.clear();
                }
                _ => {}
            }
            i += 1;
        }
        let open = opens.last().copied();
        let head = |at: usize| {
            let text = &pre[..at];
            let from = text.rfind(['=', '\n']).map_or(0, |i| i + 1);
            (text[from..].trim_start(), text[text.rfind('\n').map_or(0, |i| i + 1)..].trim_start())
        };
        let options = open.and_then(|at| {
            let (form, line) = head(at);
            if form.starts_with("llm ") {
                Some(LLM_OPTIONS)
            } else if form.starts_with("agent ") {
                Some(AGENT_OPTIONS)
            } else if form.starts_with("ask ") || form.starts_with("ask->") {
                Some(ASK_OPTIONS)
            } else if line.starts_with("model ") && form.contains('(') {
                Some(MODEL_OPTIONS)
            } else {
                None
            }
        });
        let in_test = opens.first().is_some_and(|&at| head(at).1.starts_with("test "));
        Scope { depth: opens.len(), open, options, in_test }
    }
}

/// Whether the cursor is where a record key goes (after `{`, `,` or a line break).
fn at_key(pre: &str) -> bool {
    let trimmed = pre.trim_end_matches([' ', '\t']);
    trimmed.ends_with(['{', ',', '\n'])
}

/// Whether the text before the cursor is in a type: a `type` item, or a
/// flow's or tool's header.
fn in_type(doc: &Document, trimmed: &str, offset: usize) -> bool {
    let line = trimmed[trimmed.rfind('\n').map_or(0, |i| i + 1)..].trim_start();
    if ["type ", "tool ", "flow "].iter().any(|k| line.starts_with(k)) {
        return !line.contains('=') || line.starts_with("type ");
    }
    doc.analysis.file.items.iter().any(|item| {
        let span = item.span();
        let header_end = match item {
            flow_grammar::ast::Item::Flow(f) => f.body.span.start,
            flow_grammar::ast::Item::Type(_) => span.end,
            flow_grammar::ast::Item::Tool(t) => t.output.span.end,
            _ => span.start,
        };
        span.start <= offset && offset <= header_end
    })
}

fn is_step_start(trimmed: &str) -> bool {
    let line = trimmed[trimmed.rfind('\n').map_or(0, |i| i + 1)..].trim_start();
    (line.starts_with("step ") && line.ends_with('=')) || line.ends_with("=>") || line.ends_with("catch")
}

/// Fields and methods after `target.`.
fn members(doc: &Document, target: &str, offset: usize) -> Vec<CompletionItem> {
    let target = target.strip_suffix('?').unwrap_or(target);
    let chain_start =
        target.rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '?')).map_or(0, |i| i + 1);
    let chain: Vec<&str> = target[chain_start..].split('.').map(|s| s.trim_end_matches('?')).collect();
    let ty = resolve_chain(doc, &chain, offset).or_else(|| {
        // Not a plain chain (`f(x).`): the type of the expression before the dot.
        doc.analysis.expr_at(target.len().saturating_sub(1)).map(|(_, t)| t.clone())
    });
    let Some(ty) = ty else { return Vec::new() };
    let types = &doc.analysis.types;
    let ty = strip_optional(types.resolve(&ty));
    let mut items = Vec::new();
    if let Some(record) = types.record(ty) {
        for f in &record.fields {
            items.push(CompletionItem {
                label: f.name.clone(),
                kind: Some(CompletionItemKind::FIELD),
                detail: Some(f.ty.to_string()),
                documentation: f.doc.clone().map(Documentation::String),
                ..CompletionItem::default()
            });
        }
    }
    let receiver = match types.resolve(ty) {
        Ty::List(_) => Some(Receiver::List),
        Ty::String | Ty::Lit(_) | Ty::Enum(_) => Some(Receiver::String),
        Ty::Map(_) => Some(Receiver::Map),
        _ => None,
    };
    for b in BUILTINS.iter().filter(|b| Some(b.receiver) == receiver) {
        items.push(builtin_item(b, CompletionItemKind::METHOD));
    }
    items
}

fn strip_optional(ty: &Ty) -> &Ty {
    match ty {
        Ty::Optional(inner) => inner,
        other => other,
    }
}

fn resolve_chain(doc: &Document, chain: &[&str], offset: usize) -> Option<Ty> {
    let (first, rest) = chain.split_first()?;
    let mut ty = definitions(doc, offset).find(|d| d.name == *first)?.ty.clone();
    let types = &doc.analysis.types;
    for field in rest {
        let record = types.record(strip_optional(types.resolve(&ty)))?;
        ty = record.field(field)?.ty.clone();
    }
    Some(ty)
}

/// The names visible at `offset`, innermost first, each once.
fn definitions(doc: &Document, offset: usize) -> impl Iterator<Item = &Definition> {
    let mut seen = HashSet::new();
    doc.analysis
        .names_in_scope(offset)
        .into_iter()
        .filter(move |d| seen.insert((d.name.as_str(), d.kind == DefKind::Type)))
}

fn expression_items(doc: &Document, offset: usize) -> Vec<CompletionItem> {
    let mut items: Vec<CompletionItem> = definitions(doc, offset)
        .filter(|d| !matches!(d.kind, DefKind::Type | DefKind::Test | DefKind::Model))
        .map(definition_item)
        .collect();
    items.extend(
        BUILTINS.iter().filter(|b| b.receiver == Receiver::None).map(|b| builtin_item(b, CompletionItemKind::FUNCTION)),
    );
    items.extend(["true", "false", "null", "if"].map(keyword));
    items
}

fn type_items(doc: &Document) -> Vec<CompletionItem> {
    let mut names: Vec<&String> = doc.analysis.types.bodies.keys().collect();
    names.sort();
    let mut items: Vec<CompletionItem> = ["string", "int", "float", "bool", "duration", "map"]
        .iter()
        .map(|t| CompletionItem {
            label: t.to_string(),
            kind: Some(CompletionItemKind::KEYWORD),
            ..CompletionItem::default()
        })
        .collect();
    items.extend(names.into_iter().map(|n| CompletionItem {
        label: n.clone(),
        kind: Some(CompletionItemKind::STRUCT),
        detail: doc.analysis.types.bodies.get(n).map(|t| t.to_string()),
        ..CompletionItem::default()
    }));
    items
}

fn option_items(options: &[OptionSpec], record_so_far: &str) -> Vec<CompletionItem> {
    options
        .iter()
        .filter(|o| !record_so_far.contains(&format!("{}:", o.name)))
        .map(|o| CompletionItem {
            label: o.name.to_string(),
            kind: Some(CompletionItemKind::PROPERTY),
            detail: Some(if o.required { "required".into() } else { "optional".into() }),
            documentation: Some(Documentation::String(o.doc.to_string())),
            insert_text: Some(format!("{}: ", o.name)),
            ..CompletionItem::default()
        })
        .collect()
}

fn definition_item(d: &Definition) -> CompletionItem {
    let kind = match d.kind {
        DefKind::Tool | DefKind::Flow => CompletionItemKind::FUNCTION,
        DefKind::Model => CompletionItemKind::CONSTANT,
        DefKind::Type => CompletionItemKind::STRUCT,
        _ => CompletionItemKind::VARIABLE,
    };
    let detail = match d.kind {
        DefKind::Model | DefKind::Test => None,
        _ => Some(d.ty.to_string()),
    };
    CompletionItem { label: d.name.clone(), kind: Some(kind), detail, ..CompletionItem::default() }
}

fn builtin_item(b: &flow_stdlib::builtins::Builtin, kind: CompletionItemKind) -> CompletionItem {
    CompletionItem {
        label: b.name.to_string(),
        kind: Some(kind),
        detail: Some(b.signature()),
        documentation: Some(Documentation::String(format!("{}\n\n{} gives {}", b.summary, b.example, b.result))),
        ..CompletionItem::default()
    }
}

fn keyword(word: &str) -> CompletionItem {
    CompletionItem { label: word.to_string(), kind: Some(CompletionItemKind::KEYWORD), ..CompletionItem::default() }
}

fn keywords(kind: KeywordKind) -> Vec<CompletionItem> {
    KEYWORDS.iter().filter(|k| k.kind == kind).map(|k| keyword(k.word)).collect()
}
