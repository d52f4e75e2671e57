//! The checker's state and its first pass: collecting declarations (types,
//! models, tools, flows), resolving type expressions, and checking model and
//! tool declarations. Flow bodies are in `flows.rs`, expressions in
//! `exprs.rs`, test blocks in `test_blocks.rs`.

use crate::analysis::{DefKind, Facts};
use crate::types::{FieldTy, RecordTy, Ty, TypeTable};
use crate::words::plural;
use flow_grammar::ast::*;
use flow_grammar::suggest::did_you_mean;
use flow_grammar::{BrokenItem, Code, Diagnostic, Span};
use flow_stdlib::options::{COMMAND_TOOL_OPTIONS, HTTP_TOOL_OPTIONS, MODEL_OPTIONS, OptionKind, OptionSpec};
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use std::fmt;
use std::sync::Arc;

pub(crate) const PRIMITIVES: [&str; 5] = ["string", "int", "float", "bool", "duration"];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CallableKind {
    Tool,
    Flow,
}

impl CallableKind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            CallableKind::Tool => "tool",
            CallableKind::Flow => "flow",
        }
    }
}

impl fmt::Display for CallableKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A tool or flow, as callers see it.
#[derive(Clone, Debug)]
pub(crate) struct Callable {
    pub kind: CallableKind,
    pub params: Vec<(String, Ty)>,
    pub output: Ty,
}

#[derive(Default)]
pub(crate) struct Items {
    pub models: HashMap<String, Span>,
    pub callables: HashMap<String, Callable>,
    /// Names of items that did not parse: treated as declared, shape unknown.
    pub broken: HashSet<String>,
    /// Every step name in every flow (a test may mock a step by its name).
    pub steps: HashSet<String>,
}

fn collect_steps(block: &Block, names: &mut HashSet<String>) {
    for step in &block.steps {
        names.insert(step.name.name.clone());
        match &step.form.kind {
            FormKind::Map(map) => collect_steps(&map.body, names),
            FormKind::Loop(lp) => collect_steps(&lp.body, names),
            _ => {}
        }
    }
}

/// See [`Checker::mark`].
#[derive(Clone, Copy)]
pub(crate) struct Mark {
    diagnostics: usize,
    errors: usize,
    definitions: usize,
    references: usize,
}

pub(crate) struct Checker<'s> {
    pub source: &'s str,
    pub types: TypeTable,
    pub items: Items,
    pub diagnostics: Vec<Diagnostic>,
    errors: usize,
    /// What the checker learns on the way: types, definitions, references.
    pub facts: Facts,
}

/// What a name in a flow refers to.
#[derive(Clone, Debug)]
pub(crate) struct Binding {
    pub ty: Ty,
    pub span: Span,
}

/// Nested frames of names: flow parameters and steps, then map items,
/// nested steps, lambda parameters and catch bindings. Records which
/// bindings were used, by the span that declared them.
#[derive(Default)]
pub(crate) struct Scope {
    frames: Vec<HashMap<String, Binding>>,
    pub used: HashSet<Span>,
}

impl Scope {
    pub fn push(&mut self) {
        self.frames.push(HashMap::default());
    }

    pub fn pop(&mut self) {
        self.frames.pop();
    }

    pub fn bind_local(&mut self, name: &str, ty: Ty, span: Span) {
        if self.frames.is_empty() {
            self.push();
        }
        if let Some(frame) = self.frames.last_mut() {
            frame.insert(name.to_string(), Binding { ty, span });
        }
    }

    /// Updates the type of an existing binding in the innermost frame holding it.
    pub fn set_type(&mut self, name: &str, ty: Ty) {
        for frame in self.frames.iter_mut().rev() {
            if let Some(b) = frame.get_mut(name) {
                b.ty = ty;
                return;
            }
        }
    }

    /// A name's type and the span that defined it; marks it used.
    pub fn lookup(&mut self, name: &str) -> Option<(Ty, Span)> {
        for frame in self.frames.iter().rev() {
            if let Some(b) = frame.get(name) {
                self.used.insert(b.span);
                return Some((b.ty.clone(), b.span));
            }
        }
        None
    }

    pub fn binding(&self, name: &str) -> Option<&Binding> {
        self.frames.iter().rev().find_map(|f| f.get(name))
    }

    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.frames.iter().flat_map(|f| f.keys().cloned()).collect();
        names.sort();
        names
    }
}

