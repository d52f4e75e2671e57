//! The public semantic model of one file: what [`check`](crate::check)
//! returns. Besides the diagnostics it holds what the checker learned: the
//! type of every expression and step, what each name refers to, which names
//! are visible where, the resolved type of every type annotation, the
//! builtin each call resolved to, a line index and the comments and blank
//! lines (trivia). Lowering reads it; so will the language server and the
//! formatter.

use crate::types::{Ty, TypeTable};
use flow_grammar::{Diagnostic, LineIndex, Span, Trivia, ast};
use flow_stdlib::BuiltinId;
// Facts are keyed by span and looked up once per node: a fast hash, not SipHash (spans come from
// the program text, and the maps live only as long as one analysis).
use rustc_hash::FxHashMap as HashMap;

/// Everything known about one checked file.
///
/// ```
/// let source = "flow double(x: int) -> int {\n  step y = x * 2\n  return y\n}\n";
/// let analysis = flow_compiler::check(source);
/// assert!(!analysis.has_errors());
/// // `y` in `return y`: its definition, kind and type.
/// let use_of_y = source.rfind('y').unwrap();
/// let def = analysis.definition_at(use_of_y).unwrap();
/// assert_eq!((def.name.as_str(), def.kind), ("y", flow_compiler::DefKind::Step));
/// assert_eq!(def.ty.to_string(), "int");
/// assert_eq!(analysis.references_to(def).count(), 1);
/// assert_eq!(analysis.line_col(source, use_of_y), (3, 10));
/// ```
#[derive(Debug)]
pub struct Analysis {
    /// What parsed (items that did not parse are missing from it).
    pub file: ast::File,
    /// Every problem found, errors and warnings, in source order.
    pub diagnostics: Vec<Diagnostic>,
    /// The declared types, by name.
    pub types: TypeTable,
    /// Offsets to lines and columns.
    pub line_index: LineIndex,
    /// Comments and blank lines, in source order.
    pub trivia: Vec<Trivia>,
    pub(crate) facts: Facts,
}

/// What a name is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DefKind {
    Type,
    Model,
    Tool,
    Flow,
    Test,
    /// A flow's parameter.
    Param,
    Step,
    /// The item of a `map` body.
    MapItem,
    /// The previous iteration's value in a `loop` body.
    LoopPrevious,
    LambdaParam,
    /// `catch e => ...`
    CatchBinding,
    /// `output` in a test's `expect`.
    TestOutput,
}

/// A name's definition.
#[derive(Clone, Debug)]
pub struct Definition {
    pub name: String,
    pub kind: DefKind,
    /// The name where it is defined.
    pub span: Span,
    /// Where the name can be used: the whole file for items, the block for
    /// steps, the flow for parameters, the body for map items and lambda
    /// parameters, the `catch` for its binding.
    pub scope: Span,
    /// Its type: a value's type, a tool's or flow's result, a type's body
    /// (`Ty::Unknown` for models and tests).
    pub ty: Ty,
}

/// Identifies a definition within its [`Analysis`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DefId(u32);

/// A use of a name.
#[derive(Clone, Copy, Debug)]
pub struct Reference {
    pub span: Span,
    pub definition: DefId,
}

/// What the checker records while it walks a file (always on: the check is
/// the analysis).
#[derive(Debug, Default)]
pub(crate) struct Facts {
    /// The type of each expression, by its span.
    pub exprs: HashMap<Span, Ty>,
    /// The type of each step and map item, by the span of its name.
    pub steps: HashMap<Span, Ty>,
    /// The resolved type of each type annotation, by its span.
    pub type_exprs: HashMap<Span, Ty>,
    /// The builtin each call or method resolved to, by the span of its name.
    pub builtins: HashMap<Span, BuiltinId>,
    pub definitions: Vec<Definition>,
    pub references: Vec<Reference>,
    /// Definitions by the span of their name (bindings carry that span).
    pub by_span: HashMap<Span, DefId>,
    /// Items by name: the value namespace (models, tools, flows) and types.
    pub values: HashMap<String, DefId>,
    pub type_names: HashMap<String, DefId>,
}

impl Facts {
    /// Drops the definitions and references recorded after the first
    /// `definitions` and `references`.
    pub fn forget_since(&mut self, definitions: usize, references: usize) {
        self.definitions.truncate(definitions);
        self.references.truncate(references);
        self.by_span.retain(|_, id| (id.0 as usize) < definitions);
    }

    pub fn define(&mut self, name: &str, kind: DefKind, span: Span, scope: Span, ty: Ty) -> DefId {
        let id = DefId(self.definitions.len() as u32);
        self.definitions.push(Definition { name: name.to_string(), kind, span, scope, ty });
        self.by_span.insert(span, id);
        match kind {
            DefKind::Model | DefKind::Tool | DefKind::Flow => {
                self.values.entry(name.to_string()).or_insert(id);
            }
            DefKind::Type => {
                self.type_names.entry(name.to_string()).or_insert(id);
            }
            _ => {}
        }
        id
    }

