//! `map`, apart from running its body: reading the list and the options
//! (`concurrency`, `tolerate`) against the engine's limits, and deciding,
//! item by item, whether the map has failed.

use crate::config::MAP_CONCURRENCY;
use crate::eval::Frame;
use crate::events::StepError;
use crate::state::RunCtx;
use crate::value::Value;
use flow_compiler::ir::{ErrorKind, MapAction, Step, Tolerate};
use std::sync::Arc;

/// A map about to run: its items and how many run and may fail.
pub(crate) struct MapPlan {
    pub items: Arc<Vec<Value>>,
    pub concurrency: usize,
    pub allowed_failures: usize,
}

impl MapPlan {
    pub fn new(ctx: &RunCtx, map: &MapAction, frame: &Frame, step: &Step) -> Result<MapPlan, StepError> {
        let here = |kind, m: String| StepError::new(kind, step.id.as_str(), m);
        let items = match ctx.eval(&map.list, frame) {
            Ok(Value::List(items)) => items,
            Ok(other) => return Err(here(ErrorKind::Value, format!("`map` needs a list, got {}", other.kind_name()))),
            Err(e) => return Err(e.at(step.id.as_str())),
        };
        let len = items.len();
        let limits = &ctx.config.limits;
        if len > limits.max_fanout {
            return Err(here(
                ErrorKind::Limit,
                format!("`map` over {len} items is more than the engine allows ({})", limits.max_fanout),
            ));
        }
        let concurrency = match &map.concurrency {
            Some(e) => match ctx.eval(e, frame) {
                Ok(Value::Int(n)) if n > 0 => usize::try_from(n).unwrap_or(usize::MAX),
                Ok(other) => {
                    return Err(here(ErrorKind::Value, format!("`concurrency` must be a positive int, got {other}")));
                }
                Err(e) => return Err(e.at(step.id.as_str())),
            },
            None => MAP_CONCURRENCY,
        };
        let allowed_failures = match &map.tolerate {
            None => 0,
            Some(Tolerate::Percent(p)) => ((len as f64) * p / 100.0).floor() as usize,
            Some(Tolerate::Count(e)) => match ctx.eval(e, frame) {
                Ok(Value::Int(n)) => usize::try_from(n).unwrap_or(0),
                Ok(other) => return Err(here(ErrorKind::Value, format!("`tolerate` must be an int, got {other}"))),
                Err(e) => return Err(e.at(step.id.as_str())),
            },
        };
        Ok(MapPlan { concurrency: concurrency.min(len.max(1)), items, allowed_failures })
    }

    /// The error that fails the map when item `i` is one failure too many.
    pub fn failure(&self, i: usize, failures: usize, error: StepError) -> Option<StepError> {
        if failures <= self.allowed_failures {
            return None;
        }
        let tolerance = match self.allowed_failures {
            0 => "none may fail".to_string(),
            n => format!("at most {n} may fail"),
        };
        let message = format!("item {i} of {} failed ({tolerance}): {}", self.items.len(), error.message);
        Some(StepError { message, ..error })
    }
}