impl<'s> Checker<'s> {
    pub(crate) fn new(source: &'s str) -> Self {
        Checker {
            source,
            types: TypeTable::default(),
            items: Items::default(),
            diagnostics: Vec::new(),
            errors: 0,
            facts: Facts::default(),
        }
    }

    /// Binds a name in `scope` and records its definition, visible in `visible`.
    pub(crate) fn bind(&mut self, scope: &mut Scope, name: &Ident, ty: Ty, kind: DefKind, visible: Span) {
        self.facts.define(&name.name, kind, name.span, visible, ty.clone());
        scope.bind_local(&name.name, ty, name.span);
    }

    pub(crate) fn report(&mut self, d: Diagnostic) {
        self.errors += usize::from(d.is_error());
        self.diagnostics.push(d);
    }

    /// Where the checker's output stands, to take back what a trial check
    /// of a part added ([`Checker::rewind`]).
    pub(crate) fn mark(&self) -> Mark {
        Mark {
            diagnostics: self.diagnostics.len(),
            errors: self.errors,
            definitions: self.facts.definitions.len(),
            references: self.facts.references.len(),
        }
    }

    /// Forgets the diagnostics, definitions and references since `mark`
    /// (types recorded by span are overwritten by the next check).
    pub(crate) fn rewind(&mut self, mark: Mark) {
        self.diagnostics.truncate(mark.diagnostics);
        self.errors = mark.errors;
        self.facts.forget_since(mark.definitions, mark.references);
    }

    /// Errors reported so far (blocks compare it before and after).
    pub(crate) fn error_count(&self) -> usize {
        self.errors
    }

    /// Declares every item (reporting duplicates), then resolves their types.
    pub(crate) fn declare(&mut self, file: &File, broken: &[BrokenItem]) {
        for b in broken {
            self.items.broken.insert(b.name.clone());
        }
        for item in &file.items {
            if let Item::Flow(f) = item {
                collect_steps(&f.body, &mut self.items.steps);
            }
        }
        let mut type_spans: HashMap<&str, Span> = HashMap::default();
        let mut value_spans: HashMap<&str, Span> = HashMap::default();
        let mut test_spans: HashMap<&str, Span> = HashMap::default();
        let mut type_defs = Vec::new();
        let whole = Span::new(0, self.source.len());
        for item in &file.items {
            let name = item.name();
            let (kind, first) = match item {
                Item::Type(_) => ("type", type_spans.insert(&name.name, name.span)),
                Item::Test(_) => ("test", test_spans.insert(&name.name, name.span)),
                Item::Model(_) => ("model", value_spans.insert(&name.name, name.span)),
                Item::Tool(_) => ("tool", value_spans.insert(&name.name, name.span)),
                Item::Flow(_) => ("flow", value_spans.insert(&name.name, name.span)),
            };
            if let Some(first) = first {
                self.report(
                    Diagnostic::new(
                        Code::DuplicateItem,
                        name.span,
                        format!("`{}` is defined more than once", name.name),
                        format!("{kind} `{}` defined again here", name.name),
                    )
                    .with_label(first, "first defined here")
                    .with_help(match kind {
                        "type" => "rename one of the types",
                        "test" => "rename one of the tests",
                        _ => "rename one of them; models, tools and flows share one namespace",
                    }),
                );
                continue;
            }
            if let Item::Type(t) = item {
                if PRIMITIVES.contains(&t.name.name.as_str()) {
                    self.report(Diagnostic::new(
                        Code::DuplicateItem,
                        t.name.span,
                        format!("`{}` is a builtin type", t.name.name),
                        "cannot be redefined",
                    ));
                    continue;
                }
                type_defs.push(t);
                self.types.bodies.insert(t.name.name.clone(), Ty::Unknown);
                self.facts.define(&t.name.name, DefKind::Type, t.name.span, whole, Ty::Unknown);
            }
            if let Item::Test(t) = item {
                self.facts.define(&t.name.name, DefKind::Test, t.name.span, whole, Ty::Unknown);
            }
        }
        for (name, body, doc) in crate::types::builtin_types() {
            if !type_spans.contains_key(name) {
                self.types.bodies.insert(name.to_string(), body);
                self.types.docs.insert(name.to_string(), doc.to_string());
            }
        }
        for t in &type_defs {
            let ty = self.resolve_type(&t.ty);
            self.facts.set_type(t.name.span, &ty);
            self.types.bodies.insert(t.name.name.clone(), ty);
            if let Some(doc) = &t.doc {
                self.types.docs.insert(t.name.name.clone(), doc.clone());
            }
        }
        for t in &type_defs {
            self.check_alias_cycle(t);
        }
        for item in &file.items {
            match item {
                Item::Model(m)
                    if !self.items.models.contains_key(&m.name.name)
                        && !self.items.callables.contains_key(&m.name.name) =>
                {
                    self.items.models.insert(m.name.name.clone(), m.name.span);
                    self.facts.define(&m.name.name, DefKind::Model, m.name.span, whole, Ty::Unknown);
                }
                Item::Tool(t) => self.declare_callable(&t.name, CallableKind::Tool, &t.params, &t.output),
                Item::Flow(f) => self.declare_callable(&f.name, CallableKind::Flow, &f.params, &f.output),
                _ => {}
            }
        }
    }

