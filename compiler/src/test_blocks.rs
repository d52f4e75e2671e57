//! Checking `test` blocks: the flow they run, its input, the mocks (which
//! must stand for models and tools the program declares) and expectations.

use crate::analysis::DefKind;
use crate::checker::{CallableKind, Checker, Scope};
use crate::types::{FieldTy, RecordTy, Ty};
use flow_grammar::ast::*;
use flow_grammar::suggest::did_you_mean;
use flow_grammar::{Code, Diagnostic, Span};
use std::sync::Arc;

const TEST_KEYS: [&str; 3] = ["flow", "input", "expect"];

impl Checker<'_> {
    pub(crate) fn check_test(&mut self, t: &TestDef) {
        let mut flow: Option<(Vec<(String, Ty)>, Ty)> = None;
        let mut flow_given = false;
        let mut tested: Option<&str> = None;
        for entry in &t.entries {
            if let TestEntry::Field { key, value } = entry {
                if key.name != "flow" {
                    continue;
                }
                flow_given = true;
                match &value.kind {
                    ExprKind::Name(n) if self.items.broken.contains(n) => flow = Some((Vec::new(), Ty::Unknown)),
                    ExprKind::Name(n) => match self.items.callables.get(n) {
                        Some(c) if c.kind == CallableKind::Flow => {
                            tested = Some(n);
                            flow = Some((c.params.clone(), c.output.clone()));
                            self.facts.refer_item(value.span, n);
                        }
                        _ => {
                            let flows: Vec<&str> = self
                                .items
                                .callables
                                .iter()
                                .filter(|(_, c)| c.kind == CallableKind::Flow)
                                .map(|(n, _)| n.as_str())
                                .collect();
                            let mut d = Diagnostic::new(
                                Code::TestFlow,
                                value.span,
                                format!("`{n}` is not a flow"),
                                "not a flow of this file",
                            );
                            d = match did_you_mean(n, flows.iter().copied()) {
                                Some(best) => {
                                    let best = best.to_string();
                                    d.did_you_mean(value.span, best)
                                }
                                None => d.with_help("a test runs one flow declared in the same file"),
                            };
                            self.report(d);
                        }
                    },
                    _ => self.report(
                        Diagnostic::new(Code::TestFlow, value.span, "`flow:` names a flow", "not a flow name")
                            .with_help("write the flow's name, e.g. `flow: triage`"),
                    ),
                }
            }
        }
        if !flow_given {
            self.report(
                Diagnostic::new(
                    Code::TestFlow,
                    t.name.span,
                    format!("test `{}` does not say which flow it runs", t.name.name),
                    "no `flow:`",
                )
                .with_help("add `flow: NAME` naming the flow under test"),
            );
        }
        let mut scope = Scope::default();
        scope.push();
        let (params, output) = flow.unwrap_or((Vec::new(), Ty::Unknown));
        // `output` has no name in the source: its definition is the empty
        // span right after the test's name.
        let output_at = Ident { name: "output".into(), span: Span::new(t.name.span.end, t.name.span.end) };
        self.bind(&mut scope, &output_at, output, DefKind::TestOutput, t.span);
        for entry in &t.entries {
            match entry {
                TestEntry::Field { key, value } => match key.name.as_str() {
                    "flow" => {}
                    "input" => {
                        let input_ty = if params.is_empty()
                            && matches!(scope.binding("output").map(|b| &b.ty), Some(Ty::Unknown))
                        {
                            Ty::Unknown
                        } else {
                            Ty::Record(Arc::new(RecordTy {
                                fields: params
                                    .iter()
                                    .map(|(n, t)| FieldTy { name: n.clone(), ty: t.clone(), doc: None, alias: None })
                                    .collect(),
                            }))
                        };
                        self.check_against(value, &input_ty, Code::TypeMismatch, &mut scope);
                        self.require_literal("a test's input", value);
                    }
                    "expect" => self.condition(value, &mut scope),
                    other => {
                        self.expr(value, &mut scope);
                        let mut d = Diagnostic::new(
                            Code::UnknownOption,
                            key.span,
                            format!("unknown test entry `{other}`"),
                            "not a test entry",
                        );
                        d = match did_you_mean(other, TEST_KEYS) {
                            Some(best) => d.did_you_mean(key.span, best),
                            None => d.with_note("a test has `flow:`, `input:`, `mock NAME:` and `expect:` entries"),
                        };
                        self.report(d);
                    }
                },
                TestEntry::Mock { target, value } => {
                    self.facts.refer_item(target.span, &target.name);
                    self.check_mock(target, value, tested, &mut scope);
                    self.require_literal("a mock's answer", value);
                }
            }
        }
    }

    /// Whether `e` is `error("kind", "message")` (a mocked failure),
    /// reporting a kind that does not exist.
    fn mocked_failure(&mut self, e: &Expr) -> bool {
        let Some((kind, _)) = crate::constant::mock_error(e) else { return false };
        if flow_stdlib::ErrorKind::parse(&kind).is_none() {
            let names: Vec<&str> = flow_stdlib::ErrorKind::names().collect();
            self.report(
                Diagnostic::new(
                    Code::UnknownErrorKind,
                    e.span,
                    format!("unknown error kind `{kind}`"),
                    "not an error kind",
                )
                .with_note(format!("error kinds are: {}", names.join(", "))),
            );
        }
        true
    }

    /// A mock of a model, tool, sub-flow or step (`tested` is the flow the test runs).
    fn check_mock(&mut self, target: &Ident, value: &Expr, tested: Option<&str>, scope: &mut Scope) {
        let name = target.name.as_str();
        if tested == Some(name) {
            self.expr(value, scope);
            self.report(
                Diagnostic::new(
                    Code::UnknownMock,
                    target.span,
                    format!("`{name}` is the flow this test runs: mocking it would test nothing"),
                    "the flow under test",
                )
                .with_help("mock the models, tools and flows it calls"),
            );
            return;
        }
        // A mocked failure answers every call with that error; in a list, that call.
        if self.mocked_failure(value) {
            return;
        }
        if let ExprKind::List(items) = &value.kind
            && items.iter().any(|i| crate::constant::mock_error(i).is_some())
        {
            let output = self.items.callables.get(name).map(|c| c.output.clone());
            for item in items {
                if !self.mocked_failure(item) {
                    match &output {
                        Some(ty) => {
                            self.check_against(item, ty, Code::TypeMismatch, scope);
                        }
                        None => {
                            self.expr(item, scope);
                        }
                    }
                }
            }
            return;
        }
        if self.items.models.contains_key(name) || self.items.broken.contains(name) {
            // A model's answers are checked against each step's type when the
            // test runs; a list is one answer per call, of any types.
            match &value.kind {
                ExprKind::List(answers) => answers.iter().for_each(|a| {
                    self.expr(a, scope);
                }),
                _ => {
                    self.expr(value, scope);
                }
            }
            return;
        }
        let callable = self.items.callables.get(name).cloned();
        if callable.is_none() && self.items.steps.contains(name) {
            // A step by name: its model or tool answers with this, ahead of any other mock.
            self.expr(value, scope);
            return;
        }
        match callable {
            // A tool, or a flow the tested flow calls (its calls answer with the mock; it does not run).
            Some(c) => {
                // One result for every call, or a list of results, one per call in order.
                let ty = self.expr(value, scope);
                let fits_one = self.types.fits(&ty, &c.output);
                let fits_each = self.types.fits(&ty, &c.output.clone().list());
                if !fits_one && !fits_each {
                    self.check_against(value, &c.output, Code::TypeMismatch, scope);
                }
            }
            None => {
                self.expr(value, scope);
                let mut candidates: Vec<&str> = self.items.models.keys().map(String::as_str).collect();
                candidates.extend(self.items.callables.keys().map(String::as_str));
                candidates.extend(self.items.steps.iter().map(String::as_str));
                let mut d = Diagnostic::new(
                    Code::UnknownMock,
                    target.span,
                    format!("mock for `{name}`, which is not a model, tool, flow or step"),
                    "no model, tool, flow or step has this name",
                );
                d = match did_you_mean(name, candidates) {
                    Some(best) => {
                        let best = best.to_string();
                        d.did_you_mean(target.span, best)
                    }
                    None => d.with_help(
                        "mock one of the models, tools or flows declared in this file, or a step by its name",
                    ),
                };
                self.report(d);
            }
        }
    }
}
