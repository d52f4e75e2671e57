//! W0005: a `map` over the whole result of another `map` of the same block,
//! used nowhere else. Its items wait for every item of the first map (a map's
//! value is the whole list); the same work written as one map body with both
//! stages runs each item's second stage as soon as its first is done.

use crate::checker::Checker;
use crate::flows::step_refs;
use flow_grammar::ast::{Block, ExprKind, FormKind, MapForm, Step};
use flow_grammar::{Code, Diagnostic};

impl Checker<'_> {
    pub(crate) fn map_after_map(&mut self, block: &Block) {
        for second in &block.steps {
            let FormKind::Map(map) = &second.form.kind else { continue };
            let ExprKind::Name(source) = &map.source.kind else { continue };
            let Some(first) = block.steps.iter().find(|s| s.name.name == *source) else { continue };
            let FormKind::Map(first_map) = &first.form.kind else { continue };
            // With `tolerate` the lists differ (failed items are dropped); with
            // `catch` the first map's value may be a fallback: not the same work.
            if tolerates(first_map) || !first.clauses.is_empty() || uses(block, source) != 1 {
                continue;
            }
            self.report(
                Diagnostic::new(
                    Code::MapAfterMap,
                    map.source.span,
                    format!("each item of `{}` waits for every item of `{source}`", second.name.name),
                    format!("waits for all of `{source}`"),
                )
                .with_label(first.name.span, "a map: its value is ready when its last item is")
                .with_help(format!(
                    "move the steps of `{}` into the body of `{source}` (one map, a step per stage): each item then goes on as soon as it is ready",
                    second.name.name
                )),
            );
        }
    }
}

fn tolerates(map: &MapForm) -> bool {
    map.options.iter().any(|o| o.key.name == "tolerate")
}

/// How many times the block's steps and `return` use `name`.
fn uses(block: &Block, name: &str) -> usize {
    let mut refs = Vec::new();
    block.steps.iter().for_each(|s: &Step| step_refs(s, &mut Vec::new(), &mut refs));
    let mut in_return = Vec::new();
    for r in &block.returns {
        crate::flows::expr_refs_of(r, &mut in_return);
    }
    refs.iter().chain(&in_return).filter(|(n, _)| n == name).count()
}