    fn declare_callable(&mut self, name: &Ident, kind: CallableKind, params: &[Param], output: &TypeExpr) {
        if self.items.models.contains_key(&name.name) || self.items.callables.contains_key(&name.name) {
            return; // already reported as a duplicate
        }
        let mut seen: HashMap<&str, Span> = HashMap::default();
        let mut resolved = Vec::new();
        for p in params {
            if let Some(first) = seen.insert(&p.name.name, p.name.span) {
                self.report(
                    Diagnostic::new(
                        Code::DuplicateName,
                        p.name.span,
                        format!("parameter `{}` is declared twice", p.name.name),
                        "declared again here",
                    )
                    .with_label(first, "first declared here"),
                );
                continue;
            }
            resolved.push((p.name.name.clone(), self.resolve_type(&p.ty)));
        }
        let output = self.resolve_type(output);
        let def_kind = match kind {
            CallableKind::Tool => DefKind::Tool,
            CallableKind::Flow => DefKind::Flow,
        };
        let whole = Span::new(0, self.source.len());
        self.facts.define(&name.name, def_kind, name.span, whole, output.clone());
        self.items.callables.insert(name.name.clone(), Callable { kind, params: resolved, output });
    }

    fn check_alias_cycle(&mut self, t: &TypeDef) {
        let mut current = Ty::Named(Arc::from(t.name.name.as_str()));
        let mut seen = vec![t.name.name.clone()];
        for _ in 0..32 {
            let Ty::Named(n) = &current else { return };
            let Some(body) = self.types.bodies.get(&**n) else {
                return;
            };
            match body {
                Ty::Named(next) if **next == *t.name.name => {
                    seen.push(t.name.name.clone());
                    self.report(
                        Diagnostic::new(
                            Code::InvalidType,
                            t.ty.span,
                            format!("type `{}` is defined in terms of itself", t.name.name),
                            "this alias leads back to itself",
                        )
                        .with_note(format!("cycle: {}", seen.join(" = ")))
                        .with_help("give one of the types a body: a record, list or union"),
                    );
                    self.types.bodies.insert(t.name.name.clone(), Ty::Unknown);
                    return;
                }
                Ty::Named(next) => {
                    seen.push(next.to_string());
                    current = Ty::Named(next.clone());
                }
                _ => return,
            }
        }
    }

    /// A type expression as a type; reports unknown names and invalid
    /// forms, and records the result for the analysis.
    pub(crate) fn resolve_type(&mut self, t: &TypeExpr) -> Ty {
        let ty = self.resolve_type_expr(t);
        self.facts.type_exprs.insert(t.span, ty.clone());
        ty
    }

