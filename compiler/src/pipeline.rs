//! W0005: a `map` over the whole result of another `map` of the same block,
//! used nowhere else. Its items wait for every item of the first map (a map's
//! value is the whole list); the same work written as one map body with both
//! stages runs each item's second stage as soon as its first is done.

use crate::checker::Checker;
use crate::flows::step_refs;
use flow_grammar::ast::{Block, ExprKind, FormKind, MapForm, Step};
use flow_grammar::{Code, Diagnostic};
use rustc_hash::FxHashMap as HashMap;

impl Checker<'_> {
    pub(crate) fn map_after_map(&mut self, block: &Block) {
        // Made on the first map over a name, once per block: a lookup per map
        // would make a block of many maps quadratic.
        let mut steps: Option<HashMap<&str, &Step>> = None;
        let mut use_counts: Option<HashMap<String, usize>> = None;
        for second in &block.steps {
            let FormKind::Map(map) = &second.form.kind else { continue };
            let ExprKind::Name(source) = &map.source.kind else { continue };
            let steps = steps.get_or_insert_with(|| block.steps.iter().map(|s| (s.name.name.as_str(), s)).collect());
            let Some(&first) = steps.get(source.as_str()) else { continue };
            let FormKind::Map(first_map) = &first.form.kind else { continue };
            // With `tolerate` the lists differ (failed items are dropped); with
            // `catch` the first map's value may be a fallback: not the same work.
            let uses = use_counts.get_or_insert_with(|| uses(block)).get(source.as_str()).copied().unwrap_or(0);
            if tolerates(first_map) || !first.clauses.is_empty() || uses != 1 {
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

/// How many times the block's steps and `return` use each name.
fn uses(block: &Block) -> HashMap<String, usize> {
    let mut refs = Vec::new();
    block.steps.iter().for_each(|s: &Step| step_refs(s, &mut Vec::new(), &mut refs));
    for r in &block.returns {
        crate::flows::expr_refs_of(r, &mut refs);
    }
    let mut counts: HashMap<String, usize> = HashMap::default();
    for (name, _) in refs {
        *counts.entry(name).or_default() += 1;
    }
    counts
}
