//! The seam between the scheduler and expression evaluation. The scheduler
//! evaluates every pure expression (steps, conditions, options, `return`)
//! through [`ExprEval`]; the default is the tree walker. A compiled
//! evaluator implements the same trait and may handle some expressions
//! itself and hand the rest to the tree walker, with identical results.

use crate::bounds::EvalError;
use crate::eval::{Frame, eval};
use crate::value::Value;
use flow_compiler::ir::Expr;

/// Evaluates typed IR expressions against a frame.
pub trait ExprEval: Send + Sync {
    /// The value of `expr`, or why it has none (a `value` error; a `limit`
    /// error past the run's size limits; `cancelled` when the run stopped).
    fn eval(&self, expr: &Expr, frame: &Frame) -> Result<Value, EvalError>;
}

/// The tree-walking evaluator.
#[derive(Clone, Copy, Debug, Default)]
pub struct TreeWalker;

impl ExprEval for TreeWalker {
    fn eval(&self, expr: &Expr, frame: &Frame) -> Result<Value, EvalError> {
        eval(expr, frame, &mut Vec::new())
    }
}