    fn resolve_type_expr(&mut self, t: &TypeExpr) -> Ty {
        match &t.kind {
            TypeExprKind::Named(id) => match id.name.as_str() {
                "string" => Ty::String,
                "int" => Ty::Int,
                "float" => Ty::Float,
                "bool" => Ty::Bool,
                "duration" => Ty::Duration,
                "null" => Ty::Null,
                name if self.types.bodies.contains_key(name) => {
                    self.facts.refer_type(id.span, name);
                    Ty::Named(Arc::from(name))
                }
                name if self.items.broken.contains(name) => Ty::Unknown,
                name => {
                    let mut candidates: Vec<&str> = PRIMITIVES.to_vec();
                    candidates.extend(self.types.bodies.keys().map(String::as_str));
                    let mut d = Diagnostic::new(
                        Code::UnknownType,
                        id.span,
                        format!("unknown type `{name}`"),
                        "not a declared type",
                    );
                    let alias = match name {
                        "str" | "String" | "text" => Some("string"),
                        "number" | "integer" | "i64" => Some("int"),
                        "double" | "f64" | "real" => Some("float"),
                        "boolean" | "Bool" => Some("bool"),
                        _ => None,
                    };
                    let best = alias.or_else(|| did_you_mean(name, candidates.iter().copied()));
                    d = match best {
                        Some(best) => d.did_you_mean(id.span, best),
                        None => d.with_help(format!(
                            "declare it with `type {name} {{ ... }}`, or use string, int, float or bool"
                        )),
                    };
                    self.report(d);
                    Ty::Unknown
                }
            },
            TypeExprKind::List(inner) => Ty::List(Box::new(self.resolve_type(inner))),
            TypeExprKind::Optional(inner) => {
                let inner_ty = self.resolve_type(inner);
                if matches!(inner_ty, Ty::Optional(_)) {
                    self.report(
                        Diagnostic::new(
                            Code::InvalidType,
                            t.span,
                            "optional of an optional",
                            "`??` adds nothing over `?`",
                        )
                        .with_help("write a single `?`"),
                    );
                }
                inner_ty.optional()
            }
            TypeExprKind::Map(key, value) => {
                let key_ty = self.resolve_type(key);
                if !matches!(key_ty, Ty::String | Ty::Unknown) {
                    self.report(
                        Diagnostic::new(
                            Code::InvalidType,
                            key.span,
                            format!("map keys must be `string`, not `{key_ty}`"),
                            "not string",
                        )
                        .with_help("JSON object keys are strings: write `map<string, T>`")
                        .with_replacement(key.span, "string"),
                    );
                }
                Ty::Map(Box::new(self.resolve_type(value)))
            }
            TypeExprKind::Record(fields) => {
                let mut out: Vec<FieldTy> = Vec::new();
                let mut seen: HashMap<&str, Span> = HashMap::default();
                for f in fields {
                    if let Some(first) = seen.insert(&f.name.name, f.name.span) {
                        self.report(
                            Diagnostic::new(
                                Code::DuplicateName,
                                f.name.span,
                                format!("field `{}` is declared twice", f.name.name),
                                "declared again here",
                            )
                            .with_label(first, "first declared here"),
                        );
                        continue;
                    }
                    out.push(FieldTy {
                        name: f.name.name.clone(),
                        ty: self.resolve_type(&f.ty),
                        doc: f.doc.clone(),
                        alias: f.alias.clone(),
                    });
                }
                self.check_aliases(fields);
                Ty::Record(Arc::new(RecordTy { fields: out }))
            }
            TypeExprKind::Literal(s, alias, doc) => {
                self.member_alias(s, alias.as_deref(), t.span);
                self.member_doc(s, doc.as_deref());
                Ty::Enum(Arc::from(vec![s.clone()]))
            }
            TypeExprKind::Value(v) => Ty::Const(literal_const(*v)),
            TypeExprKind::Union(members) => self.union(members),
        }
    }

    /// Records what a literal member means, for the model (its `///` comment).
    fn member_doc(&mut self, member: &str, doc: Option<&str>) {
        if let Some(doc) = doc.map(str::trim).filter(|d| !d.is_empty()) {
            self.types.member_docs.insert(member.to_string(), doc.to_string());
        }
    }

    /// Records the name a model sees for a literal member; one member has
    /// one such name in a program (else E0106).
    fn member_alias(&mut self, member: &str, alias: Option<&str>, span: Span) {
        let Some(alias) = alias else { return };
        match self.types.member_aliases.get(member) {
            Some(earlier) if earlier != alias => {
                let message =
                    format!("\"{member}\" is shown to models as \"{earlier}\" elsewhere, and as \"{alias}\" here");
                self.report(
                    Diagnostic::new(Code::DuplicateName, span, message, "another name for the same member")
                        .with_help("a member has one name for models in a program: use the same `as` everywhere"),
                );
            }
            _ => {
                self.types.member_aliases.insert(member.to_string(), alias.to_string());
            }
        }
    }

