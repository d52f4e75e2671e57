//! Checking `loop prev (max: N) { steps return E } until COND`: the body's
//! type, the previous iteration's value inside it, and the step's result.

use crate::analysis::DefKind;
use crate::checker::{Checker, Scope};
use crate::types::Ty;
use crate::words::widen;
use flow_grammar::ast::{Ident, LoopForm};
use flow_grammar::{Code, Diagnostic};
use flow_stdlib::options::LOOP_OPTIONS;

/// The most iterations a loop may be given (`max`), checked at run time.
pub const MAX_ITERATIONS: i64 = 10_000;

/// The type of a loop step: the last iteration's value, how many ran, and
/// whether `until` ended it.
pub fn loop_result(value: Ty) -> Ty {
    Ty::record(vec![("value", value), ("count", Ty::Int), ("done", Ty::Bool)])
}

impl Checker<'_> {
    pub(crate) fn check_loop_form(&mut self, lp: &LoopForm, scope: &mut Scope) -> Ty {
        let given = self.check_options("loop", &lp.options, LOOP_OPTIONS, scope);
        self.require_options("loop", LOOP_OPTIONS, |o| given.contains_key(o), lp.options_span);
        let value = match &lp.previous {
            None => self.check_loop_body(lp, scope, None),
            // The previous value has the body's type, which may depend on
            // it: a first, trial check with it unknown gives the type; the
            // second, with that type, is the one reported.
            Some(previous) => {
                let mark = self.mark();
                let first = self.check_loop_body(lp, scope, Some((previous, Ty::Unknown)));
                self.rewind(mark);
                self.check_loop_body(lp, scope, Some((previous, widen(first).optional())))
            }
        };
        loop_result(widen(value))
    }

    fn check_loop_body(&mut self, lp: &LoopForm, scope: &mut Scope, previous: Option<(&Ident, Ty)>) -> Ty {
        scope.push();
        let owner = previous.as_ref().map_or(lp.body.span, |(p, _)| p.span);
        if let Some((name, ty)) = previous {
            if scope.binding(&name.name).is_some() {
                self.report(
                    Diagnostic::new(
                        Code::DuplicateName,
                        name.span,
                        format!("the name `{}` is already used", name.name),
                        "the previous iteration's value needs a name of its own",
                    )
                    .with_help("choose another name, e.g. `prev`"),
                );
            }
            self.facts.steps.insert(name.span, ty.clone());
            self.bind(scope, name, ty, DefKind::LoopPrevious, lp.body.span);
        }
        let ty = self.check_block_until(&lp.body, scope, None, owner, lp.until.as_ref());
        scope.pop();
        ty
    }
}