    /// Records a use of the local defined at `definition` (a binding's span).
    pub fn refer_local(&mut self, span: Span, definition: Span) {
        if let Some(&id) = self.by_span.get(&definition) {
            self.references.push(Reference { span, definition: id });
        }
    }

    /// Records a use of a model, tool or flow by name.
    pub fn refer_item(&mut self, span: Span, name: &str) {
        if let Some(&id) = self.values.get(name) {
            self.references.push(Reference { span, definition: id });
        }
    }

    pub fn refer_type(&mut self, span: Span, name: &str) {
        if let Some(&id) = self.type_names.get(name) {
            self.references.push(Reference { span, definition: id });
        }
    }

    /// Sets a definition's type once it is known (steps are typed after
    /// they are bound).
    pub fn set_type(&mut self, definition: Span, ty: &Ty) {
        if let Some(&DefId(i)) = self.by_span.get(&definition)
            && let Some(d) = self.definitions.get_mut(i as usize)
        {
            d.ty = ty.clone();
        }
    }
}

impl Analysis {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }

    pub fn error_count(&self) -> usize {
        self.diagnostics.iter().filter(|d| d.is_error()).count()
    }

    pub fn warning_count(&self) -> usize {
        self.diagnostics.len() - self.error_count()
    }

    /// The type of the expression at exactly `span`.
    pub fn type_of_expr(&self, span: Span) -> Option<&Ty> {
        self.facts.exprs.get(&span)
    }

    /// The type of a step or map item, by the span of its name.
    pub fn type_of_step(&self, name: Span) -> Option<&Ty> {
        self.facts.steps.get(&name)
    }

    /// The type a type annotation stands for.
    pub fn resolved_type(&self, annotation: Span) -> Option<&Ty> {
        self.facts.type_exprs.get(&annotation)
    }

    /// The builtin a call or method (by the span of its name) resolved to.
    pub fn builtin_at(&self, name: Span) -> Option<BuiltinId> {
        self.facts.builtins.get(&name).copied()
    }

    /// The innermost expression containing `offset`, with its type.
    pub fn expr_at(&self, offset: usize) -> Option<(Span, &Ty)> {
        self.facts
            .exprs
            .iter()
            .filter(|(s, _)| s.start <= offset && offset <= s.end)
            .min_by_key(|(s, _)| (s.len(), s.start))
            .map(|(s, t)| (*s, t))
    }

    /// Every call or method name that resolved to a builtin.
    pub fn builtin_names(&self) -> impl Iterator<Item = (Span, BuiltinId)> + '_ {
        self.facts.builtins.iter().map(|(s, b)| (*s, *b))
    }

    /// The builtin whose name (in a call or method) contains `offset`.
    pub fn builtin_name_at(&self, offset: usize) -> Option<(Span, BuiltinId)> {
        self.facts.builtins.iter().find(|(s, _)| s.start <= offset && offset <= s.end).map(|(s, b)| (*s, *b))
    }

    pub fn definitions(&self) -> &[Definition] {
        &self.facts.definitions
    }

    pub fn definition(&self, id: DefId) -> Option<&Definition> {
        self.facts.definitions.get(id.0 as usize)
    }

    pub fn references(&self) -> &[Reference] {
        &self.facts.references
    }

    /// The definition of the name at `offset`: the name used there, or the
    /// name being defined there.
    pub fn definition_at(&self, offset: usize) -> Option<&Definition> {
        let inside = |s: &Span| s.start <= offset && offset <= s.end;
        if let Some(r) = self.facts.references.iter().find(|r| inside(&r.span)) {
            return self.definition(r.definition);
        }
        self.facts.definitions.iter().find(|d| inside(&d.span))
    }

    /// Every use of a definition.
    pub fn references_to<'a>(&'a self, definition: &'a Definition) -> impl Iterator<Item = &'a Reference> + 'a {
        let id = self.facts.by_span.get(&definition.span).copied();
        self.facts.references.iter().filter(move |r| Some(r.definition) == id)
    }

    /// The names usable at `offset`, innermost scope first (for completion).
    pub fn names_in_scope(&self, offset: usize) -> Vec<&Definition> {
        let mut names: Vec<&Definition> =
            self.facts.definitions.iter().filter(|d| d.scope.start <= offset && offset <= d.scope.end).collect();
        names.sort_by_key(|d| d.scope.len());
        names
    }

    /// Line and column (1-based, the column in characters) of an offset into
    /// `source`, the text that was checked.
    pub fn line_col(&self, source: &str, offset: usize) -> (usize, usize) {
        self.line_index.line_col(source, offset)
    }
}