    /// `A | B | ...`: string literals make a [`Ty::Enum`]; other members a
    /// [`Ty::Union`] (nested unions flattened, repeats dropped); `null`
    /// among them makes the rest optional.
    fn union(&mut self, members: &[flow_grammar::ast::TypeExpr]) -> Ty {
        let mut literals: Vec<String> = Vec::new();
        let mut others: Vec<Ty> = Vec::new();
        let mut null = false;
        for m in members {
            let ty = match &m.kind {
                TypeExprKind::Literal(s, alias, doc) => {
                    self.member_alias(s, alias.as_deref(), m.span);
                    self.member_doc(s, doc.as_deref());
                    Ty::Enum(Arc::from(vec![s.clone()]))
                }
                _ => self.resolve_type(m),
            };
            match self.types.resolve(&ty).clone() {
                Ty::Enum(more) => {
                    literals.extend(more.iter().filter(|s| !literals.contains(s)).cloned().collect::<Vec<_>>())
                }
                Ty::Null => null = true,
                Ty::Optional(inner) => {
                    null = true;
                    others.push(*inner);
                }
                Ty::Union(more) => {
                    others.extend(more.iter().filter(|m| !others.contains(m)).cloned().collect::<Vec<_>>())
                }
                Ty::Unknown => return Ty::Unknown,
                _ if others.contains(&ty) => {}
                _ => others.push(ty),
            }
        }
        let mut all = others;
        if !literals.is_empty() {
            all.insert(0, Ty::Enum(Arc::from(literals)));
        }
        let ty = match all.len() {
            0 => Ty::Null,
            1 => all.remove(0),
            _ => Ty::Union(Arc::from(all)),
        };
        if null { ty.optional() } else { ty }
    }

    // ------------------------------------------------------------ models and tools

    pub(crate) fn check_model(&mut self, m: &ModelDef) {
        if flow_stdlib::Provider::parse(&m.provider.name).is_none() {
            let mut d = Diagnostic::new(
                Code::UnknownProvider,
                m.provider.span,
                format!("unknown provider `{}`", m.provider.name),
                "not a provider Flow knows",
            );
            d = match did_you_mean(&m.provider.name, flow_stdlib::Provider::names()) {
                Some(best) => d.did_you_mean(m.provider.span, best),
                None => {
                    let providers: Vec<&str> = flow_stdlib::Provider::names().collect();
                    d.with_help(format!(
                        "providers are {}; any OpenAI-compatible server is `openai(\"id\") {{ base_url: \"...\" }}`",
                        crate::words::and_list(&providers)
                    ))
                }
            };
            self.report(d);
        }
        let mut scope = Scope::default();
        self.check_options("model", &m.options, MODEL_OPTIONS, &mut scope);
        self.require_constants("model", &m.options);
    }

    /// Two fields of a record cannot show a model the same name (an alias
    /// equal to another field's alias or name): its answer would be ambiguous.
    fn check_aliases(&mut self, fields: &[flow_grammar::ast::FieldDecl]) {
        let shown = |f: &flow_grammar::ast::FieldDecl| f.alias.clone().unwrap_or_else(|| f.name.name.clone());
        for (i, f) in fields.iter().enumerate() {
            let Some(alias) = &f.alias else { continue };
            if let Some(other) = fields[..i].iter().chain(&fields[i + 1..]).find(|o| shown(o) == *alias) {
                if other.alias.is_some() && fields[..i].iter().all(|o| !std::ptr::eq(o, other)) {
                    continue; // Reported at the later of the two.
                }
                self.report(
                    Diagnostic::new(
                        Code::DuplicateName,
                        f.name.span,
                        format!(
                            "field `{}` is shown to models as \"{alias}\", as field `{}` is",
                            f.name.name, other.name.name
                        ),
                        "the same name for a model",
                    )
                    .with_label(other.name.span, "also shown under that name"),
                );
            }
        }
    }

    /// A value fixed when the program is compiled (a command, a test's
    /// input, a mock) must be written as a value, not computed.
    pub(crate) fn require_literal(&mut self, what: &str, value: &Expr) {
        if crate::constant::constant(value).is_some() || self.reported_within(value.span) {
            return;
        }
        self.report(
            Diagnostic::new(
                Code::ComputedValue,
                value.span,
                format!("{what} must be a literal value"),
                "computed here",
            )
            .with_help("it is fixed when the program is compiled: write the value itself"),
        );
    }

    /// Whether an error was reported inside `span`.
    fn reported_within(&self, span: Span) -> bool {
        self.diagnostics.iter().any(|d| {
            let at = d.primary_span();
            d.is_error() && span.start <= at.start && at.end <= span.end
        })
    }

    /// Options fixed when the program is compiled must be written as values.
    fn require_constants(&mut self, what: &str, fields: &[RecordField]) {
        // A value with an error in it was reported already: one error is reported once.
        let computed: Vec<&RecordField> = fields
            .iter()
            .filter(|f| !crate::constant::fixed(&f.value) && !self.reported_within(f.value.span))
            .collect();
        for f in computed {
            self.report(
                Diagnostic::new(
                    Code::ComputedValue,
                    f.value.span,
                    format!("{what} option `{}` must be a literal value", f.key.name),
                    "computed here",
                )
                .with_help(format!("{what} options are fixed when the program is compiled: write the value itself")),
            );
        }
    }

    /// Each `${...}` of an http tool's URL must name one of its parameters
    /// (its value is put there, percent-encoded, and not sent again).
    fn check_url_placeholders(&mut self, t: &ToolDef, url: &StrLit) {
        let names: Vec<&str> = t.params.iter().map(|p| p.name.name.as_str()).collect();
        // Where the path starts: a placeholder before it would let a value choose the host.
        let authority = url.value.find("://").map_or(0, |i| i + 3);
        let path_start = url.value[authority..].find('/').map_or(url.value.len(), |i| i + authority);
        for (range, inside) in flow_grammar::literal::url_placeholders(&url.value) {
            // The template is the literal's text: offsets hold until an escape comes before.
            let start = url.span.start + 1 + range.start;
            let span = Span { start, end: (start + range.len()).min(url.span.end) };
            if range.start < path_start {
                self.report(
                    Diagnostic::new(
                        Code::BadUrlPlaceholder,
                        span,
                        format!("`${{{inside}}}` is in the host part of the URL of tool `{}`", t.name.name),
                        "a value here would choose the server",
                    )
                    .with_help("write the server's address itself; placeholders go in the path or the query"),
                );
                continue;
            }
            if names.contains(&inside) {
                continue;
            }
            let help = match flow_grammar::suggest::did_you_mean(inside, names.iter().copied()) {
                Some(best) => format!("did you mean `${{{best}}}`?"),
                None if names.is_empty() => "the tool has no parameters to put in its URL".to_string(),
                None => format!("the parameters are: {}", names.join(", ")),
            };
            self.report(
                Diagnostic::new(
                    Code::BadUrlPlaceholder,
                    span,
                    format!("`${{{inside}}}` in the URL of tool `{}` is not one of its parameters", t.name.name),
                    "not a parameter",
                )
                .with_help(help),
            );
        }
    }

    pub(crate) fn check_tool(&mut self, t: &ToolDef) {
        let mut scope = Scope::default();
        match &t.implementation {
            None => {}
            Some(ToolImpl::Http { url, options, .. }) => {
                if !(url.value.starts_with("http://") || url.value.starts_with("https://")) {
                    self.report(
                        Diagnostic::new(
                            Code::BadOptionValue,
                            url.span,
                            "the URL must start with http:// or https://",
                            "not an HTTP URL",
                        )
                        .with_help("write the full URL, e.g. \"https://api.example.com/v1/lookup\""),
                    );
                }
                self.check_url_placeholders(t, url);
                self.check_options("http tool", options, HTTP_TOOL_OPTIONS, &mut scope);
                self.require_constants("http tool", options);
            }
            Some(ToolImpl::Command { argv, options, .. }) => {
                let ty = self.expr(argv, &mut scope);
                let ok = match &argv.kind {
                    ExprKind::List(items) => !items.is_empty() && self.types.fits(&ty, &Ty::String.list()),
                    _ => false,
                };
                if !ok {
                    self.report(
                        Diagnostic::new(
                            Code::TypeMismatch,
                            argv.span,
                            "a command is a non-empty list of strings",
                            "expected `[string]`",
                        )
                        .with_help("write the program and its arguments, e.g. `command [\"python3\", \"lookup.py\"]`"),
                    );
                }
                if ok {
                    self.require_literal("a command", argv);
                }
                self.check_options("command tool", options, COMMAND_TOOL_OPTIONS, &mut scope);
                self.require_constants("command tool", options);
            }
        }
    }

    /// Checks `key: value` options against the known ones: unknown keys,
    /// duplicates, types and ranges. Returns the options that were known.
    pub(crate) fn check_options<'f>(
        &mut self,
        what: &str,
        fields: &'f [RecordField],
        known: &[OptionSpec],
        scope: &mut Scope,
    ) -> HashMap<&'f str, &'f RecordField> {
        let mut seen: HashMap<&str, &RecordField> = HashMap::default();
        for field in fields {
            let key = field.key.name.as_str();
            if let Some(first) = seen.get(key) {
                self.report(
                    Diagnostic::new(
                        Code::DuplicateName,
                        field.key.span,
                        format!("option `{key}` is given twice"),
                        "given again here",
                    )
                    .with_label(first.key.span, "first given here"),
                );
                continue;
            }
            let Some(spec) = known.iter().find(|o| o.name == key) else {
                self.expr(&field.value, scope);
                let names: Vec<&str> = known.iter().map(|o| o.name).collect();
                let mut d = Diagnostic::new(
                    Code::UnknownOption,
                    field.key.span,
                    format!("unknown {what} option `{key}`"),
                    "unknown option",
                );
                d = match did_you_mean(key, names.iter().copied()) {
                    Some(best) => d.did_you_mean(field.key.span, best),
                    None => d.with_note(format!("{what} options are: {}", names.join(", "))),
                };
                self.report(d);
                continue;
            };
            seen.insert(key, field);
            self.check_option_value(key, &field.value, spec.kind, scope);
        }
        seen
    }

    pub(crate) fn check_option_value(&mut self, key: &str, value: &Expr, kind: OptionKind, scope: &mut Scope) {
        let expected = match kind {
            OptionKind::Str => Ty::String,
            OptionKind::Positive | OptionKind::NonNegative => Ty::Int,
            OptionKind::FloatRange(..) => Ty::Float,
            OptionKind::Duration => Ty::Duration,
            OptionKind::StrMap => Ty::Map(Box::new(Ty::String)),
            OptionKind::Bool => Ty::Bool,
            OptionKind::OneOf(members) => Ty::Enum(members.iter().map(|m| m.to_string()).collect()),
            OptionKind::Tolerate => {
                self.check_tolerate(value, scope);
                return;
            }
            // Checked apart, against the declared tools and flows.
            OptionKind::Callables => return,
            // Shown as `[Message]` unless the program declares a `Message` of its own.
            OptionKind::Messages => match self.types.bodies.get("Message") {
                Some(body) if *body == crate::types::message_type() => Ty::Named(Arc::from("Message")).list(),
                _ => crate::types::message_type().list(),
            },
        };
        if let (OptionKind::StrMap, ExprKind::Record(fields)) = (&kind, &value.kind) {
            for f in fields {
                if flow_stdlib::options::reserved_header(&f.key.name) {
                    self.report(
                        Diagnostic::new(
                            Code::BadOptionValue,
                            f.key.span,
                            format!("header `{}` is set by the engine, not by the program", f.key.name),
                            "reserved header",
                        )
                        .with_help("leave it out: the HTTP client sets it from the tool's URL and body"),
                    );
                    continue;
                }
                // A host secret is a header's value, never a value the program holds.
                if crate::constant::secret_name(&f.value).is_some() {
                    self.facts.exprs.insert(f.value.span, Ty::String);
                    continue;
                }
                if let ExprKind::Call { callee, .. } = &f.value.kind
                    && callee.name == crate::constant::SECRET
                {
                    self.report(
                        Diagnostic::new(
                            Code::BadSecret,
                            f.value.span,
                            "`secret` takes the name of a host secret, as one string literal",
                            "not a secret's name",
                        )
                        .with_help("write `secret(\"NAME\")`; the host grants NAME with `--secret NAME@HOST`"),
                    );
                    continue;
                }
                self.check_against(&f.value, &Ty::String, Code::TypeMismatch, scope);
            }
            self.facts.exprs.insert(value.span, expected);
            return;
        }
        self.check_against(value, &expected, Code::TypeMismatch, scope);
        let number = match &value.kind {
            ExprKind::Int(n) => Some(*n as f64),
            ExprKind::Float(f) => Some(*f),
            ExprKind::Unary { op: UnaryOp::Neg, operand } => match operand.kind {
                ExprKind::Int(n) => Some(-(n as f64)),
                ExprKind::Float(f) => Some(-f),
                _ => None,
            },
            ExprKind::Duration(ms) => Some(*ms as f64),
            _ => None,
        };
        let Some(n) = number else { return };
        let problem = match kind {
            OptionKind::Positive if n < 1.0 => Some("must be at least 1".to_string()),
            OptionKind::NonNegative if n < 0.0 => Some("cannot be negative".to_string()),
            OptionKind::FloatRange(lo, hi) if n < lo || n > hi => Some(if hi == f64::MAX {
                format!("must be at least {lo}")
            } else {
                format!("must be between {lo} and {hi}")
            }),
            OptionKind::Duration if n <= 0.0 => Some("must be longer than zero".to_string()),
            _ => None,
        };
        if let Some(p) = problem {
            self.report(Diagnostic::new(Code::BadOptionValue, value.span, format!("`{key}` {p}"), "out of range"));
        }
    }

    /// Checks named arguments against a tool's or flow's parameters.
    pub(crate) fn check_call_args(&mut self, callee: &Ident, args: &[Arg], call_span: Span, scope: &mut Scope) -> Ty {
        self.facts.refer_item(callee.span, &callee.name);
        let callable = self.items.callables[&callee.name].clone();
        let mut given: HashSet<&str> = HashSet::default();
        for arg in args {
            let Some(name) = &arg.name else {
                self.expr(&arg.value, scope);
                let mut d = Diagnostic::new(
                    Code::BadArguments,
                    arg.span,
                    format!("arguments to {} `{}` are named", callable.kind, callee.name),
                    "positional argument",
                );
                let missing: Vec<&str> =
                    callable.params.iter().map(|p| p.0.as_str()).filter(|p| !given.contains(p)).collect();
                if let [only] = missing.as_slice() {
                    d = d.with_help(format!(
                        "write `{only}: {}`",
                        crate::words::source_text(self.source, arg.value.span)
                    ));
                    d = d.with_replacement(Span::new(arg.span.start, arg.span.start), format!("{only}: "));
                } else {
                    d = d.with_help(format!(
                        "write `name: value`; {} takes {}",
                        callee.name,
                        param_list(&callable.params)
                    ));
                }
                self.report(d);
                continue;
            };
            if !given.insert(&name.name) {
                self.report(Diagnostic::new(
                    Code::DuplicateName,
                    name.span,
                    format!("argument `{}` is given twice", name.name),
                    "given again here",
                ));
                continue;
            }
            match callable.params.iter().find(|p| p.0 == name.name) {
                Some((_, ty)) => {
                    self.check_against(&arg.value, ty, Code::TypeMismatch, scope);
                }
                None => {
                    self.expr(&arg.value, scope);
                    let names: Vec<&str> = callable.params.iter().map(|p| p.0.as_str()).collect();
                    let mut d = Diagnostic::new(
                        Code::UnknownArgument,
                        name.span,
                        format!("{} `{}` has no parameter `{}`", callable.kind, callee.name, name.name),
                        "unknown parameter",
                    );
                    d = match did_you_mean(&name.name, names.iter().copied()) {
                        Some(best) => d.did_you_mean(name.span, best),
                        None => d.with_note(format!("`{}` takes {}", callee.name, param_list(&callable.params))),
                    };
                    self.report(d);
                }
            }
        }
        let missing: Vec<&(String, Ty)> = callable
            .params
            .iter()
            .filter(|(p, ty)| !given.contains(p.as_str()) && !matches!(self.types.resolve(ty), Ty::Optional(_)))
            .collect();
        let positional = args.iter().any(|a| a.name.is_none());
        if !missing.is_empty() && !positional {
            let names: Vec<String> = missing.iter().map(|(p, _)| format!("`{p}`")).collect();
            let example: Vec<String> =
                missing.iter().map(|(p, ty)| format!("{p}: {}", crate::words::placeholder(ty))).collect();
            self.report(
                Diagnostic::new(
                    Code::MissingArgument,
                    call_span,
                    format!(
                        "missing argument{} {} to {} `{}`",
                        plural(missing.len()),
                        names.join(", "),
                        callable.kind,
                        callee.name
                    ),
                    format!("{} not given", names.join(", ")),
                )
                .with_help(format!("add `{}`", example.join(", "))),
            );
        }
        callable.output
    }
}

fn param_list(params: &[(String, Ty)]) -> String {
    if params.is_empty() {
        return "no parameters".into();
    }
    params.iter().map(|(n, t)| format!("{n}: {t}")).collect::<Vec<_>>().join(", ")
}

/// A number or bool literal type's constant.
pub(crate) fn literal_const(v: flow_grammar::ast::LiteralValue) -> crate::types::Const {
    use flow_grammar::ast::LiteralValue as L;
    match v {
        L::Int(n) => crate::types::Const::Int(n),
        L::Float(f) => crate::types::Const::Float(f),
        L::Bool(b) => crate::types::Const::Bool(b),
    }
}
